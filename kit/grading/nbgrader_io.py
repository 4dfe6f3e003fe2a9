"""nbgrader interoperability: read a course's submissions, push scores into its gradebook.

- :func:`course_directory`: the course's ``CourseDirectory`` configured as nbgrader itself
  configures it: the Jupyter configuration folders, then the course's own
  ``nbgrader_config.py`` (so ``c.CourseDirectory.db_url``, ``course_id``,
  ``submitted_directory`` and ``directory_structure`` are the course's).
- :func:`iter_course`: the submissions of an nbgrader course directory, read through
  nbgrader's own layout (``submitted/<student>/<assignment>/``) with the hand-in time of
  each student's ``timestamp.txt``; the team is the student id.
- :func:`push_to_gradebook`: one grade for each student of the course for the assignment
  into the gradebook nbgrader's configuration names, so that ``nbgrader export`` includes
  it; a failed or missing hand-in gets 0 and its reason as the grade's comment.

A board score becomes nbgrader points as a *skill score* against the challenge's
constant baseline (its sample submission):
``points = 100 * (score - baseline) / (best - baseline)``, clipped to [0, 100] and rounded
to 0.01; the baseline earns 0 points and the metric's best value 100, whatever the
metric's direction or range (the README gives an example).

In the gradebook the kit's grade is one notebook ``kit-<challenge>`` of the assignment
holding one cell ``kit-score`` that is, as nbgrader's own "manually graded answer" cells
are, both a grade cell (its ``auto_score``: the points, out of 100) and a solution cell
(its ``auto_comment``: how the points were computed, or why they are 0). The formgrader
shows the comment beside the grade; a grader's ``manual_score`` or ``manual_comment``
overrides ours, as in nbgrader.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from ..challenge import load_challenge
from ..errors import KitError
from .intake import KINDS, HandIn

if TYPE_CHECKING:  # pragma: no cover
    from nbgrader.coursedir import CourseDirectory

GRADE_CELL = "kit-score"
MAX_POINTS = 100.0
#: the longest failure reason kept in a gradebook comment (the feedback report has it all)
MAX_REASON_CHARS = 1500


def is_course_dir(path: Path) -> bool:
    return (Path(path) / "submitted").is_dir()


# -- the course's configuration, loaded by nbgrader -------------------------------------


@lru_cache(maxsize=1)
def _config_app_class() -> type:
    """An nbgrader application that only loads configuration (nbgrader is imported on use)."""
    from nbgrader.apps.baseapp import NbGrader

    class CourseConfig(NbGrader):
        """``NbGrader.initialize(root=course)`` loads the Jupyter configuration folders, then
        ``<course>/nbgrader_config.py``: what ``nbgrader export`` run in the course folder
        loads. The kit's own working directory is not a course, so it is not searched; a
        configuration file that cannot be loaded is an error, not a warning."""

        name = "kit-nbgrader"
        load_cwd_config = False
        raise_config_file_errors = True

        def init_syspath(self) -> None:
            """nbgrader puts the working directory on ``sys.path`` for its plug-ins: not needed here."""

        def exit(self, exit_status=0):
            """traitlets ends the process on a bad configuration value: say it instead."""
            raise KitError(
                "the course's nbgrader configuration is invalid"
                + (f": {self.kit_messages[-1]}" if self.kit_messages else ""),
                where=str(Path(self.kit_root) / "nbgrader_config.py"),
                fix="correct the value nbgrader names (see `nbgrader --help-all`)",
            )

    return CourseConfig


class _Collect(logging.Handler):
    def __init__(self, into: list[str]):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


#: nbgrader's warning that no configuration file is in the folders it searched first; the
#: course's own file is loaded after that search, so the warning says nothing about it
_NO_CONFIG_WARNING = "No nbgrader_config.py file found"


def course_directory(course_dir, *, notes: list[str] | None = None) -> CourseDirectory:
    """The nbgrader ``CourseDirectory`` of a course folder, with the course's configuration.

    nbgrader's warnings while loading it (outdated option names, ...) are appended to ``notes``
    instead of being printed.
    """
    root = Path(course_dir).resolve()
    messages: list[str] = []
    log = logging.Logger("kit.nbgrader", logging.WARNING)  # not registered: nothing reaches the root logger
    log.addHandler(_Collect(messages))
    app = _config_app_class()(log=log)
    app.kit_messages, app.kit_root = messages, str(root)
    config_file = root / "nbgrader_config.py"
    try:
        app.initialize([], root=str(root))
    except KitError:
        raise
    except Exception as exc:  # noqa: BLE001 - a configuration file is user code: anything can fail in it
        raise KitError(
            f"cannot load the course's nbgrader configuration ({type(exc).__name__}: {exc})",
            where=str(config_file if config_file.exists() else root),
            fix="check it with `nbgrader export` in the course folder, then correct the file it names",
        ) from None
    if notes is not None:
        notes.extend(f"nbgrader: {m}" for m in messages if not m.startswith(_NO_CONFIG_WARNING))
    return app.coursedir


def _submitted(course: CourseDirectory, assignment: str | None) -> list[tuple[str, str, Path]]:
    """``(student, assignment, folder)`` of each submission folder, parsed as nbgrader's
    ``NbGraderAPI.get_submitted_students`` parses them (any ``directory_structure``)."""
    step = course.submitted_directory
    pattern = course.format_path(step, "*", assignment or "*")
    regex = re.compile(
        course.format_path(
            step, "(?P<student_id>[^/]+)", re.escape(assignment) if assignment else "(?P<assignment_id>[^/]+)", True
        )
        + "$"
    )
    found = []
    for name in sorted(glob.glob(pattern)):
        m = regex.match(name)
        if m and os.path.isdir(name):
            found.append((m["student_id"], assignment or m["assignment_id"], Path(name)))
    return found


def iter_course(course_dir, assignment: str | None = None) -> Iterator[HandIn]:
    """Hand-ins of an nbgrader course directory (one assignment, or all)."""
    from nbgrader.utils import parse_utc

    course = course_directory(course_dir)
    folders = _submitted(course, assignment)
    if not folders:
        raise KitError(
            f"no submissions for assignment {assignment or '(any)'} in the nbgrader course",
            where=course.format_path(course.submitted_directory, "*", assignment or "*"),
            fix="collect them first (nbgrader collect / zip_collect) or check --assignment",
        )
    for student, assign, folder in folders:
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
        for p in _gradable(folder):
            yield HandIn(path=p, team=student, submitted_at=stamp, source=f"nbgrader:{assign}")


def _gradable(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.suffix.lower() in KINDS and not p.name.startswith(".")]


# -- points ------------------------------------------------------------------------------


def _skill(score: float, baseline: float, metric) -> float:
    best = metric.best
    if not math.isfinite(best) or best == baseline:
        raise KitError(
            f"metric {metric.name} has no finite best value to scale points against",
            fix="choose a bounded primary metric to push scores into nbgrader",
        )
    return MAX_POINTS * (score - baseline) / (best - baseline)


def skill_points(score: float, baseline: float, metric) -> float:
    """nbgrader points of a score: 0 for the baseline, 100 for the metric's best value."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return 0.0
    return round(float(min(MAX_POINTS, max(0.0, _skill(score, baseline, metric)))), 2)


def _points_comment(score: float, baseline: float, metric, phase: str) -> str:
    """How the points were computed, in words and numbers (the grade's comment)."""
    d = metric.precision
    s, b, best = f"{score:.{d}f}", f"{baseline:.{d}f}", f"{metric.best:.{d}f}"
    raw, points = _skill(score, baseline, metric), skill_points(score, baseline, metric)
    clipped = (
        f" = {raw:.2f}, clipped to [0, 100]: {points:.2f} points"
        if raw < 0 or raw > MAX_POINTS
        else f" = {points:.2f} points"
    )
    return (
        f"{metric.name} {s} on the {phase} test cases; the constant baseline (the sample submission) "
        f"scores {b} and the best possible {best}: 100 x ({s} - {b}) / ({best} - {b}){clipped}."
    )


# -- the push ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StudentGrade:
    """One student's grade as pushed: ``status`` is ``scored``, ``failed`` (a hand-in that
    did not score: failed, invalid, rejected or refused) or ``missing`` (nothing graded)."""

    student: str
    points: float
    status: str
    comment: str
    submitted_at: str | None = None


@dataclass
class GradebookPush(Mapping):
    """What :func:`push_to_gradebook` wrote; a mapping ``{student: points}``.

    ``db_url``: the gradebook (password hidden); ``skipped``: the board's teams that are not
    students of the course for the assignment, never pushed; ``notes``: nbgrader's warnings.
    """

    db_url: str
    assignment: str
    phase: str
    grades: dict[str, StudentGrade]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, student: str) -> float:
        return self.grades[student].points

    def __iter__(self) -> Iterator[str]:
        return iter(self.grades)

    def __len__(self) -> int:
        return len(self.grades)

    @property
    def zero(self) -> dict[str, StudentGrade]:
        """The students who got 0 because their hand-in failed or is missing."""
        return {s: g for s, g in self.grades.items() if g.status != "scored"}

    def lines(self) -> list[str]:
        out = [f"pushed {len(self)} student grade(s) for assignment {self.assignment} into {self.db_url}"]
        for s, g in self.zero.items():
            out.append(f"  {s}: {g.comment.splitlines()[0]}")
        if self.skipped:
            out.append(
                f"skipped {len(self.skipped)} team(s) of the board that are not students of the course "
                f"for {self.assignment}: {', '.join(self.skipped)}"
            )
        out.extend(self.notes)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{escape(g.student)}</td><td>{g.points:.2f}</td><td>{escape(g.status)}</td>"
            f"<td>{escape(g.comment)}</td></tr>"
            for g in self.grades.values()
        )
        skipped = (
            f"<p>Skipped (not students of the course): {escape(', '.join(self.skipped))}</p>" if self.skipped else ""
        )
        return (
            f"<p>Gradebook <code>{escape(self.db_url)}</code>, assignment <code>{escape(self.assignment)}</code> "
            f"({escape(self.phase)} scores)</p><table><tr><th>student</th><th>points</th><th>status</th>"
            f"<th>comment</th></tr>{rows}</table>{skipped}"
        )


class _scripts_on_path:
    """nbgrader migrates its gradebook by running the ``alembic`` script: make sure the scripts of
    this Python environment are on PATH even when it was not activated (``.venv/bin/kit ...``)."""

    def __enter__(self):
        import sys

        self.old = os.environ.get("PATH", "")
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), self.old])

    def __exit__(self, *exc):
        os.environ["PATH"] = self.old


def _shown_url(db_url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - shown as given when SQLAlchemy cannot parse it (it will say so)
        return db_url


def _pick_assignment(course: CourseDirectory, assignment: str | None, default: str) -> str:
    if assignment:
        return assignment
    names = sorted({a for _, a, _ in _submitted(course, None)})
    if len(names) > 1:
        raise KitError(
            f"the course has {len(names)} assignments ({', '.join(names)}): which one do the scores grade?",
            where=course.format_path(course.submitted_directory, "*", "*"),
            fix="name it with --assignment",
        )
    return names[0] if names else default


def _reason_of_failure(
    team_runs, refusals, folder: Path | None, course_root: str, assignment: str, kit_grade: str
) -> tuple[str, str]:
    """``(status, comment)`` of a student with no score: their newest hand-in's outcome."""
    import pandas as pd

    shown = os.path.relpath(folder, course_root) if folder is not None else ""
    if len(team_runs):
        last = team_runs.sort_values(["submitted_at", "submission_id"]).iloc[-1]
        status = last["status"]
        what = (last["error"] if isinstance(last["error"], str) else "") or "no reason recorded"
        what = what if len(what) <= MAX_REASON_CHARS else what[:MAX_REASON_CHARS] + " ..."
        name = last["filename"]
        if pd.isna(status):
            return "missing", f"0 points: {name} was handed in but not graded yet (run `{kit_grade}` again)."
        if status == "scored":  # scored, but with no score on the board's split
            return "failed", f"0 points: {name} scored, but has no score on the board's split (it is unranked)."
        stage = last["stage"] if isinstance(last["stage"], str) and last["stage"] else "grading"
        return "failed", f"0 points: {name} was {status} ({stage} stage): {what}"
    if len(refusals):
        last = refusals.iloc[-1]
        return "failed", f"0 points: {last['filename']} was refused at intake: {last['reason']}"
    if folder is None:
        return "missing", f"0 points: no hand-in for {assignment} (no submission folder)."
    if not _gradable(folder):
        return "missing", f"0 points: no notebook (.ipynb) or prediction file (.csv) in {shown}."
    return "missing", f"0 points: the hand-in in {shown} was not graded (run `{kit_grade}`)."


def _grade_rows(gb, assignment: str, notebook: str, student: str):
    """The student's Grade and Comment rows of the kit's cell, made when the submission
    predates the cell (nbgrader makes them only when it creates a submission)."""
    from nbgrader.api import Comment, Grade, MissingEntry, SubmittedNotebook

    submission = gb.find_submission(assignment, student)
    nb = next((n for n in submission.notebooks if n.name == notebook), None)
    if nb is None:
        nb = SubmittedNotebook(notebook=gb.find_notebook(notebook, assignment), assignment=submission)
        gb.db.add(nb)
    try:
        grade = gb.find_grade(GRADE_CELL, notebook, assignment, student)
    except MissingEntry:
        grade = Grade(cell_id=gb.find_grade_cell(GRADE_CELL, notebook, assignment).id, notebook=nb)
        gb.db.add(grade)
    try:
        comment = gb.find_comment(GRADE_CELL, notebook, assignment, student)
    except MissingEntry:
        comment = Comment(cell_id=gb.find_solution_cell(GRADE_CELL, notebook, assignment).id, notebook=nb)
        gb.db.add(comment)
    return grade, comment


def push_to_gradebook(
    challenge, course_dir, *, workdir, assignment: str | None = None, phase: str = "auto", root=None, now=None
) -> GradebookPush:
    """Write a grade for each student of the course for ``assignment`` into its gradebook.

    The gradebook is the one the course's nbgrader configuration names
    (``c.CourseDirectory.db_url``, by default ``<course>/gradebook.db``). The students are
    those nbgrader knows for the assignment: the gradebook's students and the
    ``submitted/<student>/<assignment>/`` folders. A student on the board gets the skill
    points of the board's score (module docstring); a student whose hand-in failed, was
    invalid or refused, or who handed in nothing, gets 0 with the reason as the grade's
    comment. Teams of the board that are not students are skipped and listed.
    ``assignment``: default the course's only assignment, else the challenge's id.
    """
    import pandas as pd
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc
    from sqlalchemy.exc import SQLAlchemyError

    from ..labels import read_labels
    from ..leaderboard import build_board
    from ..scoring import score_file
    from ..workspace import Workspace

    ch = load_challenge(challenge, root=root)
    notes: list[str] = []
    course = course_directory(course_dir, notes=notes)
    assignment = _pick_assignment(course, assignment, ch.id)
    folders = {student: folder for student, _, folder in _submitted(course, assignment)}
    kit_grade = f"kit grade {ch.id} {course_dir} --assignment {assignment}"
    with Workspace(workdir).open_ledger(create=False) as led:
        board = build_board(ch, ledger=led, phase=phase, stats=False, now=now, root=root)
        runs = led.latest_runs(ch.id)
        refusals = led.refusals(ch.id)
    labels = read_labels(ch)
    base = score_file(ch, labels, ch.path("sample_submission")).scores[board.phase][ch.spec.metrics.primary]
    on_board = {
        str(t): (float(s), str(at))
        for t, s, at in zip(board.table["team"], board.table["score"], board.table["submitted_at"], strict=True)
    }
    notebook = f"kit-{ch.id}"
    db_url = course.db_url
    try:
        with _scripts_on_path(), Gradebook(db_url, course.course_id) as gb:
            students = sorted({s.id for s in gb.students} | set(folders))
            if not students:
                raise KitError(
                    f"the course has no student for assignment {assignment}",
                    where=course.format_path(course.submitted_directory, "*", assignment),
                    fix="collect the submissions (nbgrader collect) or add the students "
                    "(nbgrader db student add), then push again",
                )
            gb.update_or_create_assignment(assignment)
            gb.update_or_create_notebook(notebook, assignment)
            gb.update_or_create_grade_cell(GRADE_CELL, notebook, assignment, max_score=MAX_POINTS, cell_type="code")
            gb.update_or_create_solution_cell(GRADE_CELL, notebook, assignment)
            grades: dict[str, StudentGrade] = {}
            for student in students:
                score, submitted_at = on_board.get(student, (math.nan, None))
                if not math.isnan(score):
                    points = skill_points(score, base, board.metric)
                    status, text = "scored", _points_comment(score, base, board.metric, board.phase)
                else:
                    points = 0.0
                    mine, refused = runs[runs["team"] == student], refusals[refusals["team"] == student]
                    status, text = _reason_of_failure(
                        mine, refused, folders.get(student), course.root, assignment, kit_grade
                    )
                    stamps = [str(at) for at in [*mine["submitted_at"], *refused["submitted_at"]] if not pd.isna(at)]
                    submitted_at = max(stamps, default=None)
                gb.update_or_create_student(student)
                stamp = {} if submitted_at is None else {"timestamp": parse_utc(submitted_at)}
                # nbgrader builds the submission's notebooks, grades and comments before adding
                # it to the session; with autoflush on, each lazy load on the way flushes a
                # half-made submission and SQLAlchemy warns ("... not in session, add operation
                # along 'Student.submissions' will not proceed"): build it first, flush on commit
                with gb.db.no_autoflush:
                    gb.update_or_create_submission(assignment, student, **stamp)
                grade, comment = _grade_rows(gb, assignment, notebook, student)
                grade.auto_score = points
                grade.needs_manual_grade = False
                comment.auto_comment = text
                grades[student] = StudentGrade(student, points, status, text, submitted_at)
            gb.db.commit()
    except SQLAlchemyError as exc:
        raise KitError(
            f"cannot write the course's gradebook ({type(exc).__name__}: {str(exc).splitlines()[0]})",
            where=_shown_url(db_url),
            fix="check c.CourseDirectory.db_url in the course's nbgrader_config.py "
            "(its folder must exist and be writable)",
        ) from None
    skipped = sorted(t for t in on_board if t not in grades)
    return GradebookPush(_shown_url(db_url), assignment, board.phase, grades, skipped, notes)
