"""Cards, subgroup results, boards and feedback for every task type, on challenges made from a file.

Two challenges are made with ``kit new`` (:func:`kit.authoring.new.new_challenge`) from the
German Breast Cancer Study Group 2 table of scikit-survival (686 patients): the ordinal
tumour grade ``tgrade`` (multiclass, classes I < II < III) and recurrence-free survival
(``cens``, ``time``). Neither has a bundled dataset (``source.file``) and their card files
are the prose skeletons ``kit new`` writes: the cards are built as drafts, or from a
complete card file.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kit.cards import CardError, build_card, card_path
from kit.cards.compute import compute_stats, read_release_frames
from kit.cards.document import CardDocument, split_statement
from kit.cards.renderers.croissant import validate_croissant
from kit.cards.schema import TO_WRITE, parse_card
from kit.cards.subgroups import Outcome, Subgroup, subgroup_results, subgroup_scores
from kit.challenge import load_challenge
from kit.grading.feedback import write_feedback
from kit.labels import read_labels
from kit.leaderboard import build_board, get_board_format_names, render
from kit.leaderboard.plots import board_figures
from kit.ledger import Ledger, RunRecord, utcnow
from kit.privacy import assess_release
from kit.scoring import score_file

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
GRADE, SURV = "gbsg-grade", "gbsg-surv"
N_RESAMPLES = 50


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A root holding the two GBSG2 challenges, made by ``kit new`` from one CSV table."""
    from sksurv.datasets import load_gbsg2

    from kit.authoring.new import new_challenge

    base = tmp_path_factory.mktemp("root")
    X, y = load_gbsg2()
    table = X.assign(cens=y["cens"].astype(int), time=y["time"])
    table.to_csv(base / "gbsg2.csv", index=False)
    new_challenge(
        GRADE,
        base / "gbsg2.csv",
        target=["tgrade"],
        task="multiclass",
        classes=["I", "II", "III"],
        ordinal=True,
        drop=["cens", "time"],
        root=base,
    )
    new_challenge(SURV, base / "gbsg2.csv", target=["cens", "time"], task="survival", root=base)
    return base


def front_matter(readme: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", readme, re.S)
    assert match, "README.md must start with YAML front matter"
    return yaml.safe_load(match.group(1))


def section(readme: str, heading: str) -> str:
    return readme.split(f"\n{heading}\n")[1].split("\n## ")[0].split("\n### ")[0]


def release_files(ch) -> dict[str, str]:
    return {f.name: str(f.source) for f in compute_stats(ch, plots=False).files}


# -- the computed statistics ----------------------------------------------------------------------
def test_multiclass_target_is_counted_in_the_order_of_the_classes(root):
    ch = load_challenge(GRADE, root=root)
    frames = read_release_frames(ch)
    st = compute_stats(ch, frames)
    t = st.target
    assert t.event_time is None and not t.numeric_targets and not t.curves
    (grade,) = t.class_targets
    assert grade.column == "tgrade" and grade.values == ("I", "II", "III") == tuple(ch.spec.classes)
    counts = dict(grade.classes)
    assert [sum(c[j] for c in counts.values()) for j in range(3)] == [
        st.splits.train,
        st.splits.public,
        st.splits.private,
    ]
    assert counts["III"][-1] == (pd.concat([frames["train"], frames["labels"]])["tgrade"] == "III").sum()
    assert {p.name for p in st.plots} == {"target", "missingness"}
    # the age bands of the demographics give the share of each class
    sub = st.subgroups
    assert sub.age_column == "age" and sub.target_measures == (
        "share tgrade = I",
        "share tgrade = II",
        "share tgrade = III",
    )
    for _, n, shares in sub.target_by_group:
        assert n > 0 and sum(shares) == pytest.approx(1, abs=1e-4)


def test_survival_target_counts_events_summarises_times_and_estimates_survival(root):
    ch = load_challenge(SURV, root=root)
    st = compute_stats(ch)
    t = st.target
    assert t.event_time == ("cens", "time")
    (events,) = t.class_targets
    (time,) = t.numeric_targets
    assert events.values == ("0", "1") and time.column == "time"
    assert sum(dict(events.classes)["1"][:3]) == dict(events.classes)["1"][-1]
    assert [s.n for s in time.summaries] == [st.splits.train, st.splits.public, st.splits.private, st.n_cases]
    assert sum(sum(h) for h in time.histogram) == st.n_cases
    assert t.times == tuple(ch.spec.survival_times) and len(t.times) >= 1
    assert [c.split for c in t.curves] == ["train", "public test", "private test"]
    for curve in t.curves:
        s = np.asarray(curve.survival)
        assert len(curve.times) == len(s) > 10 and ((s >= 0) & (s <= 1)).all() and (np.diff(s) <= 0).all()
        assert curve.at(0) == 1.0 and curve.at(curve.times[-1] + 1) is None
    assert {p.name for p in st.plots} == {"target", "missingness", "target_time", "kaplan_meier"}
    assert st.subgroups.target_measures == ("share cens = 1", "mean time")


# -- the rendered cards ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def drafts(root, tmp_path_factory):
    """The draft card of each challenge, built once (read only)."""
    out = tmp_path_factory.mktemp("drafts")
    closes = {cid: load_challenge(cid, root=root).spec.closes for cid in (GRADE, SURV)}
    return {cid: build_card(cid, root=root, out_dir=out / cid, draft=True, now=closes[cid]) for cid in (GRADE, SURV)}


@pytest.mark.parametrize("cid", [GRADE, SURV])
def test_markdown_card_has_the_task_category_and_target_section(cid, root, drafts):
    ch = load_challenge(cid, root=root)
    result = drafts[cid]
    readme = result.files["README.md"].read_text(encoding="utf-8")
    meta = front_matter(readme)
    assert meta["task_categories"] == [ch.spec.task_type.hf_category]
    target = readme.split("\n### Target\n")[1].split("\n## ")[0]
    for plot in result.stats.plots:
        assert f"(plots/{plot.filename})" in readme and (result.out_dir / "plots" / plot.filename).exists()
    challenge = section(readme, "## The challenge")
    if cid == GRADE:
        rows = [line.split(" | ")[0] for line in target.splitlines() if line.startswith("| tgrade = ")]
        assert rows == ["| tgrade = I", "| tgrade = II", "| tgrade = III"]
        assert "Classes of tgrade (ordered, from the lowest): I, II, III." in target
        assert "ordinal-classification" in meta["tags"] and "survival-analysis" not in meta["tags"]
        assert "**Classes**: I, II, III (ordered, from the lowest)" in challenge
        assert "**Prediction columns**: proba_I, proba_II, proba_III" in challenge
        assert "| share tgrade = I | share tgrade = II | share tgrade = III |" in readme
    else:
        assert "| cens = 0 |" in target and "| cens = 1 |" in target
        assert "time, by split:" in target and "| split | n | mean | sd | min | median | max |" in target
        times = ch.spec.survival_times
        assert "Kaplan-Meier" in target and f"| split | {' | '.join(f'time = {t:g}' for t in times)} |" in target
        assert "(plots/kaplan_meier.png)" in target
        assert "survival-analysis" in meta["tags"]
        assert f"**Follow-up times of the metrics**: {', '.join(f'{t:g}' for t in times)}" in challenge
        assert "| share cens = 1 | mean time |" in readme
    html = result.files["card.html"].read_text(encoding="utf-8")
    assert "<h3>Target</h3>" in html and TO_WRITE in html


@pytest.mark.parametrize("cid", [GRADE, SURV])
def test_croissant_card_validates_and_reads_every_record(cid, root, drafts):
    ch = load_challenge(cid, root=root)
    path = drafts[cid].files["croissant.json"]
    assert validate_croissant(str(path), files=release_files(ch), records=True) == []
    jsonld = json.loads(path.read_text(encoding="utf-8"))
    assert jsonld["description"].startswith("Draft: ")
    labels = next(rs for rs in jsonld["recordSet"] if rs["@id"] == "test_labels")
    assert {f["name"] for f in labels["field"]} == {ch.spec.id_column, *ch.spec.target, "split"}
    sample = next(rs for rs in jsonld["recordSet"] if rs["@id"] == "sample_submission")
    assert [f["name"] for f in sample["field"]] == [ch.spec.id_column, *ch.spec.prediction_columns]


# -- a draft, for a challenge whose prose is not written yet ----------------------------------------------
def test_a_card_with_empty_prose_is_refused_unless_built_as_a_draft(root, drafts, tmp_path):
    with pytest.raises(CardError) as info:
        build_card(GRADE, root=root, out_dir=tmp_path / "strict")
    where = {p.where for p in info.value.problems}
    assert {"ethics.approval", "dataset.summary", "de_identification.status", "data_protection.cnil.procedure"} <= where
    assert "draft=True" in info.value.fix and not (tmp_path / "strict").exists()
    result = drafts[GRADE]
    assert {"ethics.approval", "de_identification.status", "composition.columns.age"} <= set(result.todo)
    # kit new's card.yml names the data-protection section, every field empty: the draft lists them all
    assert {"data_protection.controller", "data_protection.legal_basis.article_9.basis"} <= set(result.todo)
    assert "dataset.name" not in result.todo  # kit new fills it in
    readme = result.files["README.md"].read_text(encoding="utf-8")
    assert f"> Draft: {len(result.todo)} field(s) of card.yml are still to be written" in readme
    assert f"- **Ethics approval**: {TO_WRITE}" in readme.replace("\\[", "[").replace("\\]", "]")
    assert "the meaning of case_id, age" in readme.replace("\\_", "_")


def test_a_draft_needs_no_card_file_and_still_checks_what_is_written(root, tmp_path):
    ch = load_challenge(SURV, root=root)
    card = parse_card(None, draft=True)
    assert card.dataset.name == TO_WRITE and card.distribution.licence.id == "other"
    assert card.de_identification.status == TO_WRITE and card.uses.intended == [TO_WRITE]
    assert card.is_draft and "distribution.licence.id" in card.todo
    written = yaml.safe_load(card_path(ch).read_text(encoding="utf-8"))
    written["de_identification"]["status"] = "anonymous"  # not one of the allowed values
    with pytest.raises(CardError) as info:
        parse_card(written, draft=True)
    assert [p.where for p in info.value.problems] == ["de_identification.status"]


def test_a_complete_card_of_a_file_challenge_builds_without_markers(root, tmp_path):
    """Provenance comes from card.yml: a challenge without a bundled dataset needs nothing else."""
    copy = tmp_path / "root"
    for part in ("starter_kits", "grading"):
        shutil.copytree(root / part / SURV, copy / part / SURV)
    shutil.copy(root / "gbsg2.csv", copy / "gbsg2.csv")
    ch = load_challenge(SURV, root=copy)
    assert ch.spec.source.file == "gbsg2.csv" and ch.spec.source.dataset is None
    card = yaml.safe_load((REPO / "starter_kits" / "breast-cancer" / "card.yml").read_text(encoding="utf-8"))
    card["composition"]["columns"] = {"cens": "1 = recurrence or death, 0 = censored", "time": "days"}
    card["privacy"] = {"allowed_identifiers": [ch.spec.id_column]}
    # age with tumour grade and hormonal therapy single out women (found by the gate's search): a
    # residual risk, released here on the record of two sign-offs
    card["privacy_override"] = {
        "reason": "GBSG2 has been public since 1999; re-release adds no disclosure",
        "organiser": {"name": "A. Organiser", "date": "2026-11-30"},
        "dpo": {"name": "B. Protection", "date": "2026-11-30"},
    }
    card_path(ch).write_text(yaml.safe_dump(card, sort_keys=False, allow_unicode=True), encoding="utf-8")
    result = build_card(ch, out_dir=tmp_path / "card")
    assert result.todo == ()
    for name in ("README.md", "card.html", "croissant.json"):
        text = result.files[name].read_text(encoding="utf-8")
        assert TO_WRITE not in text and "Draft:" not in text
    assert "| cens | target | integer |" in result.files["README.md"].read_text(encoding="utf-8")


def test_split_statement_follows_the_split_rule(root):
    from kit.challenge import Split, Temporal

    ch = load_challenge(GRADE, root=root)
    frames = read_release_frames(ch)
    card = parse_card(None, draft=True)
    doc = CardDocument(
        challenge_id=ch.id,
        spec=ch.spec,
        card=card,
        stats=compute_stats(ch, frames, plots=False),
        privacy=assess_release(frames, card.privacy, key=ch.spec.id_column),
    )
    assert "split at random with seed" in split_statement(doc) and "random and carry no information" in split_statement(
        doc
    )

    def with_split(**kw):
        spec = ch.spec.model_copy(update={"split": Split(test_fraction=0.4, public_fraction=0.5, **kw)})
        return split_statement(CardDocument(**{**doc.__dict__, "spec": spec}))

    grouped = with_split(group_column="patient")
    assert "grouped by patient (no patient has cases in two parts)" in grouped
    temporal = with_split(temporal=Temporal(column="year", cutoff="2020"))
    assert "split in time" in temporal and "before 2020 for training" in temporal
    spec = ch.spec.model_copy(update={"source": ch.spec.source.model_copy(update={"id_column": "record"})})
    assert "Case ids are those of the source table (record)." in split_statement(
        CardDocument(**{**doc.__dict__, "spec": spec})
    )


# -- subgroup results, boards and feedback with multi-column predictions -------------------------------------
def test_subgroup_scores_count_classes_and_name_a_missing_one():
    rng = np.random.default_rng(1)
    n = 90
    y = np.arange(n) % 3  # classes I, II, III
    y[:30] = np.where(y[:30] == 2, 1, y[:30])  # the first 30 cases: no class III
    P = np.stack([rng.dirichlet(np.ones(3), n) * 0.3 + 0.7 * np.eye(3)[y], rng.dirichlet(np.ones(3), n)])
    names = np.array(["I", "II", "III"])[y]
    groups = [Subgroup("all cases", "", "", np.ones(n, bool)), Subgroup("site A", "site", "A", np.arange(n) < 30)]
    table = subgroup_scores(
        y.astype(float),
        P,
        ["good", "random"],
        groups,
        ["macro_roc_auc", "multiclass_log_loss"],
        outcome=Outcome("tgrade", names, ("I", "II", "III")),
        n_resamples=N_RESAMPLES,
    )
    t = table.set_index(["subgroup", "metric", "team"])
    overall = t.loc[("all cases", "macro_roc_auc", "good")]
    assert overall["class_counts"] == "I: 30, II: 40, III: 20" and pd.isna(overall["n_positive"])
    assert overall["warning"] == "" and overall["ci_low"] <= overall["score"] <= overall["ci_high"]
    site = t.loc[("site A", "multiclass_log_loss", "good")]
    assert site["class_counts"] == "I: 10, II: 20, III: 0"
    assert "no case with tgrade = III" in site["warning"]
    auc = t.loc[("site A", "macro_roc_auc", "good")]["warning"]
    assert "no case with tgrade = III" in auc and ("undefined" in auc or "classes present only" in auc)


@pytest.fixture(scope="module")
def boards(root, tmp_path_factory):
    """For each challenge: a ledger of four teams' scored prediction files, and its final board."""
    out = {}
    for cid in (GRADE, SURV):
        ch = load_challenge(cid, root=root)
        labels = read_labels(ch)
        y = labels.y_true()
        cols = ch.spec.prediction_columns
        work = tmp_path_factory.mktemp(cid)
        rng = np.random.default_rng(0)
        led = Ledger(work / "ledger.sqlite")
        for i, skill in enumerate((0.9, 0.6, 0.3, 0.0)):
            if y.ndim == 1:  # class probabilities
                p = skill * np.eye(len(cols))[y.astype(int)] + (1 - skill) * rng.dirichlet(np.ones(len(cols)), len(y))
            else:  # a risk score and a survival curve at the spec's times
                risk = -skill * y[:, 1] / 1000 + (1 - skill) * rng.normal(size=len(y))
                curve = -np.sort(-rng.uniform(0.3, 1, (len(y), len(cols) - 1)), axis=1)
                p = np.column_stack([risk, curve])
            path = work / f"{i}.csv"
            pd.DataFrame(p, columns=cols).round(6).assign(**{ch.spec.id_column: labels.ids})[
                [ch.spec.id_column, *cols]
            ].to_csv(path, index=False)
            res = score_file(ch, labels, path)
            assert res.status == "scored", res.error
            sid, _ = led.add_submission(
                challenge=ch.id,
                team=f"team <{i}>",
                kind="predictions",
                filename=path.name,
                sha256=f"sha{i}",
                size=1,
                stored_path=str(path),
                submitted_at=f"2026-02-0{i + 1}T10:00:00+00:00",
            )
            preds = res.per_case[[c for c in res.per_case.columns if c.startswith("prediction.")]].to_numpy()
            led.add_run(RunRecord(sid, "scored", "score", utcnow(), scores=res.scores, case_predictions=preds))
        board = build_board(ch, ledger=led, phase="private", n_resamples=N_RESAMPLES)
        out[cid] = (ch, led, board, work)
    yield out
    for _, led, _, _ in out.values():
        led.close()


@pytest.mark.parametrize("cid", [GRADE, SURV])
def test_boards_render_and_plot_multi_column_predictions(cid, boards):
    ch, led, board, _ = boards[cid]
    assert board.statistics is not None and board.statistics.predictions.ndim == 3
    assert board.statistics.predictions.shape[2] == len(ch.spec.prediction_columns)
    assert board.table["rank"].tolist()[0] == 1 and board.table["team"].iloc[0] == "team <0>"
    assert board.table["ci_low"].notna().all()
    for fmt in get_board_format_names():
        text = render(board, fmt)
        assert "<0>" not in text or fmt in ("table", "csv")
    figs = board_figures(
        board, board.statistics, history=led.latest_runs(ch.id), scores=led.scores(ch.id), show_private=True
    )
    assert {"score distribution", "bootstrap ranks", "significance map", "public vs private"} <= set(figs)


@pytest.mark.parametrize("cid", [GRADE, SURV])
def test_subgroup_results_and_card_with_multi_column_predictions(cid, boards, tmp_path):
    ch, led, board, _ = boards[cid]
    sub = subgroup_results(board, led, top=2, n_resamples=N_RESAMPLES)
    assert sub.metrics == tuple(ch.spec.metrics.all) and sub.age_column == "age"
    overall = sub.table[sub.table["subgroup"] == "all private test cases"]
    assert overall["score"].notna().all()
    if cid == GRADE:
        assert sub.count_header == "tgrade classes" and sub.classes == ("I", "II", "III")
        assert overall["class_counts"].iloc[0].startswith("I: ") and overall["n_positive"].isna().all()
    else:
        assert sub.count_header == "cens = 1" and sub.classes == ("0", "1")
        events = int((read_labels(ch).frame.query("split == 'private'")["cens"] == 1).sum())
        assert (overall["n_positive"] == events).all()
    result = build_card(ch, leaderboard=board, subgroups=sub, out_dir=tmp_path, draft=True, now=ch.spec.closes)
    readme = result.files["README.md"].read_text(encoding="utf-8")
    part = readme.split("\n## Subgroup results\n")[1]
    teams = " | ".join(f"{r}. {t}".replace("<", "&lt;").replace(">", "&gt;") for r, t in sub.teams)
    assert [t for _, t in sub.teams] == ["team <0>", "team <1>"]
    header = f"| subgroup | cases | {sub.count_header} | {teams} | note |"
    assert header in part
    assert "<0>" not in result.files["card.html"].read_text(encoding="utf-8")


@pytest.mark.parametrize("cid", [GRADE, SURV])
def test_feedback_shows_public_scores_and_the_prediction_columns(cid, boards, tmp_path):
    ch, led, _, _ = boards[cid]
    scores = led.scores(ch.id)
    public = {m: float(scores[f"public.{m}"].iloc[0]) for m in ch.spec.metrics.all}
    page = write_feedback(
        tmp_path / "ok", challenge=ch, team="t", filename="p.csv", status="scored", scores={"public": public}
    ).read_text(encoding="utf-8")
    for name in ch.spec.metrics.all:
        assert name in page
    refused = write_feedback(
        tmp_path / "bad",
        challenge=ch,
        team="t",
        filename="p.csv",
        status="invalid",
        error={"what": "missing column", "fix": "add it"},
    ).read_text(encoding="utf-8")
    for column in ch.spec.prediction_columns:
        assert f"<code>{column}</code>" in refused


# -- nothing in the card, feedback and board code branches on a task's name --------------------------------
TASK_AWARE = [
    *sorted((REPO / "kit" / "cards").rglob("*.py")),
    REPO / "kit" / "grading" / "feedback.py",
    *(REPO / "kit" / "leaderboard" / f"{m}.py" for m in ("board", "plots", "render", "uncertainty")),
    *sorted((REPO / "kit" / "widgets").glob("*.py")),
]


@pytest.mark.parametrize("path", TASK_AWARE, ids=lambda p: str(p.relative_to(REPO)))
def test_no_branch_on_a_task_name(path):
    from kit.tasks import get_task_names

    source = path.read_text(encoding="utf-8")
    assert not re.search(r"\btask\s*(==|!=|in\s*\()", source), "ask the task (kit.tasks.Task), not its name"
    for name in get_task_names():
        assert f'"{name}"' not in source and f"'{name}'" not in source, name
