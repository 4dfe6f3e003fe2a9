"""The grader of ``kit serve``: the warm grading session of ``kit watch``, in a thread of the server.

One thread owns a :class:`~kit.grading.session.GradingSession` for the server's whole life
(its sandboxed kernels and its trusted grading kernel kept warm, the grader's lock held).
When the desk queues a hand-in it wakes the thread, which grades every submission of the
ledger that has no run yet, in one batch, and reports the batch (the server then redraws
its board). Hand-ins that arrive meanwhile are the next batch. Submissions left ungraded by
a server that was stopped are graded when it starts again: the ledger is the queue.

Each accepted hand-in is graded once: batches are graded one after the other by this one
thread, a batch is the ledger's ungraded submissions read under the desk's lock (so never a
hand-in the desk is still recording), and a batch records every submission it took before
the next one is read. A batch that fails as a whole (the grader's own error) is retried,
after a pause, with what it did not record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..grading.intake import pending_submissions
from ..grading.recording import Recorder
from ..grading.report import GradeReport
from ..grading.session import GradingSession

log = logging.getLogger(__name__)
#: seconds between looks at the ledger when nothing wakes the grader (a restart's leftovers)
IDLE_SECONDS = 2.0
#: seconds before a batch that failed as a whole is tried again
RETRY_SECONDS = 5.0


class ServerSession(GradingSession):
    """A grading session that grades the ledger's ungraded submissions (the desk recorded them)."""

    def grade_pending(self, lock: Any, busy: set[int] | None = None) -> GradeReport | None:
        """Grade every submission without a run, read under *lock*; None when there is none.

        ``busy``: filled with the ids being graded while they are (the server says "grading").
        """
        started = time.monotonic()
        with lock:
            queue = pending_submissions(self.ch, self.ledger)
        if not queue:
            return None
        if any(q.kind == "notebook" for q in queue):
            self.start()
        report = GradeReport(challenge=self.ch, workdir=str(self.workdir))
        recorder = Recorder(self.ch, self.ledger, self.workspace, report)
        if busy is not None:
            busy.update(q.submission_id for q in queue)
        try:
            # the session's own batch loop (what `kit grade` and `kit watch` run), given the queue
            self._grade_queue(queue, recorder, None)
        finally:
            if busy is not None:
                busy.difference_update(q.submission_id for q in queue)
        report.seconds = time.monotonic() - started
        return report


class Grader:
    """The grading thread (see the module docstring)."""

    def __init__(
        self,
        challenge,
        *,
        workdir,
        lock: Any,
        on_report: Callable[[GradeReport], None] = lambda report: None,
        **session_options: Any,
    ):
        self.challenge = challenge
        self.workdir = workdir
        self.lock = lock
        self.on_report = on_report
        self.session_options = session_options
        #: the submissions being graded now
        self.busy: set[int] = set()
        self.batches = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Grader:
        """Start the thread and wait until its session is open (its error, if it cannot open, is raised here)."""
        self._thread = threading.Thread(target=self._run, name="kit-serve-grader", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the batch being graded (its results are recorded), and close the session."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            session = ServerSession(self.challenge, workdir=self.workdir, **self.session_options)
            session.start()  # the sandboxed kernels warm up before the first hand-in
        except BaseException as exc:  # noqa: BLE001 - said by start(), in the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        with session:
            while not self._stop.is_set():
                self._wake.wait(IDLE_SECONDS)
                self._wake.clear()
                while not self._stop.is_set():
                    try:
                        report = session.grade_pending(self.lock, self.busy)
                    except Exception:  # noqa: BLE001 - the server keeps serving; the batch is retried
                        log.exception("grading a batch failed; trying again in %g s", RETRY_SECONDS)
                        self._stop.wait(RETRY_SECONDS)
                        continue
                    if report is None:
                        break
                    self.batches += 1
                    try:
                        self.on_report(report)
                    except Exception:  # noqa: BLE001
                        log.exception("after a batch")


__all__ = ["Grader", "ServerSession"]
