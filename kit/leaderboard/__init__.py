"""Leaderboards: phases, selection and ranking (``board``), the Ladder and the bootstrap
statistics of a board (``uncertainty``, on top of the pure ``stats`` package), formats
(``render``, a registry) and plots (``plots``).

:func:`build_board` is the one entry point the CLI, the widget app, the cards and the release
call: selection, then the Ladder and the statistics, with the defaults of :mod:`.board`.
"""

from .board import (
    DEFAULT_PHASE,
    DEFAULT_RESAMPLES,
    DEFAULT_SELECTION,
    PHASES,
    SELECTIONS,
    Leaderboard,
    build_board,
    choose_final,
    leaderboard,
)
from .render import BOARD_FORMATS, get_board_format, get_board_format_names, register_board_format, render

__all__ = [
    "BOARD_FORMATS",
    "DEFAULT_PHASE",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SELECTION",
    "PHASES",
    "SELECTIONS",
    "Leaderboard",
    "build_board",
    "choose_final",
    "get_board_format",
    "get_board_format_names",
    "leaderboard",
    "register_board_format",
    "render",
]
