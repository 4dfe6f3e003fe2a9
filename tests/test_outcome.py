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


def test_the_batch_summary_groups_failures_by_reason_not_by_location():
    from kit.challenge import load_challenge
    from kit.grading.report import Entry, GradeReport

    entries = [
        Entry(1, "a", "a.ipynb", "notebook", "failed", "run", error="cell 1: ...", reason="cell_time"),
        Entry(2, "b", "b.ipynb", "notebook", "failed", "run", error="cell 7: ...", reason="cell_time"),
        Entry(3, "c", "c.csv", "predictions", "invalid", "validate", error="x: ...", reason="invalid-predictions"),
        Entry(4, "d", "d.ipynb", "notebook", "failed", "run", error="predictions_path: ...", reason="no-predictions"),
        Entry(None, "e", "e.csv", ".csv", "refused", "intake", error="e.csv: ...", reason="too-large"),
        Entry(5, "f", "f.csv", "predictions", "scored", "score", score=0.9),
    ]
    report = GradeReport(load_challenge("breast-cancer"), entries)
    assert report.failure_reasons() == {
        "per-cell time limit": 2,
        "invalid predictions": 1,
        "no predictions written": 1,
        "file too large": 1,
    }
    assert report.summary().endswith("; 1 refused at intake")


def test_a_notebook_for_another_language_is_refused_with_that_reason():
    import json

    import pytest

    from kit.errors import NotebookError
    from kit.grading.intake import check_notebook

    def nb(metadata):
        cell = {"cell_type": "code", "source": "data_dir <- 'data'", "metadata": {"tags": ["parameters"]}}
        cell |= {"outputs": [], "execution_count": None, "id": "params"}
        return json.dumps({"cells": [cell], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}).encode()

    r_kernel = {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}
    with pytest.raises(NotebookError) as err:
        check_notebook(nb(r_kernel), "team/analysis.ipynb")
    assert err.value.what == "the notebook is written for the R kernel (r); this challenge runs Python notebooks"
    assert "CSV" in err.value.fix
    with pytest.raises(NotebookError, match="Julia"):
        check_notebook(
            nb({"language_info": {"name": "julia"}, "kernelspec": {"name": "julia-1.10", "display_name": "Julia"}}), "x"
        )
    assert check_notebook(nb({}), "x").cells  # no kernelspec: read as Python
    assert check_notebook(
        nb({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), "x"
    )
