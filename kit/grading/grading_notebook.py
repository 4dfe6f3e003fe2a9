"""Running the hidden grading notebook: once per batch, by papermill, in a trusted kernel.

Cold: papermill starts a kernel for the batch and stops it after. Warm (``kit grade``,
and a long-running grader, ``kit watch``): one trusted kernel is started ahead, in the
grading folder, with the scoring libraries imported, and papermill executes every
batch's grading notebook in it (``km=``), so a batch of one is scored in a fraction
of a second. Where the participants' kernels have a zygote, that kernel is forked from
it (:mod:`kit.execution.warm.trusted`: the grader's own process, in no sandbox, ready a
tenth of a second after the zygote instead of importing the same libraries again).
Participant code never runs in this kernel: it only reads parsed prediction files.

A run starts with the batch's notebooks (its first cells read the spec and the labels
meanwhile) and is fed each prediction file as its notebook finishes (:class:`ScoringRun`,
a JSON-lines manifest), so scoring overlaps the notebook runs and only the last
submissions are scored after them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import GradingError
from ..workspace import Workspace, stamp

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Challenge
    from ..execution.warm.zygote import Zygote

log = logging.getLogger(__name__)

WARM_IMPORTS = "import json, pandas, numpy, sklearn.metrics, kit.scoring, kit.challenge"


class GradingNotebook:
    """The hidden grading notebook of a challenge, run by papermill in a trusted kernel.

    ``warm``: start that kernel now, in the background, with the scoring libraries imported
    (a session that grades several batches, or a batch whose notebooks run meanwhile).
    """

    def __init__(
        self,
        challenge: Challenge,
        workspace: Workspace,
        *,
        warm: bool = False,
        kernel_name: str = "python3",
        zygote: Zygote | None = None,
    ):
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
        #: the kernels' zygote, if it can fork this kernel (the grader's own, unsandboxed: see
        #: kit.execution.warm.trusted); a cold kernel otherwise
        self.zygote = zygote.retain() if warm and zygote is not None else None
        if warm:
            _import_kernel_client()  # here, not in the thread: concurrent imports of one package can fail
            threading.Thread(target=self._start_warm, name="kit-scorer", daemon=True).start()
        else:
            self._ready.set()

    def _new_kernel(self):
        """A trusted kernel in the grading folder, over IPC (no TCP port to collide or to expose)."""
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        from ..execution.kernels import kernel_spec_manager

        km = AsyncKernelManager(
            kernel_name=self.kernel_name, transport="ipc", kernel_spec_manager=kernel_spec_manager(self.kernel_name)
        )
        run = Path(tempfile.mkdtemp(prefix="kit-scorer-"))  # short: socket paths are limited to ~100 bytes
        km.connection_file = str(run / "kernel.json")
        km.ip = str(run / "ipc")
        run_sync(km.start_kernel)(cwd=str(self.ch.grading_dir))
        return km

    def _forked_kernel(self):
        """A trusted kernel forked by the zygote, or None where it cannot fork this one."""
        from ..execution.kernels import kernel_argv
        from ..execution.warm.trusted import fork_trusted_kernel

        if self.zygote is None:
            return None
        argv = kernel_argv(self.kernel_name)
        try:
            hello = self.zygote.wait_ready()
        except Exception:  # noqa: BLE001 - the pool reports it; this kernel starts cold
            return None
        missing = {"pandas", "sklearn.metrics", "ipykernel.kernelapp", "kit.checker"} & set(hello.get("failed") or {})
        if argv[0] != self.zygote.python or argv[1:3] != ["-m", "ipykernel_launcher"] or missing:
            return None
        return fork_trusted_kernel(self.zygote, cwd=self.ch.grading_dir, kernel_args=argv[3:])

    def _start_warm(self) -> None:
        try:
            from jupyter_client.blocking import BlockingKernelClient

            try:
                km = self._forked_kernel()
            except Exception:  # noqa: BLE001 - a cold one then
                log.warning("the zygote could not fork the grading kernel: starting it cold", exc_info=True)
                km = None
            km = km or self._new_kernel()
            with self._lock:
                if self._closed:  # the session ended while the kernel started
                    _shutdown(km)
                    return
                self._starting = km
            kc = BlockingKernelClient(connection_file=km.connection_file)
            kc.load_connection_file()
            kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
            try:
                _wait_for_reply(kc, km, timeout=60)
                kc.execute_interactive(WARM_IMPORTS, silent=True, timeout=120)
            finally:
                kc.stop_channels()
            with self._lock:
                self._starting = None
                if self._closed:  # close() took it from _starting and stops it: never twice at once
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
        import papermill as pm  # imported by ScoringRun in its caller's thread
        from papermill.exceptions import PapermillExecutionError

        km = self._kernel()
        own = km is None
        if own:
            km = self._new_kernel()
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
            zygote, self.zygote = self.zygote, None
        try:
            for k in (km, starting):
                if k is not None:
                    _shutdown(k)
        finally:
            if zygote is not None:  # the last of its users stops it (and whatever it forked)
                zygote.close()


class ScoringRun:
    """One run of the hidden grading notebook, fed while the batch's notebooks still run.

    The manifest is a JSON-lines file: :meth:`add` appends entries (each line in one
    write), :meth:`finish` appends the end line, waits for the notebook and returns the
    results by key. The notebook scores each entry as soon as it is added, so at the end
    of a batch only the last submissions remain to be scored.
    """

    def __init__(self, scorer: GradingNotebook):
        from ..manifest import END_OF_MANIFEST

        self._end = END_OF_MANIFEST
        self.batch = scorer.workspace.batches_dir(scorer.ch.id) / stamp()
        self.batch.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.batch / "manifest.jsonl"
        self.results_path = self.batch / "results.json"
        self.count = 0
        self._fd = os.open(self.manifest_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._error: BaseException | None = None
        _import_kernel_client()
        import kit.execution.runner  # noqa: F401 - papermill, and its "kit" engine (quick kernel readiness)

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


def _wait_for_reply(kc, km, timeout: float) -> None:
    """Until the kernel answers ``kernel_info`` *and* our IOPub subscription is live.

    ``execute_interactive`` waits for the execution's IOPub ``idle`` status: sent before the
    subscription is connected, it is lost and the wait lasts its whole timeout (zmq's
    slow joiner). The status of a ``kernel_info`` request proves the subscription, as in
    nbclient's readiness (and :func:`kit.execution.engine._wait_ready`); jupyter_client's
    ``wait_for_ready`` waits a fixed 0.2 s more for a quiet IOPub.
    """
    import queue

    from jupyter_core.utils import run_sync

    deadline = time.monotonic() + timeout
    sent: set[str] = set()
    while True:
        sent.add(kc.kernel_info())
        try:
            while kc.get_shell_msg(timeout=0.5)["parent_header"].get("msg_id") not in sent:
                pass  # a reply to an earlier request counts too
            while True:  # its IOPub status proves that our subscription is live
                msg = kc.get_iopub_msg(timeout=0.5)
                if msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") in sent:
                    return
        except queue.Empty:
            pass
        if not run_sync(km.is_alive)():
            raise GradingError(
                "the grading kernel died while starting",
                where=str(km.connection_file),
                fix="check that ipykernel, pandas and scikit-learn import in this environment",
            )
        if time.monotonic() > deadline:
            raise GradingError(
                f"the grading kernel did not answer within {timeout:g} s",
                where=str(km.connection_file),
                fix="check the machine's load",
            )


def _import_kernel_client() -> None:
    """What the scoring threads use, imported in the caller's thread.

    Two threads importing modules of one package at once can meet a partly initialised
    module (``cannot import name 'AsyncKernelManager' from partially initialized module
    'jupyter_client.manager'``): every import of a thread of ours happens before it starts.
    """
    import jupyter_client.blocking  # noqa: F401
    import jupyter_client.manager  # noqa: F401
    import jupyter_core.utils  # noqa: F401

    from ..execution import kernels  # noqa: F401
    from ..execution.warm import trusted  # noqa: F401


def _shutdown(km) -> None:
    """Stop the trusted kernel: killed and reaped, then jupyter_client's clean-up.

    Killed and waited for here first, jupyter_client finds it gone at its first look
    instead of polling it every 0.1 s.
    """
    from jupyter_core.utils import run_sync

    try:
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the kernel and what it started
            except OSError:
                proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        run_sync(km.shutdown_kernel)(now=True)
    finally:
        shutil.rmtree(Path(km.connection_file).parent, ignore_errors=True)
