"""Building a leaderboard from the ledger.

Phases: while a challenge is open the board ranks the public split; after it
closes (or on request) the private split.

Selection, which submission represents a team (never chosen by private scores):

- ``best``: the submission with the best public score (ties: the earlier one);
- ``last``: the team's newest scored submission;
- ``chosen``: on the private board, the best private score among the (at most
  ``final_selections``) submissions the team chose with ``kit select``; a team
  that chose none falls back to ``best``. On the public board it is ``best``.

Ties in the ranked score share a rank; among them the earlier submission is
listed first. Only scored submissions are ranked; a submission whose score is
missing on the ranked split is listed as unranked, never first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from ..challenge import Challenge, load_challenge
from ..errors import KitError
from ..ledger import Ledger
from ..metrics import Metric, get_metric

PHASES = ("auto", "public", "private")
SELECTIONS = ("best", "last", "chosen")


@dataclass
class Leaderboard:
    challenge: Challenge
    phase: str  # "public" | "private"
    table: pd.DataFrame
    metric: Metric
    generated_at: str = ""
    selection: str = "best"
    unranked: int = 0
    notes: list = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return list(self.table.columns)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        from .render import render

        return render(self, "table")

    def _repr_html_(self) -> str:
        from .render import render

        return render(self, "html")


def _rank(values: pd.Series, metric: Metric) -> pd.Series:
    key = values.map(metric.sort_key)
    return key.rank(method="min").astype("Int64")


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


def _indexed(ledger: Ledger, challenge: Challenge, metric: Metric) -> bool:
    """True when the board index covers the challenge with this primary metric."""
    if not ledger.board_index_complete:
        return False
    other = ledger.query(
        "SELECT 1 AS x FROM board_rows WHERE challenge = :c AND metric IS NOT :m LIMIT 1",
        {"c": challenge.id, "m": metric.name},
    )
    return other.empty


def _selected_sql(ledger: Ledger, challenge: Challenge, metric: Metric, rule: str) -> pd.DataFrame:
    """Each team's representative submission, chosen inside SQLite (only one row per team leaves it).

    Uses the ledger's board index (one row per submission, ordered for this query) when it
    covers the challenge; else the record tables (same result, slower on huge ledgers).
    """
    if _indexed(ledger, challenge, metric):
        # each team's best key (or newest time) by an index walk, then the rows that reach it;
        # ties are settled below by the earlier submission
        key = "MIN(public_key)" if rule != "last" else "MAX(submitted_at)"
        col = "public_key" if rule != "last" else "submitted_at"
        index = "board_best" if rule != "last" else "board_last"  # covering: no table lookups
        rows = ledger.query(
            f"""
            WITH best AS (SELECT team, {key} AS k, COUNT(*) AS entries FROM board_rows INDEXED BY {index}
                          WHERE challenge = :c AND metric = :m AND status = 'scored' GROUP BY team)
            SELECT b.submission_id, b.team, b.submitted_at, b.run_id, b.public AS pub, b.private AS priv,
                   best.entries
            FROM best JOIN board_rows b ON b.challenge = :c AND b.metric = :m AND b.status = 'scored'
                 AND b.team = best.team AND b.{col} = best.k""",
            {"c": challenge.id, "m": metric.name},
        )
        ascending = rule != "last"
        return (
            rows.sort_values(["team", "submitted_at", "submission_id"], ascending=[True, ascending, ascending])
            .drop_duplicates("team")
            .reset_index(drop=True)
        )
    direction = "DESC" if metric.greater_is_better else "ASC"
    order = (
        f"(pub IS NULL), pub {direction}, submitted_at, submission_id"
        if rule != "last"
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
    return ledger.query(sql, {"metric": metric.name, "challenge": challenge.id})


def _chosen_sql(ledger: Ledger, challenge: Challenge, metric: Metric, chosen: dict) -> pd.DataFrame:
    """The scored submissions that teams chose as finals, with their scores."""
    ids = sorted({int(i) for v in chosen.values() for i in v})
    if not ids:
        return pd.DataFrame(columns=["submission_id", "team", "filename", "submitted_at", "run_id", "pub", "priv"])
    sql = (
        _CANDIDATES.format(extra=f"AND s.id IN ({','.join(map(str, ids))})")
        + "SELECT submission_id, team, filename, submitted_at, run_id, pub, priv FROM cand"
    )
    df = ledger.query(sql, {"metric": metric.name, "challenge": challenge.id})
    return df[df.apply(lambda r: r["submission_id"] in set(chosen.get(r["team"], ())), axis=1)] if len(df) else df


def select_per_team(
    ledger: Ledger,
    challenge: Challenge,
    metric: Metric,
    rule: str = "best",
    *,
    phase: str = "public",
    chosen: dict | None = None,
) -> pd.DataFrame:
    """The one submission that represents each team on the board (see the module docstring)."""
    picked = _selected_sql(ledger, challenge, metric, "last" if rule == "last" else "best")
    picked["selected_by"] = "last" if rule == "last" else "best"
    if rule == "chosen" and phase == "private" and chosen:
        pool = _chosen_sql(ledger, challenge, metric, chosen)
        if len(pool):
            pool = pool.assign(_key=pool["priv"].map(metric.sort_key))
            best = (
                pool.sort_values(["team", "_key", "submitted_at", "submission_id"])
                .drop_duplicates("team", keep="first")
                .drop(columns="_key")
            )
            best = best.merge(picked[["team", "entries"]], on="team").assign(selected_by="chosen")
            picked = pd.concat([picked[~picked["team"].isin(best["team"])], best], ignore_index=True)
    return picked.rename(columns={"pub": f"public.{metric.name}", "priv": f"private.{metric.name}"})


def attach_scores(ledger: Ledger, picked: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Every metric of the spec on both splits, for the selected runs only."""
    cols = [f"{s}.{m}" for s in ("public", "private") for m in metrics]
    if picked.empty:
        return picked.reindex(columns=[*picked.columns, *[c for c in cols if c not in picked.columns]])
    run_ids = picked["run_id"].astype(int).tolist()
    parts = []
    for i in range(0, len(run_ids), 900):
        chunk = run_ids[i : i + 900]
        parts.append(
            ledger.query(
                f"SELECT run_id, split, metric, value FROM scores WHERE run_id IN ({','.join('?' * len(chunk))})", chunk
            )
        )
    long = pd.concat(parts)
    long = long[long["metric"].isin(metrics)]
    wide = long.assign(col=long["split"] + "." + long["metric"]).pivot(index="run_id", columns="col", values="value")
    wide = wide.reindex(columns=cols)
    keep = [c for c in picked.columns if c not in cols]
    return picked[keep].join(wide, on="run_id")


def leaderboard(
    challenge,
    *,
    workdir=None,
    ledger: Ledger | None = None,
    phase: str = "auto",
    selection: str = "best",
    now: datetime | None = None,
    root=None,
) -> Leaderboard:
    """The ranked board of a challenge from its ledger."""
    if phase not in PHASES:
        raise KitError(f"unknown phase {phase!r}", fix=f"use one of {', '.join(PHASES)}")
    if selection not in SELECTIONS:
        raise KitError(f"unknown selection rule {selection!r}", fix=f"use one of {', '.join(SELECTIONS)}")
    ch = load_challenge(challenge, root=root)
    if ledger is None:
        from ..grading.grader import DEFAULT_WORKDIR, ledger_path

        path = ledger_path(workdir or DEFAULT_WORKDIR)
        if not path.exists():
            raise KitError(
                "no ledger yet",
                where=str(path),
                fix=f"grade submissions first (`kit grade {ch.id} PATH`) or pass --workdir",
            )
        ledger = Ledger(path)
        owned = True
    else:
        owned = False
    now = now or datetime.now(timezone.utc)
    if phase == "auto":
        phase = "public" if ch.spec.is_open(now) else "private"
    metric = get_metric(ch.spec.metrics.primary)
    try:
        picks = ledger.selections(ch.id) if selection == "chosen" else {}
        chosen = select_per_team(ledger, ch, metric, selection, phase=phase, chosen=picks)
        chosen = attach_scores(ledger, chosen, ch.spec.metrics.all)
    finally:
        if owned:
            ledger.close()
    score_col = f"{phase}.{metric.name}"
    table = pd.DataFrame(
        {
            "team": chosen["team"],
            "score": chosen[score_col].astype(float),
            **{m: chosen[f"{phase}.{m}"].astype(float) for m in ch.spec.metrics.secondary},
            "entries": chosen["entries"],
            "selected_by": chosen["selected_by"],
            "submission_id": chosen["submission_id"],
            "run_id": chosen["run_id"],
            "submitted_at": chosen["submitted_at"],
        }
    )
    if phase == "private":
        pub_rank = _rank(chosen[f"public.{metric.name}"].astype(float), metric)
        table.insert(2, "public_score", chosen[f"public.{metric.name}"].astype(float))
        table["public_rank"] = pub_rank
    unranked = int(table["score"].isna().sum())
    table = table.assign(rank=_rank(table["score"], metric))
    table.loc[table["score"].isna(), "rank"] = pd.NA
    table = table.assign(_k=table["score"].map(metric.sort_key))
    table = table.sort_values(["_k", "submitted_at", "submission_id"]).drop(columns="_k")
    if phase == "private":
        table["move"] = (table["public_rank"].astype("Float64") - table["rank"].astype("Float64")).astype("Int64")
    cols = ["rank", *[c for c in table.columns if c != "rank"]]
    table = table[cols].reset_index(drop=True)
    board = Leaderboard(
        challenge=ch,
        phase=phase,
        table=table,
        metric=metric,
        generated_at=now.isoformat(timespec="seconds"),
        selection=selection,
        unranked=unranked,
    )
    if unranked:
        board.notes.append(f"{unranked} team(s) have no {metric.name} on the {phase} split and are not ranked")
    return board


def choose_final(
    challenge, team: str, submission_ids, *, workdir=None, ledger: Ledger | None = None, root=None
) -> list[int]:
    """Record a team's choice of final submissions for the private board (the newest choice counts)."""
    ch = load_challenge(challenge, root=root)
    ids = sorted({int(i) for i in submission_ids})
    limit = ch.spec.submissions.final_selections
    if not ids:
        raise KitError("no submission chosen", fix="give the ids of your scored submissions (see `kit leaderboard`)")
    if len(ids) > limit:
        raise KitError(f"{len(ids)} submissions chosen; {ch.id} allows {limit}", fix=f"choose at most {limit}")
    if ledger is None:
        from ..grading.grader import DEFAULT_WORKDIR, open_ledger

        with open_ledger(workdir or DEFAULT_WORKDIR) as led:
            return choose_final(ch, team, ids, ledger=led)
    runs = ledger.latest_runs(ch.id).set_index("submission_id")
    for i in ids:
        if i not in runs.index or runs.loc[i, "team"] != team:
            raise KitError(
                f"submission {i} is not a submission of team {team!r} to {ch.id}",
                fix="choose among the team's own submission ids",
            )
        if runs.loc[i, "status"] != "scored":
            raise KitError(
                f"submission {i} is {runs.loc[i, 'status'] or 'not graded yet'}, not scored",
                fix="choose scored submissions only",
            )
    ledger.add_selection(ch.id, team, ids)
    return ids
