"""Warm kernels: a fresh, sandboxed kernel per submission without paying for imports.

Where the time goes for a light notebook (FIELD-NOTES, and measured again here): a
kernel start takes ~0.5 s, ``import pandas, sklearn`` another ~1 s, the notebook itself
~0.2 s. A pool of pre-started kernels that import those libraries at start-up (the
brief's option (b)) hides the latency but not the CPU: every kernel still spends
~1.5 CPU-seconds importing, so 2 cores cannot do better than ~0.8 s per notebook.

So this module combines the pool with a **zygote** (a fork server, as Android and
CPython's ``forkserver`` do):

* The zygote is a separate interpreter (``python -I -c``: no user site, no
  environment of the grader, nothing of the grader imported) that imports the
  participants' libraries once: numpy, pandas, scipy, scikit-learn, matplotlib's heavy
  modules (not pyplot: see DEFAULT_PRELOAD), ipykernel and what its start-up imports
  (debugpy alone was 0.15 of 0.2 CPU-seconds). It never runs participant code, and it
  is single-threaded when it forks (BLAS threads = 1; checked at start).
* For every kernel, a bubblewrap sandbox is started empty (a sleeper), exactly as a
  cold run would be (same mounts, namespaces, uid). The zygote forks; the child joins
  the sandbox's namespaces with ``setns`` (PID, mount, network, IPC, UTS, cgroup) and
  its root with ``chroot``, forks again (to be inside the PID namespace), drops to the
  run's uid, applies the rlimits and ``no_new_privs``, reseeds the random generators,
  and starts the ipykernel application in place: a fresh process per submission,
  copy-on-write pages of already imported libraries, nothing shared between
  submissions.
* :class:`WarmKernelPool` keeps ``size`` such kernels started and answering, each in
  its own sandbox with its own empty work folder, and hands a never-used one to each
  submission (:meth:`WarmKernelPool.acquire`); the next one starts while the current
  one runs (missing kernels are launched side by side, then awaited). A one-shot batch
  tells the pool how many it will take (:meth:`WarmKernelPool.expect`), so none is
  started for nothing; closing the pool while the zygote still imports stops it. At
  hand-out the submission's work folder is moved into place (a rename on the same
  filesystem; a copy otherwise).

Ending a run is the same as for a cold kernel: killing the sandbox's bwrap kills its
PID namespace (the forked kernel is a member), and the run's uid is swept.

Measured on 2 cores (``benchmarks/kernels.py``): a kernel is ready 0.25-0.33 s after
the fork, for 0.07 CPU-seconds; the light benchmark notebook then runs in ~0.3 s
(0.3 CPU-s, most of it the notebook's own model fit); a batch of 40 takes 0.24 s per
notebook with two at a time, against 2.3 s for a sequential papermill loop.

Differences from a cold kernel, all deliberate: the preloaded modules count towards the
memory limit from the start (~0.3 GB of data segment); the kernel runs in Python's
isolated mode (``-I``: ``PYTHON*`` variables and the user site are ignored, which the
sandbox's environment does not set anyway); hash randomisation is shared with the
zygote (``PYTHONHASHSEED``: the set iteration order is the same in every kernel of a
pool; ``random`` and numpy's global generator are reseeded per kernel).
Create a pool in the process that uses it (not before a ``fork``): its sandboxes are
tied to its filler thread (``--die-with-parent`` follows the parent *thread*).
"""

from __future__ import annotations

import collections
import errno
import inspect
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_client.connect import write_connection_file
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

from ..errors import KitError
from .sandbox import (
    CLIENT_CONNECTION_FILE,
    IPC_PREFIX,
    KERNEL_ARGS,
    KERNEL_CONNECTION_FILE,
    KERNEL_EXIT_FILE,
    KERNEL_LOG_FILE,
    BubblewrapSandbox,
    Sandbox,
    SandboxKernelManager,
    SandboxRun,
    _deny_user_namespaces,
    _enter_sandbox,
    get_sandbox,
    is_private_dir,
    kernel_argv,
    sandbox_env,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Limits

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
    # matplotlib's heavy parts, but not pyplot nor the inline backend: importing the
    # backend before the kernel's shell exists would skip ipykernel's inline set-up
    # (figures would display as text); the kernel imports them, fast, on first use
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
    import importlib
    import json
    import os
    import signal
    import sys
    import time

    config = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the pool's thread
    if os.getppid() != config["parent"]:
        os._exit(1)
    protocol_in, protocol_out = sys.stdin.buffer, sys.stdout.buffer
    t0 = time.perf_counter()
    failed = {}
    for name in config["preload"]:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported to the pool
            failed[name] = f"{exc.__class__.__name__}: {exc}"
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
    children = []

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
            if req.get("join_pid"):
                _join_sandbox(libc, req["join_pid"], req.get("join_user"))
            kernel = os.fork()
            if kernel == 0:
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                os.closerange(3, 65536)
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
    """A process that has imported the participants' libraries and forks kernels on request."""

    def __init__(
        self,
        *,
        python: str | None = None,
        preload=DEFAULT_PRELOAD,
        env: dict[str, str] | None = None,
        log_path: str | os.PathLike | None = None,
        start_timeout: float = 120,
        wait: bool = True,
    ):
        self.python = python or sys.executable
        self.preload = tuple(preload)
        self._lock = threading.Lock()
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.hello: dict | None = None
        environment = dict(env or {})
        self.proc = subprocess.Popen(
            [
                self.python,
                "-I",
                "-c",
                zygote_source(),
                json.dumps({"preload": list(self.preload), "parent": os.getpid()}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=environment,
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        if wait:
            self.wait_ready(start_timeout)

    def wait_ready(self, timeout: float = 120) -> dict:
        """Wait for the zygote's imports; its hello (seconds, modules, failures)."""
        line = self._read_line(timeout)
        try:
            self.hello = json.loads(line)
        except ValueError:
            self.close()
            raise KitError(
                f"the kernel zygote did not start: {line!r}",
                where=self.python,
                fix="check that numpy, pandas, scikit-learn and ipykernel import in this environment",
            ) from None
        if self.hello.get("threads", 1) != 1:
            log.warning(
                "the zygote has %s threads after its imports: forking it is not safe", self.hello.get("threads")
            )
        if self.hello.get("failed"):
            log.info("zygote: modules not preloaded: %s", self.hello["failed"])
        return self.hello

    def _read_line(self, timeout: float) -> bytes:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return b"timeout"
        return self.proc.stdout.readline()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def spawn(self, request: dict, timeout: float = 30) -> int:
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

    def close(self) -> None:
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
        if self._log is not subprocess.DEVNULL:
            self._log.close()


# --------------------------------------------------------------------------------------
# One warm kernel
# --------------------------------------------------------------------------------------
@dataclass
class WarmKernel:
    """A started, answering kernel in its own sandbox, not yet used by anyone."""

    run: SandboxRun
    holder: subprocess.Popen | None
    supervisor_pid: int
    connection_info: dict
    kernel_name: str
    started: float
    ready_seconds: float = 0.0
    adopted_from: Path | None = None  # a slot folder that still holds the files (copy mode)
    _pidfd: int = -1
    _killed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def alive(self) -> bool:
        if self._killed:
            return False
        if self.holder is not None and self.holder.poll() is not None:
            return False
        if self._pidfd >= 0:
            ready, _, _ = select.select([self._pidfd], [], [], 0)
            return not ready
        try:
            os.kill(self.supervisor_pid, 0)
            return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the sandbox (and with it the kernel and all it spawned)."""
        with self._lock:
            was_alive = self.alive()
            self._killed = True
            if self.holder is not None and self.holder.poll() is None:
                try:
                    os.killpg(self.holder.pid, signal.SIGKILL)  # bwrap: its PID namespace dies
                except OSError:
                    pass
            if not self.run.isolated and was_alive:
                # no namespace: the supervisor's process group holds the kernel and its children
                try:
                    os.killpg(self.supervisor_pid, signal.SIGKILL)
                except OSError:
                    pass
            self.run.kill()
            if self._pidfd >= 0:  # the supervisor records the kernel's exit status and CPU time
                select.select([self._pidfd], [], [], 2.0)
            if self.holder is not None:
                try:
                    self.holder.wait(5)
                except subprocess.TimeoutExpired:
                    pass
                if self.holder.stdout:
                    self.holder.stdout.close()

    def close(self) -> None:
        self.kill()
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        self.run.close()

    def exit_info(self) -> dict | None:
        info = self.run.read_exit()
        if info:
            return info
        return {"signal": signal.SIGKILL} if self._killed else None

    def kernel_manager(self) -> WarmKernelManager:
        """An AsyncKernelManager bound to this kernel (create it in the thread that uses it)."""
        return WarmKernelManager(warm=self)


class _WarmProvisioner(KernelProvisionerBase):
    """Provisioner of a kernel that is already running (forked by the zygote)."""

    def __init__(self, *, warm: WarmKernel, **kwargs: Any):
        super().__init__(**kwargs)
        self.warm = warm

    @property
    def has_process(self) -> bool:
        return not self.warm._killed

    async def poll(self) -> int | None:
        if self.warm.alive():
            return None
        info = self.warm.run.read_exit() or {}
        return -int(info["signal"]) if "signal" in info else int(info.get("code", 1))

    async def wait(self) -> int | None:
        import asyncio

        while (ret := await self.poll()) is None:
            await asyncio.sleep(0.05)
        return ret

    async def send_signal(self, signum: int) -> None:
        if signum in (signal.SIGKILL, signal.SIGTERM):
            self.warm.kill()
            return
        for pid in _children(self.warm.supervisor_pid):  # the kernel itself
            os.kill(pid, signum)

    async def kill(self, restart: bool = False) -> None:
        self.warm.kill()

    async def terminate(self, restart: bool = False) -> None:
        self.warm.kill()

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        raise KitError(
            "a warm kernel is already running and cannot be relaunched",
            where="WarmKernelManager",
            fix="take another kernel from the pool",
        )

    async def cleanup(self, restart: bool = False) -> None:
        pass


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


class WarmKernelManager(SandboxKernelManager):
    """Kernel manager of a warm kernel: already started; ``close()`` kills its sandbox."""

    def __init__(self, *, warm: WarmKernel, **kwargs: Any):
        self.warm = warm
        super().__init__(run=warm.run, kernel_name=warm.kernel_name, **kwargs)
        self.load_connection_info(warm.connection_info)
        self.provisioner = _WarmProvisioner(
            warm=warm, kernel_id=self.kernel_id or "warm", kernel_spec=self.kernel_spec, parent=self
        )

    @property
    def kernel_spec(self) -> KernelSpec | None:  # type: ignore[override]
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=["<warm kernel>"],
                display_name=f"{self.kernel_name} (warm)",
                language="python",
                interrupt_mode="message",
                env={},
                metadata={},
            )
        return self._kernel_spec

    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        raise KitError(
            "a warm kernel is already running",
            where="WarmKernelManager.start_kernel",
            fix="use it as is (papermill: km=...)",
        )

    def kernel_exit_code(self) -> int | None:
        if self.warm.alive():
            return None
        info = self.warm.run.read_exit()
        if not info:
            return None
        return -int(info["signal"]) if "signal" in info else int(info.get("code", 0))

    async def close(self) -> None:
        try:
            self.exit_code = self.kernel_exit_code()
            self.warm.kill()
        finally:
            try:
                self._close_control_socket()
                if self._created_context:
                    self.context.destroy(linger=0)
            except Exception:  # noqa: BLE001
                pass

    def close_run(self) -> None:
        self.warm.close()


# --------------------------------------------------------------------------------------
# The pool
# --------------------------------------------------------------------------------------
class WarmKernelPool:
    """Keeps *size* fresh, sandboxed, pre-warmed kernels ready for one challenge.

    ``data_dir`` and ``limits`` are fixed for the pool (they are part of each kernel's
    sandbox and rlimits). Use as a context manager, or call :meth:`close`::

        with WarmKernelPool(data_dir=..., limits=spec.limits, size=2) as pool:
            for nb in notebooks:
                run_notebook(nb, out, work_dir=..., data_dir=pool.data_dir, parameters=...,
                             limits=spec.limits, pool=pool)

    Thread-safe: several threads may ``acquire`` (via :func:`run_notebook`) at once.
    Every kernel is used once. ``work_root``: a folder on the same filesystem as the
    runs' work folders (then a hand-out is a rename); default ``runtime_root``.
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike | None,
        limits: Limits,
        sandbox: str | Sandbox = "bubblewrap",
        size: int = 2,
        kernel_name: str = "python3",
        preload=DEFAULT_PRELOAD,
        runtime_root: str | os.PathLike | None = None,
        work_root: str | os.PathLike | None = None,
        ready_timeout: float = 60,
        start: bool = True,
    ):
        if size < 1:
            raise KitError("a warm pool needs at least one kernel", where=f"size={size}", fix="pass size >= 1")
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.limits = limits
        self.sandbox = get_sandbox(sandbox)
        self.size = size
        self.kernel_name = kernel_name
        self.preload = tuple(preload)
        self.ready_timeout = ready_timeout
        self._root = Path(tempfile.mkdtemp(prefix="kit-pool-", dir=runtime_root))
        self.runtime_root = self._root
        self.work_root = Path(work_root).resolve() if work_root else self._root
        self.work_root.mkdir(parents=True, exist_ok=True)
        argv = kernel_argv(kernel_name)
        if argv[1:3] != ["-m", "ipykernel_launcher"]:
            raise KitError(
                f"kernel {kernel_name!r} is not an ipykernel kernel: it cannot be pre-warmed",
                where=" ".join(argv),
                fix="run it without a pool (cold kernels)",
            )
        self.python = argv[0]
        self._extra_kernel_args = argv[3:]
        self._cond = threading.Condition()
        self._ready: collections.deque[WarmKernel] = collections.deque()
        self._expected: int | None = None  # acquisitions still to come; None: keep the pool full
        self._waiting = 0  # acquisitions waiting for a kernel now
        self._closed = False
        self._error: BaseException | None = None
        self._failures = 0
        self._in_use: dict[int, WarmKernel] = {}
        self.stats = {"started": 0, "handed_out": 0, "discarded": 0, "ready_seconds": [], "waited_seconds": []}
        self.zygote: Zygote | None = None
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # life cycle -------------------------------------------------------------------------
    def start(self) -> WarmKernelPool:
        if self._thread is not None:
            return self
        self.sandbox.check()
        self._thread = threading.Thread(target=self._fill, name="kit-warm-pool", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> WarmKernelPool:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Kill every kernel not handed out, stop the zygote, remove the pool's folders."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            zygote = self.zygote
        if zygote is not None and zygote.hello is None and zygote.proc.poll() is None:
            zygote.proc.kill()  # still importing: nothing to wait for (the filler sees it end)
        if self._thread is not None:
            self._thread.join(30)
        with self._cond:
            leftovers = list(self._ready) + list(self._in_use.values())
            self._ready.clear()
            self._in_use.clear()
        for warm in leftovers:
            warm.close()
        shutil.rmtree(self._root, ignore_errors=True)

    def check_compatible(self, *, data_dir, limits, kernel_name) -> None:
        """Raise unless a run with these settings can use this pool's kernels."""
        problems = []
        if (Path(data_dir).resolve() if data_dir is not None else None) != self.data_dir:
            problems.append(f"data_dir {data_dir} is not the pool's {self.data_dir}")
        if limits != self.limits:
            problems.append("limits differ from the pool's")
        if kernel_name != self.kernel_name:
            problems.append(f"kernel {kernel_name!r} is not the pool's {self.kernel_name!r}")
        if problems:
            raise KitError(
                "this run cannot use the warm pool: " + "; ".join(problems),
                where="pool",
                fix="make one pool per challenge and pass its data_dir and limits to every run",
            )

    def expect(self, n: int | None) -> None:
        """Say how many more kernels will be asked for (``None``: an open-ended stream).

        A one-shot batch knows it: the pool then starts no kernel that nobody will use
        (each costs a fork and a sandbox). A caller that asks for more still gets them.
        """
        with self._cond:
            self._expected = None if n is None else max(0, int(n))
            self._cond.notify_all()

    def _wanted(self) -> int:
        """How many kernels the filler keeps ready (call with the condition held)."""
        if self._expected is None:
            return self.size
        return min(self.size, self._expected + self._waiting)

    # hand-out -----------------------------------------------------------------------------
    def acquire(self, work_dir: str | os.PathLike, timeout: float = 60) -> WarmKernel:
        """A never-used kernel whose work folder is now *work_dir*."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        dead: list[WarmKernel] = []
        try:
            with self._cond:
                if self._expected is not None:
                    self._expected = max(0, self._expected - 1)
                self._waiting += 1  # counted until served: the filler starts a kernel for it
                self._cond.notify_all()  # an unexpected request wakes the filler
                try:
                    while True:
                        while not self._ready and not self._closed and self._error is None:
                            left = deadline - time.monotonic()
                            if left <= 0:
                                raise KitError(
                                    f"no warm kernel became ready within {timeout:g} s",
                                    where="pool",
                                    fix="give the pool more time (timeout=) or more kernels (size=)",
                                )
                            self._cond.wait(left)
                        if self._closed:
                            raise KitError("the warm pool is closed", where="pool", fix="start a new pool")
                        if not self._ready and self._error is not None:
                            raise KitError(
                                f"the warm pool cannot start kernels: {self._error}",
                                where="pool",
                                fix="see the log; run without a pool to get the kernel's own error",
                            ) from self._error
                        warm = self._ready.popleft()
                        if warm.alive():
                            break
                        self.stats["discarded"] += 1
                        dead.append(warm)
                finally:
                    self._waiting -= 1
                    self._cond.notify_all()
        finally:
            for gone in dead:
                gone.close()
        try:
            self._adopt(warm, Path(work_dir).absolute())
        except BaseException:
            warm.close()
            raise
        with self._cond:
            self._in_use[id(warm)] = warm
        self.stats["handed_out"] += 1
        self.stats["waited_seconds"].append(time.monotonic() - t0)
        return warm

    def release(self, km: WarmKernelManager) -> None:
        """End a handed-out kernel's run: everything killed, its files in the work folder."""
        warm = km.warm
        with self._cond:
            self._in_use.pop(id(warm), None)
        warm.kill()
        if warm.adopted_from is not None:  # copy mode: bring the outputs home
            _move_contents(warm.adopted_from, warm.run.work_dir)
            shutil.rmtree(warm.adopted_from, ignore_errors=True)
        warm.close()

    def _adopt(self, warm: WarmKernel, work_dir: Path) -> None:
        """Make *work_dir* the kernel's work folder (the slot folder is bind-mounted)."""
        slot = warm.run.work_dir
        work_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            if work_dir.exists():
                _move_contents(work_dir, slot)
                work_dir.rmdir()
            os.rename(slot, work_dir)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # another filesystem: the kernel keeps working in the slot; copied back at release
            warm.adopted_from = slot
        else:
            warm.run.work_dir = work_dir
            return
        warm.run.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)

    # filling -----------------------------------------------------------------------------
    def _fill(self) -> None:
        try:
            env = _zygote_env(self._root)
            zygote = Zygote(
                python=self.python, preload=self.preload, env=env, log_path=self._root / "zygote.log", wait=False
            )
            with self._cond:
                self.zygote = zygote
                closed = self._closed
            if closed:  # closed before it was even started: stop it rather than wait for it
                zygote.proc.kill()
            zygote.wait_ready()
            log.info("zygote ready in %.2f s (%d modules)", self.zygote.hello["seconds"], self.zygote.hello["modules"])
        except BaseException as exc:  # noqa: BLE001 - reported by acquire
            self._fail(exc)
            return
        try:
            while True:
                with self._cond:
                    while not self._closed and len(self._ready) >= self._wanted():
                        self._cond.wait()
                    if self._closed:
                        return
                    missing = self._wanted() - len(self._ready)
                # launch every missing kernel first, then wait for each: they start side by side
                launched: list[WarmKernel] = []
                try:
                    for _ in range(missing):
                        try:
                            launched.append(self._launch_one())
                        except BaseException as exc:  # noqa: BLE001
                            if self._start_failed(exc):
                                return
                    while launched:
                        warm = launched.pop(0)
                        try:
                            self._await_ready(warm)
                        except BaseException as exc:  # noqa: BLE001
                            if self._start_failed(exc):
                                return
                            continue
                        with self._cond:
                            self._failures = 0
                            if self._closed:
                                warm.close()
                                return
                            self._ready.append(warm)
                            self._cond.notify_all()
                finally:
                    for other in launched:  # launched but not handed to the pool: closing, or given up
                        other.close()
        finally:
            self.zygote.close()

    def _start_failed(self, exc: BaseException) -> bool:
        """Count a kernel that failed to start; True when the pool gives up (3 in a row)."""
        log.warning("a warm kernel failed to start: %s", exc)
        with self._cond:
            self._failures += 1
            fatal = self._failures >= 3
        if fatal:
            self._fail(exc)
        return fatal

    def _fail(self, exc: BaseException) -> None:
        """Record a fatal error for acquire(), and stay alive until close().

        The sandboxes started by this thread die with it (bwrap --die-with-parent follows
        the *thread* that started it): kernels already handed out must keep running.
        """
        with self._cond:
            self._error = exc
            self._cond.notify_all()
            while not self._closed:
                self._cond.wait()

    def _launch_one(self) -> WarmKernel:
        """Start a sandbox and fork a kernel into it (not waiting for the kernel to answer)."""
        t0 = time.monotonic()
        slot = Path(tempfile.mkdtemp(prefix="slot-", dir=self.work_root))
        run = self.sandbox.open_run(slot, self.data_dir, self.limits, runtime_root=self._root)
        holder = None
        try:
            fname, info = write_connection_file(
                str(run.runtime_dir / CLIENT_CONNECTION_FILE), transport="ipc", ip=str(run.runtime_dir / IPC_PREFIX)
            )
            kernel_info = dict(info)
            kernel_info["key"] = (
                kernel_info["key"].decode() if isinstance(kernel_info["key"], bytes) else kernel_info["key"]
            )
            kernel_info["ip"] = f"{run.kernel_runtime_dir}/{IPC_PREFIX}"
            kernel_info.pop("kernel_name", None)
            kpath = run.runtime_dir / KERNEL_CONNECTION_FILE
            kpath.write_text(json.dumps(kernel_info))
            if run.uid is not None:
                os.chown(kpath, run.uid, run.gid)
            os.chmod(kpath, 0o600)
            join_pid = None
            if isinstance(self.sandbox, BubblewrapSandbox):
                holder, join_pid = self._start_holder(run)
            request = {
                "join_pid": join_pid,
                "join_user": join_pid is not None and not getattr(self.sandbox, "as_root", True),
                "exit_file": str(run.runtime_dir / KERNEL_EXIT_FILE),
                "log_file": str(run.runtime_dir / KERNEL_LOG_FILE),
                "child": run.child_config(setsid=run.isolated),
                "argv": [*self._extra_kernel_args, "-f", run.kernel_connection_file, *KERNEL_ARGS],
            }
            assert self.zygote is not None
            pid = self.zygote.spawn(request)
            warm = WarmKernel(
                run=run,
                holder=holder,
                supervisor_pid=pid,
                connection_info=info,
                kernel_name=self.kernel_name,
                started=t0,
            )
            try:
                warm._pidfd = os.pidfd_open(pid)
                if _ppid(pid) != self.zygote.pid:  # exited and its pid reused already
                    os.close(warm._pidfd)
                    warm._pidfd = -1
                    warm._killed = True
            except (OSError, AttributeError):
                warm._pidfd = -1
        except BaseException:
            if holder is not None and holder.poll() is None:
                holder.kill()
                holder.wait()
            tail = run.read_log()
            run.close()
            shutil.rmtree(slot, ignore_errors=True)
            if tail:
                log.warning("warm kernel log: %s", tail[-1000:])
            raise
        return warm

    def _await_ready(self, warm: WarmKernel) -> WarmKernel:
        """Wait until a launched kernel answers; on failure its sandbox is gone and the error raised."""
        try:
            _wait_ready(warm.connection_info, warm, self.ready_timeout)
        except BaseException:
            tail = warm.run.read_log()
            slot = warm.run.work_dir
            warm.close()
            shutil.rmtree(slot, ignore_errors=True)
            if tail:
                log.warning("warm kernel log: %s", tail[-1000:])
            raise
        warm.ready_seconds = time.monotonic() - warm.started
        self.stats["started"] += 1
        self.stats["ready_seconds"].append(warm.ready_seconds)
        return warm

    def _start_holder(self, run: SandboxRun) -> tuple[subprocess.Popen, int]:
        """Start the empty sandbox (bwrap + sleeper); returns it and its PID 1's host pid."""
        assert isinstance(self.sandbox, BubblewrapSandbox)
        info_r, info_w = os.pipe()
        try:
            cmd = self.sandbox.holder_command(run, info_fd=info_w)
            with open(run.log_path, "ab") as log_fh:
                holder = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log_fh,
                    pass_fds=(info_w,),
                    start_new_session=True,
                    env={"PATH": "/usr/bin:/bin"},
                    cwd="/",
                )
        finally:
            os.close(info_w)
        try:
            run.track(holder, group=True)
            assert holder.stdout is not None
            ready, _, _ = select.select([holder.stdout], [], [], 10)
            line = holder.stdout.readline() if ready else b""
            if line.strip() != b"ready":
                raise KitError(
                    f"the sandbox did not start: {run.read_log()[-500:]!r}",
                    where=" ".join(cmd[:3]),
                    fix="check bubblewrap (sandbox.check())",
                )
            data = b""
            while True:
                chunk = os.read(info_r, 4096)
                if not chunk:
                    break
                data += chunk
                try:
                    pid1 = int(json.loads(data)["child-pid"])
                    break
                except ValueError:
                    continue
        except BaseException:
            holder.kill()
            holder.wait()
            raise
        finally:
            os.close(info_r)
        run.note_pid1(pid1)
        return holder, pid1


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _wait_ready(info: dict, warm: WarmKernel, timeout: float) -> None:
    """Wait until the kernel answers kernel_info (and fail fast if it dies)."""
    import asyncio

    from jupyter_client.asynchronous import AsyncKernelClient

    async def probe():
        kc = AsyncKernelClient()
        kc.load_connection_info(info)
        kc.start_channels()
        try:
            deadline = time.monotonic() + timeout
            sent: set[str] = set()
            answered = False
            while not answered:
                sent.add(kc.kernel_info())
                try:
                    while True:  # replies to earlier requests count too
                        reply = await kc.get_shell_msg(timeout=0.2)
                        if reply["parent_header"].get("msg_id") in sent:
                            answered = True
                            break
                except Exception:  # noqa: BLE001 - queue.Empty: not yet
                    pass
                if answered:
                    break
                if not warm.alive():
                    raise KitError(
                        "the warm kernel died while starting",
                        where="pool",
                        fix=f"see its log: {warm.run.read_log()[-500:]!r}",
                    )
                if time.monotonic() > deadline:
                    raise KitError(
                        f"the warm kernel did not answer within {timeout:g} s", where="pool", fix="see the kernel log"
                    )
            # drain iopub status messages of the probe
            while True:
                try:
                    await kc.get_iopub_msg(timeout=0.05)
                except Exception:  # noqa: BLE001
                    break
        finally:
            kc.stop_channels()
            kc.context.destroy(linger=0)

    asyncio.run(probe())


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


def _move_contents(src: Path, dst: Path) -> None:
    """Move every entry of *src* into *dst* (rename; copy without following links across filesystems)."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in os.listdir(src):
        s, d = src / entry, dst / entry
        try:
            os.rename(s, d)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            if s.is_dir() and not s.is_symlink():
                shutil.copytree(s, d, symlinks=True)
                shutil.rmtree(s)
            else:
                shutil.copy2(s, d, follow_symlinks=False)
                os.unlink(s)


__all__ = ["DEFAULT_PRELOAD", "WarmKernel", "WarmKernelManager", "WarmKernelPool", "Zygote"]
