"""``kit serve``: a Jupyter Server extension application, and the server it runs in.

Why Jupyter Server: it is the server the kit's users already run (JupyterLab, Voilà, nbgrader's
formgrader are its extensions), and it has what a challenge server needs and nothing to
write again: an identity provider for who is asking (:mod:`kit.server.auth`: team tokens and
a signed cookie), an authorizer for what they may do, XSRF protection of forms, a
Content-Security-Policy per page, a tornado web server with streamed request bodies, log
scrubbing of secrets, the ``--behind-proxy`` headers. Voilà stays for the organiser's class
screen (``kit board``); the participants' board here is pre-rendered (no kernel per visitor).

:class:`KitServerApp` is Jupyter's ``ServerApp`` with none of its own services loaded (no
kernels, contents, files, sessions, terminals, kernel specs, nbconvert, config, events, API
status), no configuration files read from the user's Jupyter folders (a ``jupyter_server_config.py``
there could turn them back on), no other extension, and its authorizer refusing every Jupyter
resource. :class:`ChallengeServerApp` is the extension: the challenge's pages and API
(:mod:`kit.server.handlers`), over :class:`ServerState`: the team store, the desk, the
grader thread, the board.

:func:`serve` runs it in the foreground (the CLI); :class:`ChallengeServer` runs it in a
thread of the caller (tests, a notebook), on a real socket.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.serverapp import ServerApp
from tornado import ioloop
from traitlets import Any as AnyTrait
from traitlets import Bool, Int, Unicode
from traitlets.config import Config

from ..defaults import DEFAULT_SANDBOX, DEFAULT_WORKERS
from ..errors import KitError
from ..workspace import Workspace, private_dir
from . import SERVE_IP, SERVE_PORT
from .auth import STATE_KEY, FailureLimiter, NoJupyterAuthorizer, TeamIdentityProvider

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Challenge
    from ..ledger import Ledger
    from .board import PublicBoard
    from .desk import Desk
    from .grader import Grader
    from .records import Status
    from .teams import HandInRow, TeamStore

log = logging.getLogger(__name__)
#: seconds between looks at the ledger for changes the grader did not announce (a `kit select`, the close)
BOARD_POLL_SECONDS = 2.0
#: a batch's scores are recorded every so many submissions: in a burst, the first teams see theirs sooner
SCORE_EVERY = 20


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class ServerState:
    """What the handlers serve from: opened by the extension, closed with the server."""

    challenge: Challenge
    workspace: Workspace
    teams: TeamStore
    ledger: Ledger  # the read side's connection (statuses, the board)
    intake_ledger: Ledger  # the desk's own connection
    desk: Desk
    board: PublicBoard
    grader: Grader | None
    clock: Callable[[], datetime]
    workshop: bool
    limiter: FailureLimiter = field(default_factory=FailureLimiter)
    echo: Callable[[str], None] = print
    #: the threads that take uploads in (one at a time, under the desk's lock; the store's fsync beside
    #: it), and those that read the ledger for pages and statuses and redraw the board: the event loop
    #: never waits on a disk, and a queue of uploads never delays a status
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="kit-serve-intake")
    )
    readers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="kit-serve-read")
    )

    @property
    def busy(self) -> set[int]:
        return self.grader.busy if self.grader is not None else set()

    def sign_up(self, name: str, members: list, *, via: str):
        """Register a team; a name that looks like a team of the ledger (another route) is refused too."""
        signed = self.teams.sign_up(
            self.challenge.id, name, members, via=via, taken=self.ledger.team_names(self.challenge.id)
        )
        self.echo(f"{datetime.now().astimezone():%H:%M:%S}  signed up: team {signed.team.name!r} ({via})")
        return signed

    async def read(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` (a read of the ledger or the team store) in a reader thread."""
        return await ioloop.IOLoop.current().run_in_executor(self.readers, fn)

    def statuses(self, rows: list[HandInRow]) -> dict[int, Status]:
        """Each hand-in's status (see :mod:`kit.server.records`)."""
        from .records import hand_in_statuses

        return hand_in_statuses(self.ledger, rows, self.busy)

    def quota_used(self, team: str) -> dict[str, int]:
        day = self.clock().strftime("%Y-%m-%d")
        return {
            "used": self.ledger.count_submissions(self.challenge.id, team),
            "used_today": self.ledger.count_submissions(self.challenge.id, team, day=day),
        }

    @classmethod
    def open(
        cls,
        challenge,
        *,
        workdir,
        root=None,
        sandbox: str = DEFAULT_SANDBOX,
        workers: int = DEFAULT_WORKERS,
        workshop: bool = False,
        clock: Callable[[], datetime] | None = None,
        echo: Callable[[str], None] = print,
    ) -> ServerState:
        from ..challenge import load_challenge
        from ..grading.watch import hand_in_line
        from .board import PublicBoard
        from .desk import Desk
        from .grader import Grader
        from .teams import SERVER_DB, TeamStore

        ch = load_challenge(challenge, root=root)
        workspace = Workspace(Path(workdir).resolve())
        clock = clock or utc_now
        teams = TeamStore(workspace.root / SERVER_DB)
        opened: list[Any] = [teams]
        try:
            intake_ledger = workspace.open_ledger()
            opened.append(intake_ledger)
            ledger = workspace.open_ledger()
            opened.append(ledger)
            desk = Desk(ch, workspace, intake_ledger, teams, incoming=server_dir(workspace) / ch.id / "incoming")
            board = PublicBoard(ch, ledger, clock)
            metric = ch.spec.metrics.primary

            def on_report(report) -> None:
                for entry in report.entries:
                    echo(hand_in_line(entry, metric))
                board.refresh()

            grader = Grader(
                ch,
                workdir=workspace.root,
                lock=desk.lock,
                on_report=on_report,
                sandbox=sandbox,
                workers=workers,
                warm_scorer=True,
                score_every=SCORE_EVERY,
                root=root,
            ).start()
        except BaseException:
            for thing in reversed(opened):
                thing.close()
            raise
        desk.wake = grader.wake
        grader.wake()  # what a stopped server left ungraded
        board.refresh()
        return cls(ch, workspace, teams, ledger, intake_ledger, desk, board, grader, clock, workshop, echo=echo)

    def close(self) -> None:
        try:
            self.executor.shutdown(wait=True)
            self.readers.shutdown(wait=True)
            if self.grader is not None:
                self.grader.stop()
        finally:
            for thing in (self.desk, self.intake_ledger, self.ledger, self.teams):
                thing.close()


def server_dir(workspace: Workspace) -> Path:
    """``<workdir>/server``: the server's private files (cookie secret, uploads being taken in)."""
    return private_dir(workspace.root / "server")


class ChallengeServerApp(ExtensionApp):
    """The challenge's pages and API, as a Jupyter Server extension."""

    name = "kit"
    extension_url = "/board"
    load_other_extensions = False

    challenge = Unicode(help="The challenge's id or spec path.").tag(config=True)
    workdir = Unicode(help="The work folder: the ledger, the team store, every artefact.").tag(config=True)
    kit_root = Unicode("", help="Folder holding starter_kits/ and grading/ (default: found).").tag(config=True)
    sandbox = Unicode(DEFAULT_SANDBOX, help="How participant notebooks are isolated.").tag(config=True)
    workers = Int(DEFAULT_WORKERS, help="Notebooks run at once.").tag(config=True)
    workshop = Bool(False, help="Sign-up needs the class code.").tag(config=True)
    clock = AnyTrait(None, help="A function returning the server's time (tests).").tag(config=True)
    echo = AnyTrait(None, help="A function given each line for the organiser's terminal.").tag(config=True)

    state: ServerState | None = None

    def initialize_settings(self) -> None:
        self.state = ServerState.open(
            self.challenge,
            workdir=self.workdir,
            root=self.kit_root or None,
            sandbox=self.sandbox,
            workers=self.workers,
            workshop=self.workshop,
            clock=self.clock,
            echo=self.echo or print,
        )
        self.settings[STATE_KEY] = self.state

    def initialize_handlers(self) -> None:
        from .handlers import routes

        self.handlers.extend(routes())

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        state = self.state

        def look() -> None:
            if state is not None:
                ioloop.IOLoop.current().run_in_executor(state.readers, state.board.refresh)

        self._board_poll = ioloop.PeriodicCallback(look, BOARD_POLL_SECONDS * 1000)
        self._board_poll.start()

    async def stop_extension(self) -> None:
        poll = getattr(self, "_board_poll", None)
        if poll is not None:
            poll.stop()
        if self.state is not None:
            state, self.state = self.state, None
            await ioloop.IOLoop.current().run_in_executor(None, state.close)
            await ioloop.IOLoop.current().asyncio_loop.shutdown_default_executor()  # type: ignore[attr-defined]


class KitServerApp(ServerApp):
    """Jupyter's server with none of its own services (see the module docstring)."""

    name = "kit-serve"
    default_services = ()  # type: ignore[assignment]  # none of Jupyter's own services

    @property
    def config_file_paths(self) -> list[str]:
        return []  # the user's Jupyter configuration does not apply to a public challenge server

    def init_signal(self) -> None:
        """Ctrl-C and SIGTERM stop the server at once (after the batch being graded), in the main thread only."""
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(sig, frame) -> None:
            self.log.info("stopping (signal %d)", sig)
            self.stop(from_signal=True)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return ip == "localhost"


def server_config(
    challenge,
    *,
    workdir,
    ip: str,
    port: int,
    root=None,
    sandbox: str = DEFAULT_SANDBOX,
    workers: int = DEFAULT_WORKERS,
    workshop: bool = False,
    behind_proxy: bool = False,
    base_url: str = "/",
    clock: Callable[[], datetime] | None = None,
    echo: Callable[[str], None] | None = None,
    log_level: str = "WARN",
) -> Config:
    """The configuration of the server and of its extension."""
    from .desk import upload_limit

    workspace = Workspace(Path(workdir).resolve())
    private = server_dir(workspace)
    empty = private_dir(private / "empty")  # Jupyter's root folder: nothing in it, and nothing served anyway
    secret = private / "cookie_secret"
    if not secret.exists():
        secret.write_bytes(secrets.token_bytes(32))
    secret.chmod(0o600)
    from ..challenge import load_challenge

    cap = 4 * upload_limit(load_challenge(challenge, root=root))
    # traitlets copies the objects of a configuration (a callable object too): pass plain functions
    clock_fn = (lambda: clock()) if clock is not None else None
    echo_fn = (lambda line: echo(line)) if echo is not None else None
    return Config(
        {
            "ServerApp": {
                "ip": ip,
                "port": port,
                "port_retries": 0,
                "open_browser": False,
                "root_dir": str(empty),
                "base_url": base_url,
                "default_url": "/board",
                "allow_root": True,  # no kernel is ever started for anyone: root gains nothing here
                "allow_remote_access": behind_proxy or not _is_loopback(ip),
                "trust_xheaders": behind_proxy,
                "allow_unauthenticated_access": False,  # every endpoint says who may call it
                "identity_provider_class": TeamIdentityProvider,
                "authorizer_class": NoJupyterAuthorizer,
                "terminals_enabled": False,
                "cookie_secret_file": str(secret),
                "max_body_size": cap,
                "max_buffer_size": cap,
                "log_level": log_level,
                "jpserver_extensions": {"kit.server": True},
                "reraise_server_extension_failures": True,
            },
            "ChallengeServerApp": {
                "challenge": str(challenge),
                "workdir": str(workspace.root),
                "kit_root": str(root) if root else "",
                "sandbox": sandbox,
                "workers": workers,
                "workshop": workshop,
                "clock": clock_fn,
                "echo": echo_fn,
            },
        }
    )


def _make_app(config: Config) -> KitServerApp:
    if KitServerApp.initialized():
        raise KitError(
            "a challenge server is already running in this process",
            fix="stop it first (ChallengeServer.stop()), or run `kit serve` in its own process",
        )
    _check_port(config.ServerApp.ip, config.ServerApp.port)  # before the grader starts
    app = KitServerApp.instance(config=config)
    try:
        app.initialize(argv=[], find_extensions=False, starter_extension=ChallengeServerApp.name)
    except BaseException:
        point = app.extension_manager.extension_points.get(ChallengeServerApp.name)
        state = getattr(point.app, "state", None) if point is not None else None
        if state is not None:
            state.close()
        KitServerApp.clear_instance()
        raise
    return app


def _check_port(ip: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as exc:
            raise KitError(
                f"cannot listen on {ip}:{port} ({exc.strerror})",
                fix="choose another --port (another server uses this one), or an address of this machine for --ip",
            ) from None


def _extension(app: KitServerApp) -> ChallengeServerApp:
    point = app.extension_manager.extension_points[ChallengeServerApp.name]
    return point.app


class ChallengeServer:
    """``kit serve`` in a thread of this process, on a real socket (``url``); :meth:`stop` ends it."""

    def __init__(self, challenge, *, workdir, ip: str = SERVE_IP, port: int = 0, **options: Any):
        if port == 0:
            port = _free_port(ip)
        self.config = server_config(challenge, workdir=workdir, ip=ip, port=port, **options)
        self.port = port
        self.url = f"http://{ip}:{port}/"
        self.app: KitServerApp | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def state(self) -> ServerState:
        assert self.app is not None
        state = _extension(self.app).state
        assert state is not None
        return state

    def start(self) -> ChallengeServer:
        ready = threading.Event()

        def run() -> None:
            import asyncio

            asyncio.set_event_loop(asyncio.new_event_loop())
            try:
                self.app = _make_app(self.config)
                self.app.start_app()
            except BaseException as exc:  # noqa: BLE001 - raised by start() in the caller's thread
                self._error = exc
                ready.set()
                return
            self.app.io_loop.add_callback(ready.set)
            self.app.start_ioloop()

        self._thread = threading.Thread(target=run, name="kit-serve", daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 120) -> None:
        app = self.app
        if app is not None and self._thread is not None:
            app.io_loop.add_callback(app.stop)
            self._thread.join(timeout)
        KitServerApp.clear_instance()
        self.app = None

    def __enter__(self) -> ChallengeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_port(ip: str) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def serve(
    challenge,
    *,
    workdir,
    ip: str = SERVE_IP,
    port: int = SERVE_PORT,
    root=None,
    sandbox: str = DEFAULT_SANDBOX,
    workers: int = DEFAULT_WORKERS,
    workshop: bool = False,
    behind_proxy: bool = False,
    base_url: str = "/",
    echo: Callable[[str], None] = print,
) -> None:
    """Serve the challenge until Ctrl-C: sign-up, hand-ins graded as they arrive, the board.

    Prints where it listens and, with ``workshop``, the class code students sign up with.
    """
    config = server_config(
        challenge,
        workdir=workdir,
        ip=ip,
        port=port,
        root=root,
        sandbox=sandbox,
        workers=workers,
        workshop=workshop,
        behind_proxy=behind_proxy,
        base_url=base_url,
        echo=echo,
        log_level="WARN",
    )
    app = _make_app(config)
    try:
        state = _extension(app).state
        assert state is not None
        ch = state.challenge
        host = f"[{ip}]" if ":" in ip else ip
        url = f"http://{host}:{port}{app.base_url}"
        echo(f"serving {ch.spec.title} ({ch.id}) on {url} (Ctrl-C to stop)")
        echo(f"  board: {url}board   sign-up: {url}signup   hand-in API: {url}api/kit/handins")
        echo(f"  teams and tokens: {state.teams.path} (mode 0600); ledger: {state.workspace.ledger_path}")
        if workshop:
            from .teams import format_code

            echo(f"  class code: {format_code(state.teams.class_code(ch.id))}  (students type it at {url}signup)")
        if not _is_loopback(ip) and not behind_proxy:
            echo("  warning: plain HTTP on a network address: put it behind a reverse proxy with TLS (see the README)")
        sys.stdout.flush()
        app.start()
    finally:
        KitServerApp.clear_instance()


__all__ = ["ChallengeServer", "ChallengeServerApp", "KitServerApp", "ServerState", "serve", "server_config"]
