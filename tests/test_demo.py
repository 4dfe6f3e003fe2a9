"""`kit demo` on the embedded default challenge: a class of real notebooks, graded and ranked."""

from click.testing import CliRunner

from kit.cli import cli


def test_demo_grades_a_class_and_prints_the_board(tmp_path):
    work = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", "--workdir", str(work)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = r.output
    assert "17 teams handed in 17 files" in out
    assert "14 scored, 1 failed, 2 invalid" in out
    assert "KeyError" in out and "no cell tagged 'parameters'" in out
    assert "public leaderboard (14 teams)" in out
    board_lines = [line for line in out.splitlines() if line.strip().startswith(("1 ", "14 "))]
    assert board_lines and "Quick Baseline" in board_lines[-1], "the constant baseline ranks last"
    assert (work / "leaderboard.html").exists() and (work / "ledger.sqlite").exists()
    # a second demo replaces the first; a foreign folder is never wiped
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    r = CliRunner().invoke(cli, ["demo", "--workdir", str(foreign)])
    assert r.exit_code == 1 and "not from an earlier demo" in r.output
    assert (foreign / "precious.txt").read_text() == "keep"
