"""``kit demo``: a class of teams hands in real notebooks; grade them all; show the board.

The class is the same for every task type: the challenge's starter notebook, variants
of it with the task's own models (:meth:`kit.tasks.Task.demo_models`), one that raises,
one that writes malformed predictions, one whose parameters cell lost its tag, plus the
sample submission handed in as a predictions file. None names a column of the data.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from .challenge import load_challenge
from .defaults import DEFAULT_SANDBOX, DEFAULT_WORKERS, DEMO_CHALLENGE, DEMO_WORKDIR
from .errors import KitError

if TYPE_CHECKING:  # pragma: no cover
    from .challenge import ChallengeSpec
    from .grading.report import GradeReport
    from .leaderboard import Leaderboard

MARKER = ".kit-demo"


@dataclass(frozen=True)
class Variant:
    team: str
    name: str
    model: str | None = None  # new source of the cell tagged "model"
    features: str | None = None  # new source of the cell tagged "features"
    append: str | None = None  # a cell appended at the end
    drop_parameters_tag: bool = False


#: the teams of every class besides the task's own models: the starter as handed out, and what goes wrong
STARTER = Variant("Aalto Analytics", "starter")
FAILURES = (
    Variant(
        "Nucleus Ninjas",
        "raises",
        features='''
def make_features(df):
    """Uses a column the data does not have: this notebook raises a KeyError."""
    return df[["a_column_the_data_does_not_have"]]''',
    ),
    Variant(
        "Oncology Otters",
        "malformed_predictions",
        append="""
# Overwrites the predictions with a prediction column renamed and ten rows missing.
renamed = {predictions.columns[1]: f"{predictions.columns[1]}_estimate"}
predictions.rename(columns=renamed).iloc[10:].to_csv(predictions_path, index=False)""",
    ),
    Variant("Pathology Pals", "lost_parameters_tag", drop_parameters_tag=True),
)
#: a team that hands in the sample submission as a CSV: the constant baseline
CSV_TEAM, CSV_NAME = "Quick Baseline", "constant_baseline.csv"


def class_variants(spec: ChallengeSpec) -> list[Variant]:
    """The notebooks of the simulated class on *spec*: the starter, the task's own models
    (:meth:`kit.tasks.Task.demo_models`, each replacing the ``model`` cell) and the failures."""
    models = [Variant(m.team, m.name, model=m.model) for m in spec.task_type.demo_models(spec)]
    variants = [STARTER, *models, *FAILURES]
    teams = [v.team for v in variants] + [CSV_TEAM]
    if len(set(teams)) != len(teams):
        raise KitError(
            f"the demo's class on {spec.task} tasks has a team twice: {sorted(t for t in teams if teams.count(t) > 1)}",
            where=f"kit.tasks {spec.task!r}: demo_models",
            fix=f"give each demo model its own team, none of {', '.join(v.team for v in (STARTER, *FAILURES))} "
            f"or {CSV_TEAM}",
        )
    return variants


def make_variant(starter: nbformat.NotebookNode, v: Variant) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(starter)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if v.model and "model" in tags:
            cell.source = v.model.strip("\n")
        if v.features and "features" in tags:
            cell.source = v.features.strip("\n")
        if v.drop_parameters_tag and "parameters" in tags:
            cell.metadata["tags"] = [t for t in tags if t != "parameters"]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if v.append:
        cell = nbformat.v4.new_code_cell(v.append.strip("\n"))
        cell["id"] = "appended"
        nb.cells.append(cell)
    return nb


def write_class(challenge, folder: Path) -> list[Path]:
    """Write the class's hand-ins as ``folder/<team>/<name>.ipynb`` (and one CSV)."""
    ch = load_challenge(challenge)
    starter = nbformat.read(ch.starter_notebook, as_version=4)
    paths = []
    for v in class_variants(ch.spec):
        team_dir = folder / v.team
        team_dir.mkdir(parents=True, exist_ok=True)
        p = team_dir / f"{v.name}.ipynb"
        nbformat.write(make_variant(starter, v), p)
        paths.append(p)
    csv_dir = folder / CSV_TEAM
    csv_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ch.path("sample_submission"), csv_dir / CSV_NAME)
    paths.append(csv_dir / CSV_NAME)
    return paths


def fresh_workdir(workdir: Path) -> Path:
    """Use ``workdir`` if it is empty or an earlier demo's; never wipe anything else."""
    workdir = Path(workdir)
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise KitError(
                "the demo's work folder exists and is not from an earlier demo",
                where=str(workdir),
                fix="pass --workdir with a new or empty folder",
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("created by `kit demo`; `kit demo` may delete this folder\n")
    return workdir


@dataclass
class DemoResult:
    workdir: Path
    submissions: Path
    report: GradeReport
    board: Leaderboard
    html_path: Path

    def __repr__(self) -> str:
        from .leaderboard import render

        ch = self.board.challenge.id
        return "\n".join(
            [
                repr(self.report),
                "",
                render(self.board, "table"),
                "",
                f"hand-ins:      {self.submissions}",
                f"ledger:        {self.workdir / 'ledger.sqlite'}",
                f"artefacts:     {self.workdir / ch / 'runs'}/<submission>/<run>/",
                f"leaderboard:   {self.html_path}",
                f"again:         kit leaderboard {ch} --workdir {self.workdir}",
            ]
        )


def run_demo(
    challenge=None,
    *,
    workdir=DEMO_WORKDIR,
    sandbox=DEFAULT_SANDBOX,
    workers=DEFAULT_WORKERS,
    echo=print,
    root=None,
) -> DemoResult:
    """Write a class's hand-ins into a fresh work folder, grade them, and build the public board
    with its bootstrap statistics (``board.html`` beside the ledger)."""
    from .grading import grade
    from .leaderboard import build_board, render
    from .prepare import prepare

    ch = load_challenge(challenge or DEMO_CHALLENGE, root=root)
    workdir = fresh_workdir(Path(workdir)).resolve()
    prepare(ch)  # regenerate the data and check it against the spec's sha256
    subs = workdir / "submissions"
    paths = write_class(ch, subs)
    teams = len({p.parent.name for p in paths})
    echo(f"{teams} teams handed in {len(paths)} files for '{ch.spec.title}' ({ch.id}) in {subs}")
    echo(f"grading them all ({workers} at a time, each notebook label-blind in its own {sandbox} sandbox)...")
    # the class hands in a week into the challenge's first phase: the simulation's own clock
    handed_in = ch.spec.opens + timedelta(days=7)
    report = grade(ch, [subs], workdir=workdir, sandbox=sandbox, workers=workers, now=handed_in)
    board = build_board(ch, workdir=workdir, phase="public")
    html_path = workdir / "leaderboard.html"
    html_path.write_text(render(board, "html"), encoding="utf-8")
    return DemoResult(workdir=workdir, submissions=subs, report=report, board=board, html_path=html_path)
