"""What every sandbox backend shares: the run, its folders, its limits, how it ends.

A *sandbox* turns the command that starts a Jupyter kernel into a contained one
(:meth:`Sandbox.contain`); :meth:`Sandbox.open_run` prepares the sandbox of one notebook
run (:class:`SandboxRun`: folders, uid, environment, limits), and :meth:`SandboxRun.close`
ends it, with nothing of it left alive.

Limits are applied with ``setrlimit`` by a tiny stdlib-only program that runs inside the
sandbox just before it execs the kernel (:func:`~kit.execution.sandbox.inside._enter_sandbox`):

* memory: ``RLIMIT_DATA = memory_mb`` (heap and private anonymous mappings: what numpy,
  pandas and Python objects allocate; measured to stop both ``np.ones`` and lists of
  ``bytearray`` with a ``MemoryError``). ``RLIMIT_AS`` is *not* the memory limit: it also
  counts shared libraries, thread stacks and reserved malloc arenas. Measured: a cold
  kernel maps 0.74 GB of address space for 0.13 GB of data, a warm one (libraries
  preloaded) 1.0 GB for 0.31 GB, so an address-space limit would depend on threads and
  libraries rather than on what the notebook allocates. It is set only as a backstop, at
  ``memory_mb + AS_HEADROOM_MB``, against memory that escapes ``RLIMIT_DATA`` (shared
  mappings). The data limit counts what the kernel has loaded: ~0.3 GB in a warm kernel.
* ``RLIMIT_CPU`` (SIGXCPU at ``cpu_seconds``, SIGKILL 5 s later; per process),
  ``RLIMIT_NPROC = processes + KERNEL_OWN_TASKS`` (it counts threads, and the kernel
  itself runs ~12), ``RLIMIT_FSIZE = file_size_mb``, ``RLIMIT_CORE = 0``. rlimits are per
  process: ``memory_mb`` and ``cpu_seconds`` bound each process of the run, ``processes``
  bounds how many there are.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import KitError
from .inside import trampoline_argv
from .processes import (
    UidLease,
    _children_of,
    _own_pidns,
    kill_pidns_processes,
    kill_uid_processes,
    read_sandbox_file,
)

if TYPE_CHECKING:  # pragma: no cover
    from ...challenge import Limits
    from ..kernels import SandboxKernelManager

#: Where the work folder, the data folder and the runtime folder appear in a sandbox.
SANDBOX_WORK_DIR = "/sandbox/work"
SANDBOX_DATA_DIR = "/sandbox/data"
SANDBOX_RUNTIME_DIR = "/run/jupyter"
#: The kernel-side connection file (inside the runtime folder) and the host-side one.
KERNEL_CONNECTION_FILE = "kernel.json"
CLIENT_CONNECTION_FILE = "client.json"
KERNEL_LOG_FILE = "kernel.log"
KERNEL_EXIT_FILE = "kernel.exit"
#: Prefix of the ipc socket files (``<prefix>-<port>``) in the runtime folder.
IPC_PREFIX = "kernel"
#: RLIMIT_AS backstop above memory_mb (see the module docstring).
AS_HEADROOM_MB = 2048
#: Seconds between SIGXCPU (soft RLIMIT_CPU) and SIGKILL (hard RLIMIT_CPU).
CPU_GRACE_SECONDS = 5
#: Tasks (threads and processes) a kernel needs for itself (ipykernel runs ~12 threads:
#: IOPub, control, heartbeat, zmq I/O...), added to ``limits.processes``, since
#: RLIMIT_NPROC counts threads: ``processes`` is what the participant's code may add.
KERNEL_OWN_TASKS = 16
#: Threads of BLAS / OpenMP in a sandbox: batch grading runs several notebooks per
#: core, and RLIMIT_NPROC counts threads.
BLAS_THREADS = 1
#: ipykernel options of every sandboxed kernel (no IPython history database).
KERNEL_ARGS = ("--HistoryManager.hist_file=:memory:",)


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a sandboxed kernel: a fixed, minimal set of variables.

    Nothing of the grader's environment is passed on (no tokens, no paths);
    ``JPY_PARENT_PID`` in particular is absent (FIELD-NOTES: in a new PID namespace
    ipykernel would see its parent as PID 1 and exit).
    """
    env = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "USER": "participant",
        "IPYTHONDIR": "/tmp/.ipython",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": str(BLAS_THREADS),
        "OPENBLAS_NUM_THREADS": str(BLAS_THREADS),
        "MKL_NUM_THREADS": str(BLAS_THREADS),
    }
    env.update(extra or {})
    return env


def rlimits_for(limits: Limits) -> dict[str, tuple[int, int]]:
    """The ``setrlimit`` values (soft, hard) that implement *limits* in one process."""
    mb = 1024 * 1024
    cpu = int(max(1, round(limits.cpu_seconds)))
    return {
        "DATA": (limits.memory_mb * mb, limits.memory_mb * mb),
        "AS": ((limits.memory_mb + AS_HEADROOM_MB) * mb,) * 2,
        "CPU": (cpu, cpu + CPU_GRACE_SECONDS),
        "NPROC": (limits.processes + KERNEL_OWN_TASKS,) * 2,
        "FSIZE": (limits.file_size_mb * mb, limits.file_size_mb * mb),
        "CORE": (0, 0),
    }


# --------------------------------------------------------------------------------------
# One run in one sandbox
# --------------------------------------------------------------------------------------
@dataclass
class SandboxRun:
    """The sandbox of one notebook run: folders, uid, limits, and how to end it.

    Created by :meth:`Sandbox.open_run`; end it with :meth:`close` (idempotent), which
    kills every process of the run, releases its uid and removes its runtime folder.
    The work folder is left in place (it holds the run's outputs).
    """

    sandbox: Sandbox
    work_dir: Path
    data_dir: Path | None
    runtime_dir: Path
    limits: Limits
    uid: int | None = None
    gid: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    _lease: UidLease | None = None
    _pids: list[subprocess.Popen] = field(default_factory=list)
    _pgids: list[subprocess.Popen] = field(default_factory=list)
    _closed: bool = False
    _uid_clear: bool = False
    #: host pid of the sandbox's PID 1 and its PID namespace (``pid:[inode]``), once known
    pid1: int | None = None
    pidns: str | None = None
    #: a pidfd of PID 1 (signalled without any risk of a reused pid), -1 when unknown
    _pid1_fd: int = -1
    _ns_clear: bool = False
    _kill_lock: threading.Lock = field(default_factory=threading.Lock)

    # paths --------------------------------------------------------------------------
    @property
    def isolated(self) -> bool:
        return self.sandbox.isolated

    @property
    def kernel_work_dir(self) -> str:
        """The kernel's cwd as the kernel sees it."""
        return SANDBOX_WORK_DIR if self.isolated else str(self.work_dir)

    @property
    def kernel_runtime_dir(self) -> str:
        return SANDBOX_RUNTIME_DIR if self.isolated else str(self.runtime_dir)

    @property
    def kernel_connection_file(self) -> str:
        return f"{self.kernel_runtime_dir}/{KERNEL_CONNECTION_FILE}"

    @property
    def log_path(self) -> Path:
        return self.runtime_dir / KERNEL_LOG_FILE

    def to_sandbox_path(self, path: str | os.PathLike) -> str:
        """The path under which the kernel sees host *path* (unchanged if not mounted)."""
        if not self.isolated:
            return os.fspath(path)
        p = Path(os.path.abspath(os.fspath(path)))
        # the work folder first: a data folder inside it is mounted (read-only) there too,
        # next to whatever the run put beside it (e.g. challenge.yml)
        for host, inside in ((self.work_dir, SANDBOX_WORK_DIR), (self.data_dir, SANDBOX_DATA_DIR)):
            if host is None:
                continue
            for base in {host, host.resolve()}:
                try:
                    rel = p.relative_to(base)
                except ValueError:
                    continue
                return inside if str(rel) == "." else f"{inside}/{rel.as_posix()}"
        return os.fspath(path)

    # configuration of the in-sandbox process -------------------------------------------
    def child_config(self, *, setsid: bool = False) -> dict:
        """What :func:`_enter_sandbox` applies in the kernel process."""
        return {
            "rlimits": {k: list(v) for k, v in rlimits_for(self.limits).items()},
            "uid": self.uid,
            "gid": self.gid,
            "env": self.env,
            "cwd": self.kernel_work_dir,
            "setsid": setsid,
            "no_userns": self.isolated,
            "drop_caps": self.isolated,
        }

    def command(self, argv: list[str], *, python: str | None = None) -> list[str]:
        """Contain *argv*: the full command line that runs it in this run's sandbox."""
        return self.sandbox.contain(self, argv, python=python)

    def write_kernel_connection_file(self, info: Mapping[str, Any]) -> Path:
        """Write the kernel-side connection file: *info*'s ports and key, in-sandbox paths.

        *info* is the client side's connection info (ipc sockets in the runtime folder);
        the kernel finds the same sockets under the runtime folder's in-sandbox path.
        """
        kernel_info = dict(info)
        key = kernel_info.get("key", "")
        kernel_info["key"] = key.decode() if isinstance(key, bytes) else key
        kernel_info["ip"] = f"{self.kernel_runtime_dir}/{IPC_PREFIX}"
        kernel_info.pop("kernel_name", None)
        path = self.runtime_dir / KERNEL_CONNECTION_FILE
        path.write_text(json.dumps(kernel_info))
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)
        os.chmod(path, 0o600)
        return path

    # ending ---------------------------------------------------------------------------
    def track(self, process: subprocess.Popen, *, group: bool = False) -> None:
        """Remember a host process of this run (a child of ours), killed by :meth:`kill`.

        Only un-reaped children are signalled, so a pid can never have been reused.
        """
        (self._pgids if group else self._pids).append(process)

    def note_pid1(self, pid: int) -> None:
        """Remember the host pid of the sandbox's PID 1 (and so its PID namespace)."""
        try:
            link = os.readlink(f"/proc/{pid}/ns/pid")
        except OSError:
            return
        if link != _own_pidns():
            self.pid1, self.pidns = pid, link
            if self._pid1_fd < 0:
                try:
                    self._pid1_fd = os.pidfd_open(pid)
                except (OSError, AttributeError):  # gone already, or no pidfd (Linux < 5.3)
                    self._pid1_fd = -1

    def kill_pid1(self, *, reaper: subprocess.Popen | None = None, wait: float = 1.0) -> None:
        """SIGKILL the sandbox's PID 1 first, while its parent (bwrap, *reaper*) lives to reap it.

        Its PID namespace dies with it (every member killed, each reaped by its own parent);
        bwrap then exits by itself. Killed the other way round, bwrap first, PID 1 would be
        re-parented, dead, to the host's init: in a container whose init reaps nothing (a
        shell, a process supervisor), every run would leave a zombie behind.
        """
        if self._pid1_fd < 0:
            return
        try:
            signal.pidfd_send_signal(self._pid1_fd, signal.SIGKILL)
        except (OSError, AttributeError):
            return
        if reaper is not None:
            try:
                reaper.wait(wait)
            except subprocess.TimeoutExpired:
                pass

    def _find_pid1(self) -> None:
        """PID 1 of a cold run's sandbox: the child of its (live) bwrap process."""
        for proc in self._pgids:
            if proc.poll() is None:
                for child in _children_of(proc.pid):
                    self.note_pid1(child)
                    if self.pidns:
                        return

    def kill(self) -> None:
        """SIGKILL every process of this run. Safe to call from any thread, repeatedly.

        When it returns, nothing of the run is alive: a root grader's run has a uid of its
        own, swept until no process of it is left; an unprivileged grader's run has a PID
        namespace of its own, whose PID 1 dies with bwrap and takes every member with it,
        swept likewise (once PID 1 is dead, no process can join or be born in it).
        """
        with self._kill_lock:
            if self.isolated and self.pidns is None:
                self._find_pid1()
            for proc in self._pgids:
                if proc.poll() is None:
                    self.kill_pid1(reaper=proc)
            for proc in self._pgids:
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            for proc in self._pids:
                if proc.poll() is None:
                    try:
                        proc.kill()
                    except (ProcessLookupError, PermissionError):
                        pass
            if self.uid is not None and self._lease is not None and not self._uid_clear:
                # once a sweep finds nothing, nothing can appear again under this uid
                self._uid_clear = kill_uid_processes(self.uid) == 0
            elif self._lease is None and self.pidns is not None and not self._ns_clear:
                self._ns_clear = kill_pidns_processes(self.pidns, self.pid1) == 0

    def close(self) -> None:
        """Kill everything, release the uid, remove the runtime folder. Idempotent."""
        if self._closed:
            return
        self.kill()
        self._closed = True
        if self._pid1_fd >= 0:
            os.close(self._pid1_fd)
            self._pid1_fd = -1
        if self._lease is not None:
            self._lease.release()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def read_log(self, max_bytes: int = 4000) -> str:
        """The last *max_bytes* of the kernel's own stdout/stderr (participant-controlled)."""
        data = read_sandbox_file(self.runtime_dir / KERNEL_LOG_FILE, max_bytes, tail=True)
        return data.decode("utf-8", "replace") if data else ""

    def read_exit(self) -> dict | None:
        """Exit status written by a warm kernel's supervisor, if any."""
        data = read_sandbox_file(self.runtime_dir / KERNEL_EXIT_FILE, 4096)
        try:
            info = json.loads(data) if data else None
        except ValueError:
            return None
        return info if isinstance(info, dict) else None

    def __enter__(self) -> SandboxRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------
# The base class of backends
# --------------------------------------------------------------------------------------
class Sandbox:
    """A way to contain a kernel. Subclasses implement :meth:`check` and :meth:`wrap`."""

    name: str = ""
    #: True when the kernel cannot see the host (paths are translated).
    isolated: bool = False
    description: str = ""

    def check(self) -> None:
        """Raise :class:`KitError` (with a fix) if this sandbox cannot work here."""

    def wrap(
        self, run: SandboxRun, inner: list[str], *, extra_args: tuple[str, ...] = (), extra_ro: tuple[str, ...] = ()
    ) -> list[str]:
        """The command line that runs *inner* in *run*'s sandbox (*extra_ro*: more read-only folders)."""
        raise NotImplementedError

    def contain(
        self, run: SandboxRun, argv: list[str], *, python: str | None = None, extra_ro: tuple[str, ...] = ()
    ) -> list[str]:
        """The command line that runs *argv* under *run*'s limits, uid and environment, in its sandbox."""
        return self.wrap(run, trampoline_argv(run.child_config(), argv, python), extra_ro=extra_ro)

    def _announce(self) -> None:
        """Hook called every time a run is opened (the ``none`` sandbox warns)."""

    # ------------------------------------------------------------------------------
    def open_run(
        self,
        work_dir: str | os.PathLike,
        data_dir: str | os.PathLike | None,
        limits: Limits,
        *,
        runtime_root: str | os.PathLike | None = None,
        env: dict[str, str] | None = None,
    ) -> SandboxRun:
        """Prepare the sandbox of one run (folders, uid); see :class:`SandboxRun`."""
        self.check()
        self._announce()
        work = Path(work_dir).absolute()
        work.mkdir(parents=True, exist_ok=True)
        work = work.resolve()
        data = None
        if data_dir is not None:
            data = Path(data_dir).resolve()
            if not data.is_dir():
                raise KitError(
                    "the participant data folder does not exist",
                    where=str(data),
                    fix="pass the challenge's starter-kit data folder as data_dir",
                )
            if data == work or data in work.parents:
                raise KitError(
                    "the work folder is inside the data folder",
                    where=f"work_dir={work}, data_dir={data}",
                    fix="give each run a work folder of its own, outside the data folder",
                )
            # a data folder inside the work folder is allowed: it is mounted read-only there too
        root = Path(runtime_root) if runtime_root else Path(tempfile.gettempdir())
        runtime = Path(tempfile.mkdtemp(prefix="kit-", dir=root))
        if len(str(runtime / IPC_PREFIX)) + 3 > 100:
            shutil.rmtree(runtime, ignore_errors=True)
            raise KitError(
                "the runtime folder path is too long for ipc sockets (max ~100 chars)",
                where=str(runtime),
                fix="pass a shorter runtime_root, e.g. /tmp",
            )
        run = SandboxRun(self, work, data, runtime, limits, env=sandbox_env(env))
        try:
            self._prepare(run)
        except BaseException:
            run.close()
            raise
        return run

    def _prepare(self, run: SandboxRun) -> None:
        """Backend-specific set-up of a new run (uid, ownership)."""

    # ------------------------------------------------------------------------------
    def kernel_manager(
        self,
        work_dir: str | os.PathLike,
        data_dir: str | os.PathLike | None,
        limits: Limits,
        kernel_name: str = "python3",
        *,
        runtime_root: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> SandboxKernelManager:
        """A not-yet-started :class:`~kit.execution.kernels.SandboxKernelManager` for one run.

        ``await km.start_kernel()`` starts a fresh kernel in a fresh sandbox (a *cold*
        start: ~0.5 s plus the notebook's own imports). ``await km.close()`` ends the
        run: the kernel and everything it spawned is killed.
        """
        from ..kernels import SandboxKernelManager  # jupyter_client: imported when a kernel is wanted

        run = self.open_run(work_dir, data_dir, limits, runtime_root=runtime_root)
        try:
            return SandboxKernelManager(run=run, kernel_name=kernel_name, **kwargs)
        except BaseException:
            run.close()
            raise

    def __repr__(self) -> str:
        return f"<sandbox {self.name!r}>"
