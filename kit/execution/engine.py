"""papermill's engine ``kit``: nbclient with the kit's limits, output cap and bookkeeping.

- :class:`RunState`: what the runner, the engine, the client and the watchdog of one run
  share (limits, deadline, current cell, output bytes, what stopped the run);
- :class:`KitEngine`: papermill engine ``kit`` (registered on import), papermill's
  ``NBClientEngine`` with :class:`KitNotebookClient` and a run state;
- :class:`KitNotebookClient`: papermill's client, plus the per-cell timeout cut to the
  wall limit, the output cap, and a readiness check without jupyter_client's fixed wait;
- :class:`Watchdog`: outside the kernel, kills the sandbox at the wall limit or when the
  work folder outgrows its disk allowance;
- :func:`papermill_execute`: papermill's steps on a notebook already read and checked.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
from nbclient.util import ensure_async, run_hook, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines

from .outcome import MB, cap_traceback

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Limits

log = logging.getLogger(__name__)

ENGINE_NAME = "kit"
#: The work folder may grow by this many times ``file_size_mb`` (a disk allowance:
#: RLIMIT_FSIZE bounds one file, not how many) and hold at most this many entries.
WORK_DIR_ALLOWANCE = 10
MAX_WORK_DIR_ENTRIES = 20000
#: Extra seconds after the wall limit before the watchdog kills the sandbox (the
#: per-cell timeout normally stops the run first, at the limit itself).
WALL_GRACE_SECONDS = 3.0


class RunState:
    """Shared between run_notebook, the engine, the client and the watchdog of one run."""

    def __init__(self, limits: Limits, kill: Callable[[], None], work_dir: Path | None = None):
        self.limits = limits
        self.kill = kill
        self.work_dir = work_dir
        self.deadline: float | None = None
        self.nb_man: Any = None  # papermill's NotebookExecutionManager, once the engine runs
        self.client: KitNotebookClient | None = None
        self.wall_bound_cells: set[int] = set()
        self.current_cell: int | None = None
        self.output_bytes = 0
        self.output_cap = int(limits.output_mb * MB * 0.95)
        self.truncated = False
        self.watchdog_fired = False
        self.disk_exceeded = ""
        self.output_exceeded = False  # the outputs outgrew the output limit: the run was stopped
        self.began: float | None = None
        self.watchdog: Watchdog | None = None

    def cell_timeout(self, cell: Any) -> float:
        """Per-cell timeout, shortened so that no cell runs past the wall limit."""
        remaining = (self.deadline - time.monotonic()) if self.deadline else float("inf")
        per_cell = float(self.limits.cell_seconds)
        index = self.current_cell
        if remaining <= per_cell and index is not None:
            self.wall_bound_cells.add(index)
        return max(0.5, min(per_cell, remaining))

    # nbclient hooks ---------------------------------------------------------------------
    def on_notebook_start(self, **_: Any) -> None:
        """The kernel answered: the wall clock starts now."""
        self.began = time.monotonic()
        self.deadline = self.began + float(self.limits.wall_seconds)
        self.watchdog = Watchdog(self, self.deadline)
        self.watchdog.start()

    def on_cell_start(self, cell: Any = None, cell_index: int | None = None, **_: Any) -> None:
        self.current_cell = cell_index


class Watchdog(threading.Thread):
    """Outside the kernel: kills the sandbox at the wall limit (+ grace), or when the work
    folder outgrows its disk allowance (rlimits bound single files, not their number)."""

    def __init__(self, state: RunState, deadline: float):
        super().__init__(name="kit-run-watchdog", daemon=True)
        self.state = state
        self.deadline = deadline
        self.stop_event = threading.Event()
        self.disk_root = state.work_dir
        self.disk_cap: int | None = None
        if self.disk_root is not None:
            self.disk_cap = _tree_size(self.disk_root)[0] + WORK_DIR_ALLOWANCE * state.limits.file_size_mb * MB

    def cancel(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        state = self.state
        hard_deadline = self.deadline + WALL_GRACE_SECONDS
        while not self.stop_event.wait(min(1.0, max(0.0, hard_deadline - time.monotonic()))):
            if time.monotonic() >= hard_deadline:
                state.watchdog_fired = True
                log.warning("wall-clock limit of %s s exceeded: killing the sandbox", state.limits.wall_seconds)
                state.kill()
                return
            if self.disk_root is not None and self.disk_cap is not None:
                size, entries = _tree_size(self.disk_root, max_entries=MAX_WORK_DIR_ENTRIES)
                if size > self.disk_cap or entries > MAX_WORK_DIR_ENTRIES:
                    state.disk_exceeded = (
                        f"disk limit: the work folder grew beyond {self.disk_cap // MB} MiB"
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


class KitNotebookClient(PapermillNotebookClient):
    """papermill's client, plus: the cell index for timeouts, and the output cap."""

    def __init__(self, nb_man: Any, km: Any = None, kit_state: RunState | None = None, **kw: Any):
        super().__init__(nb_man, km=km, **kw)
        self.kit_state = kit_state

    async def async_start_new_kernel_client(self) -> Any:
        """Like nbclient's, without jupyter_client's fixed 0.2 s wait for a quiet IOPub, with
        the process's one zmq context and only the channels a run uses (:data:`CLIENT_CHANNELS
        <kit.execution.kernels.CLIENT_CHANNELS>`).

        Ready means: the kernel answered ``kernel_info`` on the shell channel *and* its
        IOPub status message for that request arrived (so our subscription is live and
        no output can be lost). Takes a few milliseconds with a warm kernel.
        """
        assert self.km is not None
        from .kernels import CLIENT_CHANNELS, client_context

        try:
            self.kc = self.km.client(context=client_context())
            await ensure_async(self.kc.start_channels(**CLIENT_CHANNELS))
            await _wait_ready(self.kc, self.km, self.startup_timeout)
        except Exception:
            await self._async_cleanup_kernel()
            raise
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return self.kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        out = super().output(outs, msg, display_id, cell_index)
        state = self.kit_state
        if out is None or state is None:
            return out
        size = len(json.dumps(out))
        if out.get("output_type") == "error":
            out["traceback"] = cap_traceback(out.get("traceback", []))
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
                    text=f"\n[challenge-kit: the run was stopped: its outputs reached the "
                    f"output limit of {state.limits.output_mb} MiB]\n",
                )
            )
            # stop the run here, not at the wall limit: a flooding cell would keep running unseen
            state.output_exceeded = True
            log.warning(
                "output limit (%s MiB) exceeded in cell %s: stopping the run", state.limits.output_mb, cell_index
            )
            state.kill()
        return None


async def _wait_ready(kc: Any, km: Any, timeout: float) -> None:
    """Until the kernel answered ``kernel_info`` and our IOPub subscription is live."""
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

    Takes ``kit_state`` (a :class:`RunState`) through papermill's
    ``engine_kwargs``; without it, it behaves like the default engine.
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: float = 60,
        execution_timeout: float | None = None,
        kit_state: RunState | None = None,
        **kwargs: Any,
    ) -> Any:
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
        client = KitNotebookClient(
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
                from .kernels import stop_channels

                try:
                    stop_channels(client.kc)
                except Exception:  # noqa: BLE001 - channels of a dead kernel
                    pass


papermill_engines.register(ENGINE_NAME, KitEngine)


def papermill_execute(
    nb: Any,
    input_path: str,
    output_path: str | None,
    *,
    parameters: dict[str, Any],
    kernel_name: str,
    **engine_kwargs: Any,
) -> Any:
    """What ``papermill.execute_notebook`` does, for a notebook already read and checked.

    The same steps, with papermill's own functions: inject the parameters, record the
    paths in the notebook's metadata, execute with the engine, raise for the first error.
    Skipped: reading the notebook again, and serializing it to a discarded string when
    there is no output path (papermill does both for an in-memory notebook: a quarter of
    the grader's time per light notebook). The input path recorded is a path, where
    papermill would record the whole in-memory notebook.
    """
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
