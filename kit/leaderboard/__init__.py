"""Leaderboards: phases, selection, ranking (``board``), renderers (``render``) and,
in ``stats`` and ``plots``, the uncertainty of a ranking."""
from .board import Leaderboard, leaderboard
from .render import get_renderer, get_renderer_names, render

__all__ = ["Leaderboard", "leaderboard", "get_renderer", "get_renderer_names", "render"]
