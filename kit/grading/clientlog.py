"""Kernel-client noise goes to the grading log, never to the organiser's terminal.

nbclient, jupyter_client, papermill, traitlets and asyncio log what happens between the
grader and a kernel: ``Task was destroyed but it is pending!`` when a killed kernel's
coroutines are collected, ``Kernel died while waiting for execute reply`` when a notebook
kills its kernel. Printed on the organiser's terminal, such a line names no submission and
reads like a grader failure; each run's own outcome already says what happened to it.

While a :class:`~kit.grading.session.GradingSession` is open, :func:`capture_client_logs`
sends those loggers' records to ``<workdir>/<challenge>/grading.log`` (owner-only), each
line naming the submission whose run emitted it (:func:`submission_context`, set by the
thread that runs it) or ``session`` for the rest. Nothing of theirs reaches the terminal.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

#: the grading log's name, in the challenge's folder of the workdir
CLIENT_LOG = "grading.log"
#: the loggers of the libraries between the grader and the kernels
CLIENT_LOGGERS = ("asyncio", "nbclient", "jupyter_client", "papermill", "traitlets", "kit.execution")
_SUBMISSION: contextvars.ContextVar[int | None] = contextvars.ContextVar("kit_submission", default=None)
_LOCK = threading.Lock()
_HANDLERS: list[_FileHandler] = []
_SAVED: dict[str, bool] = {}  # logger -> its propagate flag before the first capture


@contextmanager
def submission_context(submission_id: int) -> Iterator[None]:
    """The records logged in this block (in this thread) name *submission_id*."""
    token = _SUBMISSION.set(submission_id)
    try:
        yield
    finally:
        _SUBMISSION.reset(token)


class _FileHandler(logging.Handler):
    def __init__(self, path: Path):
        super().__init__(level=logging.DEBUG)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.stream = os.fdopen(fd, "a", encoding="utf-8")
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sid = _SUBMISSION.get()
            who = f"submission {sid}" if sid is not None else "session"
            when = datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            # (Handler.handle holds self.lock around emit: one line at a time)
            self.stream.write(f"{when} [{who}] {record.name} {record.levelname}: {text}\n")
            self.stream.flush()
        except Exception:  # noqa: BLE001 - logging must never break a run
            self.handleError(record)

    def close(self) -> None:
        try:
            self.stream.close()
        finally:
            super().close()


@contextmanager
def capture_client_logs(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Send the kernel clients' records to *path* (and nowhere else) inside the block."""
    handler = _FileHandler(Path(path))
    with _LOCK:
        if not _HANDLERS:
            for name in CLIENT_LOGGERS:
                logger = logging.getLogger(name)
                _SAVED[name] = logger.propagate
                logger.propagate = False
        _HANDLERS.append(handler)
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).addHandler(handler)
    try:
        yield handler.path
    finally:
        with _LOCK:
            for name in CLIENT_LOGGERS:
                logging.getLogger(name).removeHandler(handler)
            _HANDLERS.remove(handler)
            if not _HANDLERS:
                for name, propagate in _SAVED.items():
                    logging.getLogger(name).propagate = propagate
                _SAVED.clear()
        handler.close()


__all__ = ["CLIENT_LOG", "CLIENT_LOGGERS", "capture_client_logs", "submission_context"]
