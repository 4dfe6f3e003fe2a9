"""``kit watch``: grade hand-ins as they arrive (a workshop's live loop).

A folder of team folders (``<team>/<name>.ipynb|.csv``) is watched with inotify (the
``watchdog`` library): a file is handed in the moment its writer closes it, or the moment
it is moved into place (an editor's atomic save, ``mv``), so a file still being written is
never read half-written, and nothing waits for a scan. A slow scan (every
``RESCAN_SECONDS``) backs inotify up: a file written into a team folder in the instant the
folder itself was created can precede the folder's watch, and is then taken once its size
and time stop changing. Where inotify is not available at all (a network filesystem, a
machine out of inotify watches), the folder is scanned every ``interval`` seconds instead.

Each hand-in is graded at once in a session whose participant kernels and grading kernel
are already warm. Its hand-in time is its modification time, capped by the moment it was
noticed (under load, an event or a scan comes seconds late) and never earlier than the
previous look at the folder that did not see it so (a time set back by hand gains nothing
beyond that): :func:`kit.grading.intake.hand_in_time`. Files already in the folder when the
watch starts are taken in first (what was graded before is recorded once: the ledger skips
it). Every hand-in gets one line, stamped with the time its outcome is known: team, file,
and its score or why it has none.

A hidden team folder is taken in, and refused with a ledger row; hidden files (an editor's
temporary copies) are passed over. No link below the folder is followed.

``create=False`` refuses a folder that does not exist, before anything starts: ``kit watch``
passes it unless ``--create`` is given, since a mistyped path would otherwise be watched,
empty, for the whole workshop.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..defaults import DEFAULT_SANDBOX, DEFAULT_WORKERS, WATCH_INTERVAL
from ..errors import KitError
from ..metrics import get_metric
from .intake import KINDS, HandIn
from .report import Entry
from .session import GradingSession

log = logging.getLogger(__name__)
#: with inotify, a scan every so many seconds catches what no event announced
RESCAN_SECONDS = 1.0


#: an arrival: when it was noticed, and the start of the previous look that did not see it so
Arrival = tuple[datetime, datetime | None]


def _gradable(folder: Path, path: Path) -> bool:
    """``<folder>/<team>/<file>`` with a gradable suffix, not a hidden file (a hidden team
    folder is taken: intake refuses it with a reason)."""
    try:
        rel = path.relative_to(folder)
    except ValueError:
        return False
    return len(rel.parts) == 2 and not rel.parts[1].startswith(".") and path.suffix.lower() in KINDS


def _scan(folder: Path) -> dict[Path, tuple[int, int]]:
    found = {}
    for p in folder.glob("*/*"):
        if _gradable(folder, p) and p.is_file():
            st = p.stat()
            found[p] = (st.st_size, st.st_mtime_ns)
    return found


class _Arrivals:
    """Hand-ins as they arrive: inotify events, or scans where inotify is missing."""

    def __init__(self, folder: Path, interval: float):
        self.folder = folder
        self.interval = interval
        self.queue: queue.SimpleQueue[tuple[Path, datetime, datetime | None]] = queue.SimpleQueue()
        self.observer: Any = None
        self._last: dict[Path, tuple[int, int]] = {}
        self._done: dict[Path, tuple[int, int]] = {}
        self._next_scan = time.monotonic() + RESCAN_SECONDS
        #: when the latest scan and the one before it started (a file they did not see so came later)
        self._look: datetime | None = None
        self._prev_look: datetime | None = None
        try:
            self._start_inotify()
        except Exception as exc:  # noqa: BLE001 - no inotify here: scan instead
            log.warning("inotify is not available for %s (%s): scanning every %g s", folder, exc, interval)
            self.observer = None
        started = datetime.now(timezone.utc)
        initial = _scan(folder)  # what is there already (since when: unknown)
        self._last, self._done = dict(initial), dict(initial)
        self._look = started
        for p in sorted(initial):
            self.queue.put((p, started, None))

    @property
    def mode(self) -> str:
        return "inotify" if self.observer is not None else f"a scan every {self.interval:g} s"

    def _start_inotify(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers.inotify import InotifyObserver

        arrivals = self

        class Handler(FileSystemEventHandler):
            def on_closed(self, event):  # IN_CLOSE_WRITE: its writer is done
                if not event.is_directory:
                    arrivals._offer(event.src_path)

            def on_moved(self, event):  # IN_MOVED_TO: an atomic save, or mv into the folder
                if not event.is_directory:
                    arrivals._offer(event.dest_path)

        observer = InotifyObserver()
        observer.schedule(Handler(), str(self.folder), recursive=True)
        observer.daemon = True
        observer.start()
        self.observer = observer

    def _offer(self, path: str | bytes) -> None:
        p = Path(os.fsdecode(path))
        if _gradable(self.folder, p):
            # the latest scan started before this event: what it saw is older, what it missed is newer
            self.queue.put((p, datetime.now(timezone.utc), self._look))

    def take(self, timeout: float) -> dict[Path, Arrival]:
        """The hand-ins that arrived (waiting up to *timeout* for the first), by path."""
        if self.observer is None:
            return self._scan_once(timeout)
        out: dict[Path, Arrival] = {}
        try:
            p, at, floor = self.queue.get(timeout=max(0.0, min(timeout, self._next_scan - time.monotonic())))
        except queue.Empty:
            pass
        else:
            out.setdefault(p, (at, floor))
            while True:  # everything else that is already there: graded side by side
                try:
                    p, at, floor = self.queue.get_nowait()
                except queue.Empty:
                    break
                out.setdefault(p, (at, floor))
        for p in out:
            self._mark_done(p)
        if time.monotonic() >= self._next_scan:  # what no event announced
            self._next_scan = time.monotonic() + RESCAN_SECONDS
            for p, arrival in self._stable().items():
                out.setdefault(p, arrival)
        return out

    def _mark_done(self, p: Path) -> None:
        try:
            st = p.stat()
        except OSError:
            return
        self._done[p] = self._last[p] = (st.st_size, st.st_mtime_ns)

    def _stable(self) -> dict[Path, Arrival]:
        """Files whose size and time did not change since the last scan, and were not taken as they are.

        The previous scan first saw each of them as it is, so the scan before it did not: they
        came after that one started.
        """
        started = datetime.now(timezone.utc)
        now = _scan(self.folder)
        stable = [p for p, sig in now.items() if self._last.get(p) == sig and self._done.get(p) != sig]
        floor = self._prev_look
        self._prev_look, self._look = self._look, started
        self._last = now
        at = datetime.now(timezone.utc)
        for p in stable:
            self._done[p] = now[p]
        return dict.fromkeys(stable, (at, floor))

    def _scan_once(self, timeout: float) -> dict[Path, Arrival]:
        out: dict[Path, Arrival] = {}
        while not self.queue.empty():  # the files found at start
            p, at, floor = self.queue.get_nowait()
            out.setdefault(p, (at, floor))
        time.sleep(min(timeout, self.interval))
        for p, arrival in self._stable().items():
            out.setdefault(p, arrival)
        return out

    def close(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(5)


def hand_in_line(entry: Entry, metric_name: str, at: datetime | None = None) -> str:
    """One hand-in's line: local time, team, file, and its public score or what became of it."""
    at = at or datetime.now().astimezone()
    if entry.status == "scored" and entry.score is not None:
        metric = get_metric(metric_name)
        outcome = f"scored: public {metric.name} {metric.format(entry.score)}"
    elif entry.status == "skipped":
        outcome = "skipped: the same file was graded before"
    elif entry.error:
        outcome = f"{entry.status}: {entry.error.splitlines()[0][:160]}"
    else:
        outcome = entry.status
    return f"{at:%H:%M:%S}  {entry.team}  {entry.filename}  {outcome}"


def _folder(folder: Path, create: bool) -> Path:
    if folder.is_dir():
        return folder
    if folder.exists():
        raise KitError("not a folder", where=str(folder), fix="watch the folder the teams hand their files into")
    if not create:
        raise KitError(
            "no such folder",
            where=str(folder),
            fix="check the path (the folder of team folders: FOLDER/<team>/<file>.ipynb|.csv), "
            "or pass --create (create=True) to make it",
        )
    folder.mkdir(parents=True)
    return folder


def _hand_in(folder: Path, path: Path, at: datetime, floor: datetime | None, *, source: str) -> HandIn:
    """An arrival as a hand-in: its time is decided at intake (``min(mtime, at)``, not before ``floor``)."""
    return HandIn(
        path=path,
        team=path.parent.name,
        source=source,
        received_at=at.isoformat(timespec="microseconds"),
        not_before=floor.isoformat(timespec="microseconds") if floor is not None else None,
        root=folder,
    )


def watch(
    challenge,
    folder,
    *,
    workdir,
    sandbox: str = DEFAULT_SANDBOX,
    workers: int = DEFAULT_WORKERS,
    interval: float = WATCH_INTERVAL,
    root=None,
    create: bool = True,
    echo: Callable[[str], None] = print,
    stop: Callable[[], bool] | None = None,
    on_report=None,
) -> None:
    """Grade every file that appears in ``folder`` until ``stop()`` is true (or Ctrl-C).

    ``create``: make ``folder`` when it does not exist; ``False`` refuses it before anything starts.
    ``echo`` gets the start line and one line per hand-in (:func:`hand_in_line`); ``on_report``
    each batch's :class:`~kit.grading.report.GradeReport`.
    """
    folder = _folder(Path(folder), create)
    with GradingSession(
        challenge, workdir=workdir, sandbox=sandbox, workers=workers, warm_scorer=True, root=root
    ) as session:
        session.start()
        arrivals = _Arrivals(folder.resolve(), interval)
        echo(f"watching {folder} for <team>/<file>.ipynb|.csv hand-ins ({arrivals.mode}; Ctrl-C to stop)")
        try:
            while not (stop and stop()):
                arrived = arrivals.take(timeout=0.2)
                hand_ins = [
                    _hand_in(arrivals.folder, p, at, floor, source=str(folder))
                    for p, (at, floor) in sorted(arrived.items())
                    if os.path.lexists(p)
                ]
                if not hand_ins:
                    continue
                report = session.grade(hand_ins=hand_ins, progress=False)
                for entry in report.entries:
                    echo(hand_in_line(entry, session.ch.spec.metrics.primary))
                if on_report is not None:
                    on_report(report)
        except KeyboardInterrupt:
            echo("stopped")
        finally:
            arrivals.close()


__all__ = ["watch"]
