"""`kit new`: a whole challenge from an organiser's table, for every task type, and every bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kit.authoring.new import infer_task, new_challenge
from kit.challenge import load_challenge, sha256_file
from kit.cli import cli
from kit.errors import DataIntegrityError, KitError, SpecError
from kit.prepare import ROLES, prepare
from kit.privacy import ReleaseBlocked

TARGETS = {
    "binary": ["outcome"],
    "multiclass": ["grade"],
    "regression": ["hba1c"],
    "survival": ["death", "months"],
}


def visits_table(n_patients: int = 150, seed: int = 0) -> pd.DataFrame:
    """Several visits per patient, each target type, a date: a clinician-annotated table."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        age = int(rng.integers(30, 90))
        sex = str(rng.choice(["F", "M"]))
        risk = rng.normal()
        for _ in range(int(rng.integers(1, 5))):
            marker = risk + rng.normal(scale=0.5)
            grade = "I" if marker < -0.5 else "II" if marker < 0.7 else "III"
            months = float(np.round(rng.exponential(30 / np.exp(risk)), 1)) + 0.5
            rows.append(
                {
                    "patient": f"IPP{100000 + p}",
                    "visit_date": (pd.Timestamp("2015-01-01") + pd.Timedelta(days=int(rng.integers(0, 3000)))).date(),
                    "age": age,
                    "sex": sex,
                    "marker": round(float(marker), 3),
                    "site": str(rng.choice(["Lyon", "Lille", "Nantes"])),
                    "outcome": int(marker + rng.normal(scale=0.8) > 0),
                    "grade": grade,
                    "hba1c": round(6 + marker + rng.normal(scale=0.3), 2),
                    "death": int(rng.random() < 0.6),
                    "months": months,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def kit_root(tmp_path):
    root = tmp_path / "root"
    (root / "starter_kits").mkdir(parents=True)
    (root / "grading").mkdir()
    return root


@pytest.fixture
def table(kit_root):
    path = kit_root / "visits.csv"
    visits_table().to_csv(path, index=False)
    return path


def _others(task: str) -> list[str]:
    """The other tasks' targets, and the visit date (dates finer than the year are blocked by the gate)."""
    return [c for t, cols in TARGETS.items() if t != task for c in cols] + ["visit_date"]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("task", sorted(TARGETS))
def test_round_trip_grouped_by_patient(kit_root, table, task):
    made = new_challenge(
        f"visits-{task}",
        table,
        root=kit_root,
        target=TARGETS[task],
        task=task,
        group="patient",
        drop=_others(task),
        ordinal=task == "multiclass",
        title=f"Visits ({task})",
    )
    ch = load_challenge(f"visits-{task}", root=kit_root)
    assert ch.spec.task == task and ch.spec.source.file == "visits.csv"
    assert ch.spec.source.sha256 == sha256_file(table)
    ch.verify()
    train = pd.read_csv(ch.path("train"))
    labels = pd.read_csv(ch.path("labels"))
    test = pd.read_csv(ch.path("test"))
    # no patient in two of train / public / private; patient numbers replaced by pseudonyms
    parts = {
        "train": set(train["patient"]),
        "public": set(test.loc[labels["split"] == "public", "patient"]),
        "private": set(test.loc[labels["split"] == "private", "patient"]),
    }
    assert not parts["train"] & parts["public"] and not parts["train"] & parts["private"]
    assert not parts["public"] & parts["private"]
    assert all(str(g).startswith("group-") for g in train["patient"])
    assert not set(ch.spec.target) & set(test.columns)
    assert made.split["train"] == len(train) and made.split["public"] + made.split["private"] == len(test)
    sample = pd.read_csv(ch.path("sample_submission"))
    assert list(sample.columns) == [ch.spec.id_column, *ch.spec.prediction_columns]
    if task == "multiclass":
        assert ch.spec.classes == ["I", "II", "III"] and ch.spec.ordinal
        assert ch.spec.metrics.primary == "quadratic_kappa"
    if task == "survival":
        assert len(ch.spec.survival_times) == 3
    # the organiser's card names every prose field and leaves it empty
    card = (ch.starter_dir / "card.yml").read_text()
    assert "purpose:" in card and "patient:" in card

    # `kit prepare` rebuilds every file byte for byte from the table
    before = {r: ch.path(r).read_bytes() for r in ROLES}
    for r in ROLES:
        ch.path(r).unlink()
    assert all(r.matches for r in prepare(ch.id, root=kit_root))
    assert {r: ch.path(r).read_bytes() for r in ROLES} == before


def test_temporal_split_puts_every_test_row_after_every_train_row(kit_root, table):
    new_challenge(
        "visits-time",
        table,
        root=kit_root,
        target=["outcome"],
        drop=_others("binary"),
        group="patient",
        temporal=("visit_date", "2021-01-01"),
    )
    ch = load_challenge("visits-time", root=kit_root)
    train, test = pd.read_csv(ch.path("train")), pd.read_csv(ch.path("test"))
    assert "visit_date" not in train.columns, "the date splits the cases and is not released"
    # the source rows behind the files: the marker and age identify them in this table
    source = pd.read_csv(table)
    key = ["age", "marker", "sex", "site"]
    dates = source.set_index(key)["visit_date"]
    train_dates = pd.to_datetime(dates.loc[list(train[key].itertuples(index=False, name=None))])
    test_dates = pd.to_datetime(dates.loc[list(test[key].itertuples(index=False, name=None))])
    assert train_dates.max() < pd.Timestamp("2021-01-01") <= test_dates.min()
    assert not set(train["patient"]) & set(test["patient"]), "test patients are new patients"


def test_the_cli_makes_a_challenge_from_parquet_and_excel(kit_root, table, tmp_path):
    frame = pd.read_csv(table)
    frame.to_parquet(kit_root / "visits.parquet")
    frame.to_excel(kit_root / "visits.xlsx", index=False)
    runner = CliRunner()
    for fmt in ("parquet", "xlsx"):
        cid = f"from-{fmt}"
        res = runner.invoke(
            cli,
            [
                "--root",
                str(kit_root),
                "new",
                cid,
                "--data",
                str(kit_root / f"visits.{fmt}"),
                "--target",
                "hba1c",
                "--drop",
                "outcome",
                "--drop",
                "grade",
                "--drop",
                "death",
                "--drop",
                "months",
                "--drop",
                "visit_date",
                "--group",
                "patient",
                "--seed",
                "3",
            ],
        )
        assert res.exit_code == 0, res.output
        assert f"made challenge {cid!r} (regression, primary metric rmse)" in res.output
        assert "split (grouped, seed 3)" in res.output
    a, b = (load_challenge(c, root=kit_root) for c in ("from-parquet", "from-xlsx"))
    assert pd.read_csv(a.path("train")).shape == pd.read_csv(b.path("train")).shape


def test_an_existing_challenge_is_kept_without_force(kit_root, table):
    kw = dict(root=kit_root, target=["outcome"], drop=[*_others("binary"), "patient"])
    new_challenge("twice", table, **kw)
    before = _snapshot(kit_root)
    with pytest.raises(SpecError, match="exists already") as exc:
        new_challenge("twice", table, seed=5, **kw)
    assert "--force" in exc.value.fix
    assert _snapshot(kit_root) == before
    new_challenge("twice", table, seed=5, force=True, **kw)
    assert load_challenge("twice", root=kit_root).spec.seed == 5
    assert not list(kit_root.glob(".kit-new-*")), "no staging folder left behind"


def test_a_changed_source_is_refused_with_both_hashes(kit_root, table):
    new_challenge("changed", table, root=kit_root, target=["outcome"], drop=[*_others("binary"), "patient"])
    old = sha256_file(table)
    with open(table, "a") as fh:
        fh.write("IPP999999,2020-01-01,50,F,0.1,Lyon,1,II,6.1,0,12.0\n")
    ch = load_challenge("changed", root=kit_root)
    files = {r: ch.path(r).read_bytes() for r in ROLES}
    with pytest.raises(DataIntegrityError) as exc:
        prepare("changed", root=kit_root)
    text = str(exc.value)
    assert old in text and sha256_file(table) in text and "nothing was rebuilt" in text
    assert {r: ch.path(r).read_bytes() for r in ROLES} == files


def _bad(kit_root, frame: pd.DataFrame | bytes, name="bad.csv", **kw):
    path = kit_root / name
    if isinstance(frame, bytes):
        path.write_bytes(frame)
    else:
        frame.to_csv(path, index=False)
    before = _snapshot(kit_root)
    kw.setdefault("target", ["outcome"])
    with pytest.raises(KitError) as exc:
        new_challenge("bad", path, root=kit_root, **kw)
    after = _snapshot(kit_root)
    assert after == before, "nothing is written when kit new fails"
    assert not (kit_root / "starter_kits" / "bad").exists() and not list(kit_root.glob(".kit-new-*"))
    return str(exc.value)


def test_every_bad_input_is_named_and_leaves_nothing_behind(kit_root):
    base = visits_table(60).drop(columns=["grade", "hba1c", "death", "months", "visit_date"])
    msg = _bad(kit_root, base, target=["outcom"])
    assert "no column 'outcom'" in msg and "did you mean 'outcome'" in msg
    msg = _bad(kit_root, base.assign(outcome=1))
    assert "one value only" in msg and "'outcome'" in msg
    msg = _bad(kit_root, base.head(4))
    assert "cannot make train, public test and private test" in msg
    dup = base.assign(rid=[f"r{i}" for i in range(len(base))])
    dup.loc[5, "rid"] = "r1"
    msg = _bad(kit_root, dup, id_column="rid")
    assert "appear on more than one row" in msg and "'r1'" in msg and "line" in msg
    msg = _bad(kit_root, base.assign(patient="P1"), group="patient")
    assert "has 1 group(s)" in msg
    raw = base.to_csv(index=False).encode("utf-8").replace(b"Lyon", "Besan\u00e7on".encode("latin-1"), 1)
    msg = _bad(kit_root, raw)
    assert "not UTF-8" in msg and "line" in msg and "UTF-8" in msg
    leak = base.assign(rid=[("MAL" if y else "BEN") + f"-{i:03d}" for i, y in enumerate(base["outcome"])])
    msg = _bad(kit_root, leak, id_column="rid")
    assert "give the label away" in msg and "omit --id-column" in msg
    mixed = base.astype({"age": object})
    mixed.loc[[3, 7], "age"] = "unknown"
    msg = _bad(kit_root, mixed)
    assert "mixes numbers" in msg and "'age'" in msg and "lines 5, 9" in msg
    msg = _bad(kit_root, base.assign(outcome=base["outcome"].astype(float).where(base.index != 2)))
    assert "no target value" in msg and "line 4" in msg
    msg = _bad(kit_root, base, target=["outcome"], task="multiclass", classes=["0"])
    assert "--classes does not list" in msg


def test_the_privacy_gate_runs_before_anything_is_written(kit_root):
    frame = visits_table(60).drop(columns=["grade", "hba1c", "death", "months", "visit_date"])
    frame["email"] = [f"patient{i}@example.fr" for i in range(len(frame))]
    msg = _bad(kit_root, frame)
    assert "privacy" in msg and "email" in msg
    assert isinstance(_raised(kit_root, frame), ReleaseBlocked)


def _raised(kit_root, frame):
    path = kit_root / "gate.csv"
    frame.to_csv(path, index=False)
    try:
        new_challenge("gate", path, root=kit_root, target=["outcome"])
    except KitError as exc:
        return exc
    raise AssertionError("the gate did not block")


def test_the_task_is_inferred_from_the_target():
    frame = visits_table(20)
    assert infer_task(frame, ["outcome"]) == "binary"
    assert infer_task(frame, ["grade"]) == "multiclass"
    assert infer_task(frame, ["hba1c"]) == "regression"
    assert infer_task(frame, ["death", "months"]) == "survival"


def test_a_source_outside_the_root_is_recorded_by_absolute_path(kit_root, tmp_path):
    outside = tmp_path / "elsewhere" / "t.csv"
    outside.parent.mkdir()
    visits_table(60).to_csv(outside, index=False)
    new_challenge("outside", outside, root=kit_root, target=["hba1c"], drop=[*_others("regression"), "patient"])
    ch = load_challenge("outside", root=kit_root)
    assert ch.spec.source.file == str(outside)
    shutil.rmtree(kit_root / "starter_kits" / "outside" / "data")
    assert all(r.matches for r in prepare("outside", root=kit_root))


@pytest.mark.parametrize("task", sorted(TARGETS))
def test_the_starter_notebook_scores_in_a_real_batch_and_the_board_renders(kit_root, table, tmp_path, task):
    import nbformat

    from kit.grading import grade
    from kit.leaderboard import leaderboard, render
    from kit.workspace import open_ledger

    cid = f"batch-{task}"
    new_challenge(
        cid,
        table,
        root=kit_root,
        target=TARGETS[task],
        task=task,
        group="patient",
        drop=_others(task),
        ordinal=task == "multiclass",
    )
    ch = load_challenge(cid, root=kit_root)
    subs = tmp_path / "subs"
    (subs / "starter-team").mkdir(parents=True)
    shutil.copy(ch.starter_notebook, subs / "starter-team" / "starter.ipynb")
    (subs / "baseline").mkdir()
    shutil.copy(ch.path("sample_submission"), subs / "baseline" / "sample.csv")
    report = grade(cid, [subs], workdir=tmp_path / "work", root=kit_root)
    assert report.counts["scored"] == 2, repr(report)
    board = leaderboard(cid, workdir=tmp_path / "work", root=kit_root, phase="public")
    assert set(board.table["team"]) == {"starter-team", "baseline"}
    assert board.table.set_index("team").loc["starter-team", "rank"] == 1, board.table
    assert "starter-team" in render(board, "markdown")
    with open_ledger(tmp_path / "work") as led:
        runs = led.latest_runs(cid)
        executed = nbformat.read(runs[runs["kind"] == "notebook"].iloc[0]["executed_path"], as_version=4)
    check_html = next(c for c in executed.cells if c.source.startswith("kit.check(")).outputs[0]["data"]["text/html"]
    assert "Format OK" in check_html and "not computed" not in check_html, check_html
