"""`kit demo` on the embedded default challenge: a class of real notebooks, graded and ranked."""

import pytest
from click.testing import CliRunner

from kit.challenge import load_challenge
from kit.cli import cli
from kit.demo import CSV_TEAM, FAILURES, STARTER, class_variants, run_demo, write_class
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


@pytest.mark.slow  # two more whole demos (make test-slow, CI); the grading of gbsg2 and of each task runs in make test
@pytest.mark.parametrize("which", ["gbsg2", "tumour-grade"])
def test_the_demo_runs_on_a_survival_and_an_ordinal_challenge_of_real_data(root, tmp_path, which):
    """`kit demo` on the shipped survival challenge, and on an ordinal multiclass one made with
    `kit new` from the same real table (GBSG2's tumour grade, I < II < III)."""
    from kit.authoring.new import new_challenge

    if which == "tumour-grade":
        new_challenge(
            which,
            root / "sources" / "gbsg2.csv",
            root=root,
            target=["tgrade"],
            ordinal=True,
            drop=["recurrence", "days"],
            title="Which grade is this breast tumour?",
        )
    out: list[str] = []
    result = run_demo(which, workdir=tmp_path / "demo", root=root, echo=out.append)
    text = "\n".join(out)
    assert result.report.counts == {**result.report.counts, "scored": 9, "failed": 1, "invalid": 2}, text
    table = result.board.table
    assert table["rank"].notna().sum() == 9
    assert table.iloc[-1]["team"] == "Quick Baseline", "the constant baseline ranks last"
    primary = "c_index" if which == "gbsg2" else "quadratic_kappa"
    assert result.board.metric.name == primary
    assert {"ci_low", "ci_high", "rank_range"} <= set(table.columns)
