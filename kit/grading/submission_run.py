"""Run one submission's notebook, label-blind, and collect what it produced.

(:mod:`kit.execution` runs a notebook in a sandbox; this module runs a *submission*: it
lays out the work folder, passes the parameters, and collects the predictions; the
executors of :mod:`kit.grading.executors` decide where it runs.)

The notebook runs in a fresh work folder that holds only participant-visible
data (train, test, sample submission, the public spec): never the labels. The
grader gives it two parameters, ``data_dir`` and ``predictions_path``. After the
run, the executed notebook, the predictions and the captured output are kept in
the submission's run folder; the work folder is removed.

Everything here is plain data in and out, so an executor can run it in a
thread, a process pool or on a Dask worker.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..ledger import utcnow
from .clientlog import submission_context

MiB = 1024 * 1024

PREDICTIONS_NAME = "predictions.csv"


@dataclass
class RunOutcome:
    submission_id: int
    status: str  # "ok" | "failed"
    started_at: str
    duration_s: float
    run_dir: str
    executed_path: str | None = None
    predictions_path: str | None = None
    output_path: str | None = None
    error: dict | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def notebook_runner():
    from ..execution.runner import run_notebook  # imported when used: it pulls in papermill and nbclient

    return run_notebook


def prepare_data_dir(dest: Path, public_files: dict, spec_path: Path) -> Path:
    """One label-blind data folder for a batch: copies of the participant-visible files
    and the public spec, read-only. Participant notebooks see it (read-only) as ``data_dir``."""
    dest.mkdir(parents=True, exist_ok=False)
    for src in [*public_files.values(), spec_path]:
        dst = dest / Path(src).name
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o444)
    os.chmod(dest, 0o555)
    for parent in (dest.parent, dest.parent.parent):  # the sandbox's uid must be able to reach it
        os.chmod(parent, os.stat(parent).st_mode | 0o005)
    return dest


def remove_data_dir(path: Path) -> None:
    """Remove a folder made read-only for the sandbox (or a work folder a killed run left)."""
    if path.exists():
        for d in [path, *(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink())]:
            try:
                os.chmod(d, 0o755)
            except OSError:
                pass
        shutil.rmtree(path, ignore_errors=True)


def collect_file(src: Path, dst: Path, limit: int) -> tuple[bool, str]:
    """Copy a file the notebook wrote, refusing links, folders and oversize files."""
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return False, "missing"
    if stat.S_ISLNK(st.st_mode):
        return False, "is a symbolic link (links are not followed)"
    if not stat.S_ISREG(st.st_mode):
        return False, "is not a regular file"
    if st.st_size > limit:
        return False, f"is {st.st_size / MiB:.1f} MiB, over the {limit / MiB:.0f} MiB limit"
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f, open(dst, "wb") as out:
        shutil.copyfileobj(f, out)
    return True, ""


def captured_output(executed_path: Path, limit: int) -> str:
    """The text a notebook printed (streams and errors), capped at ``limit`` bytes."""
    try:  # plain JSON: the grader wrote it; validating it again would only cost time
        cells = json.loads(Path(executed_path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return ""
    parts, size = [], 0
    for cell in cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                text = "".join(text) if isinstance(text, list) else text
            elif out.get("output_type") == "error":
                text = f"{out.get('ename')}: {out.get('evalue')}\n"
            else:
                continue
            parts.append(text)
            size += len(text)
            if size > limit:
                return "".join(parts)[:limit] + "\n[output truncated]\n"
    return "".join(parts)


def run_submission(
    *,
    submission_id: int,
    notebook_path: str,
    run_dir: str,
    data_dir: str,
    limits: dict,
    sandbox: str,
    scratch_dir: str,
    kernel_name: str = "python3",
    pool=None,
) -> RunOutcome:
    """Run a stored notebook in a fresh work folder against the batch's read-only data folder.

    Never raises for the participant's errors: they are in the outcome. ``pool`` is an
    optional :class:`~kit.execution.warm.WarmKernelPool` (same data folder and limits).
    """
    with submission_context(submission_id):  # what the kernel clients log names this submission
        from ..challenge import Limits

        lim = Limits(**limits)
        run = Path(run_dir)
        run.mkdir(parents=True, exist_ok=True)
        started, t0 = utcnow(), time.perf_counter()
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"sub{submission_id}-", dir=scratch_dir))
        nb = work / "submission.ipynb"
        shutil.copyfile(notebook_path, nb)
        outcome = RunOutcome(
            submission_id=submission_id, status="ok", started_at=started, duration_s=0.0, run_dir=str(run)
        )
        try:
            executed = run / "executed.ipynb"
            result = notebook_runner()(
                nb,
                executed,
                work_dir=work,
                data_dir=data_dir,
                parameters={"data_dir": str(data_dir), "predictions_path": str(work / PREDICTIONS_NAME)},
                limits=lim,
                sandbox=sandbox,
                kernel_name=kernel_name,
                save_every_cell=False,
                **({"pool": pool} if pool is not None else {}),
            )
            if executed.exists():
                outcome.executed_path = str(executed)
                out_txt = run / "output.txt"
                out_txt.write_text(captured_output(executed, lim.output_mb * MiB), encoding="utf-8")
                outcome.output_path = str(out_txt)
            outcome.details["run_seconds"] = round(result.duration, 3)
            if result.status != "ok":
                outcome.status = "failed"
                outcome.error = {
                    "kind": result.kind or ("execution" if result.status == "failed" else result.status),
                    "what": result.reason or f"{result.ename}: {result.evalue}",
                    "where": f"cell {result.cell_index}" if result.cell_index is not None else "",
                    "fix": result.fix(lim),
                    "cell_index": result.cell_index,
                    "ename": result.ename,
                    "evalue": result.evalue,
                    "traceback": result.traceback,
                }
                return outcome
            ok, why = collect_file(work / PREDICTIONS_NAME, run / PREDICTIONS_NAME, lim.file_size_mb * MiB)
            if not ok:
                outcome.status = "failed"
                outcome.error = {
                    "kind": "no-predictions",
                    "what": (
                        "the notebook ran to the end but wrote no predictions at predictions_path"
                        if why == "missing"
                        else f"the predictions file {why}"
                    ),
                    "where": "predictions_path",
                    "fix": "write the predictions with DataFrame.to_csv(predictions_path, index=False) "
                    "and do not stop the notebook early",
                }
                return outcome
            outcome.predictions_path = str(run / PREDICTIONS_NAME)
            return outcome
        finally:
            outcome.duration_s = round(time.perf_counter() - t0, 3)
            shutil.rmtree(work, ignore_errors=True)
