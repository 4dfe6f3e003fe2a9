"""Hostile notebooks (``tests/adversarial/*.ipynb``) against the bubblewrap sandbox.

Each notebook states what it tries in its first cell and the statuses it may end
with in ``metadata.adversarial``. Each runs with a cold and with a warm kernel; after
each run the host is checked: nothing of the run is still running, nothing hidden was
seen, nothing got out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from conftest import SANDBOX_DATA, SANDBOX_LIMITS

from kit.execution.runner import run_notebook
from kit.execution.sandbox import find_bwrap, processes_of_uid, read_sandbox_file

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DATA = SANDBOX_DATA
NOTEBOOKS = sorted(HERE.glob("*.ipynb"))
#: the limits of the warm pool shared with the sandbox tests (``warm_pool`` in conftest.py)
LIMITS = SANDBOX_LIMITS
CANARY = "KIT_TEST_CANARY_d41d8cd98f00"
#: the argv of the daemons daemon_escape.ipynb starts (its forked Python daemon keeps its kernel's
#: argv: the PID namespace check finds it). Bare digits would also match unrelated host processes
#: (a pid, a port; the pools' zygotes name their parent's pid in their argv).
DAEMON_ARGV = (b"sleep\x004242\x00", b"sleep\x004243\x00", b"nohup sleep 4243", b"sleep(4244)")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed"),
]
AS_ROOT = os.geteuid() == 0


@pytest.fixture(autouse=True)
def canary(monkeypatch):
    monkeypatch.setenv(CANARY, "grader-secret-token")


def processes_in_pid_namespace(link: str) -> list[int]:
    """Host pids of the live processes in the PID namespace *link* (``pid:[inode]``; zombies,
    dead and waiting for a parent to collect their status, are not counted)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink(f"/proc/{pid}/ns/pid") == link:
                    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state not in ("Z", "X"):
                        found.append(int(pid))
            except (OSError, IndexError):
                pass
    return found


def host_cmdlines() -> list[bytes]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                pass
    return out


@pytest.mark.parametrize("mode", ["cold", "warm"])
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_adversarial_notebook_is_contained(notebook, mode, tmp_path, request):
    expect = nbformat.read(notebook, as_version=4).metadata["adversarial"]
    hidden = tmp_path / "grading"
    hidden.mkdir()
    (hidden / "labels.csv").write_text("case_id,malignant\ncase-0002,1\n")
    work = tmp_path / "work"
    out = tmp_path / "executed.ipynb"
    result = run_notebook(
        notebook,
        out,
        work_dir=work,
        data_dir=DATA,
        limits=LIMITS,
        parameters={"data_dir": str(DATA), "predictions_path": str(work / "predictions.csv")},
        pool=request.getfixturevalue("warm_pool") if mode == "warm" else None,
    )

    assert result.status in expect["expect_status"], (result.status, result.reason)
    assert expect["expect_reason"] in result.reason
    assert out.exists() and out.stat().st_size < 1.1 * LIMITS.output_mb * 2**20

    executed = nbformat.read(out, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    uid = int(text.split("uid ")[1].split()[0])
    pidns = text.split("pidns ")[1].split()[0]
    assert uid != 0
    if AS_ROOT:  # a root grader gives every run a host uid of its own, swept at the end
        assert uid != os.getuid()
        assert processes_of_uid(uid) == [], "a process of the run survived it"
    else:  # an unprivileged grader's runs keep its uid, mapped in a user namespace of their own
        assert uid == os.getuid()
    assert pidns != os.readlink("/proc/self/ns/pid"), "the run had a PID namespace of its own"
    assert processes_in_pid_namespace(pidns) == [], "a process of the run survived it"
    if notebook.stem == "daemon_escape":  # only its run starts them (the others may run beside it)
        assert not any(marker in cmd for cmd in host_cmdlines() for marker in DAEMON_ARGV)

    report = read_sandbox_file(work / "predictions.csv", 10 * 2**20)
    name = notebook.stem
    if name == "memory_hog" and result.status == "failed":
        assert result.reason.startswith("memory limit (1024 MiB) exceeded")
    if name == "hunt_for_labels":
        found = json.loads(report)
        assert found["found"] == []
        assert not any(CANARY in env for env in found["environ"].values())
        assert len(found["procs"]) < 10  # its own sandbox only
        assert str(hidden) not in found["mounts"] and "/work/main/grading" not in found["mounts"]
    elif name == "network_exfiltration":
        assert "OPEN" not in json.loads(report).values()
    elif name == "become_root":
        assert "ALLOWED" not in json.loads(report).values()
    elif name == "symlink_predictions":
        assert report is None, "a symlinked predictions file must not be followed on the host"
        assert (work / "predictions.csv").is_symlink()
