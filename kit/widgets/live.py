"""Live boards: notice a new result in the ledger within a fraction of a second, cheaply.

A board kernel checks every :data:`POLL_SECONDS` whether the ledger's files changed (one
``stat`` of ``ledger.sqlite`` and one of its ``-wal``: no SQL, no lock, microseconds). Only when
they did does it ask the ledger its change mark (:func:`kit.ledger.queries.change_mark`, the
newest run and selection), on one connection kept open for that; and only when the mark moved
does it redraw. A new score therefore shows about ``POLL_SECONDS`` plus one redraw after it
reaches the ledger, and an idle board costs eight ``stat`` calls a second.

The files change for other reasons too (a checkpoint, a refusal recorded by ``kit watch``, a
reader closing): those cost one small query and no redraw.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from ..ledger import Ledger, queries

#: seconds between two looks at the ledger's files
POLL_SECONDS = 0.25


def _signature(path: Path) -> tuple:
    """(modification time in ns, size) of the ledger file and of its write-ahead log."""
    out: list[tuple[int, int] | None] = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


class LedgerWatch:
    """Looks at the ledger at ``path``; :meth:`poll` gives its change mark when its files changed.

    >>> watch = LedgerWatch(workspace.ledger_path)   # doctest: +SKIP
    >>> watch.poll()                                 # doctest: +SKIP
    (12, 3)
    >>> watch.poll() is None                         # nothing written since  # doctest: +SKIP
    True
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._signature: tuple | None = None
        self._ledger: Ledger | None = None

    def poll(self) -> tuple | None:
        """The ledger's change mark if its files changed since the previous poll, else None.

        The files are looked at before the mark is read, so a write landing in between changes
        them again and the next poll reads the mark again: nothing is missed."""
        if self._ledger is None:  # opened first: opening touches the files
            if not self.path.exists():
                return None
            self._ledger = Ledger(self.path)
        sig = _signature(self.path)
        if sig == self._signature:
            return None
        self._signature = sig
        return queries.change_mark(self._ledger)

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


def start_polling(check: Callable[[], object], seconds: float = POLL_SECONDS) -> asyncio.Task | None:
    """Call ``check`` every ``seconds`` on the running event loop (a kernel's); None without one
    (plain Python, papermill's headless run: refresh by hand). An error in ``check`` is printed
    to the kernel's log and the polling goes on."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None

    async def loop_forever():
        while True:
            await asyncio.sleep(seconds)
            try:
                check()
            except Exception as exc:  # noqa: BLE001 - a live board must outlive one bad read
                import logging

                logging.getLogger("kit.board").warning("live board: %s", exc)

    return loop.create_task(loop_forever())
