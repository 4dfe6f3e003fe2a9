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
    r = run("--root", root, "leaderboard", "breast-cancer", "--workdir", work, "--ladder", "--ladder-rule", "fixed")
    assert r.exit_code != 0 and "the Ladder needs a per-case loss and roc_auc has none" in r.output  # reached it
    r = run("--root", root, "leaderboard", "breast-cancer", "--workdir", work, "--interval", "percentile")
    assert r.exit_code == 0 and "Team <One>" in r.output, r.output
    r = run("--root", root, "leaderboard", "breast-cancer", "--workdir", work, "--ladder-eta", "0.02")
    assert r.exit_code != 0 and "go with --ladder" in r.output
    r = run("--root", root, "leaderboard", "breast-cancer", "--workdir", work, "--phase", "private")
    assert r.exit_code != 0 and "its private leaderboard is hidden" in r.output and "--organiser-preview" in r.output
    r = run(
        "--root", root, "leaderboard", "breast-cancer", "--workdir", work, "--phase", "private", "--organiser-preview"
    )
    assert r.exit_code == 0 and "private roc_auc" in r.output and "move" in r.output
    assert "WARNING: the private leaderboard of breast-cancer" in r.output and "do not share it" in r.output


def test_help_summaries_are_never_cut():
    for width in (80, 50):
        r = CliRunner().invoke(cli, ["--help"], terminal_width=width)
        commands = r.output.split("Commands:", 1)[1]  # (the usage line ends with "[ARGS]...")
        assert r.exit_code == 0 and "..." not in commands, commands
    commands = run("--help").output.split("Commands:", 1)[1]
    for name in ("board", "card", "grade", "leaderboard", "release", "watch"):  # a short summary on one line
        line = next(line for line in commands.splitlines() if line.strip().startswith(name + " "))
        assert line.rstrip().endswith("."), line


def test_grade_of_an_empty_folder_says_so_and_writes_nothing(root, tmp_path):
    empty, work = tmp_path / "handins", tmp_path / "work"
    (empty / "ann").mkdir(parents=True)
    (empty / "ann" / "notes.txt").write_text("not a hand-in")
    r = CliRunner().invoke(cli, ["--root", str(root), "grade", "breast-cancer", str(empty), "--workdir", str(work)])
    assert r.exit_code == 1 and "graded 0" not in r.output
    assert "nothing to grade: no notebook (.ipynb) or predictions file (.csv)" in r.output
    assert str(empty) in r.output and "FOLDER/<team>/<name>.ipynb" in r.output
    assert not work.exists()
    r = CliRunner().invoke(cli, ["--root", str(root), "grade", "breast-cancer", "--workdir", str(work)])
    assert r.exit_code == 1 and "nothing to grade" in r.output and not work.exists()


def test_watch_refuses_a_missing_folder_unless_asked_to_create_it(root, tmp_path, monkeypatch):
    import kit.grading.watch as watch_module

    started = []

    class Session:  # the grading session, never reached for a missing folder
        def __init__(self, *args, **kwargs):
            started.append(kwargs)
            raise KeyboardInterrupt  # stand in for Ctrl-C: the watch ends here

    monkeypatch.setattr(watch_module, "GradingSession", Session)
    typo = tmp_path / "handnis"
    r = CliRunner().invoke(cli, ["--root", str(root), "watch", "breast-cancer", str(typo), "--workdir", str(tmp_path)])
    assert r.exit_code == 1 and "no such folder" in r.output and "--create" in r.output
    assert not typo.exists() and not started
    CliRunner().invoke(cli, ["--root", str(root), "watch", "breast-cancer", str(typo), "--create"])
    assert typo.is_dir() and started


def test_watch_prints_one_timestamped_line_per_hand_in(root, tmp_path, monkeypatch):
    import re

    import kit.grading.watch as watch_module
    from kit.challenge import load_challenge
    from kit.grading.report import Entry, GradeReport

    ch = load_challenge("breast-cancer", root=root)
    outcomes = {
        "good.csv": dict(status="scored", score=0.91234),
        "again.csv": dict(status="skipped"),
        "broken.ipynb": dict(status="failed", error="NameError: name 'x' is not defined\nin cell 3"),
    }

    class Session:  # the warm session, without kernels: each hand-in gets its outcome above
        def __init__(self, *args, **kwargs):
            self.ch = ch

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def start(self):
            return self

        def grade(self, hand_ins, progress):
            report = GradeReport(ch)
            for i, h in enumerate(hand_ins, 1):
                report.entries.append(Entry(i, h.team, h.path.name, h.kind, **outcomes[h.path.name]))
            return report

    monkeypatch.setattr(watch_module, "GradingSession", Session)
    folder = tmp_path / "handins"
    for team, name in [("ann", "good.csv"), ("bob", "again.csv"), ("cy", "broken.ipynb")]:
        (folder / team).mkdir(parents=True)
        (folder / team / name).write_text("x")
    lines, reports = [], []
    watch_module.watch(
        "breast-cancer",
        folder,
        workdir=tmp_path / "work",
        root=root,
        create=False,
        echo=lines.append,
        on_report=reports.append,
        stop=lambda: bool(reports),
    )
    assert lines[0].startswith(f"watching {folder}")
    stamp = r"\d\d:\d\d:\d\d  "
    assert re.fullmatch(stamp + r"ann  good\.csv  scored: public roc_auc 0\.9123", lines[1])
    assert re.fullmatch(stamp + r"bob  again\.csv  skipped: the same file was graded before", lines[2])
    assert re.fullmatch(stamp + r"cy  broken\.ipynb  failed: NameError: name 'x' is not defined", lines[3])
    assert len(lines) == 4


def test_board_refuses_a_work_folder_without_a_ledger(tmp_path, monkeypatch):
    import kit.widgets.notebook as board_module

    def serve_board(*args, **kwargs):  # what would replace this process with Voilà
        raise AssertionError("the board was served")

    monkeypatch.setattr(board_module, "serve_board", serve_board)
    for workdir, what in [(tmp_path / "wrokdir", "no such folder"), (tmp_path, "no ledger in this folder")]:
        r = CliRunner().invoke(cli, ["--root", str(REPO), "board", "breast-cancer", "--workdir", str(workdir)])
        assert r.exit_code == 1 and what in r.output and str(workdir) in r.output, r.output
        assert "`kit grade` or `kit watch`" in r.output
    assert not (tmp_path / "wrokdir").exists()


def test_card_prints_the_files_it_wrote(root, tmp_path):
    out = tmp_path / "card"
    r = run("--root", root, "card", "breast-cancer", "--out", out)
    assert r.exit_code == 0 and "CardResult(" not in r.output
    lines = r.output.splitlines()
    assert lines[0] == f"wrote the data card of breast-cancer to {out}:"
    for name in ("README.md", "card.html", "croissant.json"):
        assert f"  {out / name}" in lines and (out / name).exists()
    assert "sealed: the challenge is open" in r.output and "privacy gate: passed" in r.output
