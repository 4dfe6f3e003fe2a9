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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import json
import logging
import os
import re
import signal
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import nbformat
from jupyter_core.utils import ensure_event_loop
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_hook, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError

from ..errors import ExecutionError, KitError, NotebookError
from .sandbox import get_sandbox

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Limits
    from .warm import WarmKernelPool

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "timeout", "killed"]
ENGINE_NAME = "kit"
BANNER_TAG = "kit-execution-stopped"
MB = 1024 * 1024
#: The work folder may grow by this many times ``file_size_mb`` (a disk allowance:
#: RLIMIT_FSIZE bounds one file, not how many) and hold at most this many entries.
WORK_DIR_ALLOWANCE = 10
MAX_WORK_DIR_ENTRIES = 20000
#: Extra seconds after the wall limit before the watchdog kills the sandbox (the
#: per-cell timeout normally stops the run first, at the limit itself).
WALL_GRACE_SECONDS = 3.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class RunResult:
    """What happened when a notebook ran.

    ``status``: ``ok`` (every cell ran, or the notebook stopped itself with
    ``sys.exit(0)``: see ``exited_early``), ``failed`` (a cell raised), ``timeout``
    (per-cell or wall-clock limit) or ``killed`` (the kernel died, or was killed).
    ``reason``: one sentence for a human ("memory limit (2048 MB) exceeded").
    ``duration``: seconds from the first cell to the end; ``startup_seconds``: waiting
    for a kernel (near zero with a warm pool).
    """

    status: Status
    reason: str
    duration: float
    output_path: str
    startup_seconds: float = 0.0
    cell_index: int | None = None
    ename: str = ""
    evalue: str = ""
    traceback: str = ""
    exited_early: bool = False
    output_truncated: bool = False
    kernel_exit: str = ""
    sandbox: str = ""
    warm: bool = False
    log_tail: str = ""
    kernel_cpu_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)

    def to_error(self) -> ExecutionError | None:
        """The failure as a picklable :class:`~kit.errors.ExecutionError` (None when ok)."""
        if self.ok:
            return None
        where = f"cell {self.cell_index}" if self.cell_index is not None else "kernel"
        fixes = {
            "failed": "fix the error shown in the executed notebook and hand it in again",
            "timeout": "make the notebook faster (or train a smaller model) to fit the time limits",
            "killed": "use less memory, CPU time or processes; see the limits in challenge.yml",
        }
        return ExecutionError(
            self.reason,
            where=where,
            fix=fixes[self.status],
            cell_index=self.cell_index,
            ename=self.ename,
            evalue=self.evalue,
            traceback=self.traceback,
        )

    def _repr_html_(self) -> str:
        colour = {"ok": "#1a7f37", "failed": "#cf222e", "timeout": "#9a6700", "killed": "#cf222e"}[self.status]
        rows = [
            ("status", f'<b style="color:{colour}">{self.status}</b>'),
            ("reason", html.escape(self.reason)),
            ("duration", f"{self.duration:.2f} s (+{self.startup_seconds:.2f} s kernel start)"),
            ("sandbox", html.escape(self.sandbox) + (" (warm kernel)" if self.warm else "")),
            ("executed notebook", html.escape(self.output_path)),
        ]
        if self.cell_index is not None:
            rows.append(("cell", str(self.cell_index)))
        if self.output_truncated:
            rows.append(("outputs", "truncated to the output limit"))
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>" for k, v in rows
        )
        return f"<table>{body}</table>"


# --------------------------------------------------------------------------------------
# papermill engine: nbclient with our limits, output cap and bookkeeping
# --------------------------------------------------------------------------------------
class _RunState:
    """Shared between run_notebook, the engine, the client and the watchdog of one run."""

    def __init__(self, limits: Limits, kill, work_dir: Path | None = None):
        self.limits = limits
        self.kill = kill
        self.work_dir = work_dir
        self.deadline: float | None = None
        self.nb_man = None
        self.client = None
        self.wall_bound_cells: set[int] = set()
        self.current_cell: int | None = None
        self.output_bytes = 0
        self.output_cap = int(limits.output_mb * MB * 0.95)
        self.truncated = False
        self.watchdog_fired = False
        self.disk_exceeded = ""
        self.began: float | None = None
        self.watchdog: _Watchdog | None = None

    def cell_timeout(self, cell) -> float:
        """Per-cell timeout, shortened so that no cell runs past the wall limit."""
        remaining = (self.deadline - time.monotonic()) if self.deadline else float("inf")
        per_cell = float(self.limits.cell_seconds)
        index = self.current_cell
        if remaining <= per_cell and index is not None:
            self.wall_bound_cells.add(index)
        return max(0.5, min(per_cell, remaining))

    # nbclient hooks ---------------------------------------------------------------------
    def on_notebook_start(self, **_):
        """The kernel answered: the wall clock starts now."""
        self.began = time.monotonic()
        self.deadline = self.began + float(self.limits.wall_seconds)
        self.watchdog = _Watchdog(self)
        self.watchdog.start()

    def on_cell_start(self, cell=None, cell_index=None, **_):
        self.current_cell = cell_index


class _Watchdog(threading.Thread):
    """Outside the kernel: kills the sandbox at the wall limit (+ grace), or when the work
    folder outgrows its disk allowance (rlimits bound single files, not their number)."""

    def __init__(self, state: _RunState):
        super().__init__(name="kit-run-watchdog", daemon=True)
        self.state = state
        self.stop_event = threading.Event()
        self.disk_cap = None
        if state.work_dir is not None:
            self.disk_cap = _tree_size(state.work_dir)[0] + WORK_DIR_ALLOWANCE * state.limits.file_size_mb * MB

    def cancel(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        state = self.state
        hard_deadline = state.deadline + WALL_GRACE_SECONDS
        while not self.stop_event.wait(min(1.0, max(0.0, hard_deadline - time.monotonic()))):
            if time.monotonic() >= hard_deadline:
                state.watchdog_fired = True
                log.warning("wall-clock limit of %s s exceeded: killing the sandbox", state.limits.wall_seconds)
                state.kill()
                return
            if self.disk_cap is not None:
                size, entries = _tree_size(state.work_dir, max_entries=MAX_WORK_DIR_ENTRIES)
                if size > self.disk_cap or entries > MAX_WORK_DIR_ENTRIES:
                    state.disk_exceeded = (
                        f"disk limit: the work folder grew beyond {self.disk_cap // MB} MB"
                        if size > self.disk_cap
                        else f"disk limit: more than {MAX_WORK_DIR_ENTRIES} files in the work folder"
                    )
                    log.warning("%s: killing the sandbox", state.disk_exceeded)
                    state.kill()
                    return


def _tree_size(root: Path, max_entries: int = 10**9) -> tuple[int, int]:
    """(bytes, entries) under *root*, without following links; stops counting at *max_entries*."""
    total = entries = 0
    stack = [str(root)]
    while stack and entries <= max_entries:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total, entries


class _KitNotebookClient(PapermillNotebookClient):
    """papermill's client, plus: the cell index for timeouts, and the output cap."""

    def __init__(self, nb_man, km=None, kit_state: _RunState | None = None, **kw):
        super().__init__(nb_man, km=km, **kw)
        self.kit_state = kit_state

    async def async_start_new_kernel_client(self):
        """Like nbclient's, without jupyter_client's fixed 0.2 s wait for a quiet IOPub.

        Ready means: the kernel answered ``kernel_info`` on the shell channel *and* its
        IOPub status message for that request arrived (so our subscription is live and
        no output can be lost). Takes a few milliseconds with a warm kernel.
        """
        assert self.km is not None
        try:
            self.kc = self.km.client()
            await ensure_async(self.kc.start_channels())
            await _wait_ready(self.kc, self.km, self.startup_timeout)
        except Exception:
            await self._async_cleanup_kernel()
            raise
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return self.kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        state = self.kit_state
        if out is None or state is None:
            return out
        size = len(json.dumps(out))
        if out.get("output_type") == "error":
            out["traceback"] = _cap_traceback(out.get("traceback", []))
            size = min(size, 64 * 1024)
        if state.output_bytes + size <= state.output_cap or out.get("output_type") == "error":
            state.output_bytes += size
            return out
        # over the cap: drop this output (and its display-id slot), leave one marker
        if outs and outs[-1] is out:
            outs.pop()
            if display_id:
                slots = self._display_id_map.get(display_id, {}).get(cell_index, [])
                if slots and slots[-1] == len(outs):
                    slots.pop()
        if not state.truncated:
            state.truncated = True
            outs.append(
                nbformat.v4.new_output(
                    "stream",
                    name="stderr",
                    text=f"\n[challenge-kit: further output was dropped: the outputs reached the "
                    f"output limit of {state.limits.output_mb} MB]\n",
                )
            )
        return None


async def _wait_ready(kc, km, timeout: float) -> None:
    from queue import Empty

    deadline = time.monotonic() + timeout
    sent: set[str] = set()
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        sent.add(kc.kernel_info())
        got_reply = False
        try:
            while not got_reply:
                msg = await kc.get_shell_msg(timeout=1.0)
                got_reply = msg["parent_header"].get("msg_id") in sent
        except Empty:
            if not await ensure_async(km.is_alive()):
                raise RuntimeError("Kernel died before replying to kernel_info") from None
            continue
        try:
            while True:  # its IOPub status proves that our subscription is live
                msg = await kc.get_iopub_msg(timeout=0.5)
                if msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") in sent:
                    return
        except Empty:
            continue  # the subscription was not ready yet: ask again


class KitEngine(NBClientEngine):
    """papermill engine ``kit``: NBClientEngine with kit's client and run state.

    Takes ``kit_state`` (a private :class:`_RunState`) through papermill's
    ``engine_kwargs``; without it, it behaves like the default engine.
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        kit_state: _RunState | None = None,
        **kwargs,
    ):
        kwargs.pop("input_path", None)
        kwargs.pop("timeout", None)
        kwargs.pop("startup_timeout", None)
        if kit_state is not None:
            kit_state.nb_man = nb_man
            kwargs.update(
                timeout_func=kit_state.cell_timeout,
                on_notebook_start=kit_state.on_notebook_start,
                on_cell_start=kit_state.on_cell_start,
            )
        elif execution_timeout:
            kwargs["timeout"] = execution_timeout
        client = _KitNotebookClient(
            nb_man,
            kit_state=kit_state,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=log,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **kwargs,
        )
        if kit_state is not None:
            kit_state.client = client
        try:
            return client.execute()
        finally:
            if client.kc is not None and not client.owns_km:
                try:
                    client.kc.stop_channels()
                except Exception:  # noqa: BLE001 - channels of a dead kernel
                    pass


papermill_engines.register(ENGINE_NAME, KitEngine)


# --------------------------------------------------------------------------------------
# run_notebook
# --------------------------------------------------------------------------------------
def run_notebook(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    work_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None,
    parameters: dict | None,
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
        input_path,
        output_path,
        work_dir,
        data_dir,
        parameters,
        limits,
        sandbox,
        kernel_name,
        pool,
        runtime_root,
        start_timeout,
        save_every_cell,
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
        self.km = None

    # ----------------------------------------------------------------------------------
    def execute(self) -> RunResult:
        import papermill  # noqa: F401 - imported before the kernel is taken: a batch's first runs

        #                   import it while their kernels start, not after
        nb = self._read_notebook()
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        loop = ensure_event_loop()
        t0 = time.monotonic()
        try:
            self.km = self._start_kernel(loop)
        except KitError as exc:
            state = _RunState(self.limits, lambda: None)
            self._finalize(nb, None, state, reason=f"the kernel could not be started: {exc.what}")
            raise
        result: RunResult | None = None
        error: BaseException | None = None
        try:
            run = self.km.run
            warm = getattr(self.km, "warm", None)
            watched = warm.adopted_from if warm is not None and warm.adopted_from is not None else run.work_dir
            state = _RunState(self.limits, run.kill, watched)
            params = {k: self._translate(v) for k, v in self.parameters.items()}
            try:
                _papermill_execute(
                    nb,
                    str(self.input_path),
                    str(self.output_path) if self.save_every_cell else None,
                    parameters=params,
                    kernel_name=self.kernel_name,
                    start_timeout=self.start_timeout,
                    km=self.km,
                    kit_state=state,
                )
            except Exception as exc:  # noqa: BLE001 - classified below
                error = exc
            finally:
                end = time.monotonic()
                if state.watchdog is not None:
                    state.watchdog.cancel()
                exit_info = self._kernel_exit()
                try:
                    loop.run_until_complete(self.km.close())
                except Exception:  # noqa: BLE001 - the sandbox is killed whatever happens
                    log.exception("closing the kernel manager failed; killing the sandbox")
                    run.kill()
            began = state.began if state.began is not None else end
            log_tail = run.read_log()
            result = self._classify(error, state, exit_info, end - began, began - t0, log_tail)
            self._finalize(state.nb_man.nb if state.nb_man is not None else nb, result, state)
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
    def _read_notebook(self):
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

    def _start_kernel(self, loop):
        if self.pool is not None:
            self.pool.check_compatible(data_dir=self.data_dir, limits=self.limits, kernel_name=self.kernel_name)
            return self.pool.acquire(self.work_dir, timeout=self.start_timeout).kernel_manager()
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

    def _translate(self, value):
        if isinstance(value, os.PathLike) or (isinstance(value, str) and value.startswith("/")):
            return self.km.run.to_sandbox_path(value)
        return value

    def _kernel_exit(self) -> dict | None:
        """How the kernel ended, if it did before we killed it: {'signal': n} / {'code': n}."""
        km = self.km
        info = km.run.read_exit() if hasattr(km, "run") else None
        if info:
            return info
        code = km.kernel_exit_code() if hasattr(km, "kernel_exit_code") else None
        if code is None:
            return None
        if code < 0:
            return {"signal": -code}
        if km.run.isolated and code > 128:
            return {"signal": code - 128}  # bwrap reports a signal N as 128+N
        return {"code": code}

    def _release(self) -> None:
        km = self.km
        if km is None:
            return
        if self.pool is not None:
            self.pool.release(km)
        else:
            km.close_run()

    # ----------------------------------------------------------------------------------
    def _classify(self, error, state: _RunState, exit_info, duration, startup, log_tail) -> RunResult | None:
        lim = self.limits
        base = dict(
            duration=duration,
            startup_seconds=startup,
            output_path=str(self.output_path),
            sandbox=self.sandbox.name,
            warm=self.pool is not None,
            log_tail="" if error is None or isinstance(error, PapermillExecutionError) else log_tail,
        )
        kernel_exit = _describe_exit(exit_info)
        executed = state.nb_man.nb if state.nb_man is not None else None

        def sub(index):  # cell indices as in the notebook handed in
            return _submitted_index(executed, index) if executed is not None else index

        cell = sub(state.current_cell)
        if state.disk_exceeded:
            return RunResult(
                "killed", state.disk_exceeded, cell_index=cell, ename="DiskLimit", kernel_exit=kernel_exit, **base
            )
        if state.watchdog_fired or (
            isinstance(error, CellTimeoutError) and state.current_cell in state.wall_bound_cells
        ):
            return RunResult(
                "timeout",
                f"wall-clock limit {_num(lim.wall_seconds)} s exceeded",
                cell_index=cell,
                ename="Timeout",
                kernel_exit=kernel_exit,
                **base,
            )
        if isinstance(error, CellTimeoutError):
            return RunResult(
                "timeout",
                f"cell {cell} ran longer than the per-cell limit of {_num(lim.cell_seconds)} s",
                cell_index=cell,
                ename="Timeout",
                kernel_exit=kernel_exit,
                **base,
            )
        if isinstance(error, PapermillExecutionError):
            tb = _ANSI.sub("", "\n".join(error.traceback or []))
            index = sub(error.cell_index)
            reason = _reason_for_exception(error.ename, error.evalue, tb, index, lim)
            return RunResult(
                "failed",
                reason,
                cell_index=index,
                ename=error.ename,
                evalue=error.evalue,
                traceback=tb,
                kernel_exit=kernel_exit,
                **base,
            )
        if error is not None:
            dead = isinstance(error, DeadKernelError) or exit_info is not None
            if not dead or state.began is None:
                # before the kernel answered, no participant code has run: not their failure
                return None  # infrastructure failure: raised by execute()
            return RunResult(
                "killed",
                _reason_for_death(exit_info, log_tail, lim),
                cell_index=cell,
                ename="KernelDied",
                kernel_exit=kernel_exit,
                **base,
            )
        base["log_tail"] = ""  # the kernel's own chatter matters only when it died
        exited = sub(_system_exit_cell(executed))
        if exited is not None:
            return RunResult(
                "ok",
                f"the notebook stopped itself with sys.exit() in cell {exited}; the cells after it did not run",
                cell_index=exited,
                exited_early=True,
                kernel_exit=kernel_exit,
                **base,
            )
        return RunResult("ok", "all cells ran", kernel_exit=kernel_exit, **base)

    def _finalize(
        self,
        nb,
        result: RunResult | None,
        state: _RunState,
        *,
        reason: str = "the run was interrupted by an internal error (not the notebook's fault)",
    ) -> None:
        """Write the executed notebook: banner on failure, statuses fixed, outputs capped."""
        nb = nbformat.v4.upgrade(nb) or nb
        if result is not None:
            result.output_truncated = state.truncated
        status = result.status if result is not None else "killed"
        reason = result.reason if result is not None else reason
        has_pm_banner = any("papermill-error-cell-tag" in c.get("metadata", {}).get("tags", []) for c in nb.cells)
        nb.metadata.setdefault("kit", {})
        nb.metadata["kit"]["run"] = {"status": status, "reason": reason}
        if status in ("timeout", "killed"):
            self._mark_stopped_cell(nb, state.current_cell, reason)
        if status != "ok" and not has_pm_banner:
            banner = nbformat.v4.new_markdown_cell(f"**Execution stopped ({status}): {html.escape(reason)}.**")
            banner.metadata["tags"] = [BANNER_TAG]
            nb.cells.insert(0, banner)
        text, capped = _cap_notebook(nb, self.limits.output_mb * MB)
        if capped and result is not None:
            result.output_truncated = True
        _write_atomic(text, self.output_path)

    @staticmethod
    def _mark_stopped_cell(nb, idx, reason) -> None:
        if idx is None or not (0 <= idx < len(nb.cells)):
            return
        cell = nb.cells[idx]
        if cell.cell_type == "code":
            cell.setdefault("outputs", []).append(
                nbformat.v4.new_output(
                    "error", ename="ExecutionStopped", evalue=reason, traceback=[f"ExecutionStopped: {reason}"]
                )
            )
        for j, c in enumerate(nb.cells):
            pm = c.get("metadata", {}).get("papermill")
            if pm is None:
                continue
            if j == idx:
                pm["status"] = "failed"
                pm["exception"] = True
            elif j > idx:
                pm["status"] = "pending"


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _num(x: float) -> str:
    return f"{x:g}"


def _cap_traceback(tb: list[str], max_chars: int = 32 * 1024) -> list[str]:
    total, kept = 0, []
    for line in tb:
        if total + len(line) > max_chars:
            kept.append("[challenge-kit: traceback truncated]")
            break
        kept.append(line)
        total += len(line)
    return kept


def _reason_for_exception(ename: str, evalue: str, tb: str, cell_index, lim: Limits) -> str:
    text = f"{evalue}\n{tb}"
    if (
        ename in ("MemoryError", "_ArrayMemoryError")
        or "Unable to allocate" in evalue
        or "Cannot allocate memory" in text
        or "std::bad_alloc" in text
    ):
        return f"memory limit ({lim.memory_mb} MB) exceeded in cell {cell_index}"
    if "File too large" in text or "[Errno 27]" in text:
        return f"file-size limit ({lim.file_size_mb} MB) exceeded in cell {cell_index}"
    if "can't start new thread" in text or (
        "Resource temporarily unavailable" in text
        and re.search(r"fork|Popen|_execute_child|spawn|Thread|\.start\(", tb)
    ):
        return f"process limit ({lim.processes} processes and threads) reached in cell {cell_index}"
    value = evalue if len(evalue) <= 300 else evalue[:300] + "…"
    return f"cell {cell_index} raised {ename}: {value}" if value else f"cell {cell_index} raised {ename}"


_SIGNAL_NOTES = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGXCPU: "CPU time limit",
    signal.SIGXFSZ: "file size limit",
    signal.SIGTERM: "terminated",
}


def _describe_exit(info: dict | None) -> str:
    if not info:
        return ""
    if "signal" in info:
        return f"signal {info['signal']}"
    return f"exit code {info.get('code')}"


def _reason_for_death(info: dict | None, log_tail: str, lim: Limits) -> str:
    memory_hint = any(s in log_tail for s in ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory"))
    if info and "signal" in info:
        sig = int(info["signal"])
        if sig == signal.SIGXCPU:
            return f"CPU-time limit ({_num(lim.cpu_seconds)} s) exceeded"
        if sig == signal.SIGXFSZ:
            return f"file-size limit ({lim.file_size_mb} MB) exceeded"
        if sig == signal.SIGKILL and (info.get("cpu_seconds") or 0) >= lim.cpu_seconds:
            return f"CPU-time limit ({_num(lim.cpu_seconds)} s) exceeded"  # the hard limit: SIGKILL
        note = _SIGNAL_NOTES.get(sig, "")
        text = f"kernel died (exit signal {sig}{': ' + note if note else ''})"
        if memory_hint:
            text += f"; memory limit ({lim.memory_mb} MB) exceeded"
        return text
    if info and "code" in info:
        text = f"kernel exited with code {info['code']}"
        return text + (f"; memory limit ({lim.memory_mb} MB) exceeded" if memory_hint else "")
    return "kernel died" + (f"; memory limit ({lim.memory_mb} MB) exceeded" if memory_hint else "")


def _papermill_execute(
    nb, input_path: str, output_path: str | None, *, parameters: dict, kernel_name: str, **engine_kwargs
):
    """What ``papermill.execute_notebook`` does, for a notebook already read and checked.

    The same steps, with papermill's own functions: inject the parameters, record the
    paths in the notebook's metadata, execute with the engine, raise for the first error.
    Skipped: reading the notebook again, and serializing it to a discarded string when
    there is no output path (papermill does both for an in-memory notebook: a quarter of
    the grader's time per light notebook). The input path recorded is a path, where
    papermill would record the whole in-memory notebook.
    """
    from papermill.engines import papermill_engines
    from papermill.execute import prepare_notebook_metadata, raise_for_execution_errors, remove_error_markers
    from papermill.parameterize import parameterize_notebook

    if parameters:
        nb = parameterize_notebook(nb, parameters, kernel_name=kernel_name, language="python", engine_name=ENGINE_NAME)
    nb = remove_error_markers(prepare_notebook_metadata(nb, input_path, output_path))
    nb = papermill_engines.execute_notebook_with_engine(
        ENGINE_NAME,
        nb,
        input_path=input_path,
        output_path=output_path,
        kernel_name=kernel_name,
        progress_bar=False,
        log_output=False,
        **engine_kwargs,
    )
    raise_for_execution_errors(nb, output_path)
    return nb


def _system_exit_cell(nb) -> int | None:
    if nb is None:
        return None
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if (
                out.get("output_type") == "error"
                and out.get("ename") == "SystemExit"
                and out.get("evalue") in ("", "0", "None")
            ):
                return i
    return None


def _submitted_index(nb, index: int | None) -> int | None:
    """Index of executed cell *index* in the notebook as handed in (papermill's injected
    parameters cell and the error banners are not counted)."""
    if index is None:
        return None
    banners = {"papermill-error-cell-tag", BANNER_TAG}
    real = [c for c in nb.cells if not banners & set(c.get("metadata", {}).get("tags", []))]
    for i, cell in enumerate(real):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            return index - 1 if index > i else index
    return index


def _output_size(out) -> int:
    return len(json.dumps(out))


def _cap_notebook(nb, cap_bytes: int) -> tuple[str, bool]:
    """Drop the largest outputs until the notebook fits in *cap_bytes*.

    Returns the notebook serialized (done once: it is the grader's largest per-run cost
    after the kernel's messages) and whether any output was dropped."""
    text = nbformat.writes(nb)
    total = len(text)
    if total <= cap_bytes:
        return text, False
    sized = []
    for ci, cell in enumerate(nb.cells):
        for oi, out in enumerate(cell.get("outputs", [])):
            sized.append((_output_size(out), ci, oi))
    sized.sort(reverse=True)
    drop: dict[int, set[int]] = {}
    for size, ci, oi in sized:
        if total <= cap_bytes:
            break
        drop.setdefault(ci, set()).add(oi)
        total -= size
    for ci, ois in drop.items():
        cell = nb.cells[ci]
        kept = [o for k, o in enumerate(cell.outputs) if k not in ois]
        kept.append(
            nbformat.v4.new_output(
                "stream",
                name="stderr",
                text=f"[challenge-kit: {len(ois)} output(s) removed: the executed notebook exceeded the "
                f"output limit of {cap_bytes // MB} MB]\n",
            )
        )
        cell.outputs = kept
    return nbformat.writes(nb), True


def _write_atomic(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".kit-", suffix=".ipynb", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")  # as nbformat.write does
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


__all__ = ["RunResult", "run_notebook", "KitEngine", "ENGINE_NAME"]
