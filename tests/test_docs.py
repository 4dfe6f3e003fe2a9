"""The README's CLI reference and the starter kits stay true to the code."""

import re

import click
import nbformat
import pytest
from conftest import REPO, SHIPPED

from kit.cli import cli

README = (REPO / "README.md").read_text()


def test_readme_has_the_two_quick_start_commands():
    assert "make demo" in README and "make test" in README


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_and_option_is_in_the_readme(name):
    ref = README.split("## CLI reference", 1)[1].split("\n## ", 1)[0]
    assert f"`kit {name}" in ref, f"kit {name} is missing from the README's CLI reference"
    row = next(line for line in ref.splitlines() if line.startswith(f"| `kit {name}"))
    for param in cli.commands[name].params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert longest in row, f"{longest} of kit {name} is not in the README"


@pytest.mark.parametrize("cid", SHIPPED)
def test_starter_kit_is_complete(cid):
    kit_dir = REPO / "starter_kits" / cid
    for name in (
        "README.md",
        "challenge.yml",
        "starter.ipynb",
        "data/train.csv",
        "data/test.csv",
        "data/sample_submission.csv",
    ):
        assert (kit_dir / name).exists(), name
    assert not list(kit_dir.rglob("labels*")), "labels never ship in a starter kit"
    nb = nbformat.read(kit_dir / "starter.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assert re.search(r"^data_dir = ", params[0].source, re.M) and re.search(
        r"^predictions_path = ", params[0].source, re.M
    )
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "ship notebooks without outputs"


def test_committed_kits_match_the_generator(tmp_path):
    """scripts/make_notebooks.py is how the notebooks and kit READMEs are made: no hand edits drift."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "scripts/make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from kit.challenge import load_challenge

    for cid in SHIPPED:
        ch = load_challenge(cid, root=REPO)
        assert nbformat.writes(mod.starter(ch)) + "\n" == ch.starter_notebook.read_text()
        assert nbformat.writes(mod.grader(ch)) + "\n" == ch.grade_notebook.read_text()
        assert mod.starter_readme(ch) == (ch.starter_dir / "README.md").read_text()
