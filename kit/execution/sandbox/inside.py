"""Code that runs inside a sandbox, and the command lines that ship it there.

Stdlib only, and no function here refers to a module global: their *source* is sent to a
fresh interpreter (``python -I -S -c <source>``) or to the zygote of
:mod:`kit.execution.warm`, so nothing of the grader is imported in a participant's
kernel. This module must stay importable without jupyter_client (the zygote and the
sandbox probe use it).

- :func:`_enter_sandbox` applies a run's limits, uid, capabilities, seccomp filter and
  environment to the calling process;
- :func:`_init_main` is the sandbox's PID 1 (non-dumpable; forks the contained process,
  or holds the sandbox of a warm kernel);
- :func:`_trampoline_main` enters the sandbox and execs a command (no PID 1 of its own:
  the ``none`` sandbox);
- :func:`_probe_main` reports what a sandboxed process can do (:mod:`.probe`).
"""

from __future__ import annotations

import functools
import inspect
import json
import sys


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
    """Source of the sandbox's PID 1 (see :func:`_init_main`); read once (every sandbox starts one)."""
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


def _probe_main():
    """``python -I -S -c <source> ARGS_JSON``: what this sandboxed process can do, as JSON.

    Run under the sandbox's own PID 1 (:func:`_init_main`) and limits by the sandbox probe
    (:func:`kit.execution.sandbox.probe.probe_sandbox`). ARGS: ``max_forks`` (stop forking
    there if RLIMIT_NPROC does not), ``small_mb`` and ``big_mb`` (allocations below and
    above RLIMIT_DATA), ``file_bytes`` (one more than RLIMIT_FSIZE), ``host_path`` (a host
    file that must be invisible), ``net_host`` (an address outside).
    Each test is cheap (the whole program takes a few tens of milliseconds) and the user
    namespace test comes last (if the filter is missing, it leaves this process in one).
    """
    import ctypes
    import errno
    import json
    import os
    import socket
    import sys
    import time

    args = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    out = {"uid": os.getuid(), "pid": os.getpid(), "ppid": os.getppid(), "pidns": os.readlink("/proc/self/ns/pid")}
    with open("/proc/self/status") as fh:
        status = {k: v.strip() for k, _, v in (line.partition(":") for line in fh)}
    out["status"] = {
        k: status.get(k, "") for k in ("NoNewPrivs", "Seccomp", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
    }
    # processes: fork until refused (children wait to be killed)
    kids = []
    refused = ""
    try:
        for _ in range(int(args["max_forks"])):
            pid = os.fork()
            if pid == 0:
                try:
                    time.sleep(30)
                finally:
                    os._exit(0)
            kids.append(pid)
    except OSError as exc:
        refused = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    finally:
        for pid in kids:
            os.kill(pid, 9)
        for pid in kids:
            os.waitpid(pid, 0)
    out["forks"], out["fork_refused"] = len(kids), refused
    # memory: malloc (private anonymous memory, counted by RLIMIT_DATA) below and above the limit
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    for key in ("small_mb", "big_mb"):
        block = libc.malloc(ctypes.c_size_t(int(args[key]) << 20))
        out[key] = bool(block)
        libc.free(block)
    # file size: one byte more than RLIMIT_FSIZE (Python ignores SIGXFSZ: the write fails with EFBIG)
    try:
        with open("kit-probe.bin", "wb") as fh:  # in the work folder (the cwd)
            fh.write(bytes(int(args["file_bytes"])))
        out["file"] = "written"
    except OSError as exc:
        out["file"] = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    finally:
        if os.path.exists("kit-probe.bin"):
            os.remove("kit-probe.bin")
    # files of the host, PID 1, network
    out["host_path_visible"] = os.path.exists(args["host_path"])
    try:
        with open("/proc/1/mem", "rb"):
            out["pid1_mem"] = "opened"
    except OSError as exc:
        out["pid1_mem"] = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    out["interfaces"] = sorted(name for _, name in socket.if_nameindex())
    try:
        socket.create_connection((args["net_host"], 53), timeout=0.3).close()
        out["connect"] = "connected"
    except OSError as exc:
        out["connect"] = errno.errorcode.get(exc.errno or 0, exc.__class__.__name__)
    # last: a new user namespace (refused by the seccomp filter)
    if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER
        out["new_userns"] = "created"
    else:
        out["new_userns"] = errno.errorcode.get(ctypes.get_errno(), "?")
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


@functools.cache
def probe_source() -> str:
    """Source of the sandbox probe's program (see :func:`_probe_main`)."""
    return "\n".join([inspect.getsource(_probe_main), "_probe_main()"])
