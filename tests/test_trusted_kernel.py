"""The grader's own scoring kernel, forked by the kernels' zygote (kit.execution.warm.trusted).

It must be what a kernel the grader started itself would be: the grader's uid, PID namespace,
environment and import path, the grading folder as working folder; and it must not outlive
the zygote. The participants' kernels, forked by the same zygote, cannot see it (their PID
namespace is their own: tests/adversarial checks that every run has one).
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest
from jupyter_client.blocking import BlockingKernelClient
from jupyter_core.utils import run_sync

from kit.execution.kernels import kernel_argv
from kit.execution.warm.trusted import TrustedKernelManager, fork_trusted_kernel
from kit.execution.warm.zygote import start_zygote

PROBE = """
import json, os, sys
print(json.dumps({
    "uid": os.getuid(),
    "pidns": os.readlink("/proc/self/ns/pid"),
    "cwd": os.getcwd(),
    "home": os.environ.get("HOME"),
    "marker": os.environ.get("KIT_TEST_MARKER"),
    "path0": sys.path[0],
    "kit": __import__("kit").__file__,
    "pandas_loaded_before": "pandas" in sys.modules,
}))
"""


def _run(km: TrustedKernelManager, code: str) -> dict:
    kc = BlockingKernelClient(connection_file=km.connection_file)
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        reply = kc.execute_interactive(code, output_hook=hook, timeout=60)
        assert reply["content"]["status"] == "ok", "".join(out)
        return json.loads("".join(out))
    finally:
        kc.stop_channels()


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ")[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_the_forked_scoring_kernel_is_the_graders_own(tmp_path, monkeypatch):
    argv = kernel_argv("python3")
    if argv[0] != sys.executable or argv[1:3] != ["-m", "ipykernel_launcher"]:
        pytest.skip("the python3 kernel is not this Python's ipykernel")
    zygote = start_zygote()
    monkeypatch.setenv("KIT_TEST_MARKER", "from-the-grader")
    grading = tmp_path / "grading"
    grading.mkdir()
    km = fork_trusted_kernel(zygote, cwd=grading, kernel_args=argv[3:])
    try:
        assert run_sync(km.is_alive)()
        seen = _run(km, PROBE)
        assert seen["uid"] == os.getuid()
        assert seen["pidns"] == os.readlink("/proc/self/ns/pid"), "no sandbox: the grader's own PID namespace"
        assert seen["cwd"] == str(grading.resolve())
        assert seen["path0"] == str(grading.resolve())
        assert seen["marker"] == "from-the-grader", "the grader's environment, not the zygote's"
        assert seen["home"] == os.environ.get("HOME")
        assert seen["pandas_loaded_before"], "forked after the zygote's imports"
        assert seen["kit"].startswith(os.path.dirname(os.path.dirname(__import__("kit").__file__)))
        # it is a fork of the zygote (its supervisor's child), not a process the grader started
        kernel = _children(km.provisioner.supervisor_pid)
        assert len(kernel) == 1 and _ppid(km.provisioner.supervisor_pid) == zygote.proc.pid
        pid = kernel[0]
    finally:
        run_sync(km.shutdown_kernel)(now=True)
        zygote.close()
    assert _gone(pid), "the kernel is gone once shut down"
    assert not run_sync(km.is_alive)()


def test_the_zygote_stops_with_its_last_user_and_takes_the_kernel_with_it(tmp_path):
    z = start_zygote()
    z.retain()  # the pool and the grading notebook share it
    km = fork_trusted_kernel(z, cwd=tmp_path, kernel_args=kernel_argv("python3")[3:])
    supervisor = km.provisioner.supervisor_pid
    kernels = _children(supervisor)
    assert len(kernels) == 1
    z.close()
    assert z.proc.poll() is None and run_sync(km.is_alive)(), "still used by the other"
    z.close()  # the grader ends: nothing it forked may stay
    z.proc.wait(10)
    assert _gone(supervisor) and _gone(kernels[0])
    assert z.root is not None and not z.root.exists(), "its private folder is removed"
    run_sync(km.shutdown_kernel)(now=True)


def _children(parent: int, within: float = 10) -> list[int]:
    """The children of *parent* (waiting for the first: the supervisor forks the kernel after replying)."""
    deadline = time.monotonic() + within
    while True:
        found = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == parent]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(") ", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return None


if sys.platform != "linux":  # pragma: no cover
    pytest.skip("the zygote forks on Linux only", allow_module_level=True)


def test_the_grading_notebook_takes_its_kernel_from_the_zygote_and_scores(tmp_path):
    from conftest import REPO

    from kit.challenge import load_challenge
    from kit.grading.grading_notebook import GradingNotebook
    from kit.workspace import Workspace

    ch = load_challenge("breast-cancer", root=REPO)
    z = start_zygote()
    notebook = GradingNotebook(ch, Workspace(tmp_path), warm=True, zygote=z)
    z.close()  # the session's hold; the notebook holds its own
    try:
        km = notebook._kernel()
        assert isinstance(km, TrustedKernelManager), f"started cold: {notebook._error!r}"
        run = notebook.start()
        out = tmp_path / "out"
        out.mkdir()
        run.add([{"key": "s1", "predictions": str(ch.path("sample_submission")), "out_dir": str(out), "name": "s"}])
        results = run.finish()
        assert set(results) == {"s1"} and results["s1"]["status"] == "scored", results
        assert z.proc.poll() is None, "the zygote lives while the notebook holds it"
    finally:
        notebook.close()
    z.proc.wait(10)


def test_scorer_closed_while_warming_stops_its_kernel_once(monkeypatch, tmp_path):
    """close() during the warm imports stops that kernel; the warming thread then leaves it alone.

    Two threads stopping one kernel manager destroy its zmq context twice at once (CI saw
    ``ZMQError: Bad address`` and a crashed worker).
    """
    import threading

    from kit.challenge import load_challenge
    from kit.grading import grading_notebook as gn
    from kit.workspace import Workspace

    warming, release = threading.Event(), threading.Event()
    stopped: list[object] = []

    class FakeClient:
        def __init__(self, **kw):
            pass

        def load_connection_file(self):
            pass

        def start_channels(self, **kw):
            pass

        def execute_interactive(self, *a, **kw):
            warming.set()
            release.wait(10)

        def stop_channels(self):
            pass

    km = type("KM", (), {"connection_file": str(tmp_path / "kernel.json")})()
    monkeypatch.setattr("jupyter_client.blocking.BlockingKernelClient", FakeClient)
    monkeypatch.setattr(gn.GradingNotebook, "_forked_kernel", lambda self: None)
    monkeypatch.setattr(gn.GradingNotebook, "_new_kernel", lambda self: km)
    monkeypatch.setattr(gn, "_wait_for_reply", lambda kc, km, timeout: None)
    monkeypatch.setattr(gn, "_shutdown", stopped.append)

    scorer = gn.GradingNotebook(load_challenge("breast-cancer"), Workspace(tmp_path / "work"), warm=True)
    assert warming.wait(10)
    scorer.close()  # takes the kernel that is still importing
    release.set()
    scorer._ready.wait(10)
    assert stopped == [km], "stopped once, by close()"
    assert scorer.km is None
