"""Interim unsandboxed runner (replaced by kit.execution.runner)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import papermill as pm
from papermill.exceptions import PapermillExecutionError


@dataclass
class RunResult:
    status: str
    duration: float
    cell_index: int | None = None
    ename: str = ""
    evalue: str = ""
    traceback: str = ""
    reason: str = ""


def run_notebook(input_path, output_path, *, work_dir, data_dir, parameters, limits, sandbox="none",
                 kernel_name="python3"):
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(input_path), str(output_path), parameters=parameters, kernel_name=kernel_name,
                            cwd=str(work_dir), execution_timeout=limits.cell_seconds, progress_bar=False)
    except PapermillExecutionError as exc:
        return RunResult("failed", time.perf_counter() - t0, exc.cell_index, exc.ename, exc.evalue,
                         "\n".join(exc.traceback), f"{exc.ename}: {exc.evalue}")
    except Exception as exc:  # noqa: BLE001 - recorded, never raised past a submission
        return RunResult("failed", time.perf_counter() - t0, ename=type(exc).__name__, evalue=str(exc),
                         reason=f"{type(exc).__name__}: {exc}")
    return RunResult("ok", time.perf_counter() - t0)
