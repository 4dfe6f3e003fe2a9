"""The ledger's store: an append-only SQLite file of submissions, grading runs and scores.

It is the single source of truth: every artefact (the stored original, the
executed notebook, the predictions, the captured output, the feedback) is
addressed from it. Rows are never updated or deleted (triggers enforce it); a
regrade appends a new run, and the newest run of a submission is its current
result. Writes happen in transactions with write-ahead logging, so a grader
killed at any moment leaves the ledger consistent.

Tables
------
submissions  one row per (challenge, team, content sha256): who handed in what, when
runs         one row per finished grading attempt: status, stage, error, artefact paths
scores       one row per (run, split, metric)
case_predictions  the validated predictions of a scored run, aligned to the labels' case order
selections   a team's choice of final submissions for the private board (the newest choice counts)
privacy_overrides  the audit of privacy overrides: each decision to release despite the privacy
             gate (or an override refused because direct identifiers remain), with both sign-offs
refusals     one row per hand-in refused at intake (a link, a hidden file, a team name that is
             not allowed or is another spelling of a team's, a file over the size limit): never a
             submission, never graded, but never skipped without a trace; the same refusal once

and one derived table, ``board_rows``: for each submission, its newest run's status and
primary-metric scores, kept in step by :meth:`Ledger.add_run` in the same transaction. It
is an index for fast leaderboards over millions of submissions (not part of the record,
so not append-only), and :meth:`Ledger.rebuild_board_index` rebuilds it from the record.

The file holds every private score: it is created readable and writable by its owner only
(mode 0600; SQLite gives its ``-wal`` and ``-shm`` files the same mode), and a ledger found
with wider permissions is narrowed when it is opened. Tables are only ever added
(``CREATE TABLE IF NOT EXISTS``): a ledger written by an earlier version opens unchanged.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LedgerError

if TYPE_CHECKING:  # pragma: no cover - numpy and pandas are imported by the methods that use them
    import numpy as np
    import pandas as pd

SCHEMA_VERSION = 1
STATUSES = ("scored", "failed", "invalid", "rejected")
#: the privacy gate's verdict on a release that came with an override
OVERRIDE_STATUSES = ("released with override", "blocked")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id            INTEGER PRIMARY KEY,
    challenge     TEXT NOT NULL,
    team          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('notebook', 'predictions')),
    filename      TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    submitted_at  TEXT NOT NULL,
    stored_path   TEXT NOT NULL,
    source        TEXT NOT NULL DEFAULT '',
    UNIQUE (challenge, team, sha256)
);
CREATE INDEX IF NOT EXISTS submissions_by_team ON submissions (challenge, team, submitted_at);
CREATE TABLE IF NOT EXISTS runs (
    id               INTEGER PRIMARY KEY,
    submission_id    INTEGER NOT NULL REFERENCES submissions (id),
    status           TEXT NOT NULL CHECK (status IN {STATUSES!r}),
    stage            TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    finished_at      TEXT NOT NULL,
    duration_s       REAL,
    error_kind       TEXT,
    error            TEXT,
    cell_index       INTEGER,
    traceback        TEXT,
    executed_path    TEXT,
    predictions_path TEXT,
    output_path      TEXT,
    feedback_path    TEXT,
    per_case_path    TEXT,
    details          TEXT NOT NULL DEFAULT '{{}}'
);
CREATE INDEX IF NOT EXISTS runs_by_submission ON runs (submission_id, id);
CREATE TABLE IF NOT EXISTS scores (
    run_id  INTEGER NOT NULL REFERENCES runs (id),
    split   TEXT NOT NULL CHECK (split IN ('public', 'private')),
    metric  TEXT NOT NULL,
    value   REAL,
    PRIMARY KEY (run_id, split, metric)
);
CREATE TABLE IF NOT EXISTS selections (
    id            INTEGER PRIMARY KEY,
    challenge     TEXT NOT NULL,
    team          TEXT NOT NULL,
    submission_ids TEXT NOT NULL,
    chosen_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS board_rows (
    submission_id INTEGER PRIMARY KEY REFERENCES submissions (id),
    challenge     TEXT NOT NULL,
    team          TEXT NOT NULL,
    submitted_at  TEXT NOT NULL,
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    status        TEXT NOT NULL,
    metric        TEXT,
    public        REAL,
    private       REAL,
    public_key    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS board_best ON board_rows
    (challenge, metric, status, team, public_key, submitted_at, submission_id);
CREATE INDEX IF NOT EXISTS board_last ON board_rows
    (challenge, metric, status, team, submitted_at, submission_id);
CREATE TABLE IF NOT EXISTS case_predictions (
    run_id  INTEGER PRIMARY KEY REFERENCES runs (id),
    n       INTEGER NOT NULL,
    data    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS privacy_overrides (
    id              INTEGER PRIMARY KEY,
    challenge       TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN {OVERRIDE_STATUSES!r}),
    reason          TEXT NOT NULL,
    overridden      TEXT NOT NULL,
    refused         TEXT NOT NULL DEFAULT '[]',
    organiser       TEXT NOT NULL,
    organiser_date  TEXT NOT NULL,
    dpo             TEXT NOT NULL,
    dpo_date        TEXT NOT NULL,
    CHECK (organiser <> dpo)
);
CREATE INDEX IF NOT EXISTS privacy_overrides_by_challenge ON privacy_overrides (challenge, id);
CREATE TABLE IF NOT EXISTS refusals (
    id            INTEGER PRIMARY KEY,
    challenge     TEXT NOT NULL,
    team          TEXT NOT NULL,
    filename      TEXT NOT NULL,
    path          TEXT NOT NULL,
    source        TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    size          INTEGER,
    sha256        TEXT,
    stored_path   TEXT,
    submitted_at  TEXT,
    refused_at    TEXT NOT NULL,
    feedback_path TEXT,
    fingerprint   TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS refusals_by_challenge ON refusals (challenge, id);
"""

_APPEND_ONLY = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t}
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t}
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows cannot be deleted'); END;
"""
    for t in ("submissions", "runs", "scores", "case_predictions", "selections", "privacy_overrides", "refusals")
)
#: the mode of the ledger file (and of the -wal and -shm files SQLite makes beside it)
LEDGER_MODE = 0o600


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class RunRecord:
    """What one grading attempt produced; written in one transaction."""

    submission_id: int
    status: str
    stage: str
    started_at: str
    finished_at: str = field(default_factory=utcnow)
    duration_s: float | None = None
    error_kind: str | None = None
    error: str | None = None
    cell_index: int | None = None
    traceback: str | None = None
    executed_path: str | None = None
    predictions_path: str | None = None
    output_path: str | None = None
    feedback_path: str | None = None
    per_case_path: str | None = None
    details: dict = field(default_factory=dict)
    #: {"public": {"roc_auc": 0.97, ...}, "private": {...}}
    scores: dict = field(default_factory=dict)
    #: predictions aligned to the labels' case order (scored runs)
    case_predictions: np.ndarray | None = None
    #: (name, greater_is_better) of the challenge's primary metric, for the board index
    primary: tuple | None = None


@dataclass(frozen=True)
class RefusalRecord:
    """A hand-in refused at intake: never a submission, but recorded with its reason.

    ``team``, ``filename`` and ``path`` are as handed in, with the characters that do not
    print escaped (``\\x1b``, ``\\u202e``): they are the participant's text, kept legible.
    ``kind`` names the reason in a word (``link``, ``hidden``, ``team-name``, ``team-clash``,
    ``too-large``, ...); ``reason`` is the full message (what, where, fix). ``fingerprint``
    identifies the refusal (the same file refused again is recorded once). ``sha256`` and
    ``stored_path``: the bytes, when they were read and kept (a team-name clash keeps the
    file; a link or an oversize file is never read).
    """

    challenge: str
    team: str
    filename: str
    path: str
    kind: str
    reason: str
    fingerprint: str
    source: str = ""
    size: int | None = None
    sha256: str | None = None
    stored_path: str | None = None
    submitted_at: str | None = None
    feedback_path: str | None = None
    refused_at: str = field(default_factory=utcnow)


@dataclass(frozen=True)
class OverrideRecord:
    """One privacy-override decision, as the audit table keeps it.

    ``overridden``: the residual-risk reasons the override let through, and ``refused``:
    the reasons it could not cover (direct identifiers; then ``status`` is ``blocked``),
    each a ``{"what", "where", "fix"}`` mapping. Dates are ISO 8601 strings.
    """

    challenge: str
    status: str
    reason: str
    overridden: list[dict]
    organiser: str
    organiser_date: str
    dpo: str
    dpo_date: str
    refused: list[dict] = field(default_factory=list)
    recorded_at: str = field(default_factory=utcnow)
    id: int | None = None


class Ledger:
    """An append-only SQLite ledger. Safe to share between threads of one process."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _owner_only(self.path)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._tx():
                for stmt in _split_sql(_SCHEMA + _APPEND_ONLY):
                    self._db.execute(stmt)
                row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                    # a new ledger keeps board_rows in step from its first run
                    self._db.execute("INSERT INTO meta VALUES ('board_index', 'complete')")
                elif int(row[0]) != SCHEMA_VERSION:
                    raise LedgerError(
                        f"ledger schema version {row[0]} is not supported (expected {SCHEMA_VERSION})",
                        where=str(self.path),
                        fix="use the kit version that created this ledger",
                    )
        except sqlite3.DatabaseError as exc:
            raise LedgerError(
                f"cannot open the ledger: {exc}",
                where=str(self.path),
                fix="check that the file is a SQLite ledger written by the kit",
            ) from None

    # -- plumbing -------------------------------------------------------------
    def _tx(self):
        ledger = self

        class _Tx:
            def __enter__(self):
                ledger._lock.acquire()
                ledger._db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, exc, tb):
                try:
                    ledger._db.execute("ROLLBACK" if exc_type else "COMMIT")
                finally:
                    ledger._lock.release()
                return False

        return _Tx()

    def close(self):
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def query(self, sql: str, params: Iterable | dict = ()) -> pd.DataFrame:
        """Run one read-only SQL query (for :mod:`kit.ledger.queries` and checks such as
        ``PRAGMA integrity_check``; the rest of the kit asks the ledger's own methods)."""
        import pandas as pd  # the grader writes without it

        with self._lock:
            return pd.read_sql_query(sql, self._db, params=params if isinstance(params, dict) else list(params))

    # -- writing --------------------------------------------------------------
    def add_submission(
        self,
        *,
        challenge: str,
        team: str,
        kind: str,
        filename: str,
        sha256: str,
        size: int,
        stored_path: str,
        source: str = "",
        submitted_at: str | None = None,
    ) -> tuple[int, bool]:
        """Record a hand-in; return ``(id, created)``. The same team and content is recorded once."""
        with self._tx():
            row = self._db.execute(
                "SELECT id FROM submissions WHERE challenge=? AND team=? AND sha256=?", (challenge, team, sha256)
            ).fetchone()
            if row:
                return int(row[0]), False  # the same file again: recorded once
            cur = self._db.execute(
                "INSERT INTO submissions (challenge, team, kind, filename, sha256, size, submitted_at,"
                " stored_path, source) VALUES (?,?,?,?,?,?,?,?,?)",
                (challenge, team, kind, filename, sha256, size, submitted_at or utcnow(), stored_path, source),
            )
            return _rowid(cur), True

    def add_run(self, run: RunRecord) -> int:
        if run.status not in STATUSES:
            raise LedgerError(f"unknown run status {run.status!r}", fix=f"use one of {STATUSES}")
        with self._tx():
            cur = self._db.execute(
                "INSERT INTO runs (submission_id, status, stage, started_at, finished_at, duration_s,"
                " error_kind, error, cell_index, traceback, executed_path, predictions_path, output_path,"
                " feedback_path, per_case_path, details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run.submission_id,
                    run.status,
                    run.stage,
                    run.started_at,
                    run.finished_at,
                    run.duration_s,
                    run.error_kind,
                    run.error,
                    run.cell_index,
                    run.traceback,
                    run.executed_path,
                    run.predictions_path,
                    run.output_path,
                    run.feedback_path,
                    run.per_case_path,
                    json.dumps(run.details, sort_keys=True, default=str),
                ),
            )
            run_id = _rowid(cur)
            for split, values in run.scores.items():
                for metric, value in values.items():
                    self._db.execute(
                        "INSERT INTO scores VALUES (?,?,?,?)",
                        (run_id, split, metric, None if value is None else float(value)),
                    )
            if run.case_predictions is not None:
                import numpy as np

                arr = np.ascontiguousarray(run.case_predictions, dtype="<f8")  # cases (× columns)
                self._db.execute("INSERT INTO case_predictions VALUES (?,?,?)", (run_id, len(arr), arr.tobytes()))
            self._index_run(run_id, run)
            return run_id

    def _index_run(self, run_id: int, run: RunRecord) -> None:
        metric, greater = run.primary if run.primary else (None, True)
        pub = (run.scores.get("public") or {}).get(metric) if metric else None
        priv = (run.scores.get("private") or {}).get(metric) if metric else None
        key = _sort_key(pub, greater)
        self._db.execute(
            "INSERT INTO board_rows (submission_id, challenge, team, submitted_at, run_id, status, metric, public,"
            " private, public_key) SELECT id, challenge, team, submitted_at, ?, ?, ?, ?, ?, ? FROM submissions"
            " WHERE id = ? ON CONFLICT (submission_id) DO UPDATE SET run_id = excluded.run_id,"
            " status = excluded.status, metric = excluded.metric, public = excluded.public,"
            " private = excluded.private, public_key = excluded.public_key",
            (run_id, run.status, metric, pub, priv, key, run.submission_id),
        )

    # -- reading --------------------------------------------------------------
    def find_submission(self, challenge: str, team: str, sha256: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM submissions WHERE challenge=? AND team=? AND sha256=?", (challenge, team, sha256)
            ).fetchone()
        return int(row[0]) if row else None

    def latest_status(self, submission_id: int) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status FROM runs WHERE submission_id=? ORDER BY id DESC LIMIT 1", (submission_id,)
            ).fetchone()
        return row[0] if row else None

    def submission(self, submission_id: int) -> dict:
        with self._lock:
            cur = self._db.execute("SELECT * FROM submissions WHERE id=?", (submission_id,))
            row = cur.fetchone()
            if row is None:
                raise LedgerError(f"no submission {submission_id} in the ledger", where=str(self.path))
            return dict(zip([d[0] for d in cur.description], row, strict=True))

    def latest_runs(self, challenge: str) -> pd.DataFrame:
        """One row per submission with its newest run (submissions never run have NaN run fields)."""
        return self.query(
            """
            SELECT s.id AS submission_id, s.team, s.kind, s.filename, s.sha256, s.submitted_at,
                   s.stored_path, r.id AS run_id, r.status, r.stage, r.error_kind, r.error,
                   r.cell_index, r.finished_at, r.duration_s, r.executed_path, r.predictions_path,
                   r.output_path, r.feedback_path, r.per_case_path
            FROM submissions s
            LEFT JOIN runs r ON r.id = (SELECT MAX(id) FROM runs WHERE submission_id = s.id)
            WHERE s.challenge = ?
            ORDER BY s.id
            """,
            (challenge,),
        )

    def scores(self, challenge: str) -> pd.DataFrame:
        """Scores of the newest run of every submission, one column per split and metric."""
        long = self.query(
            """
            SELECT s.id AS submission_id, sc.split, sc.metric, sc.value
            FROM submissions s
            JOIN runs r ON r.id = (SELECT MAX(id) FROM runs WHERE submission_id = s.id)
            JOIN scores sc ON sc.run_id = r.id
            WHERE s.challenge = ? AND r.status = 'scored'
            """,
            (challenge,),
        )
        if long.empty:
            import pandas as pd

            return pd.DataFrame(index=pd.Index([], name="submission_id"))
        wide = long.set_index(["submission_id", "split", "metric"])["value"].unstack(["split", "metric"])
        wide.columns = [f"{split}.{metric}" for split, metric in wide.columns]
        return wide

    def case_predictions(self, run_ids: Iterable[int]) -> dict[int, np.ndarray]:
        import numpy as np

        ids = [int(i) for i in run_ids]
        out = {}
        with self._lock:
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                q = ",".join("?" * len(part))
                for run_id, n, data in self._db.execute(
                    f"SELECT run_id, n, data FROM case_predictions WHERE run_id IN ({q})", part
                ):
                    arr = np.frombuffer(data, dtype="<f8")
                    if n == 0 or len(arr) % n:
                        raise LedgerError(f"case predictions of run {run_id} are truncated", where=str(self.path))
                    # one value per case, or a row of values per case (class probabilities, ...)
                    out[int(run_id)] = arr if len(arr) == n else arr.reshape(n, -1)
        return out

    def pending(self, challenge: str) -> list[int]:
        """Submissions recorded but never run to completion (e.g. the grader was killed)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id FROM submissions s WHERE s.challenge=? AND NOT EXISTS "
                "(SELECT 1 FROM runs r WHERE r.submission_id = s.id) ORDER BY s.id",
                (challenge,),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def count_submissions(self, challenge: str, team: str, day: str | None = None) -> int:
        """Submissions of a team that count against its quota (all but rejected ones), on ``day`` (YYYY-MM-DD)."""
        sql = (
            "SELECT COUNT(*) FROM submissions s WHERE s.challenge=? AND s.team=? AND NOT EXISTS "
            "(SELECT 1 FROM runs r WHERE r.submission_id=s.id AND r.status='rejected')"
        )
        params = [challenge, team]
        if day is not None:
            sql += " AND substr(s.submitted_at, 1, 10) = ?"
            params.append(day)
        with self._lock:
            return int(self._db.execute(sql, params).fetchone()[0])

    def add_selection(self, challenge: str, team: str, submission_ids: list[int], chosen_at: str | None = None) -> int:
        with self._tx():
            cur = self._db.execute(
                "INSERT INTO selections (challenge, team, submission_ids, chosen_at) VALUES (?,?,?,?)",
                (challenge, team, json.dumps(sorted(int(i) for i in submission_ids)), chosen_at or utcnow()),
            )
            return _rowid(cur)

    def add_refusal(self, record: RefusalRecord) -> tuple[int, bool]:
        """Record a hand-in refused at intake; return ``(id, created)`` (a fingerprint is recorded once)."""
        with self._tx():
            row = self._db.execute("SELECT id FROM refusals WHERE fingerprint=?", (record.fingerprint,)).fetchone()
            if row:
                return int(row[0]), False
            cur = self._db.execute(
                "INSERT INTO refusals (challenge, team, filename, path, source, kind, reason, size, sha256,"
                " stored_path, submitted_at, refused_at, feedback_path, fingerprint)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.challenge,
                    record.team,
                    record.filename,
                    record.path,
                    record.source,
                    record.kind,
                    record.reason,
                    record.size,
                    record.sha256,
                    record.stored_path,
                    record.submitted_at,
                    record.refused_at,
                    record.feedback_path,
                    record.fingerprint,
                ),
            )
            return _rowid(cur), True

    def find_refusal(self, fingerprint: str) -> int | None:
        """The id of the refusal recorded with this fingerprint, if any."""
        with self._lock:
            row = self._db.execute("SELECT id FROM refusals WHERE fingerprint=?", (fingerprint,)).fetchone()
        return int(row[0]) if row else None

    def refusals(self, challenge: str) -> pd.DataFrame:
        """The hand-ins refused at intake, oldest first."""
        return self.query(
            "SELECT id, team, filename, path, source, kind, reason, size, sha256, stored_path, submitted_at,"
            " refused_at, feedback_path FROM refusals WHERE challenge = ? ORDER BY id",
            (challenge,),
        )

    def team_names(self, challenge: str) -> list[str]:
        """Every team name that has a submission in the challenge, as recorded."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT team FROM submissions WHERE challenge=?", (challenge,)).fetchall()
        return sorted(r[0] for r in rows)

    def add_override(self, record: OverrideRecord) -> int:
        """Append one privacy-override decision to the audit table; return its id."""
        if record.status not in OVERRIDE_STATUSES:
            raise LedgerError(f"unknown override status {record.status!r}", fix=f"use one of {OVERRIDE_STATUSES}")
        with self._tx():
            cur = self._db.execute(
                "INSERT INTO privacy_overrides (challenge, recorded_at, status, reason, overridden, refused,"
                " organiser, organiser_date, dpo, dpo_date) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    record.challenge,
                    record.recorded_at,
                    record.status,
                    record.reason,
                    json.dumps(record.overridden, sort_keys=True),
                    json.dumps(record.refused, sort_keys=True),
                    record.organiser,
                    record.organiser_date,
                    record.dpo,
                    record.dpo_date,
                ),
            )
            return _rowid(cur)

    def overrides(self, challenge: str | None = None) -> list[OverrideRecord]:
        """The privacy-override decisions of a challenge (default: of every challenge), oldest first."""
        sql = (
            "SELECT id, challenge, recorded_at, status, reason, overridden, refused, organiser, organiser_date,"
            " dpo, dpo_date FROM privacy_overrides"
        )
        params: list[str] = []
        if challenge is not None:
            sql += " WHERE challenge = ?"
            params.append(challenge)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", params).fetchall()
        return [
            OverrideRecord(
                id=int(i),
                challenge=c,
                recorded_at=at,
                status=st,
                reason=why,
                overridden=json.loads(over),
                refused=json.loads(ref),
                organiser=org,
                organiser_date=org_date,
                dpo=dpo,
                dpo_date=dpo_date,
            )
            for i, c, at, st, why, over, ref, org, org_date, dpo, dpo_date in rows
        ]

    def selections(self, challenge: str) -> dict[str, list[int]]:
        """Each team's newest choice of final submissions."""
        with self._lock:
            rows = self._db.execute(
                "SELECT team, submission_ids FROM selections WHERE id IN "
                "(SELECT MAX(id) FROM selections WHERE challenge=? GROUP BY team)",
                (challenge,),
            ).fetchall()
        return {team: json.loads(ids) for team, ids in rows}

    def rebuild_board_index(self, primary: dict[str, tuple] | None = None) -> None:
        """Rebuild ``board_rows`` from the record (the newest run of every submission).

        ``primary``: {challenge: (metric name, greater_is_better)}; by default each
        challenge keeps the metric its rows already name.
        """
        from ..metrics import get_metric

        with self._tx():
            known = dict(self._db.execute("SELECT challenge, metric FROM board_rows GROUP BY challenge").fetchall())
            challenges = [r[0] for r in self._db.execute("SELECT DISTINCT challenge FROM submissions")]
            self._db.execute("DELETE FROM board_rows")
            for challenge in challenges:
                name, greater = (primary or {}).get(challenge, (known.get(challenge), None))
                if greater is None:
                    greater = get_metric(name).greater_is_better if name else True
                self._db.execute(
                    """INSERT INTO board_rows (submission_id, challenge, team, submitted_at, run_id, status, metric,
                                               public, private, public_key)
                    SELECT s.id, s.challenge, s.team, s.submitted_at, l.run_id, r.status, :m, pub.value, priv.value,
                           CASE WHEN pub.value IS NULL THEN 1e308 WHEN :g THEN -pub.value ELSE pub.value END
                    FROM submissions s
                    JOIN (SELECT submission_id, MAX(id) AS run_id FROM runs GROUP BY submission_id) l
                         ON l.submission_id = s.id
                    JOIN runs r ON r.id = l.run_id
                    LEFT JOIN scores pub ON pub.run_id = l.run_id AND pub.split = 'public' AND pub.metric = :m
                    LEFT JOIN scores priv ON priv.run_id = l.run_id AND priv.split = 'private' AND priv.metric = :m
                    WHERE s.challenge = :c""",
                    {"m": name, "g": int(bool(greater)), "c": challenge},
                )
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('board_index', 'complete')")
            self._db.execute("ANALYZE")

    @property
    def board_index_complete(self) -> bool:
        """True when ``board_rows`` has followed every run (a new or rebuilt ledger)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'board_index'").fetchone()
        return bool(row and row[0] == "complete")


def _owner_only(path: Path) -> None:
    """Create the ledger file with mode 0600, or narrow an existing one (and its -wal, -shm) to it.

    A ledger owned by someone else (a read-only board app of another user) is left as it is.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, LEDGER_MODE))
    except FileExistsError:
        pass
    except OSError:  # a folder we may not write in: sqlite3 says so, with its own message
        return
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = os.stat(p)
            if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                os.chmod(p, LEDGER_MODE)
        except OSError:
            pass


def _rowid(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote (always set after an INSERT)."""
    if cur.lastrowid is None:  # pragma: no cover - sqlite3 sets it for every INSERT
        raise LedgerError("the ledger did not return the id of the new row")
    return int(cur.lastrowid)


def _sort_key(value, greater_is_better: bool) -> float:
    """Ascending key, best first, missing last (SQLite sorts NULL first, so never NULL)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 1e308
    return -float(value) if greater_is_better else float(value)


def _split_sql(script: str) -> list[str]:
    """Split a schema script into statements (triggers contain inner semicolons)."""
    out, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text and sqlite3.complete_statement(text):
            out.append(text)
            buf = []
    return out
