"""The read side's questions to the ledger: boards, scores of selected runs, change marks.

Every function takes a :class:`~kit.ledger.Ledger` and plain values (a challenge id, a
metric's name and direction) and returns a pandas frame or a tuple; the leaderboard and
the widgets call them and never write SQL themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import pandas as pd

from .store import Ledger

#: rules that pick the one submission representing a team
RULES = ("best", "last")

_CANDIDATES = """
    WITH latest AS (SELECT submission_id, MAX(id) AS run_id FROM runs GROUP BY submission_id),
    cand AS (
        SELECT s.id AS submission_id, s.team, s.filename, s.submitted_at, l.run_id,
               pub.value AS pub, priv.value AS priv
        FROM submissions s
        JOIN latest l ON l.submission_id = s.id
        JOIN runs r ON r.id = l.run_id
        LEFT JOIN scores pub ON pub.run_id = l.run_id AND pub.split = 'public' AND pub.metric = :metric
        LEFT JOIN scores priv ON priv.run_id = l.run_id AND priv.split = 'private' AND priv.metric = :metric
        WHERE s.challenge = :challenge AND r.status = 'scored' {extra}
    )
"""


class RankedMetric(Protocol):
    """What a query needs of a metric: its name and its direction."""

    @property
    def name(self) -> str: ...

    @property
    def greater_is_better(self) -> bool: ...


def board_index_covers(ledger: Ledger, challenge_id: str, metric_name: str) -> bool:
    """True when the ledger's board index covers the challenge with this primary metric."""
    if not ledger.board_index_complete:
        return False
    other = ledger.query(
        "SELECT 1 AS x FROM board_rows WHERE challenge = :c AND metric IS NOT :m LIMIT 1",
        {"c": challenge_id, "m": metric_name},
    )
    return other.empty


def representatives(ledger: Ledger, challenge_id: str, metric: RankedMetric, rule: str = "best") -> pd.DataFrame:
    """Each team's representative scored submission, chosen inside SQLite (one row per team).

    ``best``: the best public score (ties: the earlier submission); ``last``: the newest.
    Columns ``submission_id, team, submitted_at, run_id, pub, priv, entries`` (``entries``:
    the team's scored submissions). Uses the board index (one row per submission, ordered
    for this query) when it covers the challenge; else the record tables (same result,
    slower on huge ledgers).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    if board_index_covers(ledger, challenge_id, metric.name):
        # each team's best key (or newest time) by an index walk, then the rows that reach it;
        # ties are settled below by the earlier submission
        key = "MIN(public_key)" if rule == "best" else "MAX(submitted_at)"
        col = "public_key" if rule == "best" else "submitted_at"
        index = "board_best" if rule == "best" else "board_last"  # covering: no table lookups
        rows = ledger.query(
            f"""
            WITH best AS (SELECT team, {key} AS k, COUNT(*) AS entries FROM board_rows INDEXED BY {index}
                          WHERE challenge = :c AND metric = :m AND status = 'scored' GROUP BY team)
            SELECT b.submission_id, b.team, b.submitted_at, b.run_id, b.public AS pub, b.private AS priv,
                   best.entries
            FROM best JOIN board_rows b ON b.challenge = :c AND b.metric = :m AND b.status = 'scored'
                 AND b.team = best.team AND b.{col} = best.k""",
            {"c": challenge_id, "m": metric.name},
        )
        ascending = rule == "best"
        return (
            rows.sort_values(["team", "submitted_at", "submission_id"], ascending=[True, ascending, ascending])
            .drop_duplicates("team")
            .reset_index(drop=True)
        )
    direction = "DESC" if metric.greater_is_better else "ASC"
    order = (
        f"(pub IS NULL), pub {direction}, submitted_at, submission_id"
        if rule == "best"
        else "submitted_at DESC, submission_id DESC"
    )
    sql = (
        _CANDIDATES.format(extra="")
        + f"""
    SELECT submission_id, team, submitted_at, run_id, pub, priv, entries FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY team ORDER BY {order}) AS rn,
               COUNT(*) OVER (PARTITION BY team) AS entries
        FROM cand)
    WHERE rn = 1"""
    )
    return ledger.query(sql, {"metric": metric.name, "challenge": challenge_id})


def chosen_submissions(
    ledger: Ledger, challenge_id: str, metric_name: str, chosen: Mapping[str, Sequence[int]]
) -> pd.DataFrame:
    """The scored submissions that teams chose as finals (``{team: [ids]}``), with their scores."""
    ids = sorted({int(i) for v in chosen.values() for i in v})
    columns = ["submission_id", "team", "filename", "submitted_at", "run_id", "pub", "priv"]
    if not ids:
        return pd.DataFrame(columns=columns)
    sql = (
        _CANDIDATES.format(extra=f"AND s.id IN ({','.join(map(str, ids))})") + f"SELECT {', '.join(columns)} FROM cand"
    )
    df = ledger.query(sql, {"metric": metric_name, "challenge": challenge_id})
    if df.empty:
        return df
    mine = [
        int(sid) in {int(i) for i in chosen.get(team, ())}
        for sid, team in zip(df["submission_id"], df["team"], strict=True)
    ]
    return df[mine].reset_index(drop=True)


def run_scores(ledger: Ledger, run_ids: Sequence[int], metrics: Sequence[str]) -> pd.DataFrame:
    """Scores of the given runs, one row per run (index ``run_id``), columns ``<split>.<metric>``."""
    cols = [f"{s}.{m}" for s in ("public", "private") for m in metrics]
    ids = [int(r) for r in run_ids]
    parts = []
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        parts.append(
            ledger.query(
                f"SELECT run_id, split, metric, value FROM scores WHERE run_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        )
    if not parts:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="run_id"), dtype=float)
    long = pd.concat(parts)
    long = long[long["metric"].isin(list(metrics))]
    wide = long.assign(col=long["split"] + "." + long["metric"]).pivot(index="run_id", columns="col", values="value")
    return wide.reindex(columns=cols)


def change_mark(ledger: Ledger) -> tuple:
    """A value that changes whenever a run or a selection is recorded (for live boards)."""
    row = ledger.query("SELECT (SELECT MAX(id) FROM runs) AS r, (SELECT MAX(id) FROM selections) AS s")
    return tuple(row.iloc[0].tolist())


def _by_ids(ledger: Ledger, sql: str, ids: Sequence[int], columns: Sequence[str]) -> pd.DataFrame:
    """*sql* (with ``{marks}`` where the ids' placeholders go) over *ids*, 500 at a time."""
    ids = sorted({int(i) for i in ids})
    frames = [
        ledger.query(sql.format(marks=",".join("?" * len(chunk))), chunk)
        for chunk in (ids[start : start + 500] for start in range(0, len(ids), 500))
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def latest_runs_of(ledger: Ledger, submission_ids: Sequence[int]) -> pd.DataFrame:
    """The newest run of each of *submission_ids* (those graded)."""
    columns = ("submission_id", "run_id", "status", "error_kind", "error", "finished_at", "feedback_path")
    sql = """SELECT r.submission_id, r.id AS run_id, r.status, r.error_kind, r.error, r.finished_at, r.feedback_path
             FROM runs r
             WHERE r.id IN (SELECT MAX(id) FROM runs WHERE submission_id IN ({marks}) GROUP BY submission_id)"""
    return _by_ids(ledger, sql, submission_ids, columns)


def public_scores_of(ledger: Ledger, run_ids: Sequence[int]) -> pd.DataFrame:
    """The public split's scores of *run_ids* (run_id, metric, value): never the private split's."""
    sql = "SELECT run_id, metric, value FROM scores WHERE split = 'public' AND run_id IN ({marks})"
    return _by_ids(ledger, sql, run_ids, ("run_id", "metric", "value"))


def refusals_by_id(ledger: Ledger, refusal_ids: Sequence[int]) -> pd.DataFrame:
    """Refusals recorded at intake (id, kind, reason, refused_at, feedback_path)."""
    sql = "SELECT id, kind, reason, refused_at, feedback_path FROM refusals WHERE id IN ({marks})"
    return _by_ids(ledger, sql, refusal_ids, ("id", "kind", "reason", "refused_at", "feedback_path"))


__all__ = [
    "RULES",
    "board_index_covers",
    "change_mark",
    "chosen_submissions",
    "latest_runs_of",
    "public_scores_of",
    "refusals_by_id",
    "representatives",
    "run_scores",
]
