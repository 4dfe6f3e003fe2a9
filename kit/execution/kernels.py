"""Jupyter kernel managers for sandboxed kernels (jupyter_client's side of a run).

- :func:`kernel_argv`: a kernel's own command, from its kernelspec;
- :class:`SandboxKernelManager`: an ``AsyncKernelManager`` whose kernel starts in a
  :class:`~kit.execution.sandbox.SandboxRun` (ipc transport, message interrupts, the
  kernel log in the run's runtime folder) and whose ``close()`` ends the whole run;
- :class:`SandboxProvisioner`: its provisioner, whose kill takes down the whole sandbox.

The warm kernels' manager (:class:`kit.execution.warm.WarmKernelManager`) extends it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from typing import IO, Any

import zmq.asyncio
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from ..errors import KitError
from .sandbox.base import CLIENT_CONNECTION_FILE, IPC_PREFIX, KERNEL_ARGS, SandboxRun

_CONTEXT: zmq.asyncio.Context | None = None
_CONTEXT_LOCK = threading.Lock()


def client_context() -> zmq.asyncio.Context:
    """The zmq context of every kernel client of this process (runs, readiness probes).

    jupyter_client gives each client a context of its own, whose I/O threads start with its
    first socket and are joined when it is destroyed: twice per notebook. One context, never
    destroyed by a client (its sockets are closed with their channels), starts them once.
    Sockets are not shared: each client's are used by the thread (and event loop) that runs it.
    """
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None or _CONTEXT.closed:
            _CONTEXT = zmq.asyncio.Context()
        return _CONTEXT


#: the channels a client of a sandboxed kernel needs: requests and replies, and the outputs.
#: (Its liveness is asked of its manager, not of a heartbeat; interrupts go through the
#: manager's own control socket; input() is refused without a stdin channel.)
CLIENT_CHANNELS = {"shell": True, "iopub": True, "stdin": False, "hb": False, "control": False}


def stop_channels(kc: Any) -> None:
    """Close the channels a client started.

    (jupyter_client's ``stop_channels`` asks every channel whether it is alive, which creates
    and connects the sockets of the ones never started, to close them at once.)
    """
    names = ("_shell_channel", "_iopub_channel", "_stdin_channel", "_hb_channel", "_control_channel")
    if not all(hasattr(kc, name) for name in names):  # another jupyter_client: its own way
        kc.stop_channels()
        return
    for name in names:
        channel = getattr(kc, name)
        if channel is not None and channel.is_alive():
            channel.stop()
    if getattr(kc, "_created_context", False) and not kc.context.closed:
        kc.context.destroy(linger=100)


def kernel_spec_manager(kernel_name: str) -> KernelSpecManager:
    """jupyter_client's kernelspec manager, finding *kernel_name* where its default one would.

    The default one also looks, last, in IPython's legacy folder (``~/.ipython/kernels``),
    which imports IPython (0.2 s of a grader's start) to find it. When the kernel's spec is
    in one of the Jupyter data folders, which come first, the manager is told to look there
    only: the same spec is found.
    """
    from jupyter_core.paths import jupyter_path

    dirs = jupyter_path("kernels")
    name = kernel_name.lower()
    for d in dirs:
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        if any(f.lower() == name and os.path.isfile(os.path.join(d, f, "kernel.json")) for f in entries):
            return KernelSpecManager(kernel_dirs=dirs)
    return KernelSpecManager()


def kernel_argv(kernel_name: str = "python3") -> list[str]:
    """The kernel's own command (from its kernelspec), without the connection-file argument."""
    try:
        spec = kernel_spec_manager(kernel_name).get_kernel_spec(kernel_name)
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
        self._log_fh: IO[bytes] | None = None  # the kernel's stdout and stderr (its log)

    # kernelspec: the wrapped command, message interrupts ----------------------------------
    @property
    def kernel_spec(self) -> KernelSpec | None:
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

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
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
        self.run.write_kernel_connection_file(self.get_connection_info())

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
            provisioner = self.provisioner
            if self.has_kernel and provisioner is not None:
                self.exit_code = self.kernel_exit_code()
                await provisioner.kill()
                try:
                    await asyncio.wait_for(provisioner.wait(), 5)
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
            if self._log_fh is not None:
                self._log_fh.close()

    def close_run(self) -> None:
        """Release the run's uid and runtime folder (after :meth:`close` and reading the log)."""
        self.run.close()


def _launcher_env() -> dict[str, str]:
    """Environment of the outer bwrap process itself (bwrap clears it for the sandbox)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
