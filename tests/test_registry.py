"""Every registry of the kit follows the same rules (one test over all of them), plug-ins
arrive through entry points, and the read side imports nothing of the grader."""

from __future__ import annotations

import ast
import importlib
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kit.errors import KitError
from kit.registry import REGISTRY_MODULES, Registry, all_registries

REPO = Path(__file__).resolve().parent.parent
KINDS = {
    "metric",
    "sandbox",
    "executor",
    "submission source",
    "board format",
    "card renderer",
    "identifier category",
    "dataset",
    "task",
    "remedy",
    "ladder",
    "bootstrap interval",
}


@pytest.fixture(scope="module")
def registries():
    return all_registries()


def test_every_registry_module_creates_its_registry(registries):
    assert KINDS <= set(registries), sorted(registries)
    for module in REGISTRY_MODULES:
        importlib.import_module(module)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_registry_lists_gets_and_refuses_unknown_and_duplicate_names(registries, kind):
    reg: Registry = registries[kind]
    names = reg.names()
    assert names and names == sorted(names), names
    for name in names:
        assert reg.get(name) is reg.get(name)  # the same object every time
        assert name in reg
    with pytest.raises(KitError) as err:
        reg.get("no-such-thing")
    assert isinstance(err.value, reg.error)
    assert f"'no-such-thing' is not a registered {kind}" in err.value.what
    assert all(n in err.value.fix for n in names), "the fix lists every registered name"
    taken = names[0]
    original = reg.get(taken)
    with pytest.raises(KitError, match=f"a {kind} named '{taken}' is already registered"):
        reg.register(original, name=taken)
    reg.register(original, name=taken, replace=True)  # allowed when asked for
    assert reg.get(taken) is not None


def test_registry_decorator_forms_and_lazy_entries():
    reg: Registry = Registry("test widget", error=KitError)

    @reg.register
    def alpha():
        return "a"

    @reg.register(name="beta")
    def _b():
        return "b"

    reg.register_lazy("gamma", "os.path:join")
    assert reg.names() == ["alpha", "beta", "gamma"]
    assert reg.get("alpha")() == "a" and reg.get("beta")() == "b"
    import os.path

    assert reg.get("gamma") is os.path.join
    reg.unregister("gamma")
    assert "gamma" not in reg
    with pytest.raises(KitError, match="needs a name"):
        reg.register(object())
    with pytest.raises(KitError, match="exists already"):
        Registry("test widget")


PLUGIN = """
import numpy as np
from kit.metrics import Metric

METRIC = Metric(name="plugin_mae", func=lambda y, p: float(np.mean(np.abs(y - p))), task="regression",
                greater_is_better=False, lower=0.0, upper=float("inf"), precision=3,
                description="a metric from a plug-in", per_case=lambda y, p: np.abs(y - p))

def shout(board):
    return "PLUG-IN FORMAT: " + board.challenge.id
"""
ENTRY_POINTS = """
[challenge_kit.metrics]
plugin_mae = kit_test_plugin:METRIC
rmse = kit_test_plugin:METRIC
broken_metric = kit_test_plugin_missing:METRIC

[challenge_kit.board_formats]
shout = kit_test_plugin:shout
"""


@pytest.fixture
def plugin(tmp_path, registries):
    (tmp_path / "kit_test_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "kit_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kit-test-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    touched = [registries["metric"], registries["board format"]]
    for reg in touched:
        reg.rescan()
    yield registries
    sys.path.remove(str(tmp_path))
    sys.modules.pop("kit_test_plugin", None)
    for reg, name in (
        (registries["metric"], "plugin_mae"),
        (registries["metric"], "broken_metric"),
        (registries["board format"], "shout"),
    ):
        if name in reg:
            reg.unregister(name)


def test_plugins_register_through_entry_points(plugin, caplog):
    from kit.leaderboard import render
    from kit.metrics import get_metric, get_metric_names
    from kit.scoring import score_file  # noqa: F401 - the plug-in metric works where metrics are used

    assert "plugin_mae" in get_metric_names() and "plugin_mae" in get_metric_names(task="regression")
    m = get_metric("plugin_mae")
    assert m([1.0, 2.0], [1.5, 2.5]) == 0.5
    # a plug-in cannot shadow a built-in: rmse is still the kit's own
    assert get_metric("rmse").description != "a metric from a plug-in"
    # a broken plug-in is listed, and says what is wrong when asked for; import kit never fails for it
    with pytest.raises(KitError) as err:
        get_metric("broken_metric")
    assert "could not be loaded" in err.value.what and "kit_test_plugin_missing" in err.value.what
    assert "plug-in" in err.value.fix

    class Board:
        class challenge:  # noqa: N801 - a stand-in with the one attribute the plug-in reads
            id = "breast-cancer"

    assert render(Board(), "shout") == "PLUG-IN FORMAT: breast-cancer"


def test_the_cli_offers_what_the_registries_hold(plugin):
    from click.testing import CliRunner

    from kit.cli import cli

    out = CliRunner().invoke(cli, ["leaderboard", "--help"]).output
    assert "shout" in out and "table" in out
    out = CliRunner().invoke(cli, ["grade", "--help"]).output
    assert "bubblewrap" in out and "dask" in out and "local" in out


READ_SIDE = [
    "kit/leaderboard",
    "kit/cards",
    "kit/widgets",
    "kit/release.py",
    "kit/ledger",
    "kit/labels.py",
    "kit/workspace.py",
    "kit/scoring.py",
    "kit/registry.py",
]


def _imports(path: Path) -> list[str]:
    """Every module a Python file imports, at any depth (relative imports resolved)."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    package = parts[:-1]  # kit/a/b.py and kit/a/__init__.py both live in package kit.a
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = ".".join(package[: len(package) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            out.append(base)
            out += [f"{base}.{a.name}" for a in node.names]
    return out


def test_the_read_side_imports_nothing_of_the_grader():
    offenders = []
    for entry in READ_SIDE:
        p = REPO / entry
        for f in [p] if p.is_file() else sorted(p.rglob("*.py")):
            for name in _imports(f):
                if name == "kit.grading" or name.startswith("kit.grading."):
                    offenders.append(f"{f.relative_to(REPO)} imports {name}")
    assert offenders == []
    code = (
        "import sys, kit.leaderboard, kit.cards, kit.release, kit.widgets, kit.ledger, kit.labels; "
        "print(sorted(m for m in sys.modules if m.startswith('kit.grading')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]", out


#: the other SQL store: the challenge server's own file of teams, token digests and hand-ins, kept out
#: of the ledger so that identities are stored apart from the grading record (and deleted apart)
OTHER_STORES = {"kit/server/teams.py"}


def test_all_sql_lives_in_the_ledger_package():
    offenders = []
    for f in sorted((REPO / "kit").rglob("*.py")):
        if "ledger" in f.relative_to(REPO).parts or f.relative_to(REPO).as_posix() in OTHER_STORES:
            continue
        text = f.read_text()
        for keyword in ("SELECT ", "INSERT INTO", "CREATE TABLE", '.execute("', "sqlite3.connect"):
            if keyword in text:
                offenders.append(f"{f.relative_to(REPO)}: {keyword.strip()}")
    assert offenders == []


def test_registry_warns_and_skips_a_broken_plugin_when_loading_all(plugin, caplog):
    reg = plugin["metric"]
    with caplog.at_level(logging.WARNING):
        loaded = dict(reg.items())
    assert "plugin_mae" in loaded and "broken_metric" not in loaded
    assert any("broken_metric" in r.getMessage() for r in caplog.records)


def test_the_cli_choices_of_the_board_statistics_are_the_registries_names():
    from kit import defaults
    from kit.leaderboard.stats import INTERVALS, LADDERS

    assert list(defaults.LADDER_RULES) == LADDERS.names() and list(defaults.INTERVALS) == INTERVALS.names()
