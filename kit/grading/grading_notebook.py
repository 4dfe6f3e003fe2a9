"""Running the hidden grading notebook: once per batch, by papermill, in a trusted kernel.

Cold: papermill starts a kernel for the batch and stops it after. Warm (for a
long-running grader, `kit watch`): one trusted kernel is started ahead, in the
grading folder, with the scoring libraries imported, and papermill executes every
batch's grading notebook in it (``km=``), so a batch of one is scored in a fraction
of a second. Participant code never runs in this kernel: it only reads parsed
prediction files.

A run starts with the batch's first predictions and is fed the others as their
notebooks finish (:class:`ScoringRun`, a JSON-lines manifest), so scoring overlaps
the notebook runs and only the last submissions are scored after them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from ..challenge import Challenge
from ..errors import GradingError
from ..workspace import Workspace, stamp

WARM_IMPORTS = "import json, pandas, numpy, sklearn.metrics, kit.scoring, kit.challenge"


class GradingNotebook:
    """The hidden grading notebook of a challenge, run by papermill in a trusted kernel.

    ``warm``: start that kernel now, in the background, with the scoring libraries imported
    (a session that grades several batches, or a batch whose notebooks run meanwhile).
    """

    def __init__(self, challenge: Challenge, workspace: Workspace, *, warm: bool = False, kernel_name: str = "python3"):
        self.ch = challenge
        self.workspace = workspace
        self.kernel_name = kernel_name
        self.km = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._starting = None  # the warm kernel while its imports run
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
            with self._lock:
                if self._closed:  # the session ended while the kernel started
                    _shutdown(km)
                    return
                self._starting = km
            kc = BlockingKernelClient(connection_file=km.connection_file)
            kc.load_connection_file()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=60)
                kc.execute_interactive(WARM_IMPORTS, silent=True, timeout=120)
            finally:
                kc.stop_channels()
            with self._lock:
                self._starting = None
                if self._closed:
                    _shutdown(km)
                    return
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

    def start(self) -> ScoringRun:
        """Start one run of the grading notebook; give it entries with ``add``, then ``finish``."""
        return ScoringRun(self)

    def _execute(self, batch: Path, manifest_path: Path, results_path: Path) -> None:
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError

        km = self._kernel()
        own = km is None
        if own:
            km = self._new_kernel()
        import kit.execution.runner  # noqa: F401 - registers papermill's "kit" engine (quick kernel readiness)

        try:
            pm.execute_notebook(
                str(self.ch.grade_notebook),
                str(batch / "grade.ipynb"),
                progress_bar=False,
                km=km,
                engine_name="kit",
                request_save_on_cell_execute=False,
                parameters={
                    "spec_path": str(self.ch.spec_path),
                    "labels_path": str(self.ch.path("labels")),
                    "manifest_path": str(manifest_path),
                    "results_path": str(results_path),
                },
            )
        except PapermillExecutionError as exc:
            raise GradingError(
                f"the hidden grading notebook failed: {exc.ename}: {exc.evalue}",
                where=str(batch / "grade.ipynb"),
                fix="open the executed grading notebook to see the error; no submission was lost: "
                "run `kit grade` again once it is fixed",
            ) from None
        finally:
            if own:
                _shutdown(km)

    def close(self) -> None:
        """Stop the warm kernel; one still warming up is stopped, not waited for."""
        with self._lock:
            self._closed = True
            km, self.km = self.km, None
            starting, self._starting = self._starting, None
        for k in (km, starting):
            if k is not None:
                _shutdown(k)


class ScoringRun:
    """One run of the hidden grading notebook, fed while the batch's notebooks still run.

    The manifest is a JSON-lines file: :meth:`add` appends entries (each line in one
    write), :meth:`finish` appends the end line, waits for the notebook and returns the
    results by key. The notebook scores each entry as soon as it is added, so at the end
    of a batch only the last submissions remain to be scored.
    """

    def __init__(self, scorer: GradingNotebook):
        from ..scoring import END_OF_MANIFEST

        self._end = END_OF_MANIFEST
        self.batch = scorer.workspace.batches_dir(scorer.ch.id) / stamp()
        self.batch.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.batch / "manifest.jsonl"
        self.results_path = self.batch / "results.json"
        self.count = 0
        self._fd = os.open(self.manifest_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(scorer,), name="kit-scoring", daemon=True)
        self._thread.start()

    def _main(self, scorer: GradingNotebook) -> None:
        try:
            scorer._execute(self.batch, self.manifest_path, self.results_path)
        except BaseException as exc:  # noqa: BLE001 - raised by finish()
            self._error = exc

    def add(self, entries: list[dict]) -> None:
        for entry in entries:
            self._write(entry)
            self.count += 1

    def _write(self, entry: dict) -> None:
        data = (json.dumps(entry) + "\n").encode("utf-8")
        while data:  # a regular file takes the whole line at once; the loop is for the rule
            data = data[os.write(self._fd, data) :]

    def _close_manifest(self) -> None:
        if self._fd >= 0:
            try:
                self._write(self._end)
            finally:
                os.close(self._fd)
                self._fd = -1

    def finish(self) -> dict:
        """End the manifest, wait for the notebook, and return its results by key."""
        self._close_manifest()
        self._thread.join()
        if self._error is not None:
            raise self._error
        try:
            return json.loads(self.results_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GradingError(
                "the hidden grading notebook wrote no results",
                where=str(self.batch / "grade.ipynb"),
                fix="make it call score_batch(..., results_path)",
            ) from None

    def abort(self) -> None:
        """End the manifest and let the notebook finish without waiting for it (an error path)."""
        self._close_manifest()


def _shutdown(km) -> None:
    from jupyter_core.utils import run_sync

    try:
        run_sync(km.shutdown_kernel)(now=True)
    finally:
        shutil.rmtree(Path(km.connection_file).parent, ignore_errors=True)
