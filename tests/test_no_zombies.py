"""A grader leaves no process behind, not even a dead one.

Every process a batch starts (the kernels' zygote, the trusted scoring kernel, bwrap, each
sandbox's PID 1, each kernel and its supervisor) is reaped by a parent of ours. A process
killed in the wrong order (a parent before its child) is re-parented, dead, to the host's
init instead: in a container whose init reaps nothing, a long ``kit watch`` would pile up
zombies until the machine's pid limit. The batch runs in a child process that is a child
subreaper (PR_SET_CHILD_SUBREAPER): every orphan of the batch comes back to it, so a zombie
left behind shows up as its child, whatever this machine's init does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from kit.execution.sandbox import find_bwrap

SCRIPT = textwrap.dedent(
    """
    import ctypes, json, os, sys, time
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back here
    from kit.grading import grade

    root, subs, workdir, warm = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "warm"
    report = grade("breast-cancer", [subs], workdir=workdir, root=root, warm=warm, workers=2)
    time.sleep(0.5)  # anything dying late has died by now
    me, left = os.getpid(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                name, _, rest = fh.read().rpartition(") ")
                name, rest = name.partition(" (")[2], rest.split()
        except (FileNotFoundError, IndexError):
            continue
        if int(rest[1]) == me:
            left.append({"pid": int(pid), "name": name, "state": rest[0], "session": int(rest[4]) == int(pid)})
    print(json.dumps({"counts": dict(report.counts), "left": left}))
    """
)


@pytest.mark.parametrize("mode", ["warm", "cold"])
def test_a_batch_leaves_no_process_not_even_a_zombie(root, tmp_path, mode):
    if find_bwrap() is None:
        pytest.skip("bubblewrap is not installed")
    from kit.challenge import load_challenge

    ch = load_challenge("breast-cancer", root=root)
    subs = tmp_path / "subs"
    for team in ("a", "b", "c"):
        (subs / team).mkdir(parents=True)
        shutil.copy(ch.starter_notebook, subs / team / "starter.ipynb")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), str(subs), str(tmp_path / "work"), mode],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["counts"].get("scored") == 3, result
    assert result["left"] == [], f"processes left to the grader's reaper after the batch: {result['left']}"
