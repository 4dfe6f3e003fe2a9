"""``kit demo``: a class of teams hands in real notebooks; grade them all; show the board.

The notebooks are the challenge's starter notebook and variants of it: other
scikit-learn models, some feature engineering, one that raises, one that writes
malformed predictions, one whose parameters cell lost its tag, plus a
predictions file handed in directly.
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


def _model(imports: str, expr: str) -> str:
    return f"{imports}\n\nmodel = {expr}"


_SCALED = "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import StandardScaler\n"

BINARY = [
    Variant("Aalto Analytics", "starter"),
    Variant("Bayes Bunch", "naive_bayes", model=_model("from sklearn.naive_bayes import GaussianNB", "GaussianNB()")),
    Variant(
        "Cohort Crew",
        "random_forest",
        model=_model(
            "from sklearn.ensemble import RandomForestClassifier",
            "RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1)",
        ),
    ),
    Variant(
        "Dendrites",
        "decision_tree",
        model=_model(
            "from sklearn.tree import DecisionTreeClassifier", "DecisionTreeClassifier(max_depth=3, random_state=0)"
        ),
    ),
    Variant(
        "Epidemiology Eagles",
        "gradient_boosting",
        model=_model(
            "from sklearn.ensemble import GradientBoostingClassifier", "GradientBoostingClassifier(random_state=0)"
        ),
    ),
    Variant(
        "Fibroblast Five",
        "hist_gradient_boosting",
        model=_model(
            "from sklearn.ensemble import HistGradientBoostingClassifier",
            "HistGradientBoostingClassifier(random_state=0)",
        ),
    ),
    Variant(
        "Gini Gang",
        "extra_trees",
        model=_model(
            "from sklearn.ensemble import ExtraTreesClassifier",
            "ExtraTreesClassifier(n_estimators=200, random_state=0, n_jobs=1)",
        ),
    ),
    Variant(
        "Histology Heroes",
        "knn",
        model=_model(
            _SCALED + "from sklearn.neighbors import KNeighborsClassifier",
            "make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15))",
        ),
    ),
    Variant(
        "Imaging Insight",
        "svm",
        model=_model(
            _SCALED + "from sklearn.svm import SVC",
            "make_pipeline(StandardScaler(), SVC(probability=True, random_state=0))",
        ),
    ),
    Variant(
        "Jupyter Jedi",
        "strong_regularisation",
        model=_model(
            _SCALED + "from sklearn.linear_model import LogisticRegression",
            "make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000))",
        ),
    ),
    Variant(
        "Kaplan Kids",
        "log_features",
        features='''
import numpy as np


def make_features(df):
    """Log-transform the skewed size measurements."""
    X = df.drop(columns=[ID, TARGET], errors="ignore")
    for col in [c for c in X.columns if c.endswith(("_area", "_perimeter", "_radius"))]:
        X[col] = np.log1p(X[col])
    return X''',
    ),
    Variant(
        "Lymph Node Labs",
        "mean_features_only",
        features='''
def make_features(df):
    """Only the mean measurements: a smaller, more robust model."""
    return df[[c for c in df.columns if c.startswith("mean_")]]''',
    ),
    Variant(
        "Mitosis Masters",
        "shape_ratios",
        features='''
def make_features(df):
    """Add shape ratios: irregular nuclei have a large perimeter for their area."""
    X = df.drop(columns=[ID, TARGET], errors="ignore")
    X["mean_irregularity"] = X["mean_perimeter"] ** 2 / X["mean_area"]
    X["worst_irregularity"] = X["worst_perimeter"] ** 2 / X["worst_area"]
    return X''',
        model=_model(
            "from sklearn.ensemble import RandomForestClassifier",
            "RandomForestClassifier(n_estimators=200, random_state=1, n_jobs=1)",
        ),
    ),
    Variant(
        "Nucleus Ninjas",
        "raises",
        features='''
def make_features(df):
    """Uses a column the data does not have: this notebook raises a KeyError."""
    return df[["mean_radius", "tumour_size_mm"]]''',
    ),
    Variant(
        "Oncology Otters",
        "malformed_predictions",
        append="""
# Overwrites the predictions with hard labels, a renamed column and ten rows missing.
predictions.assign(prediction=(predictions[TARGET] > 0.5).map({True: "yes", False: "no"})) \\
    .drop(columns=[TARGET]).iloc[10:].to_csv(predictions_path, index=False)""",
    ),
    Variant("Pathology Pals", "lost_parameters_tag", drop_parameters_tag=True),
]

REGRESSION = [
    Variant("Aalto Analytics", "starter"),
    Variant(
        "Bayes Bunch",
        "bayesian_ridge",
        model=_model(
            _SCALED + "from sklearn.linear_model import BayesianRidge",
            "make_pipeline(StandardScaler(), BayesianRidge())",
        ),
    ),
    Variant(
        "Cohort Crew",
        "random_forest",
        model=_model(
            "from sklearn.ensemble import RandomForestRegressor",
            "RandomForestRegressor(n_estimators=200, min_samples_leaf=5, random_state=0, n_jobs=1)",
        ),
    ),
    Variant(
        "Dendrites",
        "decision_tree",
        model=_model(
            "from sklearn.tree import DecisionTreeRegressor", "DecisionTreeRegressor(max_depth=3, random_state=0)"
        ),
    ),
    Variant(
        "Epidemiology Eagles",
        "gradient_boosting",
        model=_model(
            "from sklearn.ensemble import GradientBoostingRegressor",
            "GradientBoostingRegressor(n_estimators=100, max_depth=2, learning_rate=0.05, random_state=0)",
        ),
    ),
    Variant(
        "Fibroblast Five",
        "hist_gradient_boosting",
        model=_model(
            "from sklearn.ensemble import HistGradientBoostingRegressor",
            "HistGradientBoostingRegressor(max_depth=3, learning_rate=0.05, random_state=0)",
        ),
    ),
    Variant(
        "Gini Gang",
        "extra_trees",
        model=_model(
            "from sklearn.ensemble import ExtraTreesRegressor",
            "ExtraTreesRegressor(n_estimators=200, min_samples_leaf=5, random_state=0, n_jobs=1)",
        ),
    ),
    Variant(
        "Histology Heroes",
        "knn",
        model=_model(
            _SCALED + "from sklearn.neighbors import KNeighborsRegressor",
            "make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=15))",
        ),
    ),
    Variant(
        "Imaging Insight",
        "svr",
        model=_model(_SCALED + "from sklearn.svm import SVR", "make_pipeline(StandardScaler(), SVR(C=100.0))"),
    ),
    Variant(
        "Jupyter Jedi",
        "lasso",
        model=_model(
            _SCALED + "from sklearn.linear_model import LassoCV", "make_pipeline(StandardScaler(), LassoCV(cv=5))"
        ),
    ),
    Variant(
        "Kaplan Kids",
        "interactions",
        features='''
def make_features(df):
    """Add the body mass index x blood pressure interaction."""
    X = df.drop(columns=[ID, TARGET], errors="ignore")
    X["bmi_x_bp"] = X["bmi"] * X["bp"]
    return X''',
    ),
    Variant(
        "Lymph Node Labs",
        "few_features",
        features='''
def make_features(df):
    """Three strong predictors only."""
    return df[["bmi", "ltg", "bp"]]''',
    ),
    Variant(
        "Mitosis Masters",
        "huber",
        model=_model(
            _SCALED + "from sklearn.linear_model import HuberRegressor",
            "make_pipeline(StandardScaler(), HuberRegressor(max_iter=1000))",
        ),
    ),
    Variant(
        "Nucleus Ninjas",
        "raises",
        features='''
def make_features(df):
    """Uses a column the data does not have: this notebook raises a KeyError."""
    return df[["bmi", "hba1c"]]''',
    ),
    Variant(
        "Oncology Otters",
        "malformed_predictions",
        append="""
# Overwrites the predictions with a renamed column, text values and ten rows missing.
predictions.assign(prediction=predictions[TARGET].round().astype(int).astype(str) + " units") \\
    .drop(columns=[TARGET]).iloc[10:].to_csv(predictions_path, index=False)""",
    ),
    Variant("Pathology Pals", "lost_parameters_tag", drop_parameters_tag=True),
]

VARIANTS = {"binary": BINARY, "regression": REGRESSION}


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
    variants = VARIANTS.get(ch.spec.task)
    if variants is None:
        raise KitError(
            f"the demo has no notebook variants for {ch.spec.task} tasks",
            fix="run the demo on a binary or regression challenge",
        )
    starter = nbformat.read(ch.starter_notebook, as_version=4)
    paths = []
    for v in variants:
        team_dir = folder / v.team
        team_dir.mkdir(parents=True, exist_ok=True)
        p = team_dir / f"{v.name}.ipynb"
        nbformat.write(make_variant(starter, v), p)
        paths.append(p)
    # a team that hands in the sample submission as a CSV: the constant baseline
    csv_dir = folder / "Quick Baseline"
    csv_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ch.path("sample_submission"), csv_dir / "constant_baseline.csv")
    paths.append(csv_dir / "constant_baseline.csv")
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
