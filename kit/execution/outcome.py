"""What a run's outcome is, and how the executed notebook records it.

- :class:`RunResult`: status (ok, failed, timeout, killed), a one-sentence reason, the
  failing cell and its traceback, timings; picklable, with an HTML repr;
- :func:`classify`: from what stopped a run (an exception, the watchdog, the kernel's
  exit) to its :class:`RunResult`, with the reason a participant can act on (memory,
  file-size, process, CPU-time, wall-clock or per-cell limit);
- :func:`write_executed`: the executed notebook, always written, with a banner on failure,
  papermill's cell statuses fixed, and its outputs capped at ``limits.output_mb``.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from ..errors import ExecutionError

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Limits
    from .engine import RunState

Status = Literal["ok", "failed", "timeout", "killed"]
BANNER_TAG = "kit-execution-stopped"
MB = 1024 * 1024
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
    #: what stopped the run, one of :data:`FAILURE_KINDS` ("" when it ran to the end)
    kind: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def fix(self, limits: Limits | None = None) -> str:
        """What the participant can do about it: one text per :data:`FAILURE_KINDS` entry."""
        return fix_for(self.kind or ("error" if self.status == "failed" else "kernel_died"), limits)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_error(self) -> ExecutionError | None:
        """The failure as a picklable :class:`~kit.errors.ExecutionError` (None when ok)."""
        if self.ok:
            return None
        where = f"cell {self.cell_index}" if self.cell_index is not None else "kernel"
        return ExecutionError(
            self.reason,
            where=where,
            fix=self.fix(),
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


def classify(
    error: BaseException | None,
    state: RunState,
    exit_info: dict[str, Any] | None,
    *,
    limits: Limits,
    duration: float,
    startup: float,
    log_tail: str,
    output_path: str | os.PathLike,
    sandbox: str,
    warm: bool,
) -> RunResult | None:
    """The outcome of a run that ended with *error* (None: every cell ran).

    None when the run failed before any participant code ran (an infrastructure failure:
    not the participant's). *exit_info*: how the kernel ended, if it did before it was
    killed (``{"signal": n}`` or ``{"code": n}``).
    """
    lim = limits
    kept_log = "" if error is None or isinstance(error, PapermillExecutionError) else log_tail
    kernel_exit = _describe_exit(exit_info)
    executed = state.nb_man.nb if state.nb_man is not None else None

    def result(status: Status, reason: str, *, log: str = kept_log, **fields: Any) -> RunResult:
        return RunResult(
            status,
            reason,
            duration=duration,
            startup_seconds=startup,
            output_path=str(output_path),
            sandbox=sandbox,
            warm=warm,
            log_tail=log,
            kernel_exit=kernel_exit,
            **fields,
        )

    def sub(index: int | None) -> int | None:  # cell indices as in the notebook handed in
        return _submitted_index(executed, index) if executed is not None else index

    cell = sub(state.current_cell)
    if state.disk_exceeded:
        return result("killed", state.disk_exceeded, cell_index=cell, ename="DiskLimit", kind="disk")
    if state.output_exceeded and error is not None:
        return result(
            "killed",
            f"output limit ({lim.output_mb} MiB) exceeded in cell {cell}: the run was stopped",
            cell_index=cell,
            ename="OutputLimit",
            kind="output",
            log="",
        )
    if state.watchdog_fired or (isinstance(error, CellTimeoutError) and state.current_cell in state.wall_bound_cells):
        return result(
            "timeout",
            f"wall-clock limit {_num(lim.wall_seconds)} s exceeded",
            cell_index=cell,
            ename="Timeout",
            kind="wall_time",
        )
    if isinstance(error, CellTimeoutError):
        return result(
            "timeout",
            f"cell {cell} ran longer than the per-cell limit of {_num(lim.cell_seconds)} s",
            cell_index=cell,
            ename="Timeout",
            kind="cell_time",
        )
    if isinstance(error, PapermillExecutionError):
        tb = _ANSI.sub("", "\n".join(error.traceback or []))
        index = sub(error.cell_index)
        kind, reason = _reason_for_exception(error.ename, error.evalue, tb, index, lim)
        return result(
            "failed",
            reason,
            cell_index=index,
            ename=error.ename,
            evalue=error.evalue,
            traceback=tb,
            kind=kind,
        )
    if error is not None:
        dead = isinstance(error, DeadKernelError) or exit_info is not None
        if not dead or state.began is None:
            # before the kernel answered, no participant code has run: not their failure
            return None  # infrastructure failure: raised by the runner
        kind, reason = _reason_for_death(exit_info, log_tail, lim)
        return result("killed", reason, cell_index=cell, ename="KernelDied", kind=kind)
    # the kernel's own chatter matters only when it died
    exited = sub(_system_exit_cell(executed))
    if exited is not None:
        return result(
            "ok",
            f"the notebook stopped itself with sys.exit() in cell {exited}; the cells after it did not run",
            log="",
            cell_index=exited,
            exited_early=True,
        )
    return result("ok", "all cells ran", log="")


def write_executed(
    nb: Any,
    result: RunResult | None,
    state: RunState,
    *,
    limits: Limits,
    output_path: Path,
    reason: str = "the run was interrupted by an internal error (not the notebook's fault)",
) -> None:
    """Write the executed notebook: banner on failure, statuses fixed, outputs capped.

    *result* None: the run could not complete (*reason* says why). Sets the result's
    ``output_truncated``.
    """
    nb = nbformat.v4.upgrade(nb) or nb
    if result is not None:
        result.output_truncated = state.truncated
    status = result.status if result is not None else "killed"
    reason = result.reason if result is not None else reason
    has_pm_banner = any("papermill-error-cell-tag" in c.get("metadata", {}).get("tags", []) for c in nb.cells)
    nb.metadata.setdefault("kit", {})
    nb.metadata["kit"]["run"] = {"status": status, "reason": reason}
    if status in ("timeout", "killed"):
        _mark_stopped_cell(nb, state.current_cell, reason)
    if status != "ok" and not has_pm_banner:
        banner = nbformat.v4.new_markdown_cell(f"**Execution stopped ({status}): {html.escape(reason)}.**")
        banner.metadata["tags"] = [BANNER_TAG]
        nb.cells.insert(0, banner)
    text, capped = _cap_notebook(nb, limits.output_mb * MB)
    if capped and result is not None:
        result.output_truncated = True
    _write_atomic(text, output_path)


def _mark_stopped_cell(nb: Any, idx: int | None, reason: str) -> None:
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
# reasons and caps
# --------------------------------------------------------------------------------------
def _num(x: float) -> str:
    return f"{x:g}"


def cap_traceback(tb: list[str], max_chars: int = 32 * 1024) -> list[str]:
    total, kept = 0, []
    for line in tb:
        if total + len(line) > max_chars:
            kept.append("[challenge-kit: traceback truncated]")
            break
        kept.append(line)
        total += len(line)
    return kept


#: what can stop a run, each with its own fix (:func:`fix_for`)
FAILURE_KINDS = (
    "error",
    "memory",
    "file_size",
    "processes",
    "cpu_time",
    "wall_time",
    "cell_time",
    "disk",
    "output",
    "exited",
    "kernel_died",
)


def fix_for(kind: str, limits: Limits | None = None) -> str:
    """What a participant can do about a run stopped for *kind* (one of :data:`FAILURE_KINDS`)."""
    lim = limits
    mem = f" ({lim.memory_mb} MiB)" if lim else ""
    fixes = {
        "error": "run the notebook top to bottom in a fresh kernel (Kernel > Restart and Run All) and fix the "
        "first error",
        "memory": f"use less memory{mem}: load fewer columns or rows at once, use float32, or train a smaller model",
        "file_size": f"write smaller files (each at most {lim.file_size_mb} MiB)" if lim else "write smaller files",
        "processes": f"start fewer processes and threads (at most {lim.processes}): set n_jobs=1 or a small number"
        if lim
        else "start fewer processes and threads: set n_jobs=1 or a small number",
        "cpu_time": f"use less CPU time (at most {_num(lim.cpu_seconds)} s): a smaller model, fewer iterations or folds"
        if lim
        else "use less CPU time: a smaller model, fewer iterations or folds",
        "wall_time": f"make the whole notebook run in under {_num(lim.wall_seconds)} s: a smaller model, fewer "
        "iterations or folds"
        if lim
        else "make the notebook faster: a smaller model, fewer iterations or folds",
        "cell_time": f"make each cell run in under {_num(lim.cell_seconds)} s (split long work across cells, "
        "or make it faster)"
        if lim
        else "make each cell faster, or split long work across cells",
        "disk": "write less into the work folder: save only the predictions and small files",
        "output": f"print less (at most {lim.output_mb} MiB of outputs): show df.head() rather than whole tables, "
        "and turn off verbose training logs"
        if lim
        else "print less: show df.head() rather than whole tables, and turn off verbose training logs",
        "exited": "do not end the kernel yourself (os._exit, sys.exit in a worker, killing processes): let the "
        "last cell finish and write the predictions",
        "kernel_died": "the kernel stopped without an error in a cell: do not kill processes you did not start "
        "(os.kill, pkill, killing the parent); if it died while training, use less memory",
    }
    return fixes.get(kind, fixes["error"])


def _reason_for_exception(ename: str, evalue: str, tb: str, cell_index: int | None, lim: Limits) -> tuple[str, str]:
    """(the failure's kind, its reason) for an exception raised in a cell."""
    text = f"{evalue}\n{tb}"
    if (
        ename in ("MemoryError", "_ArrayMemoryError")
        or "Unable to allocate" in evalue
        or "Cannot allocate memory" in text
        or "std::bad_alloc" in text
    ):
        return "memory", f"memory limit ({lim.memory_mb} MiB) exceeded in cell {cell_index}"
    if "File too large" in text or "[Errno 27]" in text:
        return "file_size", f"file-size limit ({lim.file_size_mb} MiB) exceeded in cell {cell_index}"
    if "can't start new thread" in text or (
        "Resource temporarily unavailable" in text
        and re.search(r"fork|Popen|_execute_child|spawn|Thread|\.start\(", tb)
    ):
        return "processes", f"process limit ({lim.processes} processes and threads) reached in cell {cell_index}"
    value = evalue if len(evalue) <= 300 else evalue[:300] + "…"
    return "error", f"cell {cell_index} raised {ename}: {value}" if value else f"cell {cell_index} raised {ename}"


_SIGNAL_NOTES: dict[int, str] = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGXCPU: "CPU time limit",
    signal.SIGXFSZ: "file size limit",
    signal.SIGTERM: "terminated",
}


def _describe_exit(info: dict[str, Any] | None) -> str:
    if not info:
        return ""
    if "signal" in info:
        return f"signal {info['signal']}"
    return f"exit code {info.get('code')}"


def _reason_for_death(info: dict[str, Any] | None, log_tail: str, lim: Limits) -> tuple[str, str]:
    """(the failure's kind, its reason) for a kernel that died or was killed between cells' errors."""
    memory_hint = any(s in log_tail for s in ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory"))
    memory = f"memory limit ({lim.memory_mb} MiB) exceeded"
    if info and "signal" in info:
        sig = int(info["signal"])
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and (info.get("cpu_seconds") or 0) >= lim.cpu_seconds):
            return "cpu_time", f"CPU-time limit ({_num(lim.cpu_seconds)} s) exceeded"  # SIGKILL: the hard limit
        if sig == signal.SIGXFSZ:
            return "file_size", f"file-size limit ({lim.file_size_mb} MiB) exceeded"
        note = _SIGNAL_NOTES.get(sig, "")
        text = f"kernel died (exit signal {sig}{': ' + note if note else ''})"
        return ("memory", f"{text}; {memory}") if memory_hint else ("kernel_died", text)
    if info and "code" in info:
        text = f"kernel exited with code {info['code']}"
        return ("memory", f"{text}; {memory}") if memory_hint else ("exited", text)
    return ("memory", f"kernel died; {memory}") if memory_hint else ("kernel_died", "kernel died")


def _system_exit_cell(nb: Any) -> int | None:
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


def _submitted_index(nb: Any, index: int | None) -> int | None:
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


def _output_size(out: Any) -> int:
    return len(json.dumps(out))


def _cap_notebook(nb: Any, cap_bytes: int) -> tuple[str, bool]:
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
                f"output limit of {cap_bytes // MB} MiB]\n",
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
