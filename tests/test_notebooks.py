"""The generated starter notebooks run top to bottom on every task type and write predictions
``kit.check`` accepts; generation is deterministic; nothing outside kit.tasks branches on a task's name."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from kit.authoring.notebooks import (
    grading_notebook,
    plotted_features,
    starter_notebook,
    starter_readme,
    write_notebooks,
)
from kit.challenge import load_challenge, parse_spec, sha256_file
from kit.checker import check
from kit.datasets import load_dataset
from kit.tasks import get_task_names

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.parent.name for p in (REPO / "starter_kits").glob("*/challenge.yml"))
PLACEHOLDER = "0" * 64


def run_starter(kit_dir: Path, out_dir: Path) -> Path:
    """Execute a kit's starter notebook with a real kernel, from the kit's folder; the predictions' path."""
    import papermill

    predictions = out_dir / "predictions.csv"
    papermill.execute_notebook(
        str(kit_dir / "starter.ipynb"),
        str(out_dir / "executed.ipynb"),
        parameters={"data_dir": str(kit_dir / "data"), "predictions_path": str(predictions)},
        cwd=str(kit_dir),
        kernel_name="python3",
        progress_bar=False,
    )
    return predictions


def assert_accepted(predictions: Path, kit_dir: Path) -> None:
    """The file passes the grader's checks, and the notebook's own kit.check scored its hold-out."""
    report = check(predictions, kit_dir / "data")
    assert not report.problems, report.problems
    executed = nbformat.read(predictions.parent / "executed.ipynb", as_version=4)
    shown = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for o in next(c for c in executed.cells if c.source.startswith("kit.check(")).outputs
    )
    assert "not computed" not in shown, shown
    for metric in report.challenge.spec.metrics.all:
        assert re.search(rf"validation {metric} .*: -?\d", shown), (metric, shown)


# -- a challenge of any task, written from a table (what `kit new` will make) ---------------
def write_challenge(root: Path, cid: str, frame: pd.DataFrame, **fields) -> Path:
    """Write starter_kits/<cid>/ (spec, train, test, sample submission) and grading/<cid>/labels.csv
    under *root* from *frame* (id column ``case_id``); returns the kit's folder."""
    rng = np.random.default_rng(0)
    frame = frame.copy()
    frame.insert(0, "case_id", [f"case-{i:04d}" for i in range(len(frame))])
    is_test = rng.random(len(frame)) < 0.3
    spec_data = {
        "schema_version": 1,
        "id": cid,
        "title": f"A {fields['task']} challenge",
        "description": "A challenge written by the tests.",
        "id_column": "case_id",
        "split": {"test_fraction": 0.3, "public_fraction": 0.5},
        "seed": 0,
        "submissions": {"per_day": 5, "total": 50, "final_selections": 2},
        "phases": [{"name": "development", "start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}],
        "data": {
            role: {"path": path, "sha256": PLACEHOLDER}
            for role, path in [
                ("train", "data/train.csv"),
                ("test", "data/test.csv"),
                ("sample_submission", "data/sample_submission.csv"),
                ("labels", "labels.csv"),
            ]
        },
        **fields,
    }
    spec = parse_spec(spec_data)
    kit_dir, grading_dir = root / "starter_kits" / cid, root / "grading" / cid
    (kit_dir / "data").mkdir(parents=True)
    grading_dir.mkdir(parents=True)
    train, test = frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)
    constant = spec.task_type.constant_prediction(train, spec)
    files = {
        "train": train,
        "test": test.drop(columns=spec.target),
        "sample_submission": test[["case_id"]].assign(**constant),
        "labels": test[["case_id", *spec.target]].assign(split=np.where(np.arange(len(test)) % 2, "public", "private")),
    }
    for role, table in files.items():
        path = (grading_dir if role == "labels" else kit_dir) / spec_data["data"][role]["path"]
        table.to_csv(path, index=False, lineterminator="\n")
        spec_data["data"][role]["sha256"] = sha256_file(path)
    (kit_dir / "challenge.yml").write_text(yaml.safe_dump(spec_data, sort_keys=False), encoding="utf-8")
    return kit_dir


def with_clinic_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """What organisers' tables have: a text column, missing values, a patient id and a visit date."""
    rng = np.random.default_rng(1)
    frame = frame.copy()
    n = len(frame)
    frame["site"] = rng.choice(["north", "south", "east"], size=n)
    frame.loc[rng.random(n) < 0.1, "site"] = None
    first_numeric = frame.select_dtypes("number").columns[0]
    frame.loc[rng.random(n) < 0.1, first_numeric] = np.nan
    frame["patient"] = [f"p{i // 2:04d}" for i in range(n)]
    frame["visit_date"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")).strftime(
        "%Y-%m-%d"
    )
    return frame


def multiclass_kit(root: Path) -> Path:
    frame = load_dataset("diabetes").frame
    grade = pd.qcut(frame["progression"], 3, labels=["low", "mid", "high"]).astype(str)
    frame = with_clinic_columns(frame.drop(columns=["progression"]).assign(grade=grade))
    return write_challenge(
        root,
        "grade-test",
        frame,
        task="multiclass",
        target=["grade"],
        classes=["low", "mid", "high"],
        ordinal=True,
        metrics={"primary": "quadratic_kappa", "secondary": ["macro_roc_auc", "multiclass_log_loss"]},
        split={"test_fraction": 0.3, "public_fraction": 0.5, "group_column": "patient"},
        source={"dataset": "diabetes"},
    )


def survival_kit(root: Path) -> Path:
    frame = with_clinic_columns(load_dataset("whas500").frame)
    return write_challenge(
        root,
        "survival-test",
        frame,
        task="survival",
        target=["event", "time"],
        survival={"times": [365.0, 730.0, 1100.0]},
        metrics={"primary": "c_index", "secondary": ["integrated_brier", "cumulative_auc"]},
        split={
            "test_fraction": 0.3,
            "public_fraction": 0.5,
            "temporal": {"column": "visit_date", "cutoff": "2022-01-01"},
        },
        source={"dataset": "whas500"},
    )


# -- the tests --------------------------------------------------------------------------------
# The committed starter notebooks of the shipped challenges run in a real batch in
# tests/test_grading.py::test_shipped_challenge_end_to_end (their kit.check passes and scores
# every metric on the hold-out); here, the notebooks of generated challenges.
@pytest.mark.parametrize("make_kit", [multiclass_kit, survival_kit], ids=["multiclass", "survival"])
def test_a_generated_starter_notebook_runs_on_every_task(make_kit, tmp_path):
    kit_dir = make_kit(tmp_path / "root")
    ch = load_challenge(kit_dir / "challenge.yml")
    write_notebooks(ch)
    nb = nbformat.read(ch.starter_notebook, as_version=4)
    (features,) = [c.source for c in nb.cells if "features" in c.metadata.get("tags", [])]
    dropped = [ch.spec.split.group_column or ch.spec.split.temporal.column]  # type: ignore[union-attr]
    assert all(f'"{c}"' in features for c in dropped), "the split's group or date is never a feature"
    predictions = run_starter(kit_dir, tmp_path)
    frame = pd.read_csv(predictions)
    assert list(frame.columns) == [ch.spec.id_column, *ch.spec.prediction_columns]
    assert_accepted(predictions, kit_dir)


def test_generation_is_deterministic_and_matches_the_committed_files(shipped_copy):
    for cid in SHIPPED:
        ch = load_challenge(cid, root=shipped_copy)
        first = {p: p.read_bytes() for p in write_notebooks(ch)}
        again = {p: p.read_bytes() for p in write_notebooks(ch)}
        assert first == again
        for path, data in first.items():
            assert data == (REPO / path.relative_to(shipped_copy)).read_bytes(), (
                f"{path.name}: run scripts/make_notebooks.py"
            )


def test_the_notebooks_share_one_structure(tmp_path):
    kits = [load_challenge(cid, root=REPO) for cid in SHIPPED]
    kits.append(load_challenge(multiclass_kit(tmp_path / "root") / "challenge.yml"))
    kits.append(load_challenge(survival_kit(tmp_path / "root") / "challenge.yml"))
    shapes = set()
    for ch in kits:
        nb = starter_notebook(ch)
        shapes.add(tuple((c.cell_type, tuple(c.metadata.get("tags", [])), c.id) for c in nb.cells))
        setup = nb.cells[2].source
        assert "def preprocess():" in setup and 'handle_unknown="ignore"' in setup
        assert nb.cells[-3].source.startswith("kit.check(predictions_path, data_dir, validation=(")
        assert nb.cells[-2].source.startswith("## Hand in") and nb.cells[-1].source.startswith("kit.submit()")
        compile("\n".join(c.source for c in nb.cells if c.cell_type == "code"), ch.id, "exec")
        assert grading_notebook(ch).cells[1].metadata["tags"] == ["parameters"]
    assert len(shapes) == 1, "every task's starter notebook has the same cells, tags and ids"


def test_plotted_features_are_the_most_associated_numeric_columns():
    ch = load_challenge("diabetes", root=REPO)
    train = pd.read_csv(ch.path("train"))
    cols = plotted_features(train, ch.spec)
    rho = train.drop(columns=["case_id", "progression"]).corrwith(train["progression"], method="spearman").abs()
    assert cols == list(rho.sort_values(ascending=False).index[:3])


def test_a_readme_of_an_organisers_table_shows_the_card_and_claims_no_more(tmp_path):
    kit_dir = multiclass_kit(tmp_path / "root")
    table = tmp_path / "root" / "clinic.csv"
    table.write_text("x\n1\n")
    spec = yaml.safe_load((kit_dir / "challenge.yml").read_text())
    spec["source"] = {"file": "clinic.csv", "sha256": sha256_file(table)}
    (kit_dir / "challenge.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    ch = load_challenge(kit_dir / "challenge.yml")
    readme = starter_readme(ch, {"title": "Clinic grades", "description": "Grades of a clinic, 2020-2022."})
    assert "Clinic grades. Grades of a clinic, 2020-2022." in readme
    assert "to be written by the organiser: distribution.citation in card.yml" in readme
    assert "to be written by the organiser: distribution.licence.name in card.yml" in readme
    diabetes = load_dataset("diabetes")
    assert diabetes.title not in readme and diabetes.citation not in readme, "no bundled dataset's provenance"
    assert "`case_id,proba_low,proba_mid,proba_high`" in readme
    bare = starter_readme(ch)
    assert "to be written by the organiser: dataset.name in card.yml" in bare
    # write_notebooks reads the organiser's card.yml, as far as it is filled in
    (kit_dir / "card.yml").write_text(
        "schema_version: 1\ndataset:\n  name: Clinic grades\n  summary: ''\n"
        "distribution:\n  licence: {id: CC-BY-4.0, name: CC BY 4.0}\n  citation: The clinic, 2023.\n"
    )
    write_notebooks(ch)
    written = (kit_dir / "README.md").read_text()
    assert "Clinic grades. to be written by the organiser: dataset.summary in card.yml" in written
    assert "- Source: The clinic, 2023.\n- Licence: CC BY 4.0\n" in written


#: a comparison of a task's name with a literal, or a table keyed by task names ({"binary": ...}):
#: only kit.tasks may know what the names mean
TASK_BRANCH = re.compile(
    r"""\btask\s*(==|!=)\s*["']|\btask\s+(not\s+)?in\s*[(\[{]\s*["']"""
    rf"""|[{{,]\s*["']({"|".join(get_task_names())})["']\s*:"""
)


def _branching_modules() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "kit").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("kit/tasks/"):
            continue
        hits = [
            f"{i}: {line.strip()}"
            for i, line in enumerate(path.read_text().splitlines(), 1)
            if TASK_BRANCH.search(line)
        ]
        if hits:
            found[rel] = hits
    return found


def test_no_module_outside_kit_tasks_branches_on_a_task_name():
    found = _branching_modules()
    assert not found, f"ask the task type (kit.tasks) instead: {found}"


def test_the_pattern_finds_branches():
    for line in [
        'if spec.task == "binary":',
        "elif task != 'survival':",
        'if m.task in ("binary", "survival"):',
        'VARIANTS = {"binary": BINARY, "regression": REGRESSION}',
    ]:
        assert TASK_BRANCH.search(line), line
    for line in ["if metric.task == task:", "task = spec.task_type", 'if name == "binary":']:
        assert not TASK_BRANCH.search(line), line


@pytest.fixture
def shipped_copy(tmp_path):
    """A private copy of the shipped challenges."""
    dst = tmp_path / "root"
    for part in ("starter_kits", "grading"):
        shutil.copytree(REPO / part, dst / part)
    return dst
