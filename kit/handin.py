"""``kit.submit()``: hand in from the notebook to the challenge server (``kit serve``).

In the starter notebook's last cell, ``kit.submit()`` hands in the notebook itself, and
``kit.submit("predictions.csv")`` a predictions file. It shows one progress line while the
server grades, then the public score and the feedback, in the notebook.

- **Which notebook.** The file as it is on disk: a kernel cannot make JupyterLab save the
  notebook (there is no such message from a kernel to the page), so save it first (Ctrl-S).
  Its path is the one JupyterLab gives the kernel (``JPY_SESSION_NAME``, ipykernel's
  ``__session__``); the progress line says when the file was last saved.
- **Where and who.** The server's address and the team's token come from the environment
  (``KIT_SERVER``, ``KIT_TOKEN``) or from a file readable by its owner alone,
  ``~/.config/challenge-kit/token`` (``$XDG_CONFIG_HOME/challenge-kit/token``), holding
  ``server = URL`` and ``token = TOKEN`` lines (or the token alone); the environment wins.
  Never from the notebook: a token written in a notebook is handed in with it. A file that
  others may read is refused, as ssh refuses such a key.
- **In the grader.** The grader re-runs a handed-in notebook, this cell included, outside
  JupyterLab (no notebook session; in a sandbox, with no network and none of this
  configuration): there ``kit.submit()`` with no file named says it hands nothing in and
  returns None, as it does in papermill or a script.

This module imports only the standard library: ``import kit`` stays fast.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .errors import KitError

ENV_SERVER = "KIT_SERVER"
ENV_TOKEN = "KIT_TOKEN"
#: the statuses after which the server's answer does not change
FINAL = ("scored", "failed", "invalid", "rejected", "refused")
#: seconds between two questions to the server, at first and at most
POLL_FIRST, POLL_MAX = 0.3, 2.0


class SubmitError(KitError):
    """A hand-in that did not reach the server, or that the server did not take from this client."""

    kind = "submit"


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/challenge-kit/token`` (default ``~/.config/challenge-kit/token``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "challenge-kit" / "token"


@dataclass(frozen=True)
class Settings:
    server: str
    token: str = field(repr=False)
    source: str = ""


_HOW = (
    "sign your team up on the challenge's server (its /signup page gives the token once), then either start "
    f"JupyterLab with {ENV_SERVER}=<the server's address> and {ENV_TOKEN}=<the token> in the environment, or write "
    "'server = <address>' and 'token = <token>' in {path} (chmod 600 it); never write the token in the notebook. "
    "If your class hands in another way (a shared folder, nbgrader), follow the notebook's other hand-in cell instead"
)


def _read_file(path: Path) -> dict[str, str]:
    st = path.stat()
    if st.st_mode & 0o077:
        raise SubmitError(
            f"the token file may be read by others (mode {stat.S_IMODE(st.st_mode):04o})",
            where=str(path),
            fix=f"chmod 600 {path}",
        )
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep and key.strip() in ("server", "token"):
            out[key.strip()] = value.strip().strip("'\"")
        elif not sep:
            out["token"] = line
    return out


def read_settings(server: str | None = None) -> Settings | None:
    """The server and token (see the module docstring); None when there are none at all."""
    path = config_path()
    stored = _read_file(path) if path.is_file() else {}
    url = server or os.environ.get(ENV_SERVER) or stored.get("server")
    token = os.environ.get(ENV_TOKEN) or stored.get("token")
    if not url and not token:
        return None
    missing = [name for name, value in (("the server's address", url), ("the team's token", token)) if not value]
    if missing:
        raise SubmitError(f"{' and '.join(missing)} is not set", fix=_HOW.format(path=path))
    source = "the environment" if os.environ.get(ENV_TOKEN) else str(path)
    assert url and token
    return Settings(url if url.endswith("/") else url + "/", token, source)


def _session_notebook() -> Path | None:
    """The notebook of this kernel's JupyterLab session, if it has one and it exists."""
    names = [os.environ.get("JPY_SESSION_NAME")]
    shell = _shell()
    if shell is not None:
        names.append(shell.user_ns.get("__session__"))
    for name in names:
        if isinstance(name, str) and name.endswith(".ipynb"):
            p = Path(name)
            if not p.is_absolute():
                p = Path.cwd() / p
            if p.is_file():
                return p
    return None


def _shell():
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


# -- the result ------------------------------------------------------------------------------
@dataclass
class HandInResult:
    """A hand-in and what the server made of it (public scores only)."""

    id: int
    filename: str
    status: str
    received_at: str = ""
    metric: str = ""
    score: float | None = None
    public: dict = field(default_factory=dict)
    message: str = ""
    page_url: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def _lines(self) -> list[str]:
        lines = [f"hand-in #{self.id} ({self.filename}): {self.status}"]
        if self.score is not None:
            lines[0] += f", public {self.metric} {self.score:.4f}"
        if self.message:
            lines += ["", self.message]
        if self.page_url:
            lines += ["", f"feedback: {self.page_url}"]
        return lines

    def __str__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        e = html.escape
        colour = "#1a7f37" if self.status == "scored" else "#9a6700" if not self.final else "#cf222e"
        parts = [
            f"<div><p><b>Hand-in #{self.id}</b> ({e(self.filename)}): "
            f"<b style='color:{colour}'>{e(self.status)}</b></p>"
        ]
        if self.public:
            rows = "".join(
                f"<tr><td>{e(k)}{' (ranks the board)' if k == self.metric else ''}</td>"
                f"<td style='text-align:right'>{'' if v is None else f'{v:.4f}'}</td></tr>"
                for k, v in self.public.items()
            )
            parts.append(f"<table><tr><th>metric</th><th>public score</th></tr>{rows}</table>")
            parts.append("<p>The private test cases decide the final ranking after the challenge closes.</p>")
        if self.message:
            parts.append(f"<pre>{e(self.message)}</pre>")
        if self.page_url:
            parts.append(f"<p>Feedback: <a href='{e(self.page_url)}' target='_blank'>{e(self.page_url)}</a></p>")
        return "".join(parts) + "</div>"


class _Progress:
    """One line that changes in place: a display in a notebook, a carriage return in a terminal."""

    def __init__(self):
        self._handle = None
        shell = _shell()
        if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
            from IPython.display import display

            self._handle = display({"text/plain": ""}, raw=True, display_id=True)

    def show(self, line: str) -> None:
        if self._handle is not None:
            self._handle.update({"text/plain": line}, raw=True)
        else:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()

    def done(self, line: str) -> None:
        self.show(line)
        if self._handle is None:
            sys.stderr.write("\n")


# -- HTTP ------------------------------------------------------------------------------------------
def _request(settings: Settings, path: str, *, data: bytes | None = None, headers: dict | None = None) -> dict:
    url = settings.server + path.lstrip("/")
    req = urllib.request.Request(
        url, data=data, headers={"Authorization": f"Bearer {settings.token}", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        if exc.code == 401:
            raise SubmitError(
                "the server did not accept the team's token",
                where=settings.source,
                fix="check the token your team got at sign-up (and that it is this challenge's server)",
            ) from None
        if exc.code == 429 and "id" not in body:
            raise SubmitError(
                "too many failed attempts from this address",
                where=settings.server,
                fix=f"wait {exc.headers.get('Retry-After', 'a minute')} s, then try again with the right token",
            ) from None
        if "id" in body:  # a hand-in the server recorded, and refused or rejected
            return body
        raise SubmitError(
            f"the server answered {exc.code}: {body.get('what') or exc.reason}",
            where=url,
            fix=body.get("fix") or "try again; if it persists, tell the organisers",
        ) from None
    except urllib.error.URLError as exc:
        raise SubmitError(
            f"cannot reach the challenge server ({exc.reason})",
            where=settings.server,
            fix=f"check the address ({ENV_SERVER} or the token file) and your network",
        ) from None


def _multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "kit-" + secrets.token_hex(16)
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _result(body: dict, server: str) -> HandInResult:
    page = urllib.parse.urljoin(server, body["page_url"]) if body.get("page_url") else ""
    message = body.get("message") or "\n".join(x for x in (body.get("what"), body.get("fix")) if x)
    return HandInResult(
        id=int(body["id"]),
        filename=str(body.get("filename", "")),
        status=str(body.get("status", "")),
        received_at=str(body.get("received_at", "")),
        metric=str(body.get("metric", "")),
        score=body.get("score"),
        public=dict(body.get("public") or {}),
        message=message,
        page_url=page,
    )


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def submit(path=None, *, wait: bool = True, timeout: float = 900.0, server: str | None = None):
    """Hand in *path* (default: this notebook, as saved on disk) and, with ``wait``, show its score.

    Returns a :class:`HandInResult` (its status, public scores, the grader's message), or
    None outside a JupyterLab notebook session when no file is named (the grader re-running
    this notebook). ``server``: the server's address, instead of
    ``KIT_SERVER`` or the token file. The token is never an argument: it never belongs in a notebook.
    """
    target = Path(path) if path is not None else _session_notebook()
    if target is None:  # not a notebook of JupyterLab: the grader re-running it, papermill, a script
        print(
            "kit.submit(): not in a JupyterLab notebook session, so there is no notebook to hand in: nothing "
            "handed in (to hand in a file, name it: kit.submit('predictions.csv'))"
        )
        return None
    settings = read_settings(server)
    if settings is None:
        raise SubmitError("no challenge server is configured", fix=_HOW.format(path=config_path()))
    if not target.is_file():
        raise SubmitError("no such file", where=str(target), fix="check the path (relative to the notebook's folder)")
    data = target.read_bytes()
    saved = datetime.fromtimestamp(target.stat().st_mtime)
    progress = _Progress()
    note = ""
    if target.suffix.lower() == ".ipynb":
        age = time.time() - target.stat().st_mtime
        note = f" as saved {saved:%H:%M:%S} ({_ago(age)}; unsaved changes are not handed in: save first)"
    progress.show(f"handing in {target.name}{note} to {settings.server} ...")
    body, content_type = _multipart(target.name, data)
    answer = _request(settings, "api/kit/handins", data=body, headers={"Content-Type": content_type})
    result = _result(answer, settings.server)
    started = time.monotonic()
    delay = POLL_FIRST
    # queued, or "duplicate" (the same bytes as an earlier hand-in: the status is that one's)
    while wait and not result.final:
        progress.show(f"hand-in #{result.id} ({target.name}): {result.status} ... {time.monotonic() - started:.0f} s")
        if time.monotonic() - started > timeout:
            progress.done(f"hand-in #{result.id} ({target.name}): still {result.status} after {timeout:.0f} s")
            return result
        time.sleep(delay)
        delay = min(POLL_MAX, delay * 1.5)
        result = _result(_request(settings, f"api/kit/handins/{result.id}"), settings.server)
    line = f"hand-in #{result.id} ({target.name}): {result.status}"
    if result.score is not None:
        line += f", public {result.metric} {result.score:.4f}"
    progress.done(line + f" ({time.monotonic() - started:.1f} s)")
    return result


__all__ = [
    "ENV_SERVER",
    "ENV_TOKEN",
    "HandInResult",
    "Settings",
    "SubmitError",
    "config_path",
    "read_settings",
    "submit",
]
