"""The public board of ``kit serve``: rendered once per ledger change, then served as it is.

A visitor never gets a kernel, and 400 visitors cost what one does: the board is built from
the ledger (:func:`kit.leaderboard.build_board`, the board of ``kit leaderboard``) when a
run or a selection is recorded, or when the challenge closes, and kept as HTML and JSON.
While the challenge is open it is the public board (public scores only, nothing computed
from the private split); after it closes, the private board, as ``kit leaderboard`` shows it.
No statistic of the test labels is computed for it (no bootstrap: the class screen of
``kit board`` shows those to the organiser).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Challenge
    from ..ledger import Ledger


@dataclass(frozen=True)
class BoardSnapshot:
    """One rendering of the board: ``version`` changes whenever it does."""

    version: str
    phase: str
    html: str
    data: dict

    @property
    def json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False)


class PublicBoard:
    """The board, rebuilt by :meth:`refresh` when the ledger or the phase changed."""

    def __init__(self, challenge: Challenge, ledger: Ledger, clock: Callable[[], datetime]):
        self.ch = challenge
        self.ledger = ledger
        self.clock = clock
        self._lock = threading.Lock()
        self._mark: tuple | None = None
        self.snapshot: BoardSnapshot = self._empty()

    def _empty(self) -> BoardSnapshot:
        phase = "public" if self.ch.spec.is_open(self.clock()) else "private"
        data = {"challenge": self.ch.id, "title": self.ch.spec.title, "phase": phase, "columns": [], "rows": []}
        return BoardSnapshot("", phase, "<p>No scored hand-in yet.</p>", data)

    def refresh(self) -> bool:
        """Rebuild the board if a run or a selection was recorded, or the phase changed; True if it was."""
        from ..ledger import queries

        with self._lock:
            now = self.clock()
            phase = "public" if self.ch.spec.is_open(now) else "private"
            mark = (*queries.change_mark(self.ledger), phase)
            if mark == self._mark:
                return False
            self.snapshot = self._build(now, phase, mark)
            self._mark = mark
            return True

    def _build(self, now: datetime, phase: str, mark: tuple) -> BoardSnapshot:
        from ..leaderboard import build_board, render
        from ..leaderboard.render import board_cells

        board = build_board(self.ch, ledger=self.ledger, phase=phase, stats=False, now=now)
        header, rows = board_cells(board)
        version = hashlib.sha256(repr(mark).encode()).hexdigest()[:16]
        data = {
            "challenge": self.ch.id,
            "title": self.ch.spec.title,
            "phase": board.phase,
            "metric": board.metric.name,
            "greater_is_better": board.metric.greater_is_better,
            "generated_at": board.generated_at,
            "version": version,
            "columns": header,
            "rows": rows,
            "notes": list(board.notes),
        }
        html = render(board, "html") if rows else "<p>No scored hand-in yet.</p>"
        return BoardSnapshot(version, board.phase, html, data)


__all__ = ["BoardSnapshot", "PublicBoard"]
