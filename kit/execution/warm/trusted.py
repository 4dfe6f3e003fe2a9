"""The grader's own kernel, forked by the zygote: the hidden grading notebook's trusted kernel.

Started cold, that kernel imports ipykernel, pandas and scikit-learn (1.5 CPU-seconds), while
the zygote imports the same libraries for the participants' kernels. Forked from the zygote,
it is ready a tenth of a second after it, and the batch's start does not pay twice.

It stays what a cold one is: the grader's own process (its uid, its environment and import
path, the grading folder as working folder), in no sandbox, and shared with nothing else.
The zygote never runs participant code; each participant kernel is another fork of it, in a
sandbox of its own (other namespaces, from which this kernel cannot be seen), so nothing of
one reaches the other. It dies with its supervisor, which dies with the zygote; the zygote
lives until its last user (the pool, this kernel's manager) has closed it.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo, write_connection_file
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

from ...errors import KitError
from ..sandbox.processes import read_sandbox_file
from .kernel import ForkedProvisioner, started_kernel_spec
from .zygote import Zygote

EXIT_FILE = "kernel.exit"
LOG_FILE = "kernel.log"


def fork_trusted_kernel(zygote: Zygote, *, cwd: str | os.PathLike, kernel_args: list[str]) -> TrustedKernelManager:
    """Have *zygote* fork a kernel of the grader's own in *cwd*; its manager (started, not yet answering).

    ``kernel_args``: the kernelspec's arguments after ``-m ipykernel_launcher`` (without the
    connection file). Its runtime folder (connection file, ipc sockets, log) is removed with it.
    """
    zygote.wait_ready()
    runtime = Path(tempfile.mkdtemp(prefix="kit-scorer-"))  # short: socket paths are limited to ~100 bytes
    try:
        connection_file, info = write_connection_file(
            str(runtime / "kernel.json"), transport="ipc", ip=str(runtime / "ipc")
        )
        cwd = str(Path(cwd).resolve())
        request: dict[str, Any] = {
            "trusted": True,
            "cwd": cwd,
            # the grader's environment and import path, as a kernel it started would have them
            # (no JPY_PARENT_PID: it dies with its supervisor, not by watching its parent)
            "env": {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"},
            "sys_path": [cwd, *sys.path[1:]],
            "exit_file": str(runtime / EXIT_FILE),
            "log_file": str(runtime / LOG_FILE),
            "argv": [*kernel_args, "-f", connection_file],
        }
        pid = zygote.spawn(request)
        pidfd = os.pidfd_open(pid)
    except BaseException:
        shutil.rmtree(runtime, ignore_errors=True)
        raise
    return TrustedKernelManager(
        supervisor_pid=pid, pidfd=pidfd, runtime_dir=runtime, connection_file=connection_file, info=info
    )


class _TrustedProvisioner(ForkedProvisioner):
    """Provisioner of the trusted kernel: its supervisor's pid and pidfd, its exit file."""

    def __init__(self, *, supervisor_pid: int, pidfd: int, exit_file: Path, **kwargs: Any):
        super().__init__(**kwargs)
        self.supervisor_pid = supervisor_pid
        self.pidfd = pidfd
        self.exit_file = exit_file

    def _alive(self) -> bool:
        if self.pidfd < 0:
            return False
        ready, _, _ = select.select([self.pidfd], [], [], 0)
        return not ready

    @property
    def has_process(self) -> bool:
        return self._alive()

    def _exit_info(self) -> dict | None:
        try:
            return json.loads(read_sandbox_file(self.exit_file, 4096) or b"{}")
        except ValueError:
            return None

    def _kill(self) -> None:
        """SIGKILL the supervisor and the kernel (one process group), and wait for the supervisor."""
        if self._alive():
            try:
                os.killpg(self.supervisor_pid, signal.SIGKILL)
            except OSError:
                pass
            select.select([self.pidfd], [], [], 2.0)

    async def cleanup(self, restart: bool = False) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


class TrustedKernelManager(AsyncKernelManager):
    """Kernel manager of a trusted kernel forked by the zygote (already started).

    ``shutdown_kernel`` kills it (with its supervisor); the runtime folder is then removed by
    the caller, as for a cold kernel (the connection file's folder).
    """

    def __init__(
        self,
        *,
        supervisor_pid: int,
        pidfd: int,
        runtime_dir: Path,
        connection_file: str,
        info: KernelConnectionInfo,
        **kwargs: Any,
    ):
        super().__init__(transport="ipc", **kwargs)
        self.connection_file = connection_file
        self.load_connection_info(info)
        self.runtime_dir = runtime_dir
        self.provisioner = _TrustedProvisioner(
            supervisor_pid=supervisor_pid,
            pidfd=pidfd,
            exit_file=runtime_dir / EXIT_FILE,
            kernel_id=self.kernel_id or "trusted",
            kernel_spec=self.kernel_spec,
            parent=self,
        )

    @property
    def kernel_spec(self) -> KernelSpec | None:
        if self._kernel_spec is None:
            self._kernel_spec = started_kernel_spec(self.kernel_name, "trusted, forked by the zygote")
        return self._kernel_spec

    # jupyter_client types start_kernel as KernelManager's synchronous one; AsyncKernelManager's is a coroutine
    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        raise KitError(
            "a forked kernel is already running",
            where="TrustedKernelManager.start_kernel",
            fix="use it as is (papermill: km=...)",
        )

    def read_log(self, max_bytes: int = 4000) -> str:
        data = read_sandbox_file(self.runtime_dir / LOG_FILE, max_bytes, tail=True)
        return data.decode("utf-8", "replace") if data else ""


__all__ = ["TrustedKernelManager", "fork_trusted_kernel"]
