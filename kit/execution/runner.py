"""Run one participant notebook with papermill, in a sandbox, under limits.

:func:`run_notebook` is the whole job: start (or take a pre-warmed) kernel in the
sandbox, execute the notebook with papermill against that kernel (``km=``), enforce
the per-cell limit (nbclient's timeout) and the whole-notebook wall limit (from
outside the kernel: the sandbox is killed), always write the executed notebook (also
on failure, with its outputs capped at ``limits.output_mb``), make sure nothing of the
run survives, and say what happened in a :class:`RunResult`.

It never uses papermill's ``cwd=`` (``os.chdir``, not thread-safe): the kernel starts
in the work folder. It is safe to call from several threads and processes at once:
each call has its own event loop, kernel manager, sandbox, uid and ipc sockets.

The work is shared with :mod:`.engine` (papermill's engine ``kit``: limits, output cap,
watchdog) and :mod:`.outcome` (:class:`RunResult`, the reasons, the executed notebook).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_event_loop

from ..errors import KitError, NotebookError
from .engine import ENGINE_NAME, KitEngine, RunState, papermill_execute
from .outcome import RunResult, classify, write_executed
from .sandbox import Sandbox, get_sandbox

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Limits
    from .kernels import SandboxKernelManager
    from .warm import WarmKernelManager, WarmKernelPool

log = logging.getLogger(__name__)


def run_notebook(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    work_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None,
    parameters: dict[str, Any] | None,
    limits: Limits,
    sandbox: str = "bubblewrap",
    kernel_name: str = "python3",
    pool: WarmKernelPool | None = None,
    runtime_root: str | os.PathLike | None = None,
    start_timeout: float = 60,
    save_every_cell: bool = True,
) -> RunResult:
    """Execute the notebook *input_path* in a sandbox; write it executed to *output_path*.

    * The kernel starts in *work_dir* (read-write; the notebook's cwd) and sees
      *data_dir* read-only. With the ``bubblewrap`` sandbox they appear as
      ``/sandbox/work`` and ``/sandbox/data``: every parameter value that is a path
      inside *work_dir* or *data_dir* is translated (``predictions_path=<work_dir>/p.csv``
      reaches the notebook as ``/sandbox/work/p.csv``); other values pass unchanged.
    * ``limits.cell_seconds`` per cell, ``limits.wall_seconds`` for the whole notebook
      (kernel start-up excluded), enforced from outside the kernel; memory, CPU,
      processes and file size by the sandbox.
    * *output_path* is always written, also on failure; outputs beyond
      ``limits.output_mb`` are dropped with a visible marker.
    * *pool*: a :class:`~kit.execution.warm.WarmKernelPool` to take a pre-warmed kernel
      from (its data folder, limits and sandbox must match); without it a fresh kernel
      is started ("cold").
    * *save_every_cell*: let papermill save the notebook after every cell (nothing is
      lost if the grader dies mid-run); False saves only at the end (less I/O).

    Returns a :class:`RunResult`. Raises :class:`~kit.errors.NotebookError` when the file
    is not a notebook or has parameters but no cell tagged ``parameters``, and
    :class:`~kit.errors.KitError` when the kernel itself cannot be started (an
    infrastructure failure, not the participant's).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # called from a running event loop (e.g. inside Jupyter): run in a thread of our own
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kit-run") as ex:
            return ex.submit(
                run_notebook,
                input_path,
                output_path,
                work_dir=work_dir,
                data_dir=data_dir,
                parameters=parameters,
                limits=limits,
                sandbox=sandbox,
                kernel_name=kernel_name,
                pool=pool,
                runtime_root=runtime_root,
                start_timeout=start_timeout,
                save_every_cell=save_every_cell,
            ).result()
    return _Run(
        input_path,
        output_path,
        work_dir,
        data_dir,
        parameters or {},
        limits,
        sandbox,
        kernel_name,
        pool,
        runtime_root,
        start_timeout,
        save_every_cell,
    ).execute()


class _Run:
    def __init__(
        self,
        input_path: str | os.PathLike,
        output_path: str | os.PathLike,
        work_dir: str | os.PathLike,
        data_dir: str | os.PathLike | None,
        parameters: dict[str, Any],
        limits: Limits,
        sandbox: str | Sandbox,
        kernel_name: str,
        pool: WarmKernelPool | None,
        runtime_root: str | os.PathLike | None,
        start_timeout: float,
        save_every_cell: bool,
    ):
        self.input_path = Path(input_path).absolute()
        self.output_path = Path(output_path).absolute()
        self.work_dir = Path(work_dir).absolute()
        self.data_dir = Path(data_dir).absolute() if data_dir is not None else None
        self.parameters = parameters
        self.limits = limits
        self.sandbox = pool.sandbox if pool is not None else get_sandbox(sandbox)
        self.kernel_name = kernel_name
        self.pool = pool
        self.runtime_root = runtime_root
        self.start_timeout = start_timeout
        self.save_every_cell = save_every_cell
        self.km: SandboxKernelManager | None = None
        self.warm_km: WarmKernelManager | None = None  # the same manager, when taken from the pool

    # ----------------------------------------------------------------------------------
    def execute(self) -> RunResult:
        import papermill  # noqa: F401 - imported before the kernel is taken: a batch's first runs

        #                   import it while their kernels start, not after
        nb = self._read_notebook()
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        loop = ensure_event_loop()
        t0 = time.monotonic()
        try:
            km = self.km = self._start_kernel(loop)
        except KitError as exc:
            state = RunState(self.limits, lambda: None)
            write_executed(
                nb,
                None,
                state,
                limits=self.limits,
                output_path=self.output_path,
                reason=f"the kernel could not be started: {exc.what}",
            )
            raise
        result: RunResult | None = None
        error: BaseException | None = None
        try:
            run = km.run
            warm = self.warm_km.warm if self.warm_km is not None else None
            watched = warm.adopted_from if warm is not None and warm.adopted_from is not None else run.work_dir
            state = RunState(self.limits, run.kill, watched)
            params = {k: self._translate(v) for k, v in self.parameters.items()}
            try:
                papermill_execute(
                    nb,
                    str(self.input_path),
                    str(self.output_path) if self.save_every_cell else None,
                    parameters=params,
                    kernel_name=self.kernel_name,
                    start_timeout=self.start_timeout,
                    km=km,
                    kit_state=state,
                )
            except Exception as exc:  # noqa: BLE001 - classified below
                error = exc
            finally:
                end = time.monotonic()
                if state.watchdog is not None:
                    state.watchdog.cancel()
                exit_info = self._kernel_exit(km)
                try:
                    loop.run_until_complete(km.close())
                except Exception:  # noqa: BLE001 - the sandbox is killed whatever happens
                    log.exception("closing the kernel manager failed; killing the sandbox")
                    run.kill()
            began = state.began if state.began is not None else end
            result = classify(
                error,
                state,
                exit_info,
                limits=self.limits,
                duration=end - began,
                startup=began - t0,
                log_tail=run.read_log(),
                output_path=self.output_path,
                sandbox=self.sandbox.name,
                warm=self.pool is not None,
            )
            executed = state.nb_man.nb if state.nb_man is not None else nb
            write_executed(executed, result, state, limits=self.limits, output_path=self.output_path)
            if result is not None:
                result.kernel_cpu_seconds = (run.read_exit() or {}).get("cpu_seconds")
        finally:
            self._release()
        if result is None:  # infrastructure failure, already recorded in the notebook
            raise KitError(
                f"the run could not be completed: {error!r}",
                where=str(self.input_path),
                fix="this is not the participant's fault: retry the run; if it persists, check the grader's log",
            ) from error
        return result

    # ----------------------------------------------------------------------------------
    def _read_notebook(self) -> Any:
        try:
            from papermill.iorw import load_notebook_node

            nb = load_notebook_node(str(self.input_path))  # nbformat's reader, with papermill's metadata
        except FileNotFoundError:
            raise NotebookError(
                "the notebook file does not exist",
                where=str(self.input_path),
                fix="check the path of the submitted notebook",
            ) from None
        except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
            raise NotebookError(
                f"the file is not a readable Jupyter notebook ({exc.__class__.__name__}: {str(exc)[:200]})",
                where=str(self.input_path),
                fix="hand in the .ipynb file saved by Jupyter (File > Save Notebook)",
            ) from exc
        if self.parameters and not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
            raise NotebookError(
                "no cell is tagged 'parameters'",
                where=str(self.input_path),
                fix="tag the cell that defines "
                + ", ".join(sorted(self.parameters))
                + " with 'parameters' (as in the starter notebook)",
            )
        return nb

    def _start_kernel(self, loop: asyncio.AbstractEventLoop) -> SandboxKernelManager:
        if self.pool is not None:
            self.pool.check_compatible(data_dir=self.data_dir, limits=self.limits, kernel_name=self.kernel_name)
            self.warm_km = self.pool.acquire(self.work_dir, timeout=self.start_timeout).kernel_manager()
            return self.warm_km
        km = self.sandbox.kernel_manager(
            self.work_dir, self.data_dir, self.limits, self.kernel_name, runtime_root=self.runtime_root
        )
        try:
            loop.run_until_complete(km.start_kernel())
        except BaseException as exc:
            log_tail = km.run.read_log()
            loop.run_until_complete(km.close())
            km.close_run()
            raise KitError(
                f"the kernel could not be started in sandbox {self.sandbox.name!r}: {exc}",
                where=f"kernel {self.kernel_name!r}",
                fix="check the sandbox (kit.execution.sandbox.get_sandbox(name).check()) "
                f"and the kernel log: {log_tail[-500:]!r}",
            ) from exc
        return km

    def _translate(self, value: Any) -> Any:
        if self.km is not None and (
            isinstance(value, os.PathLike) or (isinstance(value, str) and value.startswith("/"))
        ):
            return self.km.run.to_sandbox_path(value)
        return value

    @staticmethod
    def _kernel_exit(km: SandboxKernelManager) -> dict[str, Any] | None:
        """How the kernel ended, if it did before we killed it: {'signal': n} / {'code': n}."""
        info = km.run.read_exit()
        if info:
            return info
        code = km.kernel_exit_code()
        if code is None:
            return None
        if code < 0:
            return {"signal": -code}
        if km.run.isolated and code > 128:
            return {"signal": code - 128}  # bwrap reports a signal N as 128+N
        return {"code": code}

    def _release(self) -> None:
        if self.pool is not None and self.warm_km is not None:
            self.pool.release(self.warm_km)
        elif self.km is not None:
            self.km.close_run()


__all__ = ["ENGINE_NAME", "KitEngine", "RunResult", "run_notebook"]
