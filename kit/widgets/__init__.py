"""ipywidgets apps: the live leaderboard of notebooks/leaderboard.ipynb."""

from .app import LeaderboardApp

__all__ = ["LeaderboardApp"]
