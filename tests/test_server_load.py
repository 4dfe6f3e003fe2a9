"""A bounded load on `kit serve` (its own process, real HTTP): teams hand in at once; every accepted
hand-in is graded exactly once and nothing is lost. The full run (50 teams, 200 hand-ins) is
`python benchmarks/server_load.py`; this one is smaller, to keep the suite's time."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import REPO
from server_helpers import challenge_root, sandbox_name

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _benchmark():
    spec = importlib.util.spec_from_file_location("server_load", REPO / "benchmarks" / "server_load.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_teams_hand_in_at_once(tmp_path):
    bench = _benchmark()
    root = challenge_root(tmp_path / "root")
    workdir = tmp_path / "work"
    proc, url = bench.start_server(root, workdir, workers=2, sandbox=sandbox_name())
    try:
        figures = bench.run_load(url, workdir, root, teams=10, total=40, notebooks=2, timeout=300)
    finally:
        proc.terminate()
        proc.wait(120)
    print(bench.report(figures))
    assert figures["codes"] == {202: 40}
    assert figures["accepted"] == figures["server_rows"] == figures["submissions"] == 40  # nothing lost
    assert figures["graded"] == 40 and figures["graded_twice"] == 0 and figures["pending"] == 0  # graded once
    assert figures["not_scored"] == 0
