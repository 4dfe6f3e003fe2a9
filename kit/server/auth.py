"""Who is asking: team tokens through Jupyter Server's identity provider, and nobody gets Jupyter.

- :class:`TeamIdentityProvider` (``ServerApp.identity_provider_class``) makes a team the
  user of a request that carries its token in an ``Authorization: Bearer <token>`` (or
  ``token <token>``) header, or the signed cookie the log-in page sets for a browser. A token
  in the URL is not read (URLs end up in logs and browser histories). A wrong token counts as
  a failure of the client's address; after :data:`MAX_FAILURES` failures in
  :data:`WINDOW_SECONDS`, every token, log-in or class code it sends is answered ``429 Too
  Many Requests`` until the window has passed. A token has 256 random bits: the limit is
  there so that guessing costs nothing but the guesser's time, and it shows in the log.
- :class:`NoJupyterAuthorizer` (``ServerApp.authorizer_class``) refuses every resource of
  Jupyter Server itself (kernels, contents, files, sessions, terminals, kernel specs,
  nbconvert, config, events, the API's own status) to everyone, a team included: a
  participant never gets a kernel or a file of the server. The server also loads none of
  those services (:class:`kit.server.app.KitServerApp`), and answers 404 on their paths.

Behind a reverse proxy, the client's address is the proxy's unless the server trusts the
proxy's ``X-Forwarded-For``/``X-Real-IP`` headers (``kit serve --behind-proxy``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User
from tornado import web
from traitlets import default

if TYPE_CHECKING:  # pragma: no cover
    from .teams import Team

#: failed attempts (tokens, log-ins, class codes) allowed per client address and window
MAX_FAILURES = 10
WINDOW_SECONDS = 60.0
#: the name of the log-in cookie
COOKIE_NAME = "kit-team"
#: where the extension keeps its state in the web application's settings
STATE_KEY = "kit_server"


class FailureLimiter:
    """Failed attempts per client address over a sliding window (thread-safe)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS, clock=time.monotonic):
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str) -> deque[float]:
        now = self.clock()
        q = self._failures.setdefault(address, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def blocked(self, address: str) -> float:
        """Seconds until *address* may try again (0: it may now)."""
        with self._lock:
            q = self._recent(address)
            if len(q) < self.max_failures:
                return 0.0
            return max(1.0, q[0] + self.window - self.clock())

    def fail(self, address: str) -> None:
        with self._lock:
            self._recent(address).append(self.clock())
            if len(self._failures) > 100_000:  # forget the quiet ones: memory stays bounded
                for key in [k for k, q in self._failures.items() if not q]:
                    del self._failures[key]

    def check(self, address: str) -> None:
        """Raise ``429 Too Many Requests`` if *address* is blocked."""
        wait = self.blocked(address)
        if wait:
            raise TooManyFailures(wait)


class TooManyFailures(web.HTTPError):
    def __init__(self, wait: float):
        self.retry_after = int(wait + 0.999)
        super().__init__(
            429,
            reason="Too Many Requests",
            log_message=f"too many failed attempts from this address: try again in {self.retry_after} s",
        )


@dataclass
class TeamUser(User):
    """A team, as Jupyter Server's user of a request."""

    team_id: int = 0
    token_authenticated: bool = field(default=False, compare=False)
    team: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, team: Team, *, token: bool = False) -> TeamUser:
        return cls(username=f"team-{team.id}", name=team.name, team_id=team.id, token_authenticated=token, team=team)


class TeamIdentityProvider(IdentityProvider):
    """Teams by their tokens (see the module docstring). The extension's state is read from the
    web application's settings, where :class:`kit.server.app.ChallengeServerApp` puts it."""

    @default("token")
    def _no_shared_token(self) -> str:
        return ""  # no token of the server's own: each team has its own

    @default("cookie_name")
    def _cookie_name(self) -> str:
        return COOKIE_NAME

    @default("cookie_options")
    def _cookie_options(self) -> dict:
        return {"samesite": "Lax", "expires_days": 30}

    @default("login_handler_class")
    def _login_handler(self):
        from .handlers import LoginPage

        return LoginPage

    @default("logout_handler_class")
    def _logout_handler(self):
        from .handlers import LogoutPage

        return LogoutPage

    @default("need_token")
    def _no_need_for_a_token(self) -> bool:
        return False

    @property
    def auth_enabled(self) -> bool:
        return True

    def validate_security(self, app: Any, ssl_options: dict[str, Any] | None = None) -> None:
        """Jupyter's warning about a server without a token does not apply: each team has one."""

    def get_token(self, handler: web.RequestHandler) -> str | None:
        """The token of the ``Authorization`` header only (never one in the URL)."""
        m = self.auth_header_pat.match(handler.request.headers.get("Authorization", ""))
        return m.group(2).strip() if m else None

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        state = handler.settings.get(STATE_KEY)
        if state is None:
            return None
        token = self.get_token(handler)
        if token:
            address = handler.request.remote_ip or ""
            state.limiter.check(address)
            team = state.teams.team_for_token(state.challenge.id, token)
            if team is None:
                state.limiter.fail(address)
                return None
            handler._token_authenticated = True  # type: ignore[attr-defined]  # Jupyter's own flag: no XSRF check
            return TeamUser.of(team, token=True)
        cookie = handler.get_secure_cookie(self.get_cookie_name(handler), max_age_days=31)
        if not cookie:
            return None
        try:
            team_id = int(json.loads(cookie.decode())["team"])
        except (ValueError, KeyError, TypeError):
            return None
        team = state.teams.team(team_id)
        if team is None or team.challenge != state.challenge.id:
            self.clear_login_cookie(handler)
            return None
        return TeamUser.of(team)

    def user_to_cookie(self, user: User) -> str:
        return json.dumps({"team": getattr(user, "team_id", 0)})

    def log_in(self, handler: web.RequestHandler, team: Team) -> None:
        """Set the signed log-in cookie of *team* on *handler*'s answer."""
        self.set_login_cookie(handler, TeamUser.of(team))


class NoJupyterAuthorizer(Authorizer):
    """No resource of Jupyter Server itself, to anyone (see the module docstring)."""

    def is_authorized(self, handler, user, action: str, resource: str) -> bool:
        self.log.warning(
            "refused: %s on Jupyter's %s resource (kit serve serves no Jupyter resource)", action, resource
        )
        return False


__all__ = [
    "COOKIE_NAME",
    "MAX_FAILURES",
    "STATE_KEY",
    "WINDOW_SECONDS",
    "FailureLimiter",
    "NoJupyterAuthorizer",
    "TeamIdentityProvider",
    "TeamUser",
    "TooManyFailures",
]
