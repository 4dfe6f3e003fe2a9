"""Running the hidden grading notebook: once per batch, by papermill, in a trusted kernel.

Cold: papermill starts a kernel for the batch and stops it after. Warm (for a
long-running grader, `kit watch`): one trusted kernel is started ahead, in the
grading folder, with the scoring libraries imported, and papermill executes every
batch's grading notebook in it (``km=``), so a batch of one is scored in a fraction
of a second. Participant code never runs in this kernel: it only reads parsed
prediction files.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

from ..challenge import Challenge
from ..errors import GradingError

WARM_IMPORTS = "import json, pandas, numpy, sklearn.metrics, nbformat, kit.grading.scoring, kit.challenge"


class Scorer:
    def __init__(self, challenge: Challenge, base: Path, *, warm: bool = False, kernel_name: str = "python3"):
        self.ch = challenge
        self.base = Path(base)
        self.kernel_name = kernel_name
        self.km = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.warm = warm
        if warm:
            threading.Thread(target=self._start_warm, name="kit-scorer", daemon=True).start()
        else:
            self._ready.set()

    def _new_kernel(self):
        """A trusted kernel in the grading folder, over IPC (no TCP port to collide or to expose)."""
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync
        km = AsyncKernelManager(kernel_name=self.kernel_name, transport="ipc")
        run = Path(tempfile.mkdtemp(prefix="kit-scorer-"))  # short: socket paths are limited to ~100 bytes
        km.connection_file = str(run / "kernel.json")
        km.ip = str(run / "ipc")
        run_sync(km.start_kernel)(cwd=str(self.ch.grading_dir))
        return km

    def _start_warm(self) -> None:
        try:
            from jupyter_client.blocking import BlockingKernelClient
            km = self._new_kernel()
            kc = BlockingKernelClient(connection_file=km.connection_file)
            kc.load_connection_file()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=60)
                kc.execute_interactive(WARM_IMPORTS, silent=True, timeout=120)
            finally:
                kc.stop_channels()
            self.km = km
        except BaseException as exc:  # noqa: BLE001 - reported at the first score()
            self._error = exc
        finally:
            self._ready.set()

    def _kernel(self):
        self._ready.wait()
        from jupyter_core.utils import run_sync
        if self.km is not None and not run_sync(self.km.is_alive)():
            self.km = None  # died: this batch runs cold
        return self.km

    def score(self, manifest: list[dict]) -> dict:
        """One papermill run of the grading notebook over ``manifest``; returns results by key."""
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        batch = self.base / "batches" / stamp
        batch.mkdir(parents=True, exist_ok=True)
        manifest_path = batch / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        results_path = batch / "results.json"
        km = self._kernel()
        own = km is None
        if own:
            km = self._new_kernel()
        import kit.execution.runner  # noqa: F401 - registers papermill's "kit" engine (quick kernel readiness)
        try:
            pm.execute_notebook(
                str(self.ch.grade_notebook), str(batch / "grade.ipynb"), progress_bar=False, km=km,
                engine_name="kit", request_save_on_cell_execute=False,
                parameters={"spec_path": str(self.ch.spec_path), "labels_path": str(self.ch.path("labels")),
                            "manifest_path": str(manifest_path), "results_path": str(results_path)})
        except PapermillExecutionError as exc:
            raise GradingError(f"the hidden grading notebook failed: {exc.ename}: {exc.evalue}",
                               where=str(batch / "grade.ipynb"),
                               fix="open the executed grading notebook to see the error; no submission was lost: "
                                   "run `kit grade` again once it is fixed") from None
        finally:
            if own:
                _shutdown(km)
        try:
            return json.loads(results_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GradingError("the hidden grading notebook wrote no results", where=str(self.ch.grade_notebook),
                               fix="make it call score_batch(..., results_path)") from None

    def close(self) -> None:
        self._ready.wait()
        if self.km is not None:
            try:
                _shutdown(self.km)
            finally:
                self.km = None


def _shutdown(km) -> None:
    from jupyter_core.utils import run_sync
    try:
        run_sync(km.shutdown_kernel)(now=True)
    finally:
        shutil.rmtree(Path(km.connection_file).parent, ignore_errors=True)
