"""The HTTP handlers of ``kit serve``: thin layers over the desk, the team store, the board.

Pages (HTML, the browser's signed cookie, forms protected by Jupyter's XSRF token):

=============================  =================================================================
``GET /board``                 the public board (pre-rendered), live with JavaScript
``GET /board.json``            the same board as JSON (also ``/api/kit/board``)
``GET /board/live``            its version and table, for the live board's script
``GET|POST /signup``           a team signs up (with the class code in a workshop)
``GET|POST /login``            a team logs in with its token; ``GET /logout``
``GET /team``                  the team's page: members, hand-in form, its hand-ins
``POST /team/handins``         a hand-in from that form
``GET /team/handins/ID``       one hand-in: status, public scores, message
``GET /team/handins/ID/feedback``  its feedback report
=============================  =================================================================

API (JSON; a team is known by its token only, in ``Authorization: Bearer <token>``: no
cookie counts here, so no other site can make a browser hand in):

=============================  =================================================================
``POST /api/kit/signup``       ``{"team", "members": [{"name", "email"?}], "class_code"?}``
                               → 201 ``{"team", "token"}``
``POST /api/kit/handins``      multipart, the file in the part ``file`` → 202 with the
                               hand-in's id (or its refusal: 400, 403, 409, 413, 415, 429)
``GET /api/kit/handins``       the team's hand-ins with their statuses
``GET /api/kit/handins/ID``    one hand-in's status: queued, grading, scored (public
                               scores), failed, invalid, rejected, refused (with why)
``GET /api/kit/me``            the team, its members' names, its quota
=============================  =================================================================

A team never reaches another team's hand-in: asking for one answers 404, as for one that
does not exist. Everything of Jupyter Server itself answers 404 (:class:`NotFound`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import httputil, web

from . import pages
from .auth import STATE_KEY, TeamUser, TooManyFailures
from .desk import upload_limit
from .records import FINAL, Status
from .teams import SignUpError

if TYPE_CHECKING:  # pragma: no cover
    from .app import ServerState
    from .desk import Receipt
    from .teams import HandInRow, Team

#: the Content-Security-Policy of the pages: this server's stylesheet and script, nothing else
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: the feedback report: its own inline styles and images, never a script, in a sandbox of its own
FEEDBACK_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; sandbox"
#: what a multipart body adds around the file (its headers, the boundaries)
MULTIPART_SLACK = 64 * 1024
#: a body longer than this many times the upload limit is cut off (the connection is closed)
HARD_CAP_FACTOR = 4
_FILENAME = re.compile(rb'filename\*?=(?:UTF-8\'\')?"?([^";\r\n]*)', re.IGNORECASE)
_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def _state(handler: web.RequestHandler) -> ServerState:
    return handler.settings[STATE_KEY]


def _when(iso: str) -> str:
    return iso[:19].replace("T", " ")


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} bytes"


class KitPage(JupyterHandler):
    """A page of the server (HTML)."""

    @property
    def content_security_policy(self) -> str:
        return PAGE_CSP

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Referrer-Policy", "same-origin")  # "no-referrer" makes a form post's Origin null
        self.set_header("X-Frame-Options", "DENY")

    @property
    def state(self) -> ServerState:
        return _state(self)

    @property
    def team(self) -> Team | None:
        user = self.current_user
        return user.team if isinstance(user, TeamUser) else None

    async def own_hand_in(self, hand_in_id: str) -> tuple[HandInRow, Status]:
        """(the row, its status) of one of the signed-in team's hand-ins; 404 for any other id, as for
        one that does not exist (another team's hand-in is never told apart)."""
        st, team = self.state, self.team
        assert team is not None
        row = st.teams.hand_in(team.id, int(hand_in_id))
        if row is None:
            raise web.HTTPError(404, log_message="no such hand-in of your team")
        return row, (await st.read(lambda: st.statuses([row])))[row.id]

    def page(self, name: str, *, title: str, code: int = 200, **context: Any) -> Awaitable[None]:
        self.set_status(code)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        context.setdefault("team", self.team)
        html = pages.render(
            name,
            base=self.base_url,
            spec=self.state.challenge.spec,
            page_title=title,
            xsrf_form_html=self.xsrf_form_html,
            **context,
        )
        return self.finish(html)

    def get_login_url(self) -> str:
        return self.base_url + "login"

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, TooManyFailures):
            self.set_header("Retry-After", str(exc.retry_after))
        text = getattr(exc, "log_message", None) or httputil.responses.get(status_code, "Error")
        try:
            self.page(
                "message.html",
                title=str(status_code),
                code=status_code,
                heading=f"{status_code} {httputil.responses.get(status_code, '')}",
                text=text,
                link=self.base_url + "board",
                link_text="The board",
            )
        except Exception:  # noqa: BLE001 - no state yet (a failed start): a plain answer
            self.finish(f"{status_code} {text}")


class KitAPI(APIHandler):
    """An API endpoint (JSON). The team is the token's only: a browser's cookie counts for nothing here."""

    def check_xsrf_cookie(self) -> None:
        """No cookie authenticates an API request, so no other site can forge one: nothing to check."""

    @property
    def state(self) -> ServerState:
        return _state(self)

    def api_team(self) -> Team | None:
        user = self.current_user
        if isinstance(user, TeamUser) and user.token_authenticated:
            return user.team
        return None

    def require_team(self) -> Team:
        team = self.api_team()
        if team is None:
            raise web.HTTPError(
                401,
                log_message="no valid team token: send the header 'Authorization: Bearer <token>' "
                "with the token your team got at sign-up",
            )
        return team

    def reply(self, status: int, body: dict) -> Awaitable[None]:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        return self.finish(json.dumps(body, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, TooManyFailures):
            self.set_header("Retry-After", str(exc.retry_after))
        if status_code == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="kit"')
        message = getattr(exc, "log_message", None) or httputil.responses.get(status_code, "Error")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "what": message}))


# -- the board -------------------------------------------------------------------------------------
class BoardPage(KitPage):
    @allow_unauthenticated
    def get(self) -> Awaitable[None]:
        st = self.state
        spec = st.challenge.spec
        snap = st.board.snapshot
        now = st.clock()
        if spec.is_open(now):
            phase_line = (
                "The public board: each team's best public score. "
                f"The private ranking comes after {spec.closes:%Y-%m-%d %H:%M} UTC."
            )
            open_line = "Hand-ins are open."
        else:
            phase_line = "The challenge is closed: the private board, the final ranking."
            open_line = "Hand-ins are closed."
        return self.page("board.html", title="Board", snapshot=snap, phase_line=phase_line, open_line=open_line)


class BoardJSON(KitAPI):
    @allow_unauthenticated
    def get(self) -> Awaitable[None]:
        return self.reply(200, self.state.board.snapshot.data)


class BoardLive(KitAPI):
    @allow_unauthenticated
    def get(self) -> Awaitable[None]:
        snap = self.state.board.snapshot
        since = self.get_argument("since", "")
        body = {"version": snap.version} if since == snap.version else {"version": snap.version, "html": snap.html}
        return self.reply(200, body)


class Asset(JupyterHandler):
    @allow_unauthenticated
    def get(self, name: str) -> None:
        kind, text = pages.ASSETS[name]
        self.set_header("Content-Type", kind)
        self.set_header("Cache-Control", "public, max-age=300")
        self.finish(text)


# -- sign-up and log-in ------------------------------------------------------------------------------
def _sign_up(handler: KitPage | KitAPI, team: str, members: list, class_code: str):
    """Register a team (the class code first, in a workshop); wrong codes count as failed attempts."""
    st = handler.state
    address = handler.request.remote_ip or ""
    st.limiter.check(address)
    via = "open"
    if st.workshop:
        if not st.teams.check_class_code(st.challenge.id, class_code):
            st.limiter.fail(address)
            raise SignUpError(
                "the class code is not right",
                where="class_code",
                fix="type the code your teacher shows (letters and digits; the dash and case do not matter)",
                status=403,
            )
        via = "class code"
    return st.sign_up(team, members, via=via)


class SignUpPage(KitPage):
    @allow_unauthenticated
    def get(self) -> Awaitable[None]:
        return self._form()

    def _form(self, error: SignUpError | None = None, form: dict | None = None) -> Awaitable[None]:
        return self.page(
            "signup.html",
            title="Sign up",
            code=error.status if error else 200,
            error=error,
            workshop=self.state.workshop,
            member_rows=4,
            form=form or {"team": "", "class_code": "", "members": []},
        )

    @allow_unauthenticated
    def post(self) -> Awaitable[None]:
        names = self.get_arguments("member_name")
        emails = self.get_arguments("member_email")
        members = [{"name": n, "email": emails[i] if i < len(emails) else ""} for i, n in enumerate(names) if n.strip()]
        form = {"team": self.get_argument("team", ""), "class_code": self.get_argument("class_code", "")}
        try:
            signed = _sign_up(self, form["team"], members, form["class_code"])
        except SignUpError as exc:
            return self._form(exc, {**form, "members": [m["name"] for m in members]})
        self.identity_provider.log_in(self, signed.team)  # type: ignore[attr-defined]
        return self.page(
            "signed_up.html",
            title="Signed up",
            code=201,
            team=signed.team,
            token=signed.token,
            server_url=f"{self.request.protocol}://{self.request.host}{self.base_url}",
        )


class SignUpAPI(KitAPI):
    @allow_unauthenticated
    def post(self) -> Awaitable[None]:
        try:
            body = json.loads(self.request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return self.reply(400, {"status": 400, "what": "the body is not a JSON object", "fix": "send JSON"})
        members = body.get("members") or []
        try:
            if not isinstance(members, list):
                raise SignUpError("members is a list of {name, email}", where="members")
            signed = _sign_up(self, body.get("team", ""), members, str(body.get("class_code") or ""))
        except SignUpError as exc:
            return self.reply(exc.status, {"status": exc.status, "what": exc.what, "where": exc.where, "fix": exc.fix})
        return self.reply(201, {"team": signed.team.name, "team_id": signed.team.id, "token": signed.token})


class LoginPage(KitPage):
    """The log-in form (Jupyter's identity provider serves it at ``/login``)."""

    @allow_unauthenticated
    def get(self) -> Awaitable[None]:
        return self.page("login.html", title="Log in", error=None)

    @allow_unauthenticated
    async def post(self) -> None:
        st = self.state
        address = self.request.remote_ip or ""
        st.limiter.check(address)
        team = st.teams.team_for_token(st.challenge.id, self.get_argument("token", "").strip())
        if team is None:
            st.limiter.fail(address)
            await self.page("login.html", title="Log in", code=403, error="This is not a token of a team.")
            return
        self.identity_provider.log_in(self, team)  # type: ignore[attr-defined]
        nxt = self.get_argument("next", "")
        target = nxt if nxt.startswith(self.base_url) and not urlparse(nxt).netloc else self.base_url + "team"
        self.redirect(target)


class LogoutPage(KitPage):
    @allow_unauthenticated
    def get(self) -> None:
        self.identity_provider.clear_login_cookie(self)
        self.redirect(self.base_url + "board")


# -- a team's pages -----------------------------------------------------------------------------------
def _row_view(row: HandInRow, status: Status, primary: str, fmt) -> dict:
    css = {"scored": "ok", "queued": "wait", "grading": "wait"}.get(status.status, "bad")
    score = status.public.get(primary) if status.public else None
    return {
        "id": row.id,
        "received": _when(row.received_at),
        "filename": row.filename,
        "status": status.status,
        "css": css,
        "score": fmt(score) if score is not None else "",
    }


class TeamPage(KitPage):
    @web.authenticated
    async def get(self) -> None:
        st = self.state
        team = self.team
        assert team is not None  # @web.authenticated
        spec = st.challenge.spec
        metric = spec.metric(spec.metrics.primary)
        rows = st.teams.hand_ins(team.id)
        statuses = await st.read(lambda: st.statuses(rows))
        views = [_row_view(r, statuses[r.id], metric.name, metric.format) for r in rows]
        rules = (
            f"At most {spec.submissions.per_day} hand-ins a day (UTC) and {spec.submissions.total} in all; "
            f"predictions up to {spec.limits.file_size_mb} MiB. Hand-ins close {spec.closes:%Y-%m-%d %H:%M} UTC."
        )
        await self.page(
            "team.html",
            title=f"Team {team.name}",
            members=st.teams.member_names(team.id),
            rows=views,
            metric=metric,
            rules=rules,
            waiting=any(s.status not in FINAL for s in statuses.values()),
            notice=None,
            notice_class="",
        )


class TeamHandInForm(KitPage):
    """A hand-in from the team page's form (the browser's cookie, Jupyter's XSRF token)."""

    @web.authenticated
    async def post(self) -> None:
        team = self.team
        assert team is not None
        received = self.state.clock()
        files = self.request.files.get("file") or []
        if not files:
            raise web.HTTPError(400, log_message="no file was chosen")
        f = files[0]
        receipt = await _receive(self.state, team, f.filename, f.body, len(f.body), received)
        self.redirect(f"{self.base_url}team/handins/{receipt.id}", status=303)


class HandInPage(KitPage):
    @web.authenticated
    async def get(self, hand_in_id: str) -> None:
        st = self.state
        row, status = await self.own_hand_in(hand_in_id)
        spec = st.challenge.spec
        scores = [
            (name, spec.metric(name).format(status.public.get(name)))
            for name in spec.metrics.all
            if name in status.public
        ]
        await self.page(
            "handin.html",
            title=f"Hand-in {row.id}",
            row=row,
            status=status,
            scores=scores,
            received=_when(row.received_at),
            size=_size(row.size),
            css={"scored": "ok", "queued": "wait", "grading": "wait"}.get(status.status, "bad"),
        )


class FeedbackPage(KitPage):
    """The feedback report the grader wrote, served in a sandbox of its own (no script runs)."""

    @property
    def content_security_policy(self) -> str:
        return FEEDBACK_CSP

    @web.authenticated
    async def get(self, hand_in_id: str) -> None:
        _row, status = await self.own_hand_in(hand_in_id)
        if not status.feedback_path or not Path(status.feedback_path).is_file():
            raise web.HTTPError(404, log_message="no feedback yet: the hand-in is still being graded")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(Path(status.feedback_path).read_bytes())


# -- the hand-in API -------------------------------------------------------------------------------------
async def _receive(state: ServerState, team: Team, filename: str, data: bytes | None, size: int, received) -> Receipt:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        state.executor, lambda: state.desk.receive(team, filename, data, size=size, received=received)
    )


def _status_body(state: ServerState, base_url: str, row: HandInRow, status: Status) -> dict:
    spec = state.challenge.spec
    primary = spec.metrics.primary
    public = {name: status.public[name] for name in spec.metrics.all if name in status.public}  # primary first
    return {
        "id": row.id,
        "filename": row.filename,
        "received_at": row.received_at,
        "status": status.status,
        "final": status.final,
        "kind": status.kind,
        "message": status.message,
        "metric": primary,
        "score": public.get(primary),
        "public": public,
        "page_url": f"{base_url}team/handins/{row.id}",
    }


@web.stream_request_body
class HandInsAPI(KitAPI):
    """``POST``: a hand-in, streamed and counted as it arrives; ``GET``: the team's hand-ins."""

    _team: Team | None = None
    _limit = 0
    _size = 0
    _body: bytearray
    _head: bytes = b""
    _read = False  # the whole body has arrived

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if self.request.method == "POST" and not self._read:
            # answered before its body was read: this connection is closed after the answer, say so
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()  # who is asking (a wrong token counts; 429 when there were too many)
        if self.request.method != "POST":
            return
        self._team = self.require_team()  # 401 before a byte of the body is read
        self._limit = upload_limit(self.state.challenge) + MULTIPART_SLACK
        self._body = bytearray()
        limit_body = getattr(self.request.connection, "set_max_body_size", None)  # tornado's HTTP/1 connection
        if limit_body is not None:
            limit_body(HARD_CAP_FACTOR * self._limit)

    def data_received(self, chunk: bytes) -> None:
        if len(self._head) < 8192:
            self._head += chunk[: 8192 - len(self._head)]
        self._size += len(chunk)
        if self._size <= self._limit:
            self._body += chunk
        elif self._body:
            self._body = bytearray()  # over the limit: counted, not kept

    @allow_unauthenticated
    async def post(self) -> None:
        received = self.state.clock()  # the last byte has arrived: the hand-in time
        self._read = True
        team = self._team
        assert team is not None
        if self._size > self._limit:
            m = _FILENAME.search(self._head)
            filename = m.group(1).decode("utf-8", "replace") if m else "(a file too large to read)"
            data, size = None, self._size
        else:
            args: dict[str, list[bytes]] = {}
            files: dict[str, list[httputil.HTTPFile]] = {}
            httputil.parse_body_arguments(
                self.request.headers.get("Content-Type", ""), bytes(self._body), args, files, self.request.headers
            )
            parts = files.get("file") or []
            if not parts:
                await self.reply(
                    400,
                    {
                        "status": 400,
                        "what": "no file in the request",
                        "fix": "send multipart/form-data with the file in a part named 'file'",
                    },
                )
                return
            filename, data, size = parts[0].filename, parts[0].body, len(parts[0].body)
        receipt = await _receive(self.state, team, filename, data, size, received)
        body = receipt.to_json()
        body["status_url"] = f"{self.base_url}api/kit/handins/{receipt.id}"
        body["page_url"] = f"{self.base_url}team/handins/{receipt.id}"
        if receipt.http_status == 202:
            self.set_header("Location", body["status_url"])
        if receipt.http_status == 429 and receipt.what and "daily" in receipt.what:
            tomorrow = (received + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            self.set_header("Retry-After", str(int((tomorrow - received).total_seconds()) + 1))
        await self.reply(receipt.http_status, body)

    @allow_unauthenticated
    async def get(self) -> None:
        team = self.require_team()
        st = self.state
        rows = st.teams.hand_ins(team.id)
        statuses = await st.read(lambda: st.statuses(rows))
        await self.reply(200, {"hand_ins": [_status_body(st, self.base_url, r, statuses[r.id]) for r in rows]})


class HandInAPI(KitAPI):
    @allow_unauthenticated
    async def get(self, hand_in_id: str) -> None:
        team = self.require_team()
        st = self.state
        row = st.teams.hand_in(team.id, int(hand_in_id))
        if row is None:
            raise web.HTTPError(404, log_message=f"your team has no hand-in #{int(hand_in_id)}")
        status = (await st.read(lambda: st.statuses([row])))[row.id]
        await self.reply(200, _status_body(st, self.base_url, row, status))


class MeAPI(KitAPI):
    @allow_unauthenticated
    async def get(self) -> None:
        team = self.require_team()
        st = self.state
        spec = st.challenge.spec
        used = await st.read(lambda: st.quota_used(team.name))
        await self.reply(
            200,
            {
                "team": team.name,
                "members": st.teams.member_names(team.id),
                "challenge": st.challenge.id,
                "quota": {"per_day": spec.submissions.per_day, "total": spec.submissions.total, **used},
                "closes": spec.closes.isoformat(),
            },
        )


class NotFound(JupyterHandler):
    """Jupyter Server's own paths (kernels, contents, files, sessions, terminals, ...): not here."""

    def check_xsrf_cookie(self) -> None:
        """Nothing is done here: every method answers 404."""

    def _missing(self, *args: Any, **kwargs: Any) -> None:
        raise web.HTTPError(404)

    get = allow_unauthenticated(_missing)
    head = allow_unauthenticated(_missing)
    post = allow_unauthenticated(_missing)
    put = allow_unauthenticated(_missing)
    patch = allow_unauthenticated(_missing)
    delete = allow_unauthenticated(_missing)
    options = allow_unauthenticated(_missing)


#: Jupyter Server's own paths, answered 404 whatever is loaded (the server loads none of them)
JUPYTER_PATHS = (
    r"/api(?!/kit/)(/.*)?",
    r"/(files|view|edit|nbconvert|kernelspecs|terminals|tree|notebooks|lab|voila|doc|static/lab)(/.*)?",
    r"/metrics",
)


def routes() -> list[tuple]:
    """The server's routes, then Jupyter's paths answered 404."""
    return [
        (r"/board", BoardPage),
        (r"/board\.json", BoardJSON),
        (r"/board/live", BoardLive),
        (r"/kit-static/(kit\.css|board\.js)", Asset),
        (r"/signup", SignUpPage),
        (r"/team", TeamPage),
        (r"/team/handins", TeamHandInForm),
        (r"/team/handins/(\d+)", HandInPage),
        (r"/team/handins/(\d+)/feedback", FeedbackPage),
        (r"/api/kit/board", BoardJSON),
        (r"/api/kit/signup", SignUpAPI),
        (r"/api/kit/handins", HandInsAPI),
        (r"/api/kit/handins/(\d+)", HandInAPI),
        (r"/api/kit/me", MeAPI),
        *[(p, NotFound) for p in JUPYTER_PATHS],
        (r"/(?!login$|logout$).+", NotFound),  # and whatever else: not found (never a log-in redirect)
    ]


__all__ = ["JUPYTER_PATHS", "routes"]
