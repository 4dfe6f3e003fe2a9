"""What stopped a run, and the fix a participant gets for each kind of failure."""

from __future__ import annotations

import signal

from kit.challenge import Limits
from kit.execution.outcome import FAILURE_KINDS, RunResult, _reason_for_death, _reason_for_exception, fix_for


def test_every_failure_kind_has_its_own_fix_naming_its_limit():
    lim = Limits(memory_mb=512, processes=8, output_mb=3, wall_seconds=60, cell_seconds=20, cpu_seconds=50)
    fixes = {kind: fix_for(kind, lim) for kind in FAILURE_KINDS}
    assert len(set(fixes.values())) == len(FAILURE_KINDS), "one text per kind"
    assert "512 MiB" in fixes["memory"] and "at most 8" in fixes["processes"] and "3 MiB" in fixes["output"]
    assert "60 s" in fixes["wall_time"] and "20 s" in fixes["cell_time"] and "50 s" in fixes["cpu_time"]
    assert "kill" in fixes["kernel_died"] and "os._exit" in fixes["exited"]
    assert not any("make the notebook fit the challenge's limits" in f for f in fixes.values())


def test_kinds_of_exceptions_and_deaths():
    lim = Limits()
    assert _reason_for_exception("MemoryError", "", "", 3, lim)[0] == "memory"
    assert _reason_for_exception("OSError", "[Errno 27] File too large", "", 3, lim)[0] == "file_size"
    assert _reason_for_exception("RuntimeError", "can't start new thread", "", 3, lim)[0] == "processes"
    assert _reason_for_exception("KeyError", "'age'", "", 3, lim) == ("error", "cell 3 raised KeyError: 'age'")
    assert _reason_for_death({"signal": int(signal.SIGKILL)}, "", lim) == (
        "kernel_died",
        "kernel died (exit signal 9: killed)",
    )
    assert _reason_for_death({"signal": int(signal.SIGXCPU)}, "", lim)[0] == "cpu_time"
    assert _reason_for_death({"code": 3}, "", lim) == ("exited", "kernel exited with code 3")
    assert _reason_for_death({"code": 1}, "MemoryError", lim)[0] == "memory"


def test_a_result_without_a_kind_still_gets_a_fix():
    failed = RunResult("failed", "cell 1 raised KeyError", 1.0, "x.ipynb")
    assert failed.fix() == fix_for("error") and failed.to_error().fix == failed.fix()
