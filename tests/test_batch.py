"""Batches: nbgrader courses in and out, Dask, progress and feedback, and a grader killed with -9."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from kit.challenge import load_challenge
from kit.demo import Variant, make_variant
from kit.grading import grade
from kit.workspace import open_ledger


def starter(ch):
    return nbformat.read(ch.starter_notebook, as_version=4)


def write_nb(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def nbgrader_course(tmp_path, ch):
    course = tmp_path / "course"
    for student, variant, stamp in [
        ("alice", Variant("alice", "starter"), "2026-03-02 10:00:00.000000 UTC"),
        (
            "bob",
            Variant("bob", "nb", model="from sklearn.naive_bayes import GaussianNB\nmodel = GaussianNB()"),
            "2026-03-02 11:30:00.000000 UTC",
        ),
        (
            "carol",
            Variant("carol", "raises", features="raise ValueError('carol forgot something')"),
            "2026-03-02 12:00:00.000000 UTC",
        ),
    ]:
        folder = course / "submitted" / student / "bc1"
        write_nb(make_variant(starter(ch), variant), folder / "challenge.ipynb")
        (folder / "timestamp.txt").write_text(stamp)
    return course


def test_nbgrader_course_in_and_gradebook_out(root, workdir, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    course = nbgrader_course(tmp_path, ch)
    report = grade("breast-cancer", [course], workdir=workdir, root=root, assignment="bc1", workers=2)
    by = {e.team: e for e in report.entries}
    assert by["alice"].status == "scored" and by["bob"].status == "scored"
    assert by["carol"].status == "failed" and "carol forgot something" in by["carol"].error
    with open_ledger(workdir) as led:
        subs = led.latest_runs("breast-cancer").set_index("team")
        assert subs.loc["bob", "submitted_at"].startswith("2026-03-02T11:30:00")
        fb = Path(subs.loc["carol", "feedback_path"]).read_text()
        assert "carol forgot something" in fb and "private" not in fb.split("Your notebook")[0].lower().replace(
            "the private test cases decide", ""
        )
        fb_alice = Path(subs.loc["alice", "feedback_path"]).read_text()
        assert "Scored on the public test cases" in fb_alice and "roc_auc" in fb_alice

    from kit.grading.nbgrader_io import push_to_gradebook

    points = push_to_gradebook("breast-cancer", course, workdir=workdir, assignment="bc1", root=root, phase="public")
    assert set(points) == {"alice", "bob", "carol"} and all(0 < points[s] <= 100 for s in ("alice", "bob"))
    # the failed notebook gets 0, and its error as the grade's comment
    assert points["carol"] == 0 and "carol forgot something" in points.grades["carol"].comment
    out = tmp_path / "grades.csv"
    r = subprocess.run(
        [sys.executable, "-m", "nbgrader", "export", f"--CourseDirectory.root={course}", f"--CsvExportPlugin.to={out}"],
        capture_output=True,
        text=True,
        cwd=course,
    )
    assert r.returncode == 0, r.stderr
    grades = pd.read_csv(out).set_index("student_id")
    assert grades.loc["alice", "score"] == pytest.approx(points["alice"])
    assert grades.loc["bob", "assignment"] == "bc1" and grades.loc["carol", "score"] == 0


@pytest.mark.slow  # a Dask LocalCluster: run by `make test-slow` and in CI
def test_dask_executor_on_a_local_cluster(root, workdir, tmp_path):
    from distributed import LocalCluster

    ch = load_challenge("breast-cancer", root=root)
    subs = tmp_path / "subs"
    for team in ("t1", "t2", "t3"):
        write_nb(starter(ch), subs / team / "starter.ipynb")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        report = grade(
            "breast-cancer",
            [subs],
            workdir=workdir,
            root=root,
            executor="dask",
            scheduler=cluster.scheduler_address,
            workers=1,
        )
    assert report.counts["scored"] == 3, repr(report)
    with open_ledger(workdir) as led:
        assert len(led.query("SELECT * FROM runs")) == 3


def test_a_grader_killed_with_sigkill_loses_nothing(root, workdir, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    subs = tmp_path / "subs"
    for i in range(6):
        nb = make_variant(
            starter(ch),
            Variant(
                f"team{i}",
                "v",
                model=(
                    "from sklearn.linear_model import LogisticRegression\n"
                    f"model = LogisticRegression(C={0.1 * (i + 1)}, max_iter=2000)"
                ),
            ),
        )
        write_nb(nb, subs / f"team{i}" / "nb.ipynb")
    (subs / "csvteam").mkdir()
    (subs / "csvteam" / "p.csv").write_bytes(ch.path("sample_submission").read_bytes())
    cmd = [
        sys.executable,
        "-m",
        "kit.cli",
        "--root",
        str(root),
        "grade",
        "breast-cancer",
        str(subs),
        "--workdir",
        str(workdir),
        "--workers",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = workdir / "ledger.sqlite"
    batches = workdir / "breast-cancer" / "batches"

    def fed() -> int:  # prediction files handed to the grading notebook so far
        return sum(len(m.read_bytes().splitlines()) for m in batches.glob("*/manifest.jsonl"))

    # kill once the batch is under way: every hand-in recorded, the grading notebook started on the
    # predictions file (fed first), the notebooks sent to their kernels
    deadline = time.monotonic() + 60
    while fed() < 1:
        assert proc.poll() is None, "the grader ended before it was killed"
        assert time.monotonic() < deadline, "the batch never got under way"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(ledger) as db:
        assert db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 7
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] < 7, "killed after the batch had ended"

    again = grade("breast-cancer", [subs], workdir=workdir, root=root, workers=2)
    with open_ledger(workdir) as led:
        assert led.query("PRAGMA integrity_check").iloc[0, 0] == "ok"
        subs_df = led.query("SELECT * FROM submissions")
        runs = led.query("SELECT submission_id, COUNT(*) AS n, MAX(status) AS status FROM runs GROUP BY submission_id")
        assert len(subs_df) == 7, "every hand-in recorded exactly once"
        assert len(runs) == 7 and (runs["n"] == 1).all(), "nothing graded twice"
        assert (runs["status"] == "scored").all()
    assert again.counts["scored"] + again.counts["skipped"] == 7


def test_two_graders_on_one_workdir_do_not_mix(root, workdir, tmp_path):
    from kit.errors import KitError
    from kit.grading.session import GraderLock
    from kit.workspace import Workspace

    ws = Workspace(workdir)
    first = GraderLock(ws, "breast-cancer").acquire()
    try:
        with pytest.raises(KitError, match="another `kit grade` is grading"):
            GraderLock(ws, "breast-cancer").acquire()
        GraderLock(ws, "diabetes").acquire().release()  # another challenge: another lock
    finally:
        first.release()
    GraderLock(ws, "breast-cancer").acquire().release()  # released: the next grader may start
