"""The command line through click's test runner."""

import shutil

from click.testing import CliRunner
from conftest import REPO

from kit.cli import cli


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kw)


def test_help_lists_every_command():
    r = run("--help")
    assert r.exit_code == 0
    for cmd in ("list", "validate", "prepare", "check", "grade", "leaderboard", "demo"):
        assert cmd in r.output


def test_list_and_validate():
    r = run("--root", REPO, "list")
    assert "breast-cancer" in r.output and "diabetes" in r.output
    r = run("validate", REPO / "starter_kits/diabetes/challenge.yml")
    assert r.exit_code == 0 and "valid challenge spec" in r.output


def test_errors_are_what_where_fix_with_exit_code_1(tmp_path):
    bad = tmp_path / "challenge.yml"
    bad.write_text((REPO / "starter_kits/diabetes/challenge.yml").read_text().replace("primary: rmse", "primary: rsme"))
    r = CliRunner().invoke(cli, ["validate", str(bad)])
    assert r.exit_code == 1
    assert "metrics.primary" in r.output and "'rsme' is not a registered metric" in r.output and "rmse" in r.output
    r = CliRunner().invoke(cli, ["--root", str(REPO), "leaderboard", "nope"])
    assert r.exit_code == 1 and "no challenge 'nope'" in r.output and "breast-cancer" in r.output


def test_prepare_and_check(root, tmp_path):
    r = run("--root", root, "prepare", "diabetes")
    assert r.exit_code == 0 and r.output.count(" ok ") == 4
    r = run("--root", root, "check", "diabetes", root / "starter_kits/diabetes/data/sample_submission.csv")
    assert r.exit_code == 0 and "format: OK, 177 predictions" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,progression\ncase-0001,lots\n")
    r = CliRunner().invoke(cli, ["--root", str(root), "check", "diabetes", str(bad)])
    assert r.exit_code == 1 and "'lots'" in r.output and "176 of 177 test case(s) have no prediction" in r.output


def test_grade_and_leaderboard_formats(root, tmp_path):
    work = tmp_path / "work"
    team = tmp_path / "subs" / "Team <One>"
    team.mkdir(parents=True)
    shutil.copy(root / "starter_kits/breast-cancer/data/sample_submission.csv", team / "s.csv")
    r = run("--root", root, "grade", "breast-cancer", tmp_path / "subs", "--workdir", work)
    assert r.exit_code == 0 and "1 scored" in r.output
    r = run("--root", root, "grade", "breast-cancer", team / "s.csv", "--workdir", work, "--team", "Team <One>")
    assert "skipped 1 already graded" in r.output
    r = run("--root", root, "leaderboard", "breast-cancer", "--workdir", work, "--phase", "public")
    assert "Team <One>" in r.output and "public roc_auc" in r.output
    for fmt, marker in [("csv", "rank,team,score"), ("markdown", "| rank | team |"), ("html", "Team &lt;One&gt;")]:
        out = tmp_path / f"board.{fmt}"
        r = run("--root", root, "leaderboard", "breast-cancer", "--workdir", work, "--format", fmt, "-o", out)
        assert r.exit_code == 0 and marker in out.read_text()
    r = run("--root", root, "leaderboard", "breast-cancer", "--workdir", work, "--phase", "private")
    assert "private roc_auc" in r.output and "move" in r.output
