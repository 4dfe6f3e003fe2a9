"""The zygote: a fork server that has imported the participants' libraries once.

It is a separate interpreter (``python -I -c``: no user site, no environment of the
grader, nothing of the grader imported) that imports the participants' libraries
(:data:`DEFAULT_PRELOAD`), then forks a kernel on request. It never runs participant
code, and it is single-threaded when it forks (BLAS threads = 1; checked at start).

For each request, the forked child joins the namespaces of a sandbox whose PID 1 is
already running (:func:`_join_sandbox`: an unprivileged grader's sandbox's user
namespaces first), forks again (to be inside the PID namespace), enters the sandbox
(:func:`~kit.execution.sandbox.inside._enter_sandbox`: limits, uid, capabilities dropped,
seccomp filter), reseeds the random generators, and starts the ipykernel application in
place. The middle process (the *supervisor*) waits for the kernel and writes its exit
status and CPU time to the run's ``kernel.exit``.

The functions whose source is shipped (:func:`_zygote_main`, :func:`_join_sandbox`,
:func:`_alive`) are stdlib-only and refer to no module global.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from ...errors import KitError
from ..sandbox.base import sandbox_env
from ..sandbox.inside import _deny_user_namespaces, _enter_sandbox
from ..sandbox.processes import is_private_dir

log = logging.getLogger(__name__)

#: Modules the zygote imports once (missing ones are skipped and reported).
DEFAULT_PRELOAD = (
    "numpy",
    "pandas",
    "scipy",
    "scipy.sparse",
    "scipy.stats",
    "scipy.optimize",
    "scipy.special",
    "sklearn",
    "sklearn.base",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.tree",
    "sklearn.model_selection",
    "sklearn.metrics",
    "sklearn.preprocessing",
    "sklearn.pipeline",
    "sklearn.impute",
    "sklearn.compose",
    "sklearn.neighbors",
    "sklearn.svm",
    # matplotlib's heavy parts and pyplot, but not the inline backend: importing the backend
    # before the kernel's shell exists would skip ipykernel's inline set-up (figures would
    # display as text); pyplot loads its backend at the first figure, in the kernel
    "matplotlib",
    "matplotlib.figure",
    "matplotlib.axes",
    "matplotlib.backends.backend_agg",
    "matplotlib.font_manager",
    "matplotlib.colors",
    "matplotlib.ticker",
    "matplotlib.text",
    "matplotlib.image",
    "matplotlib.collections",
    "matplotlib.lines",
    "matplotlib.patches",
    "matplotlib.pyplot",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.comm",
    "IPython.core.debugger",
    "IPython.core.completer",
    "IPython.core.interactiveshell",
    "jupyter_client.session",
    "zmq",
    # imported by IPKernelApp.initialize (measured: debugpy alone is 0.15 s of a 0.2 s start)
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "sqlite3",
    "tornado.gen",
    "tornado.locks",
    "tornado.queues",
    "tornado.platform.asyncio",
    "http.server",
    "xmlrpc.client",
    "encodings.idna",
    "mimetypes",
    "IPython.core.logger",
    "pandas.io.formats.html",
    "pandas.io.formats.string",
    # what the starter notebook's kit.check(...) uses: the public spec schema (pydantic, yaml),
    # the metric registry and the prediction checks; participant-facing code, no grader state
    "pydantic",
    "yaml",
    "kit.checker",
)


# --------------------------------------------------------------------------------------
# The zygote (its source is shipped to a fresh interpreter: stdlib + the preloaded libs)
# --------------------------------------------------------------------------------------
def _zygote_main():  # pragma: no cover - runs in the zygote process (tested end to end)
    import ctypes
    import gc
    import importlib
    import json
    import os
    import signal
    import sys
    import time

    config = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the pool's thread
    # PR_SET_CHILD_SUBREAPER: a kernel whose supervisor died first comes back to the zygote,
    # which reaps it (SIGCHLD ignored), instead of to the host's init, which may never reap it
    libc.prctl(36, 1, 0, 0, 0)
    if os.getppid() != config["parent"]:
        os._exit(1)
    protocol_in, protocol_out = sys.stdin.buffer, sys.stdout.buffer
    t0 = time.perf_counter()
    failed = {}
    gc.disable()  # nothing to collect while importing: a pass over a growing heap is wasted
    for name in config["preload"]:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported to the pool
            failed[name] = f"{exc.__class__.__name__}: {exc}"
    gc.collect()
    # the imported objects live as long as the zygote: out of the collector's sight, a kernel's
    # collections never walk (and so never copy on write) the pages they share with the zygote
    gc.freeze()
    gc.enable()
    with open("/proc/self/status") as fh:
        threads = int(next(line.split()[1] for line in fh if line.startswith("Threads:")))
    hello = {
        "ok": True,
        "seconds": time.perf_counter() - t0,
        "failed": failed,
        "threads": threads,
        "modules": len(sys.modules),
        "pid": os.getpid(),
    }
    protocol_out.write((json.dumps(hello) + "\n").encode())
    protocol_out.flush()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    children: list[int] = []
    zygote_pid = os.getpid()

    def _die_with_parent(libc, parent):
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # it died before that
            os._exit(1)

    def spawn(req):
        # both ends of the protocol are needed by the child only to be closed
        pid = os.fork()
        if pid:
            return pid
        code = 0
        try:
            os.setsid()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            devnull = os.open("/dev/null", os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            # the log and the exit file are opened by their host paths before joining: an error
            # while joining is then written where the pool reads the kernel's log
            exit_fd = os.open(
                req["exit_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
            )
            log_fd = os.open(
                req["log_file"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
            )
            os.dup2(log_fd, 2)
            trusted = bool(req.get("trusted"))
            if trusted:  # the grader's own kernel (its grading notebook): no sandbox; dies with the zygote
                _die_with_parent(libc, zygote_pid)
            elif req.get("join_pid"):
                _join_sandbox(libc, req["join_pid"], req.get("join_user"))
            supervisor = os.getpid()
            kernel = os.fork()
            if kernel == 0:
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                os.closerange(3, 65536)
                if trusted:
                    _die_with_parent(libc, supervisor)
                    os.chdir(req["cwd"])
                    os.environ.clear()
                    os.environ.update(req["env"])
                    sys.path[:] = req["sys_path"]
                    if "tempfile" in sys.modules:  # found again from the grader's environment
                        sys.modules["tempfile"].tempdir = None  # type: ignore[attr-defined]
                else:
                    _enter_sandbox(req["child"])  # noqa: F821 - shipped alongside this function
                import random

                random.seed()
                if "numpy" in sys.modules:
                    sys.modules["numpy"].random.seed()
                sys.argv = ["ipykernel_launcher", *req["argv"]]
                from ipykernel.kernelapp import IPKernelApp

                IPKernelApp.launch_instance(argv=req["argv"])
                os._exit(0)
            os.close(log_fd)
            try:
                _, status, usage = os.wait4(kernel, 0)
                cpu = usage.ru_utime + usage.ru_stime
            except ChildProcessError:
                status, cpu = 0, None
            if os.WIFSIGNALED(status):
                info = {"signal": os.WTERMSIG(status), "cpu_seconds": cpu}
            else:
                info = {"code": os.WEXITSTATUS(status), "cpu_seconds": cpu}
            os.write(exit_fd, json.dumps(info).encode())
            os.close(exit_fd)
        except BaseException:  # noqa: BLE001 - the pool sees the kernel never answer
            import traceback

            traceback.print_exc()
            code = 127
        finally:
            os._exit(code)

    while True:
        line = protocol_in.readline()
        if not line:  # the grader is gone: take every kernel with us
            for pid in children:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            # and wait for them to be gone (SIGCHLD is ignored: they are reaped as they die):
            # a supervisor left behind would be re-parented, dead, to an init that may never reap it
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    os.waitpid(-1, os.WNOHANG)  # (0, 0) while a child lives; ECHILD once none is left
                except ChildProcessError:
                    break
                time.sleep(0.01)
            os._exit(0)
        req = json.loads(line)
        try:
            pid = spawn(req)
            children.append(pid)
            children[:] = [p for p in children if _alive(p)]
            reply = {"pid": pid}
        except Exception as exc:  # noqa: BLE001
            reply = {"error": f"{exc.__class__.__name__}: {exc}"}
        protocol_out.write((json.dumps(reply) + "\n").encode())
        protocol_out.flush()


def _join_sandbox(libc, target, join_user):  # pragma: no cover - runs in the zygote's child
    """Join the namespaces and the root of the sandbox whose PID 1 is *target*.

    A root grader's sandbox has no user namespace: its namespaces are joined directly. An
    unprivileged grader's sandbox lives in a user namespace of its own, which owns its other
    namespaces: joining them needs CAP_SYS_ADMIN there, which the namespace's owner gets by
    joining it first (setns needs a single-threaded caller: this forked child is one).
    bwrap's ``--disable-userns`` puts the sandboxed processes one user namespace deeper: the
    namespace that owns the others is joined first, the sandbox's own last (from an ancestor
    namespace every capability holds in its descendants).
    """
    import ctypes
    import fcntl
    import os

    def ns_fd(name):
        try:
            return os.open(f"/proc/{target}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None

    def join(fd, name):
        if libc.setns(fd, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}) into the sandbox of pid {target}: {os.strerror(err)}")
        os.close(fd)

    others = [(name, fd) for name in ("cgroup", "ipc", "uts", "net", "pid", "mnt") if (fd := ns_fd(name)) is not None]
    root = os.open(f"/proc/{target}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    inner = None
    if join_user:
        inner = ns_fd("user")
        owner = fcntl.ioctl(dict(others)["net"], 0xB701)  # NS_GET_USERNS: the user namespace owning it
        same = os.fstat(owner).st_ino == os.fstat(inner).st_ino
        join(owner, "user")
        if same:
            os.close(inner)
            inner = None
    for name, fd in others:
        join(fd, name)
    os.fchdir(root)
    os.chroot(".")
    os.close(root)
    os.chdir("/")
    if inner is not None:
        join(inner, "user (the sandbox's own)")


def _alive(pid):  # pragma: no cover - runs in the zygote
    import os

    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def zygote_source() -> str:
    return "\n".join(
        [
            inspect.getsource(_enter_sandbox),
            inspect.getsource(_deny_user_namespaces),
            inspect.getsource(_alive),
            inspect.getsource(_join_sandbox),
            inspect.getsource(_zygote_main),
            "_zygote_main()",
        ]
    )


class Zygote:
    """A process that has imported the participants' libraries and forks kernels on request.

    ``keeper``: start it from a thread of its own that lives until :meth:`close` (the
    zygote dies with the *thread* that started it: PR_SET_PDEATHSIG), so that any thread
    may create it, as :func:`start_zygote` does before the pool that will use it exists.
    ``root``: a private folder the zygote owns (its HOME and TMPDIR, its log), removed by
    :meth:`close`.
    """

    def __init__(
        self,
        *,
        python: str | None = None,
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        env: dict[str, str] | None = None,
        log_path: str | os.PathLike | None = None,
        start_timeout: float = 120,
        wait: bool = True,
        keeper: bool = False,
        root: Path | None = None,
    ):
        self.python = python or sys.executable
        self.preload = tuple(preload)
        self._lock = threading.Lock()
        #: a folder of its own, removed when it is closed (None: the caller's)
        self.root = root
        #: the zygote's stderr (its import errors), appended to
        self.log_path = Path(log_path) if log_path else None
        self._log: IO[bytes] | None = open(log_path, "ab") if log_path else None  # noqa: SIM115
        self.hello: dict[str, Any] | None = None
        self._released = threading.Event()
        self._ready_lock = threading.Lock()
        self._ready_error: BaseException | None = None
        self._users = 1  # see retain()
        self._stopped = False
        environment = dict(env or {})
        cmd = [
            self.python,
            "-I",
            "-c",
            zygote_source(),
            json.dumps({"preload": list(self.preload), "parent": os.getpid()}),
        ]

        def popen() -> subprocess.Popen:
            return subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log if self._log is not None else subprocess.DEVNULL,
                env=environment,
                cwd="/",
                close_fds=True,
                start_new_session=True,
            )

        if keeper:
            self.proc = _start_kept(popen, self._released)
        else:
            self.proc = popen()
        if wait:
            self.wait_ready(start_timeout)

    def wait_ready(self, timeout: float = 120) -> dict[str, Any]:
        """Wait for the zygote's imports; its hello (seconds, modules, failures).

        Any thread may call it, any number of times: the first reads the hello, the others
        get it (or its error).
        """
        with self._ready_lock:
            if self.hello is not None:
                return self.hello
            if self._ready_error is not None:
                raise self._ready_error
            line = self._read_line(timeout)
            try:
                hello = json.loads(line)
                if not isinstance(hello, dict):
                    raise ValueError(line)
            except ValueError:
                self._stop()
                self._ready_error = KitError(
                    f"the kernel zygote did not start: {line!r}",
                    where=self.python,
                    fix="check that numpy, pandas, scikit-learn and ipykernel import in this environment",
                )
                raise self._ready_error from None
            self.hello = hello
        if hello.get("threads", 1) != 1:
            log.warning("the zygote has %s threads after its imports: forking it is not safe", hello.get("threads"))
        if hello.get("failed"):
            log.info("zygote: modules not preloaded: %s", hello["failed"])
        return hello

    def _read_line(self, timeout: float) -> bytes:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return b"timeout"
        return self.proc.stdout.readline()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def spawn(self, request: dict[str, Any], timeout: float = 30) -> int:
        """Fork a kernel as described by *request*; returns the supervisor's pid."""
        with self._lock:
            if self.proc.poll() is not None:
                raise KitError(
                    "the kernel zygote has exited",
                    where=f"pid {self.proc.pid}",
                    fix="close the pool and start a new one",
                )
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            reply = json.loads(self._read_line(timeout) or b"{}")
        if "pid" not in reply:
            raise KitError(
                f"the kernel zygote could not fork: {reply.get('error', reply)}",
                where=f"zygote pid {self.proc.pid}",
                fix="see the zygote log",
            )
        return int(reply["pid"])

    def retain(self) -> Zygote:
        """One more user (a pool, the grading notebook's kernel): :meth:`close` stops the zygote,
        and every kernel it forked, only when the last user closes it."""
        with self._lock:
            self._users += 1
        return self

    @property
    def shared(self) -> bool:
        return self._users > 1

    def close(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
        self._stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def _stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()  # EOF: the zygote kills its kernels and exits
                self.proc.wait(5)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        if self._log is not None:
            self._log.close()
        self._released.set()  # its keeper thread, if any, ends


def _start_kept(popen, released: threading.Event) -> subprocess.Popen:
    """Run *popen* in a thread that then waits for *released*: the child's parent thread lives until then."""
    box: dict[str, Any] = {}
    started = threading.Event()

    def keep() -> None:
        try:
            box["proc"] = popen()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            box["error"] = exc
        finally:
            started.set()
        released.wait()

    threading.Thread(target=keep, name="kit-zygote", daemon=True).start()
    started.wait()
    if "error" in box:
        raise box["error"]
    return box["proc"]


def start_zygote(*, python: str | None = None, preload: tuple[str, ...] = DEFAULT_PRELOAD) -> Zygote:
    """Start a zygote now, not waiting for its imports, to be handed to a pool later
    (:class:`~kit.execution.warm.WarmKernelPool` ``zygote=``).

    ``kit grade`` calls it first thing, so that the zygote imports the participants'
    libraries while the grader reads the challenge and the hand-ins. The zygote has a
    private folder of its own (removed when it is closed) and a thread of its own.
    """
    root = Path(tempfile.mkdtemp(prefix="kit-zygote-"))
    try:
        return Zygote(
            python=python,
            preload=preload,
            env=_zygote_env(root),
            log_path=root / "zygote.log",
            wait=False,
            keeper=True,
            root=root,
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _zygote_env(root: Path) -> dict[str, str]:
    """The zygote's environment: what a sandboxed kernel would see (libraries read it at import)."""
    env = sandbox_env()
    mpl = _private_cache("matplotlib") or root / "matplotlib"
    mpl.mkdir(exist_ok=True)
    env.update(
        HOME=str(root),
        TMPDIR=str(root),
        MPLCONFIGDIR=str(mpl),
        IPYTHONDIR=str(root / "ipython"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        # pandas imports pyarrow when it is installed, and pyarrow's jemalloc starts a
        # background thread at import: the zygote would no longer be single-threaded to fork
        JE_ARROW_MALLOC_CONF="background_thread:false",
    )
    return env


def _private_cache(name: str) -> Path | None:
    """A cache folder of this user's that persists between pools (None when it cannot be trusted).

    matplotlib builds its font list on first import (~0.15 s on the critical path of every
    batch's start); kept here, the zygote reads it instead. Only the trusted zygote uses it:
    sandboxes never see home folders.
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "challenge-kit"
    path = base / name
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    # a link, or someone else's, or writable by others: do not read from it
    return path if is_private_dir(base) and is_private_dir(path) else None
