"""A grading session: everything a grader keeps between batches.

``kit grade`` opens a session for one batch; ``kit watch`` keeps one open for a
whole workshop, so that each hand-in is graded by kernels that are already warm:

- the lock of the challenge's work folder (one grader at a time);
- the ledger;
- a label-blind, read-only data folder that every participant sandbox mounts;
- the executor and its pool of pre-warmed sandboxed kernels (``keep_warm=False`` for a
  one-shot batch: only as many kernels as it needs, released as soon as it has run);
- the scorer (the hidden grading notebook's kernel, warming up while the notebooks run).

In a batch, the kernels' zygote starts importing while the hand-ins are read, and the
grading notebook starts with the first predictions and is fed the others as their
notebooks finish: after the last notebook, only its own scoring and the recording remain.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from ..challenge import load_challenge
from ..errors import KitError
from .execute import ExecOutcome, prepare_data_dir, remove_data_dir
from .grader import (
    DEFAULT_WORKDIR,
    Entry,
    GradeReport,
    _exclusive,
    _intake,
    _manifest_entry,
    _pending,
    _predictions_outcome,
    _progress,
    _record_failure,
    _record_scores,
    _run_dir,
    collect_hand_ins,
    open_ledger,
)
from .intake import HandIn, check_notebook
from .scorer import Scorer


class GradingSession:
    def __init__(
        self,
        challenge,
        *,
        workdir=DEFAULT_WORKDIR,
        sandbox: str = "bubblewrap",
        workers: int = 1,
        executor: str = "local",
        scheduler=None,
        kernel_name: str = "python3",
        warm: bool = True,
        warm_scorer: bool = False,
        root=None,
        score_every: int = 200,
        keep_warm: bool = True,
    ):
        from ..execution.sandbox import get_sandbox
        from .executors import get_executor

        self.ch = load_challenge(challenge, root=root)
        self.ch.verify()
        get_sandbox(sandbox).check()  # fail now, with the install hint, not per submission
        self.executor_cls = get_executor(executor)
        self.workdir = Path(workdir).resolve()
        self.base = self.workdir / self.ch.id
        self.options = dict(
            workers=workers,
            sandbox=sandbox,
            kernel_name=kernel_name,
            warm=warm,
            scheduler=scheduler,
            keep_warm=keep_warm,
        )
        self.score_every = score_every
        self._lock = _exclusive(self.base).__enter__()
        try:
            self.ledger = open_ledger(self.workdir)
            self.scorer = Scorer(self.ch, self.base, warm=warm_scorer, kernel_name=kernel_name)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self._executor = None
        self._data_dir: Path | None = None

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> GradingSession:
        """Create the executor now (its kernels warm up while the caller waits for hand-ins)."""
        self._ensure_executor()
        if getattr(self._executor, "_pool", None):
            self._executor._pool()
        return self

    def _ensure_executor(self):
        if self._executor is None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            self._data_dir = prepare_data_dir(
                self.base / "scratch" / f"data-{stamp}",
                {k: str(v) for k, v in self.ch.public_files.items()},
                self.ch.spec_path,
            )
            self._executor = self.executor_cls(
                data_dir=self._data_dir,
                limits=self.ch.spec.limits.model_dump(),
                scratch_dir=self.base / "scratch",
                **self.options,
            )
        return self._executor

    def close(self) -> None:
        try:
            if self._executor is not None:
                self._executor.close()
            self.scorer.close()
        finally:
            if self._data_dir is not None:
                remove_data_dir(self._data_dir)
            self.ledger.close()
            self._lock.__exit__(None, None, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- grading ------------------------------------------------------------------------
    def grade(
        self,
        sources: Sequence = (),
        *,
        team: str | None = None,
        hand_ins: Sequence[HandIn] = (),
        regrade: bool = False,
        now: datetime | None = None,
        progress: bool | None = None,
        assignment: str | None = None,
    ) -> GradeReport:
        """Record, run, score and report a batch (and whatever an interrupted grader left)."""
        started = datetime.now(timezone.utc)
        report = GradeReport(challenge=self.ch, workdir=str(self.workdir))
        todo = list(hand_ins) + collect_hand_ins(sources, team=team, assignment=assignment)
        if any(h.path.suffix.lower() == ".ipynb" for h in todo) or self.ledger.pending(self.ch.id):
            self.start()  # the kernels' zygote imports while the hand-ins are read and recorded
        queue = _intake(self.ch, self.ledger, todo, self.base, report, regrade, now or datetime.now(timezone.utc))
        seen = {x["submission_id"] for x in queue}
        queue += [q for q in _pending(self.ch, self.ledger, self.base, report) if q["submission_id"] not in seen]
        bar = _progress(len(queue), progress, self.ch.id)
        try:
            self._grade_queue(queue, report, bar)
        finally:
            if bar is not None:
                bar.close()
        report.seconds = (datetime.now(timezone.utc) - started).total_seconds()
        return report

    def _grade_queue(self, queue: list[dict], report: GradeReport, bar) -> None:
        ch, ledger = self.ch, self.ledger
        # one run of the grading notebook scores the batch, fed as its notebooks finish
        # (a new run every `score_every` submissions, so that results are recorded as they go)
        fed: list[tuple[dict, ExecOutcome]] = []
        run = None

        def advance(n=1):
            if bar is not None:
                bar.update(n)

        def feed(item, outcome):
            nonlocal run
            if run is None:
                run = self.scorer.start()
            run.add([_manifest_entry(item, outcome)])
            fed.append((item, outcome))
            if len(fed) >= self.score_every:
                flush()

        def flush():
            nonlocal run
            if run is not None:
                current, run = run, None
                _record_scores(ch, ledger, list(fed), current.finish(), report)
                advance(len(fed))
                fed.clear()

        jobs, items = [], {}
        try:
            for item in queue:
                started = datetime.now(timezone.utc).isoformat(timespec="microseconds")
                if item["data"] is None:
                    _record_failure(
                        ledger,
                        item,
                        report,
                        status="invalid",
                        stage="intake",
                        started=started,
                        error={
                            "kind": "lost",
                            "what": "the stored copy of this submission is missing",
                            "fix": "hand the file in again",
                        },
                    )
                    advance()
                elif item["kind"] == "predictions":
                    feed(item, _predictions_outcome(self.base, item))
                else:
                    try:
                        check_notebook(item["data"], where=item["filename"])
                    except KitError as exc:
                        _record_failure(
                            ledger, item, report, status="invalid", stage="intake", started=started, error=exc.to_dict()
                        )
                        advance()
                        continue
                    items[item["submission_id"]] = item
                    jobs.append(
                        {
                            "submission_id": item["submission_id"],
                            "notebook_path": item["stored_path"],
                            "run_dir": str(_run_dir(self.base, item["submission_id"])),
                        }
                    )
            if jobs:
                for outcome in self._ensure_executor().run(jobs):
                    item = items[outcome.submission_id]
                    if outcome.status != "ok":
                        _record_failure(
                            ledger,
                            item,
                            report,
                            status="failed",
                            stage="execute",
                            started=outcome.started_at,
                            error=outcome.error,
                            outcome=outcome,
                        )
                        advance()
                    else:
                        feed(item, outcome)
            flush()
        finally:
            if run is not None:  # stopped by an error: what was not recorded is graded next time
                run.abort()


__all__ = ["GradingSession", "Entry"]
