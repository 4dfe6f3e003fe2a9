"""A grading session: everything a grader keeps between batches.

``kit grade`` opens a session for one batch; ``kit watch`` keeps one open for a
whole workshop, so that each hand-in is graded by kernels that are already warm:

- the lock of the challenge's work folder (one grader at a time);
- the ledger;
- a label-blind, read-only data folder that every participant sandbox mounts;
- the executor and its pool of pre-warmed sandboxed kernels (``keep_warm=False`` for a
  one-shot batch: only as many kernels as it needs, released as soon as it has run);
- the hidden grading notebook's kernel, warming up while the notebooks run.

In a batch, the kernels' zygote starts importing while the hand-ins are read, and the
grading notebook starts with the first predictions and is fed the others as their
notebooks finish: after the last notebook, only its own scoring and the recording remain.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..defaults import DEFAULT_EXECUTOR, DEFAULT_SANDBOX, DEFAULT_SCORE_EVERY, DEFAULT_WORKDIR, DEFAULT_WORKERS
from ..errors import KitError
from ..ledger import utcnow
from ..workspace import Workspace, stamp
from .clientlog import CLIENT_LOG, capture_client_logs
from .grading_notebook import GradingNotebook, ScoringRun
from .intake import HandIn, Queued, check_notebook, pending_submissions, take_in
from .recording import Recorder, manifest_entry
from .report import GradeReport
from .sources import collect_hand_ins
from .submission_run import RunOutcome, prepare_data_dir, remove_data_dir


class GraderLock:
    """One grader per challenge and work folder at a time (an OS lock: a killed grader releases it).

    Holding it, the grader removes what a killed predecessor left in ``scratch/``.
    """

    def __init__(self, workspace: Workspace, challenge_id: str):
        self.path = workspace.lock_path(challenge_id)
        self.scratch = workspace.scratch_dir(challenge_id)
        self.fd = -1

    def acquire(self) -> GraderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise KitError(
                "another `kit grade` is grading this challenge in this work folder",
                where=str(self.path.parent),
                fix="wait for it to finish; it records everything it grades",
            ) from None
        self.fd = fd
        if self.scratch.exists():
            for p in self.scratch.iterdir():
                if p.is_dir():
                    remove_data_dir(p)
        return self

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # releases the lock
            self.fd = -1


def _progress(total: int, progress: bool | None, label: str):
    """A tqdm bar, by default on a terminal or in a notebook only."""
    if total == 0 or progress is False:
        return None
    if progress is None and not sys.stderr.isatty():
        ipython = sys.modules.get("IPython")  # a notebook's process has imported it; nobody else need
        shell = ipython.get_ipython() if ipython is not None else None
        if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
            return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"grading {label}", unit="sub")


def _zygote_of(prestarted: Any):
    """The kernels' zygote among what the executor started ahead (the grading kernel forks from it too)."""
    from ..execution.warm.zygote import Zygote

    return prestarted if isinstance(prestarted, Zygote) else None


class GradingSession:
    """A grader for one challenge and work folder; grade batches with :meth:`grade`, then close it.

    ``prestarted``: what the executor started ahead (:meth:`Executor.prestart
    <kit.grading.executors.Executor.prestart>`; by default the session starts it), which the
    session then owns.
    """

    def __init__(
        self,
        challenge,
        *,
        workdir=DEFAULT_WORKDIR,
        sandbox: str = DEFAULT_SANDBOX,
        workers: int = DEFAULT_WORKERS,
        executor: str = DEFAULT_EXECUTOR,
        scheduler=None,
        kernel_name: str = "python3",
        warm: bool = True,
        warm_scorer: bool = False,
        root=None,
        score_every: int = DEFAULT_SCORE_EVERY,
        keep_warm: bool = True,
        prestarted: Any = None,
    ):
        from .executors import get_executor

        self.executor_cls = get_executor(executor)
        # first thing: the kernels' zygote imports the participants' libraries (the longest
        # wait of a batch) while the challenge, the ledger and the hand-ins are read
        if prestarted is None:
            prestarted = self.executor_cls.prestart(sandbox=sandbox, warm=warm)
        self._prestarted: Any = prestarted
        try:
            from ..challenge import load_challenge
            from ..execution.sandbox import get_sandbox

            self.ch = load_challenge(challenge, root=root)
            self.ch.verify()
            get_sandbox(sandbox).check()  # fail now, with the install hint, not per submission
            self.workspace = Workspace(Path(workdir).resolve())
            self.workdir = self.workspace.root
            self.options: dict[str, Any] = dict(
                workers=workers,
                sandbox=sandbox,
                kernel_name=kernel_name,
                warm=warm,
                scheduler=scheduler,
                keep_warm=keep_warm,
            )
            self.score_every = score_every
            self._lock = GraderLock(self.workspace, self.ch.id).acquire()
        except BaseException:
            self._drop_prestarted()
            raise
        try:
            # kernel-client noise to the challenge's grading.log, each line naming its submission
            self._client_logs = capture_client_logs(self.workspace.challenge_dir(self.ch.id) / CLIENT_LOG)
            self._client_logs.__enter__()
        except BaseException:
            self._drop_prestarted()
            self._lock.release()
            raise
        try:
            self.ledger = self.workspace.open_ledger()
            self.grading_notebook = GradingNotebook(
                self.ch, self.workspace, warm=warm_scorer, kernel_name=kernel_name, zygote=_zygote_of(prestarted)
            )
        except BaseException:
            self._drop_prestarted()
            self._client_logs.__exit__(None, None, None)
            self._lock.release()
            raise
        self._executor: Any = None
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
            scratch = self.workspace.scratch_dir(self.ch.id)
            self._data_dir = prepare_data_dir(
                scratch / f"data-{stamp()}", {k: str(v) for k, v in self.ch.public_files.items()}, self.ch.spec_path
            )
            options = dict(self.options)
            if self._prestarted is not None:  # the executor owns it from now on
                options["prestarted"], self._prestarted = self._prestarted, None
            self._executor = self.executor_cls(
                data_dir=self._data_dir, limits=self.ch.spec.limits.model_dump(), scratch_dir=scratch, **options
            )
        return self._executor

    def _drop_prestarted(self) -> None:
        """Stop what was started ahead for a batch that turned out to need no kernel."""
        prestarted, self._prestarted = self._prestarted, None
        if prestarted is not None:
            prestarted.close()

    def close(self) -> None:
        try:
            self._drop_prestarted()
            if self._executor is not None:
                self._executor.close()
            self.grading_notebook.close()
        finally:
            if self._data_dir is not None:
                remove_data_dir(self._data_dir)
            self.ledger.close()
            self._client_logs.__exit__(None, None, None)
            self._lock.release()

    def __enter__(self) -> GradingSession:
        return self

    def __exit__(self, *exc) -> None:
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
        recorder = Recorder(self.ch, self.ledger, self.workspace, report)
        todo = list(hand_ins) + collect_hand_ins(sources, team=team, assignment=assignment)
        if any(h.path.suffix.lower() == ".ipynb" for h in todo) or self.ledger.pending(self.ch.id):
            self.start()  # the kernels' zygote imports while the hand-ins are read and recorded
        else:
            self._drop_prestarted()  # nothing to run: no zygote importing for nothing
        queue = take_in(
            self.ch, self.ledger, self.workspace, todo, recorder, regrade=regrade, now=now or datetime.now(timezone.utc)
        )
        seen = {q.submission_id for q in queue}
        queue += [q for q in pending_submissions(self.ch, self.ledger) if q.submission_id not in seen]
        bar = _progress(len(queue), progress, self.ch.id)
        try:
            self._grade_queue(queue, recorder, bar)
        finally:
            if bar is not None:
                bar.close()
        report.seconds = (datetime.now(timezone.utc) - started).total_seconds()
        return report

    def _grade_queue(self, queue: list[Queued], recorder: Recorder, bar) -> None:
        # one run of the grading notebook scores the batch, fed as its notebooks finish
        # (a new run every `score_every` submissions, so that results are recorded as they go)
        fed: list[tuple[Queued, RunOutcome]] = []
        run: ScoringRun | None = None

        def advance(n=1):
            if bar is not None:
                bar.update(n)

        def feed(item: Queued, outcome: RunOutcome) -> None:
            nonlocal run
            if run is None:
                run = self.grading_notebook.start()
            run.add([manifest_entry(item, outcome)])
            fed.append((item, outcome))
            if len(fed) >= self.score_every:
                flush()

        def flush() -> None:
            nonlocal run
            if run is not None:
                current, run = run, None
                recorder.scores(list(fed), current.finish())
                advance(len(fed))
                fed.clear()

        jobs, items = [], {}
        try:
            for item in queue:
                started = utcnow()
                if item.data is None:
                    recorder.failure(
                        item,
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
                elif item.kind == "predictions":
                    feed(item, self._predictions_outcome(item))
                else:
                    try:
                        check_notebook(item.data, where=item.filename)
                    except KitError as exc:
                        recorder.failure(item, status="invalid", stage="intake", started=started, error=exc.to_dict())
                        advance()
                        continue
                    items[item.submission_id] = item
                    jobs.append(
                        {
                            "submission_id": item.submission_id,
                            "notebook_path": item.stored_path,
                            "run_dir": str(self.workspace.run_dir(self.ch.id, item.submission_id)),
                        }
                    )
            if jobs:
                executor = self._ensure_executor()
                if run is None:  # the grading notebook sets up (spec, labels) while the notebooks run
                    run = self.grading_notebook.start()
                for outcome in executor.run(jobs):
                    item = items[outcome.submission_id]
                    if outcome.status != "ok":
                        recorder.failure(
                            item,
                            status="failed",
                            stage="execute",
                            started=outcome.started_at,
                            error=outcome.error or {"what": "the notebook failed"},
                            outcome=outcome,
                        )
                        advance()
                    else:
                        feed(item, outcome)
            flush()
        finally:
            if run is not None:  # stopped by an error: what was not recorded is graded next time
                run.abort()

    def _predictions_outcome(self, item: Queued) -> RunOutcome:
        """A predictions file handed in: nothing to run, it goes to the grading notebook as it is."""
        import shutil

        run_dir = self.workspace.run_dir(self.ch.id, item.submission_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        preds = run_dir / "predictions.csv"
        shutil.copyfile(item.stored_path, preds)
        return RunOutcome(item.submission_id, "ok", utcnow(), 0.0, str(run_dir), predictions_path=str(preds))


__all__ = [
    "DEFAULT_EXECUTOR",
    "DEFAULT_SANDBOX",
    "DEFAULT_SCORE_EVERY",
    "DEFAULT_WORKERS",
    "GraderLock",
    "GradingSession",
]
