"""One warm kernel: forked by the zygote into a sandbox of its own, started, not yet used.

:class:`WarmKernel` is what the pool hands out; :meth:`WarmKernel.kernel_manager` gives the
jupyter_client side of it (:class:`WarmKernelManager`, an already-started
:class:`~kit.execution.kernels.SandboxKernelManager`), which papermill uses as ``km=``.
Ending it is the same as for a cold kernel: killing the sandbox's bwrap kills its PID
namespace (the forked kernel is a member), and the run's uid or PID namespace is swept.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

from ...errors import KitError
from ..kernels import SandboxKernelManager, client_context, stop_channels
from ..sandbox.base import SandboxRun
from ..sandbox.processes import _children_of


@dataclass
class WarmKernel:
    """A started, answering kernel in its own sandbox, not yet used by anyone."""

    run: SandboxRun
    holder: subprocess.Popen | None
    supervisor_pid: int
    connection_info: KernelConnectionInfo
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
                self.run.kill_pid1(reaper=self.holder)  # the PID namespace dies; bwrap reaps PID 1 and exits
                if self.holder.poll() is None:
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
            if self._pidfd >= 0:  # the supervisor records the kernel's exit status and CPU time, then exits
                select.select([self._pidfd], [], [], 2.0)
            # the sweep of the run's uid or PID namespace (what makes sure nothing is left) comes
            # once the kernel is gone: its first look at /proc then usually finds nothing
            self.run.kill()
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

    def wait_ready(self, timeout: float) -> None:
        """Wait until the kernel answers kernel_info; raise :class:`KitError` if it dies or is silent."""
        asyncio.run(self._wait_ready(timeout))

    async def _wait_ready(self, timeout: float) -> None:
        from jupyter_client.asynchronous import AsyncKernelClient

        kc = AsyncKernelClient(context=client_context())
        kc.load_connection_info(self.connection_info)
        kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)  # a reply is all it takes
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
                if not self.alive():
                    raise KitError("the warm kernel died while starting", where="pool", fix="see its log")
                if time.monotonic() > deadline:
                    raise KitError(
                        f"the warm kernel did not answer within {timeout:g} s", where="pool", fix="see its log"
                    )
        finally:
            stop_channels(kc)  # the shared context stays


class ForkedProvisioner(KernelProvisionerBase):
    """Provisioner of a kernel the zygote forked, already running under its supervisor.

    The supervisor (``supervisor_pid``) records the kernel's exit; a subclass says whether
    it is alive (:meth:`_alive`), what the exit was (:meth:`_exit_info`) and how to kill it
    (:meth:`_kill`). ``what``: how the kernel is named in the relaunch error.
    """

    what = "a forked kernel"
    relaunch_fix = "fork another one from the zygote"
    supervisor_pid: int

    def _alive(self) -> bool:
        raise NotImplementedError

    def _exit_info(self) -> dict | None:
        raise NotImplementedError

    def _kill(self) -> None:
        raise NotImplementedError

    async def poll(self) -> int | None:
        if self._alive():
            return None
        info = self._exit_info() or {}
        return -int(info["signal"]) if "signal" in info else int(info.get("code", 1))

    async def wait(self) -> int | None:
        while (ret := await self.poll()) is None:
            await asyncio.sleep(0.05)
        return ret

    async def send_signal(self, signum: int) -> None:
        if signum in (signal.SIGKILL, signal.SIGTERM):
            self._kill()
            return
        for pid in _children_of(self.supervisor_pid):  # the kernel itself
            os.kill(pid, signum)

    async def kill(self, restart: bool = False) -> None:
        self._kill()

    async def terminate(self, restart: bool = False) -> None:
        self._kill()

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        raise KitError(
            f"{self.what} is already running and cannot be relaunched",
            where=type(self.parent).__name__,
            fix=self.relaunch_fix,
        )


def started_kernel_spec(kernel_name: str, how: str) -> KernelSpec:
    """The kernelspec shown for a kernel started by other means than its manager (*how*)."""
    return KernelSpec(
        argv=[f"<{how}>"],
        display_name=f"{kernel_name} ({how})",
        language="python",
        interrupt_mode="message",
        env={},
        metadata={},
    )


class _WarmProvisioner(ForkedProvisioner):
    """Provisioner of a warm kernel: forked into its sandbox, killed with it."""

    what = "a warm kernel"
    relaunch_fix = "take another kernel from the pool"

    def __init__(self, *, warm: WarmKernel, **kwargs: Any):
        super().__init__(**kwargs)
        self.warm = warm
        self.supervisor_pid = warm.supervisor_pid

    @property
    def has_process(self) -> bool:
        return not self.warm._killed

    def _alive(self) -> bool:
        return self.warm.alive()

    def _exit_info(self) -> dict | None:
        return self.warm.run.read_exit()

    def _kill(self) -> None:
        self.warm.kill()

    async def cleanup(self, restart: bool = False) -> None:
        pass


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
    def kernel_spec(self) -> KernelSpec | None:
        if self._kernel_spec is None:
            self._kernel_spec = started_kernel_spec(self.kernel_name, "warm")
        return self._kernel_spec

    # jupyter_client types start_kernel as KernelManager's synchronous one; AsyncKernelManager's is a coroutine
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
