"""nbgrader interoperability: read a course's submissions, push scores into its gradebook.

- :func:`iter_course`: the submissions of an nbgrader course directory, read through
  nbgrader's own layout (``CourseDirectory``: ``submitted/<student>/<assignment>/``) with
  the hand-in time of each student's ``timestamp.txt``; the team is the student id.
- :func:`push_to_gradebook`: each student's board score into the course's gradebook
  through nbgrader's ``Gradebook`` API, so that ``nbgrader export`` includes it.

A board score becomes nbgrader points as a *skill score* against the challenge's
constant baseline (its sample submission): ``100 * (score - baseline) / (best - baseline)``,
clipped to [0, 100]; the baseline earns 0 points and a perfect score 100, whatever the
metric's direction or range.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Iterator
from pathlib import Path

from ..challenge import load_challenge
from ..errors import KitError
from .intake import KINDS, HandIn

GRADE_CELL = "kit-score"
MAX_POINTS = 100.0


def is_course_dir(path: Path) -> bool:
    return (Path(path) / "submitted").is_dir()


def _course(course_dir: Path):
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(root=str(Path(course_dir).resolve()))


def iter_course(course_dir, assignment: str | None = None) -> Iterator[HandIn]:
    """Hand-ins of an nbgrader course directory (one assignment, or all)."""
    from nbgrader.utils import parse_utc

    course = _course(course_dir)
    pattern = course.format_path(course.submitted_directory, "*", assignment or "*")
    folders = sorted(glob.glob(pattern))
    if not folders:
        raise KitError(
            f"no submissions for assignment {assignment or '(any)'} in the nbgrader course",
            where=str(Path(course_dir) / course.submitted_directory),
            fix="collect them first (nbgrader collect / zip_collect) or check --assignment",
        )
    for folder in folders:
        folder = Path(folder)
        student, assign = folder.parent.name, folder.name
        stamp_file = folder / "timestamp.txt"
        stamp = None
        if stamp_file.exists():
            try:
                stamp = parse_utc(stamp_file.read_text().strip()).isoformat()
            except Exception as exc:  # noqa: BLE001 - a bad timestamp is reported, not fatal
                raise KitError(
                    f"cannot read the timestamp ({exc})",
                    where=str(stamp_file),
                    fix="write it as nbgrader does, e.g. 2026-03-02 12:00:00.000000 UTC",
                ) from None
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in KINDS and not p.name.startswith("."):
                yield HandIn(path=p, team=student, submitted_at=stamp, source=f"nbgrader:{assign}")


def skill_points(score: float, baseline: float, metric) -> float:
    """nbgrader points of a score: 0 for the baseline, 100 for the metric's best value."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return 0.0
    best = metric.best
    if not math.isfinite(best) or best == baseline:
        raise KitError(
            f"metric {metric.name} has no finite best value to scale points against",
            fix="choose a bounded primary metric to push scores into nbgrader",
        )
    return float(min(MAX_POINTS, max(0.0, MAX_POINTS * (score - baseline) / (best - baseline))))


class _scripts_on_path:
    """nbgrader migrates its gradebook by running the ``alembic`` script: make sure the scripts of
    this Python environment are on PATH even when it was not activated (``.venv/bin/kit ...``)."""

    def __enter__(self):
        import sys

        self.old = os.environ.get("PATH", "")
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), self.old])

    def __exit__(self, *exc):
        os.environ["PATH"] = self.old


def push_to_gradebook(
    challenge, course_dir, *, workdir, assignment: str | None = None, phase: str = "auto", root=None, now=None
) -> dict[str, float]:
    """Write each team's (student's) points into the course gradebook; returns {student: points}."""
    from nbgrader.api import Gradebook

    from ..labels import read_labels
    from ..leaderboard import build_board
    from ..scoring import score_file

    ch = load_challenge(challenge, root=root)
    board = build_board(ch, workdir=workdir, phase=phase, stats=False, now=now)
    labels = read_labels(ch)
    base = score_file(ch, labels, ch.path("sample_submission")).scores[board.phase][ch.spec.metrics.primary]
    course = _course(course_dir)
    assignment = assignment or ch.id
    notebook = f"kit-{ch.id}"
    db_url = f"sqlite:///{Path(course.root) / 'gradebook.db'}"
    points = {}
    with _scripts_on_path(), Gradebook(db_url) as gb:
        gb.update_or_create_assignment(assignment)
        gb.update_or_create_notebook(notebook, assignment)
        gb.update_or_create_grade_cell(GRADE_CELL, notebook, assignment, max_score=MAX_POINTS, cell_type="code")
        for team, score, submitted_at in zip(
            board.table["team"], board.table["score"].astype(float), board.table["submitted_at"], strict=True
        ):
            student = str(team)
            gb.update_or_create_student(student)
            from nbgrader.utils import parse_utc

            gb.update_or_create_submission(assignment, student, timestamp=parse_utc(str(submitted_at)))
            grade = gb.find_grade(GRADE_CELL, notebook, assignment, student)
            grade.auto_score = skill_points(float(score), base, board.metric)
            points[student] = grade.auto_score
        gb.db.commit()
    return points
