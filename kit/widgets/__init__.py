"""ipywidgets apps: the live leaderboard of notebooks/leaderboard.ipynb and `kit board`.

``app`` (the app: the organiser's desk and the public class screen), ``screen`` (their tables as
HTML), ``downloads`` (files the browser saves from the page), ``live`` (noticing a new result),
``notebook`` (the notebook and Voilà's command line), ``serve`` (Voilà that listens once its
preheated kernel has rendered the board).
"""

from .app import LeaderboardApp

__all__ = ["LeaderboardApp"]
