"""`kit demo` on the embedded default challenge: a class of real notebooks, graded and ranked."""

import pytest
from click.testing import CliRunner

from kit.challenge import load_challenge
from kit.cli import cli
from kit.demo import CSV_TEAM, FAILURES, STARTER, class_variants, write_class
from kit.tasks import get_task, get_task_names


def test_demo_grades_a_class_and_prints_the_board(tmp_path):
    work = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", "--workdir", str(work)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = r.output
    # the starter, the task's seven models, three failures and the sample submission as a CSV
    assert "12 teams handed in 12 files" in out
    assert "9 scored, 1 failed, 2 invalid" in out
    assert "KeyError" in out and "no cell tagged 'parameters'" in out
    assert "public leaderboard (9 teams)" in out
    board_lines = [line for line in out.splitlines() if line.strip().startswith(("1 ", "9 "))]
    assert board_lines and "Quick Baseline" in board_lines[-1], "the constant baseline ranks last"
    assert (work / "leaderboard.html").exists() and (work / "ledger.sqlite").exists()
    # a second demo replaces the first; a foreign folder is never wiped
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    r = CliRunner().invoke(cli, ["demo", "--workdir", str(foreign)])
    assert r.exit_code == 1 and "not from an earlier demo" in r.output
    assert (foreign / "precious.txt").read_text() == "keep"


@pytest.mark.parametrize("task", get_task_names())
def test_every_task_has_the_same_class_shape(task):
    """The starter, the task's own models, then the same failures: nothing depends on a dataset."""
    spec = load_challenge("breast-cancer").spec.model_copy(update={"task": task})
    variants = class_variants(spec)
    models = get_task(task).demo_models(spec)
    assert variants == [STARTER, *variants[1 : 1 + len(models)], *FAILURES]
    assert [(v.team, v.name, v.model) for v in variants[1 : 1 + len(models)]] == [
        (m.team, m.name, m.model) for m in models
    ]
    assert len({v.team for v in variants} | {CSV_TEAM}) == len(variants) + 1, "one hand-in per team"


def test_the_class_is_written_from_the_starter(tmp_path):
    ch = load_challenge("diabetes")
    paths = write_class(ch, tmp_path)
    teams = [p.parent.name for p in paths]
    assert teams[0] == STARTER.team and teams[-1] == CSV_TEAM
    assert [p.name for p in paths][-1] == "constant_baseline.csv"
    assert (tmp_path / STARTER.team / "starter.ipynb").read_text() != "", "the starter as handed out"
