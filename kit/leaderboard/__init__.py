"""Leaderboards: phases, selection, ranking (``board``), renderers (``render``) and,
in ``stats`` and ``plots``, the uncertainty of a ranking."""

from .board import Leaderboard, choose_final, leaderboard
from .render import get_renderer, get_renderer_names, render

__all__ = ["Leaderboard", "choose_final", "leaderboard", "get_renderer", "get_renderer_names", "render"]
