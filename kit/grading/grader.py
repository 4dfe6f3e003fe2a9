"""``grade``: intake, run, score and record a batch of submissions.

1. intake: every file is read (never following links), stored by content hash and
   recorded in the ledger; the same team and content is recorded once;
2. run: each notebook runs label-blind in its own work folder (see ``execute``);
3. score: all prediction files of the batch are scored by ONE run of the hidden
   grading notebook (papermill, trusted, with the labels), fed each file as soon as its
   notebook has run;
4. record: one ledger run per submission with its status, error and scores.

A failing submission is recorded and never stops the others. If the grader
stops half-way, submissions without a run are graded on the next call.
"""

from __future__ import annotations

import html
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..challenge import Challenge
from ..errors import GradingError, KitError
from ..ledger import Ledger, RunRecord, utcnow
from ..metrics import get_metric
from .execute import ExecOutcome, remove_data_dir
from .feedback import write_feedback
from .intake import MAX_NOTEBOOK_BYTES, HandIn, check_team, kind_of, read_bytes_safely, store_bytes
from .rules import parse_time, rule_violation

DEFAULT_WORKDIR = "kit-work"
LEDGER_NAME = "ledger.sqlite"


def ledger_path(workdir) -> Path:
    return Path(workdir) / LEDGER_NAME


def open_ledger(workdir=DEFAULT_WORKDIR) -> Ledger:
    return Ledger(ledger_path(workdir))


@dataclass
class Entry:
    submission_id: int | None
    team: str
    filename: str
    kind: str
    status: str  # scored | failed | invalid | rejected | skipped | not-recorded
    stage: str = ""
    score: float | None = None
    error: str = ""
    run_id: int | None = None


@dataclass
class GradeReport:
    challenge: Challenge
    entries: list = field(default_factory=list)
    workdir: str = ""
    seconds: float = 0.0

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([e.__dict__ for e in self.entries])

    @property
    def counts(self) -> Counter:
        return Counter(e.status for e in self.entries)

    def failure_reasons(self) -> Counter:
        return Counter(
            e.error.split(":")[0] if e.error else e.stage
            for e in self.entries
            if e.status in ("failed", "invalid", "not-recorded")
        )

    def summary(self) -> str:
        c = self.counts
        graded = c["scored"] + c["failed"] + c["invalid"]
        text = (
            f"graded {graded}: {c['scored']} scored, {c['failed']} failed, {c['invalid']} invalid; "
            f"skipped {c['skipped']} already graded"
        )
        if c["rejected"]:
            text += f"; {c['rejected']} rejected by the submission rules"
        if c["not-recorded"]:
            text += f"; {c['not-recorded']} could not be read"
        return text + (f" ({self.seconds:.1f} s)" if self.seconds else "")

    def __repr__(self) -> str:
        m = get_metric(self.challenge.spec.metrics.primary)
        lines = [self.summary()]
        for e in self.entries:
            score = f"{m.name} {m.format(e.score)}" if e.score is not None else ""
            err = f"  {e.error.splitlines()[0][:120]}" if e.error else ""
            lines.append(
                f"  #{e.submission_id or '-':<5} {e.status:<9} {e.team[:24]:<24} {e.filename[:28]:<28} {score}{err}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        m = get_metric(self.challenge.spec.metrics.primary)
        rows = "".join(
            f"<tr><td>{e.submission_id or ''}</td><td>{html.escape(e.team)}</td><td>{html.escape(e.filename)}</td>"
            f"<td>{html.escape(e.status)}</td><td>{html.escape(m.format(e.score)) if e.score is not None else ''}</td>"
            f"<td>{html.escape(e.error.splitlines()[0] if e.error else '')}</td></tr>"
            for e in self.entries
        )
        return (
            f"<p>{html.escape(self.summary())}</p><table><thead><tr><th>#</th><th>team</th><th>file</th>"
            f"<th>status</th><th>public {html.escape(m.name)}</th><th>error</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )


# -- sources --------------------------------------------------------------------
def collect_hand_ins(sources: Iterable, team: str | None = None, assignment: str | None = None) -> list[HandIn]:
    """Files to grade: each path is a file (team = --team or its folder's name), an nbgrader
    course directory (it has ``submitted/``), or a folder of team folders ``<team>/<name>.ipynb|.csv``."""
    out: list[HandIn] = []
    for src in sources:
        p = Path(src)
        from .nbgrader_io import is_course_dir, iter_course

        if p.is_dir() and is_course_dir(p):
            out.extend(iter_course(p, assignment))
        elif p.is_dir():
            from .sources import iter_folder

            out.extend(iter_folder(p, team=team))
        elif p.exists() or p.is_symlink():
            out.append(HandIn(path=p, team=team or p.resolve().parent.name, source=str(p.parent)))
        else:
            raise KitError("no such file or folder", where=str(p), fix="check the path")
    return out


# -- the batch --------------------------------------------------------------------
def grade(
    challenge,
    sources: Sequence = (),
    *,
    team: str | None = None,
    workdir=DEFAULT_WORKDIR,
    sandbox: str = "bubblewrap",
    workers: int = 1,
    executor: str = "local",
    scheduler=None,
    regrade: bool = False,
    root=None,
    hand_ins: Sequence[HandIn] = (),
    kernel_name: str = "python3",
    now: datetime | None = None,
    progress: bool | None = None,
    warm: bool = True,
    score_every: int = 200,
    assignment: str | None = None,
) -> GradeReport:
    """Grade files or folders of submissions for a challenge; see the module docstring.

    ``sandbox``: how participant notebooks are isolated (``kit.execution.sandbox``);
    ``workers`` and ``executor`` (``local`` or ``dask`` with ``scheduler``): how many run at
    once and where; ``warm``: take pre-warmed kernels; ``now``: the hand-in time of files
    that carry none; ``progress``: a progress bar (default: when there is a terminal or a
    notebook); ``score_every``: scored results are recorded at least every so many runs;
    ``assignment``: the assignment to grade in an nbgrader course directory (default: all).
    """
    from .session import GradingSession

    # the grading kernel starts at once, in the background, while the notebooks run
    with GradingSession(
        challenge,
        workdir=workdir,
        sandbox=sandbox,
        workers=workers,
        executor=executor,
        scheduler=scheduler,
        kernel_name=kernel_name,
        warm=warm,
        warm_scorer=True,
        root=root,
        score_every=score_every,
        keep_warm=False,
    ) as session:
        return session.grade(
            sources, team=team, hand_ins=hand_ins, regrade=regrade, now=now, progress=progress, assignment=assignment
        )


class _exclusive:
    """One grader per challenge and work folder at a time (an OS lock: a killed grader releases it).

    Holding it, the grader removes what a killed predecessor left in ``scratch/``.
    """

    def __init__(self, base: Path):
        self.base = base

    def __enter__(self):
        import fcntl
        import os

        self.base.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.base / "grader.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise KitError(
                "another `kit grade` is grading this challenge in this work folder",
                where=str(self.base),
                fix="wait for it to finish; it records everything it grades",
            ) from None
        scratch = self.base / "scratch"
        if scratch.exists():
            for p in scratch.iterdir():
                if p.is_dir():
                    remove_data_dir(p)
        return self

    def __exit__(self, *exc):
        import os

        os.close(self.fd)  # releases the lock


def _progress(total: int, progress: bool | None, label: str):
    if total == 0 or progress is False:
        return None
    import sys

    if progress is None and not sys.stderr.isatty():
        try:
            from IPython import get_ipython

            if get_ipython() is None or type(get_ipython()).__name__ != "ZMQInteractiveShell":
                return None
        except ImportError:
            return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"grading {label}", unit="sub")


def _predictions_outcome(base: Path, item: dict) -> ExecOutcome:
    run_dir = _run_dir(base, item["submission_id"])
    run_dir.mkdir(parents=True, exist_ok=True)
    preds = run_dir / "predictions.csv"
    shutil.copyfile(item["stored_path"], preds)
    return ExecOutcome(item["submission_id"], "ok", utcnow(), 0.0, str(run_dir), predictions_path=str(preds))


def _run_dir(base: Path, submission_id: int) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return base / "runs" / str(submission_id) / stamp


def _intake(ch, ledger, hand_ins, base, report, regrade, now) -> list[dict]:
    queue = []
    for h in hand_ins:
        name = h.path.name
        try:
            team = check_team(h.team, where=str(h.path))
            kind = kind_of(h.path)
            data = read_bytes_safely(
                h.path, MAX_NOTEBOOK_BYTES if kind == "notebook" else ch.spec.limits.file_size_mb * 1024 * 1024
            )
        except KitError as exc:
            report.entries.append(
                Entry(None, str(h.team), name, h.path.suffix, "not-recorded", "intake", error=str(exc))
            )
            continue
        digest, stored = store_bytes(base / "store", data, h.path.suffix.lower())
        at = parse_time(h.submitted_at) if h.submitted_at else now
        existing = ledger.find_submission(ch.id, team, digest)
        violation = None if existing else rule_violation(ch.spec, ledger, team, at)
        sid, created = ledger.add_submission(
            challenge=ch.id,
            team=team,
            kind=kind,
            filename=name,
            sha256=digest,
            size=len(data),
            stored_path=str(stored),
            source=h.source,
            submitted_at=at.isoformat(timespec="microseconds"),
        )
        item = {
            "submission_id": sid,
            "team": team,
            "filename": name,
            "kind": kind,
            "stored_path": str(stored),
            "data": data,
        }
        if violation:
            _record_failure(ledger, item, report, status="rejected", stage="intake", started=utcnow(), error=violation)
            continue
        latest = ledger.latest_status(sid)
        if latest is not None and (not regrade or latest == "rejected"):
            report.entries.append(Entry(sid, team, name, kind, "skipped", "intake"))
            continue
        queue.append(item)
    return queue


def _pending(ch, ledger, base, report) -> list[dict]:
    """Submissions recorded earlier but never graded (the grader was stopped)."""
    out = []
    for sid in ledger.pending(ch.id):
        s = ledger.submission(sid)
        p = Path(s["stored_path"])
        out.append(
            {
                "submission_id": sid,
                "team": s["team"],
                "filename": s["filename"],
                "kind": s["kind"],
                "stored_path": str(p),
                "data": p.read_bytes() if p.exists() else None,
            }
        )
    return out


def _record_failure(ledger, item, report, *, status, stage, error: dict, started, outcome: ExecOutcome | None = None):
    run_dir = (
        Path(outcome.run_dir)
        if outcome
        else _run_dir(Path(report.workdir) / report.challenge.id, item["submission_id"])
    )
    feedback = write_feedback(
        run_dir,
        challenge=report.challenge,
        team=item["team"],
        filename=item["filename"],
        status=status,
        error=error,
        executed_path=outcome.executed_path if outcome else None,
    )
    rec = RunRecord(
        submission_id=item["submission_id"],
        status=status,
        stage=stage,
        started_at=started,
        duration_s=outcome.duration_s if outcome else None,
        error_kind=error.get("kind"),
        error=_error_text(error),
        cell_index=error.get("cell_index"),
        traceback=error.get("traceback") or None,
        executed_path=outcome.executed_path if outcome else None,
        output_path=outcome.output_path if outcome else None,
        feedback_path=str(feedback),
        details={"problems": error.get("problems", []), **(outcome.details if outcome else {})},
        primary=_primary(report.challenge),
    )
    run_id = ledger.add_run(rec)
    report.entries.append(
        Entry(
            item["submission_id"],
            item["team"],
            item["filename"],
            item["kind"],
            status,
            stage,
            error=rec.error or "",
            run_id=run_id,
        )
    )


def _primary(ch: Challenge) -> tuple[str, bool]:
    m = get_metric(ch.spec.metrics.primary)
    return m.name, m.greater_is_better


def _error_text(error: dict) -> str:
    head = error.get("what", "")
    if error.get("where"):
        head = f"{error['where']}: {head}"
    lines = [head]
    for p in error.get("problems", []) or []:
        lines.append(
            f"  - {p['where'] + ': ' if p.get('where') else ''}{p['what']}"
            + (f" (fix: {p['fix']})" if p.get("fix") else "")
        )
    if error.get("fix"):
        lines.append(f"Fix: {error['fix']}")
    return "\n".join(lines)


def _manifest_entry(item: dict, outcome: ExecOutcome) -> dict:
    """What the grading notebook is told about one submission to score."""
    name = item["filename"] if item["kind"] == "predictions" else "predictions_path"
    return {
        "key": str(item["submission_id"]),
        "predictions": outcome.predictions_path,
        "out_dir": outcome.run_dir,
        "name": name,
    }


def _record_scores(ch, ledger, ready: list, results: dict, report):
    """Record the grading notebook's result for each (item, outcome) of ``ready``."""
    by_key = {str(item["submission_id"]): (item, outcome) for item, outcome in ready}
    for key, (item, outcome) in by_key.items():
        res = results.get(key)
        if res is None:
            raise GradingError(
                f"the grading notebook returned no result for submission {key}",
                where=str(ch.grade_notebook),
                fix="check the notebook's manifest loop",
            )
        if res["status"] != "scored":
            _record_failure(
                ledger,
                item,
                report,
                status="invalid",
                stage="validate",
                started=outcome.started_at,
                error=res["error"] or {"what": "invalid predictions"},
                outcome=outcome,
            )
            continue
        per_case_path = res.get("per_case_path")
        preds = None
        if per_case_path:
            preds = pd.read_csv(per_case_path, usecols=["prediction"])["prediction"].to_numpy(dtype=float)
        feedback = write_feedback(
            outcome.run_dir,
            challenge=ch,
            team=item["team"],
            filename=item["filename"],
            status="scored",
            scores=res["scores"],
        )
        rec = RunRecord(
            submission_id=item["submission_id"],
            status="scored",
            stage="score",
            started_at=outcome.started_at,
            duration_s=outcome.duration_s,
            executed_path=outcome.executed_path,
            feedback_path=str(feedback),
            predictions_path=outcome.predictions_path,
            output_path=outcome.output_path,
            per_case_path=per_case_path,
            scores=res["scores"],
            case_predictions=preds,
            primary=_primary(ch),
            details={"warnings": res.get("warnings", []), **outcome.details},
        )
        run_id = ledger.add_run(rec)
        score = res["scores"].get("public", {}).get(ch.spec.metrics.primary)
        report.entries.append(
            Entry(
                item["submission_id"],
                item["team"],
                item["filename"],
                item["kind"],
                "scored",
                "score",
                score=score,
                run_id=run_id,
            )
        )
