"""Pushing scores into a real nbgrader gradebook, read back by the real `nbgrader export`.

The course has its own nbgrader_config.py naming a gradebook outside the course folder, a
student nbgrader knows only from its gradebook, hand-ins that score, fail or are missing,
and the work folder's board has a team that is not a student of the course.
"""

import gc
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from kit.errors import KitError
from kit.grading import grade
from kit.grading.nbgrader_io import GRADE_CELL, course_directory, push_to_gradebook

STAMPS = {
    "alice": "2026-03-02 10:00:00.000000 UTC",
    "bob": "2026-03-02 11:30:00.000000 UTC",
    "carol": "2026-03-02 12:00:00.000000 UTC",
}


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """The real nbgrader command in the course folder (it runs this environment's `alembic`)."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], capture_output=True, text=True, cwd=course, env=env
    )


def hand_in(course: Path, student: str, frame: pd.DataFrame | None = None, text: str | None = None) -> Path:
    folder = course / "submitted" / student / "bc1"
    folder.mkdir(parents=True)
    if frame is not None:
        frame.to_csv(folder / "predictions.csv", index=False)
    if text is not None:
        (folder / "predictions.csv").write_text(text)
    if student in STAMPS:
        (folder / "timestamp.txt").write_text(STAMPS[student])
    return folder


def test_push_uses_the_course_config_and_grades_every_student(root, workdir, tmp_path, capfd):
    labels = pd.read_csv(root / "grading" / "breast-cancer" / "labels.csv")
    rng = np.random.default_rng(0)
    noisy = ((labels["malignant"] * 0.6 + rng.uniform(0, 1, len(labels))) / 1.6).round(6)
    course, elsewhere = tmp_path / "course", tmp_path / "elsewhere"
    course.mkdir()
    elsewhere.mkdir()
    db = elsewhere / "med101-grades.sqlite"
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.db_url = 'sqlite:///{db}'\nc.CourseDirectory.course_id = 'med101'\n"
    )
    # dave is on the course's roster, added by nbgrader itself, and hands in nothing
    r = nbgrader(course, "db", "student", "add", "dave", "--last-name=Doe", "--first-name=Dave")
    assert r.returncode == 0, r.stderr
    assert db.exists() and not (course / "gradebook.db").exists()

    # alice's submission is already in the gradebook, without the kit's notebook (as when
    # nbgrader autograded the assignment's own notebooks first)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}", "med101") as gb:
        gb.add_assignment("bc1")
        gb.add_student("alice")
        with gb.db.no_autoflush:
            gb.add_submission("bc1", "alice")
    hand_in(course, "alice", labels[["case_id", "malignant"]])  # perfect: 100 points
    hand_in(course, "bob", labels[["case_id"]].assign(malignant=noisy))
    hand_in(course, "carol", text="case_id,malignant\ncase-0002,high\n")  # invalid: 0 with the reason
    (hand_in(course, "erin") / "notes.txt").write_text("I will hand in next week")  # nothing gradable
    report = grade("breast-cancer", [course], workdir=workdir, root=root, assignment="bc1", workers=1)
    by = {e.team: e.status for e in report.entries}
    assert by == {"alice": "scored", "bob": "scored", "carol": "invalid"}
    # a team of the work folder's board that is no student of the course
    (tmp_path / "teams" / "zed").mkdir(parents=True)
    shutil.copy(root / "starter_kits" / "breast-cancer" / "data" / "sample_submission.csv", tmp_path / "teams" / "zed")
    assert grade("breast-cancer", [tmp_path / "teams"], workdir=workdir, root=root).counts["scored"] == 1

    gc.collect()  # what the grading left to collect warns of itself (unclosed event loops), not the push
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pushed = push_to_gradebook("breast-cancer", course, workdir=workdir, root=root)  # its only assignment
    assert [f"{w.filename}:{w.lineno}: {w.message}" for w in caught] == []
    assert capfd.readouterr().err == ""

    public = labels["split"] == "public"
    bob = round(100 * (roc_auc_score(labels["malignant"][public], noisy[public]) - 0.5) / (1 - 0.5), 2)
    assert 0 < bob < 100
    expected = {"alice": 100.0, "bob": bob, "carol": 0.0, "dave": 0.0, "erin": 0.0}
    assert dict(pushed) == pytest.approx(expected)
    assert pushed.assignment == "bc1" and pushed.db_url == f"sqlite:///{db}" and pushed.skipped == ["zed"]
    assert {s: g.status for s, g in pushed.grades.items()} == {
        "alice": "scored",
        "bob": "scored",
        "carol": "failed",
        "dave": "missing",
        "erin": "missing",
    }
    assert (
        "zed" in str(pushed)
        and str(db) in str(pushed)
        and "carol: 0 points: predictions.csv was invalid" in str(pushed)
    )

    # the real `nbgrader export`, in the course folder, finds the gradebook by the course's config
    out = tmp_path / "grades.csv"
    r = nbgrader(course, "export", f"--to={out}")
    print(pushed, r.stderr, out.read_text(), sep="\n")
    assert r.returncode == 0, r.stderr
    assert "warn" not in r.stderr.lower(), r.stderr
    grades = pd.read_csv(out).set_index("student_id")
    assert set(grades.index) == set(expected), "every student, and no team that is not one"
    assert (grades["assignment"] == "bc1").all() and (grades["max_score"] == 100).all()
    assert grades["score"].to_dict() == pytest.approx(expected)
    assert grades.loc["bob", "timestamp"].startswith("2026-03-02 11:30:00")
    assert grades.loc["dave", "last_name"] == "Doe"

    # the reasons are the grades' comments, read back through nbgrader's own API
    with Gradebook(f"sqlite:///{db}", "med101") as gb:

        def comment(student):
            return gb.find_comment(GRADE_CELL, "kit-breast-cancer", "bc1", student).comment

        assert (
            "invalid" in comment("carol") and "'high'" in comment("carol") and comment("carol").startswith("0 points")
        )
        assert "no notebook (.ipynb) or prediction file (.csv)" in comment("erin")
        assert "no hand-in" in comment("dave")
        assert "100 x (" in comment("bob") and f"= {bob:.2f} points" in comment("bob")
        assert all(not g.needs_manual_grade for g in gb.find_submission("bc1", "bob").notebooks[0].grades)


def test_course_config_is_loaded_as_nbgrader_loads_it(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    assert course_directory(course).db_url == f"sqlite:///{course / 'gradebook.db'}"
    # an outdated option name is what nbgrader migrates, with its warning kept, not printed
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.NbGrader.db_url = 'sqlite:////srv/g.db'\n")
    notes: list[str] = []
    assert course_directory(course, notes=notes).db_url == "sqlite:////srv/g.db"
    assert any("CourseDirectory.db_url rather than NbGrader.db_url" in n for n in notes)


@pytest.mark.parametrize(
    "text, said",
    [
        ("c = get_config(\n", "cannot load the course's nbgrader configuration (SyntaxError"),
        ("c = get_config()\nc.CourseDirectory.db_url = 5\n", "nbgrader configuration is invalid"),
    ],
)
def test_a_broken_course_config_is_an_error_not_the_default_gradebook(tmp_path, text, said):
    (tmp_path / "nbgrader_config.py").write_text(text)
    with pytest.raises(KitError, match=said.replace("(", r"\(")) as err:
        course_directory(tmp_path)
    assert "nbgrader_config.py" in err.value.where
