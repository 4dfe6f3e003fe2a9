"""``kit serve``: one process for a challenge's teams: sign-up, hand-ins, feedback, the board.

- :mod:`.app`: the Jupyter Server extension and the server it runs in (:func:`serve`,
  :class:`ChallengeServer`);
- :mod:`.auth`: team tokens as Jupyter's identity provider, the failed-attempt limit, an
  authorizer that gives no one a Jupyter resource;
- :mod:`.teams`: the server's SQLite file of teams, hashed tokens, members and hand-ins;
- :mod:`.desk`: an upload becomes a ledger row (the kit's intake), at once;
- :mod:`.grader`: the warm grading session of ``kit watch``, in a thread;
- :mod:`.records`: what a team may know of its hand-ins (public scores only);
- :mod:`.board`: the public board, rendered once per ledger change;
- :mod:`.handlers`, :mod:`.pages`: the HTTP layer and its plain HTML pages.

The participant's side is :func:`kit.submit` (:mod:`kit.submit`). Importing this package
imports nothing else: the CLI reads the defaults below at start-up.
"""

from __future__ import annotations

import importlib

#: the server listens on the loopback unless told otherwise (a reverse proxy serves the world)
SERVE_IP = "127.0.0.1"
SERVE_PORT = 8765

_LAZY = {
    "serve": ".app",
    "ChallengeServer": ".app",
    "ChallengeServerApp": ".app",
}
__all__ = ["SERVE_IP", "SERVE_PORT", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict]:
    """How Jupyter Server finds the extension (``jpserver_extensions={"kit.server": True}``)."""
    from .app import ChallengeServerApp

    return [{"module": "kit.server.app", "app": ChallengeServerApp}]
