"""A pool of warm kernels for one challenge: started ahead of need, each used once.

:class:`WarmKernelPool` keeps ``size`` kernels started and answering, each in its own
sandbox with its own empty work folder, and hands a never-used one to each submission
(:meth:`WarmKernelPool.acquire`); the next one starts while the current one runs (missing
kernels are launched side by side, then awaited). A one-shot batch tells the pool how many
it will take (:meth:`WarmKernelPool.expect`), so none is started for nothing; closing the
pool while the zygote still imports stops it. At hand-out the submission's work folder is
moved into place (a rename on the same filesystem; a copy otherwise).

A kernel that fails to start leaves its log (the kernel's own error) in the pool's
``failed-kernels/`` folder, or in the ``log_dir`` given, outside any sandbox; the error
names it. The pool gives up after three failures in a row.
"""

from __future__ import annotations

import collections
import errno
import json
import logging
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from jupyter_client.connect import write_connection_file

from ...errors import KitError
from ..kernels import kernel_argv
from ..sandbox import get_sandbox
from ..sandbox.base import (
    CLIENT_CONNECTION_FILE,
    IPC_PREFIX,
    KERNEL_ARGS,
    KERNEL_EXIT_FILE,
    KERNEL_LOG_FILE,
    Sandbox,
    SandboxRun,
)
from ..sandbox.bubblewrap import BubblewrapSandbox
from ..sandbox.processes import read_sandbox_file
from .kernel import WarmKernel, WarmKernelManager
from .zygote import DEFAULT_PRELOAD, Zygote, _zygote_env

if TYPE_CHECKING:  # pragma: no cover
    from ...challenge import Limits

log = logging.getLogger(__name__)

#: The folder of the pool's root that keeps the logs of kernels that failed to start.
FAILED_KERNELS_DIR = "failed-kernels"
#: How much of a failed kernel's log is kept (its end).
KEPT_LOG_BYTES = 256 * 1024


class PoolStats(TypedDict):
    """What a pool did: kernels started, handed out, found dead; seconds to ready, waited."""

    started: int
    handed_out: int
    discarded: int
    ready_seconds: list[float]
    waited_seconds: list[float]


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
    ``log_dir``: where the logs of kernels that failed to start are kept (default: the
    ``failed-kernels/`` folder of the pool's root, which :meth:`close` leaves in place
    when it holds any); the error of such a kernel names its log.

    Create a pool in the process that uses it (not before a ``fork``): its sandboxes are
    tied to its filler thread (``--die-with-parent`` follows the parent *thread*).

    ``zygote``: one started ahead (:func:`~kit.execution.warm.zygote.start_zygote`, with the
    kernel's Python and this pool's preload list), which the pool then owns and closes; one
    that does not match is closed and a new one started.
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike | None,
        limits: Limits,
        sandbox: str | Sandbox = "bubblewrap",
        size: int = 2,
        kernel_name: str = "python3",
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        runtime_root: str | os.PathLike | None = None,
        work_root: str | os.PathLike | None = None,
        log_dir: str | os.PathLike | None = None,
        ready_timeout: float = 60,
        start: bool = True,
        zygote: Zygote | None = None,
    ):
        if size < 1:
            raise KitError("a warm pool needs at least one kernel", where=f"size={size}", fix="pass size >= 1")
        argv = kernel_argv(kernel_name)
        if argv[1:3] != ["-m", "ipykernel_launcher"]:
            raise KitError(
                f"kernel {kernel_name!r} is not an ipykernel kernel: it cannot be pre-warmed",
                where=" ".join(argv),
                fix="run it without a pool (cold kernels)",
            )
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
        self.log_dir = Path(log_dir).absolute() if log_dir else self._root / FAILED_KERNELS_DIR
        #: the logs kept of kernels (and of a zygote) that failed to start
        self.failed_logs: list[Path] = []
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
        self.stats: PoolStats = {
            "started": 0,
            "handed_out": 0,
            "discarded": 0,
            "ready_seconds": [],
            "waited_seconds": [],
        }
        self.zygote: Zygote | None = None
        #: sandboxes started ahead, waiting for their kernels (the filler thread's only)
        self._prepared: collections.deque[_Prepared] = collections.deque()
        #: a zygote started ahead (:func:`~kit.execution.warm.zygote.start_zygote`), now the pool's
        self._given_zygote = zygote
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
        if zygote is not None and zygote.hello is None and zygote.proc.poll() is None and not zygote.shared:
            zygote.proc.kill()  # still importing: nothing to wait for (the filler sees it end)
        if self._thread is not None:
            self._thread.join(30)
        elif self._given_zygote is not None:  # never started: the zygote it was given is closed here
            self._given_zygote.close()
        with self._cond:
            leftovers = list(self._ready) + list(self._in_use.values())
            self._ready.clear()
            self._in_use.clear()
        for warm in leftovers:
            warm.close()
        if self.failed_logs and self._root in self.log_dir.parents:  # keep the logs the errors name
            for entry in self._root.iterdir():
                if entry != self.log_dir and entry not in self.log_dir.parents:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(self._root, ignore_errors=True)

    def check_compatible(self, *, data_dir: str | os.PathLike | None, limits: Limits, kernel_name: str) -> None:
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
                            error = self._error
                            raise KitError(
                                "the warm pool cannot start kernels: "
                                + (error.what if isinstance(error, KitError) else f"{error!r}"),
                                where="pool",
                                fix=error.fix
                                if isinstance(error, KitError) and error.fix
                                else "run without a pool to get the kernel's own error",
                            ) from error
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
        zygote_log = self._root / "zygote.log"
        zygote: Zygote | None = None
        try:
            zygote = self._adopt_zygote()
            if zygote is not None:
                zygote_log = zygote.log_path or zygote_log
            else:
                env = _zygote_env(self._root)
                zygote = Zygote(python=self.python, preload=self.preload, env=env, log_path=zygote_log, wait=False)
            with self._cond:
                self.zygote = zygote
                closed = self._closed
                wanted = self._wanted()
            if closed and not zygote.shared:  # closed before it was even started: stop it, not wait for it
                zygote.proc.kill()
            else:  # the first sandboxes start while the zygote imports
                for _ in range(wanted):
                    try:
                        self._prepared.append(self._prepare(keep_log=False))
                    except Exception:  # noqa: BLE001 - tried again, and reported, once the zygote is ready
                        break
            hello = zygote.wait_ready()
            log.info("zygote ready in %.2f s (%d modules)", hello["seconds"], hello["modules"])
        except BaseException as exc:  # noqa: BLE001 - reported by acquire
            self._discard_prepared()
            with self._cond:
                closed = self._closed
            error = exc if closed else self._with_log(exc, zygote_log, "zygote")
            if zygote is not None:
                zygote.close()
            self._fail(error)
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
            self._discard_prepared()
            zygote.close()

    def _discard_prepared(self) -> None:
        while self._prepared:
            self._discard(self._prepared.popleft())

    def _adopt_zygote(self) -> Zygote | None:
        """The zygote given at creation, if it can fork this pool's kernels (else it is closed)."""
        given, self._given_zygote = self._given_zygote, None
        if given is None:
            return None
        if given.python == self.python and given.preload == self.preload and given.proc.poll() is None:
            return given
        log.info("the zygote started ahead does not fit this pool (%s): starting another", given.python)
        given.close()
        return None

    def _start_failed(self, exc: BaseException) -> bool:
        """Count a kernel that failed to start; True when the pool gives up (3 in a row)."""
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

    def _prepare(self, *, keep_log: bool = True) -> _Prepared:
        """Start a sandbox, empty, for a kernel the zygote will fork into it (its PID 1 holds it).

        It needs nothing of the zygote: the first ones start while the zygote still imports.
        """
        t0 = time.monotonic()
        slot = Path(tempfile.mkdtemp(prefix="slot-", dir=self.work_root))
        run = self.sandbox.open_run(slot, self.data_dir, self.limits, runtime_root=self._root)
        holder = None
        try:
            _, info = write_connection_file(
                str(run.runtime_dir / CLIENT_CONNECTION_FILE), transport="ipc", ip=str(run.runtime_dir / IPC_PREFIX)
            )
            run.write_kernel_connection_file(info)
            join_pid = None
            join_user = False
            if isinstance(self.sandbox, BubblewrapSandbox):
                holder, join_pid = self._start_holder(run)
                join_user = not self.sandbox.as_root
        except BaseException as exc:
            prepared = _Prepared(slot, run, holder, None, False, {}, t0)
            error = self._discard(prepared, exc if keep_log else None)
            if error is None or error is exc:
                raise
            raise error from exc
        return _Prepared(slot, run, holder, join_pid, join_user, info, t0)

    def _discard(self, prepared: _Prepared, exc: BaseException | None = None) -> BaseException | None:
        """Kill a sandbox that will not be used; with *exc*, that error naming the kept log."""
        holder, run = prepared.holder, prepared.run
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
        run.kill()
        error = self._with_log(exc, run.log_path, f"kernel-{run.runtime_dir.name}") if exc is not None else None
        run.close()
        shutil.rmtree(prepared.slot, ignore_errors=True)
        return error

    def _launch_one(self) -> WarmKernel:
        """Fork a kernel into a sandbox (one started ahead, or a new one); not waiting for it to answer."""
        prepared = self._prepared.popleft() if self._prepared else self._prepare()
        run = prepared.run
        try:
            request: dict[str, Any] = {
                "join_pid": prepared.join_pid,
                "join_user": prepared.join_user,
                "exit_file": str(run.runtime_dir / KERNEL_EXIT_FILE),
                "log_file": str(run.runtime_dir / KERNEL_LOG_FILE),
                "child": run.child_config(setsid=run.isolated),
                "argv": [*self._extra_kernel_args, "-f", run.kernel_connection_file, *KERNEL_ARGS],
            }
            zygote = self.zygote
            assert zygote is not None  # the filler launches kernels once the zygote is ready
            pid = zygote.spawn(request)
            warm = WarmKernel(
                run=run,
                holder=prepared.holder,
                supervisor_pid=pid,
                connection_info=prepared.info,
                kernel_name=self.kernel_name,
                started=prepared.started,
            )
            try:
                warm._pidfd = os.pidfd_open(pid)
                if _ppid(pid) != zygote.pid:  # exited and its pid reused already
                    os.close(warm._pidfd)
                    warm._pidfd = -1
                    warm._killed = True
            except (OSError, AttributeError):
                warm._pidfd = -1
        except BaseException as exc:
            error = self._discard(prepared, exc)
            if error is None or error is exc:
                raise
            raise error from exc
        return warm

    def _await_ready(self, warm: WarmKernel) -> WarmKernel:
        """Wait until a launched kernel answers; on failure its sandbox is gone and the error,
        naming the copy of its log, raised."""
        try:
            warm.wait_ready(self.ready_timeout)
        except BaseException as exc:
            warm.kill()  # its log is complete once nothing of it runs
            error = self._with_log(exc, warm.run.log_path, f"kernel-{warm.run.runtime_dir.name}")
            slot = warm.run.work_dir
            warm.close()
            shutil.rmtree(slot, ignore_errors=True)
            if error is exc:
                raise
            raise error from exc
        warm.ready_seconds = time.monotonic() - warm.started
        self.stats["started"] += 1
        self.stats["ready_seconds"].append(warm.ready_seconds)
        return warm

    def _keep_log(self, log_path: Path, name: str) -> Path | None:
        """Copy the end of a failed kernel's (or the zygote's) log to :attr:`log_dir`; its new path.

        The copy is outside any sandbox and outlives the pool; the original, in a runtime
        folder a sandbox could write to, is read without following links.
        """
        data = read_sandbox_file(log_path, KEPT_LOG_BYTES, tail=True)
        if not data:
            return None
        try:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.log_dir / f"{name}.log"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            log.warning("could not keep the log %s in %s: %s", log_path, self.log_dir, exc)
            return None
        with self._cond:
            self.failed_logs.append(path)
        return path

    def _with_log(self, exc: BaseException, log_path: Path, name: str) -> BaseException:
        """*exc* as a :class:`KitError` whose fix names the kept copy of *log_path* (*exc* if it has none)."""
        if not isinstance(exc, Exception):
            return exc  # KeyboardInterrupt, SystemExit: not a start failure
        kept = self._keep_log(log_path, name)
        what = exc.what if isinstance(exc, KitError) else f"{exc.__class__.__name__}: {exc}"
        if kept is None:
            log.warning("%s failed to start (no log): %s", name, what)
            return exc
        log.warning("%s failed to start: %s (its log: %s)", name, what, kept)
        fix = f"see its log: {kept}"
        if isinstance(exc, KitError) and exc.fix and "log" not in exc.fix:
            fix = f"{exc.fix}; {fix}"
        return KitError(what, where=exc.where if isinstance(exc, KitError) and exc.where else "pool", fix=fix)

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


@dataclass
class _Prepared:
    """A sandbox started ahead of its kernel: its work folder (slot), run, PID 1 and connection."""

    slot: Path
    run: SandboxRun
    holder: subprocess.Popen | None
    join_pid: int | None
    join_user: bool
    info: Any
    started: float


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


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
