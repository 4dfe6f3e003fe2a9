"""The open-data release: closed-only, privacy gate first, final board with intervals, subgroup results,
winners' licences, checksum manifest, byte-identical zips; and the card export of the leaderboard app."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from kit.cards import export_card
from kit.cards.renderers.croissant import validate_croissant
from kit.challenge import load_challenge
from kit.errors import KitError
from kit.labels import read_labels
from kit.ledger import Ledger, RunRecord, utcnow
from kit.privacy import ReleaseBlocked
from kit.release import MANIFEST, notebook_licence, release, spdx_check
from kit.scoring import score_file

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
CLOSED = datetime(2027, 7, 8, tzinfo=timezone.utc)  # the shipped challenges close on 2027-07-07
OPEN = datetime(2027, 7, 1, tzinfo=timezone.utc)
RESAMPLES = 200
XSS = "Alpha <b>lab</b>"
#: team, skill, what it handed in, the licence its notebook declares (how)
TEAMS = [
    (XSS, 0.9, "notebook", ("markdown", "**License:** MIT")),
    ("=Beta", 0.7, "notebook", None),
    ("Gamma", 0.5, "predictions", None),
    ("Delta", 0.2, "notebook", ("metadata", "CC0-1.0")),
]
OVERRIDE = {
    "reason": "Synthetic records made for this test; no real patient.",
    "organiser": {"name": "Olga Organiser", "date": "2026-11-20"},
    "dpo": {"name": "Dana Reviewer", "date": "2026-11-21"},
}


def notebook(team: str, licence) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# Model of {team}"),
        nbformat.v4.new_code_cell("import pandas as pd\npredictions = None"),
    ]
    if licence and licence[0] == "markdown":
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(licence[1]))
    if licence and licence[0] == "metadata":
        nb.metadata["license"] = licence[1]
    return nb


def build_ledger(ch, workdir: Path, store: Path, teams=TEAMS) -> None:
    """Score real prediction files with the trusted scorer and record them, with stored notebooks."""
    labels = read_labels(ch)
    target = ch.spec.target[0]
    y = labels.y_true()
    rng = np.random.default_rng(0)
    store.mkdir(parents=True, exist_ok=True)
    with Ledger(workdir / "ledger.sqlite") as led:
        for i, (team, skill, kind, licence) in enumerate(teams):
            p = skill * y + (1 - skill) * rng.normal(y.mean(), y.std(), len(y))
            predictions = store / f"{i}.csv"
            pd.DataFrame({ch.spec.id_column: labels.ids, target: p}).to_csv(predictions, index=False)
            res = score_file(ch, labels, predictions)
            assert res.status == "scored", res.error
            stored = predictions
            if kind == "notebook":
                stored = store / f"{i}.ipynb"
                nbformat.write(notebook(team, licence), stored)
            sid, _ = led.add_submission(
                challenge=ch.id,
                team=team,
                kind=kind,
                filename=stored.name,
                sha256=f"sha{i}",
                size=stored.stat().st_size,
                stored_path=str(stored),
                submitted_at=f"2026-02-0{i + 1}T10:00:00+00:00",
            )
            led.add_run(
                RunRecord(
                    sid,
                    "scored",
                    "score",
                    utcnow(),
                    scores=res.scores,
                    case_predictions=res.per_case["prediction"].to_numpy(),
                )
            )


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The diabetes challenge released twice from the same ledger, into two folders."""
    tmp = tmp_path_factory.mktemp("release")
    ch = load_challenge("diabetes", root=ROOT)
    work = tmp / "work"
    build_ledger(ch, work, tmp / "stored")
    a = release(ch, workdir=work, out_dir=tmp / "a", now=CLOSED, n_resamples=RESAMPLES)
    b = release(ch, workdir=work, out_dir=tmp / "b", now=CLOSED, n_resamples=RESAMPLES)
    return ch, a, b, tmp


# -- refusing --------------------------------------------------------------------------------------
def test_release_is_refused_while_the_challenge_is_open(tmp_path):
    with pytest.raises(KitError) as info:
        release("diabetes", root=ROOT, workdir=tmp_path / "work", now=OPEN)
    assert "still open" in info.value.what and "2027-07-07 00:00" in info.value.what
    assert "2027-07-07 00:00" in info.value.fix and "now=" not in info.value.fix, "no developer text"
    assert not (tmp_path / "work").exists()


def test_release_needs_a_ledger(tmp_path):
    with pytest.raises(KitError) as info:
        release("diabetes", root=ROOT, workdir=tmp_path / "work", now=CLOSED)
    assert "no ledger" in info.value.what and "--workdir" in info.value.fix
    assert not (tmp_path / "work" / "release").exists()


def test_identifiers_block_the_release_even_with_an_override(tmp_path):
    from test_cards import identifying_challenge

    ch = identifying_challenge(tmp_path)
    work = tmp_path / "work"
    for override in (None, OVERRIDE):
        with pytest.raises(ReleaseBlocked) as info:
            release(ch, workdir=work, now=CLOSED, override=override)  # the gate runs before the ledger is read
        where = {p.where for p in info.value.problems}
        assert {"train.email", "train.full_name"} <= where
        assert "nothing was written" in info.value.what and "never overridden" in info.value.fix
        assert not work.exists()


def test_residual_risk_is_released_on_two_sign_offs_and_audited(tmp_path):
    from test_cards import RESIDUAL, identifying_challenge

    from kit.ledger import Ledger

    ch = identifying_challenge(tmp_path, frame=RESIDUAL)
    work = tmp_path / "work"
    with pytest.raises(ReleaseBlocked) as info:
        release(ch, workdir=work, now=CLOSED)
    assert "privacy.k_anonymity" in {p.where for p in info.value.problems} and "--organiser" in info.value.fix
    build_ledger(ch, work, tmp_path / "stored", teams=TEAMS[:2])
    result = release(ch, workdir=work, now=CLOSED, override=OVERRIDE, n_resamples=RESAMPLES)
    assert result.privacy.status == "released with override"
    readme = (result.folder / "README.md").read_text(encoding="utf-8")
    page = (result.folder / "card.html").read_text(encoding="utf-8")
    rai = " ".join(
        json.loads((result.folder / "croissant.json").read_text(encoding="utf-8"))["rai:personalSensitiveInformation"]
    )
    for text in (readme, page, rai):
        assert OVERRIDE["reason"] in text and OVERRIDE["dpo"]["name"] in text
    with Ledger(work / "ledger.sqlite") as led:
        (row,) = led.overrides(ch.id)
    assert row.status == "released with override" and {p["where"] for p in row.overridden} >= {"privacy.k_anonymity"}
    # two private test cases: every subgroup is flagged as too small
    assert (result.subgroups.table["warning"].str.contains("too small to say anything")).all()


# -- what a release holds ----------------------------------------------------------------------------
def test_release_holds_data_labels_card_board_and_winners(released):
    ch, a, _, _ = released
    names = set(a.files)
    assert {
        "data/train.csv",
        "data/test.csv",
        "data/test_labels.csv",
        "data/sample_submission.csv",
        "README.md",
        "card.html",
        "croissant.json",
        "plots/target.png",
        "plots/age_sex_pyramid.png",
        "leaderboard.csv",
        "leaderboard.md",
        "subgroup_results.csv",
        "winners.csv",
        "winners.md",
        MANIFEST,
    } <= names
    assert a.folder.name == "diabetes-1.0.0" and a.zip_path == a.folder.parent / "diabetes-1.0.0.zip"
    # the labels are released with the public/private split of each case, byte for byte
    assert (a.folder / "data/test_labels.csv").read_bytes() == ch.path("labels").read_bytes()
    labels = pd.read_csv(a.folder / "data/test_labels.csv")
    assert set(labels["split"]) == {"public", "private"}
    # the final private board with its bootstrap intervals
    board = pd.read_csv(a.folder / "leaderboard.csv")
    assert list(board["team"][:3]) == [XSS, "'=Beta", "Gamma"]  # formula-safe in CSV
    assert {"rmse", "public_rmse", "ci_low", "ci_high", "rank_range", "p_first"} <= set(board.columns)
    assert (board["ci_low"] <= board["rmse"]).all() and (board["rmse"] <= board["ci_high"]).all()
    md = (a.folder / "leaderboard.md").read_text(encoding="utf-8")
    assert "private leaderboard" in md and "Alpha &lt;b&gt;lab&lt;/b&gt;" in md and XSS not in md
    # the card in every rendering, with the standing override of the diabetes card
    readme = (a.folder / "README.md").read_text(encoding="utf-8")
    for section in ("### Final leaderboard", "## Subgroup results", "#### Release override"):
        assert f"\n{section}\n" in readme, section
    assert "exact ages and sex have been public" in readme and "k = 1 (threshold 2)" in readme
    assert validate_croissant(str(a.folder / "croissant.json"), records=True) == []


def test_winners_without_an_osi_licence_are_not_prize_eligible(released):
    _, a, _, tmp = released
    by_team = {w.team: w for w in a.winners}
    assert [w.team for w in a.winners] == [XSS, "=Beta", "Gamma"]  # top 3; Delta is fourth
    assert by_team[XSS].eligible and by_team[XSS].licence == "MIT" and by_team[XSS].licence_source == "cell 1"
    assert not by_team["=Beta"].eligible and "no licence declared" in by_team["=Beta"].reason
    assert not by_team["Gamma"].eligible and "predictions file" in by_team["Gamma"].reason
    # only the eligible winner's code is redistributed; this ledger records no hand-in folder (no source),
    # so it is the stored original notebook alone, unchanged, in the winner's folder
    released_nbs = sorted(p for p in a.files if p.startswith("winners/"))
    assert released_nbs == [by_team[XSS].notebook] == list(by_team[XSS].files) == ["winners/1-Alpha-b-lab-b-1/0.ipynb"]
    assert (a.folder / by_team[XSS].notebook).read_bytes() == (tmp / "stored" / "0.ipynb").read_bytes()
    table = pd.read_csv(a.folder / "winners.csv")
    assert list(table["prize_eligible"]) == ["yes", "no", "no"]
    md = (a.folder / "winners.md").read_text(encoding="utf-8")
    assert "**no**" in md and XSS not in md
    readme = (a.folder / "README.md").read_text(encoding="utf-8")
    board = readme.split("### Final leaderboard")[1].split("\n## ")[0]
    row = next(line for line in board.splitlines() if line.startswith("| 2 |"))
    assert "=Beta" in row and "none declared: not prize-eligible" in row


def test_subgroup_results_flag_small_subgroups(released):
    _, a, _, _ = released
    sub = a.subgroups
    assert sub.sex_column == "sex" and sub.age_column == "age"
    assert [t for _, t in sub.teams] == [XSS, "=Beta", "Gamma"]
    assert set(sub.table["metric"]) == {"rmse", "mae", "r2"}
    labels = [label for label, _ in sub.subgroups]
    assert labels[:3] == ["all private test cases", "sex = 1", "sex = 2"] and labels[3].startswith("age ")
    assert sub.small and all(n < 30 for _, n in sub.small)
    small = sub.table[sub.table["n_cases"] < 30]
    assert (small["warning"].str.contains("too small to say anything")).all()
    assert (sub.table[sub.table["n_cases"] >= 30]["warning"] == "").all()
    # every finite score sits inside its interval
    t = sub.table.dropna(subset=["score", "ci_low", "ci_high"])
    assert ((t["ci_low"] <= t["score"] + 1e-9) & (t["score"] <= t["ci_high"] + 1e-9)).all()
    overall = sub.table[(sub.table["subgroup"] == labels[0]) & (sub.table["metric"] == "rmse")]
    board = a.board.table.set_index("team")
    for r in overall.itertuples():
        assert r.score == pytest.approx(board.loc[r.team, "score"])
    readme = (a.folder / "README.md").read_text(encoding="utf-8")
    assert "Too small to say anything (fewer than 30 cases)" in readme
    page = (a.folder / "card.html").read_text(encoding="utf-8")
    assert "<h2>Subgroup results</h2>" in page and XSS not in page
    limitations = json.loads((a.folder / "croissant.json").read_text(encoding="utf-8"))["rai:dataLimitations"]
    assert any(text.startswith("Subgroup results of the top teams") for text in limitations)
    assert (a.folder / "subgroup_results.csv").read_text(encoding="utf-8").count("\n") == len(sub.table) + 1
    assert "too small" in sub._repr_html_() and "&lt;b&gt;" in sub._repr_html_()


# -- determinism and integrity -----------------------------------------------------------------------
def test_two_releases_are_byte_identical(released):
    _, a, b, _ = released
    assert a.zip_path.read_bytes() == b.zip_path.read_bytes()
    assert list(a.files) == list(b.files)
    for rel in a.files:
        assert a.files[rel].read_bytes() == b.files[rel].read_bytes(), rel
    with zipfile.ZipFile(a.zip_path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names) == [f"diabetes-1.0.0/{rel}" for rel in a.files]
        for i in infos:
            assert i.date_time == (2027, 7, 7, 0, 0, 0)
            assert i.external_attr >> 16 == 0o100644 and i.create_system == 3
            assert i.extra == b"" and i.comment == b""
            assert zf.read(i) == (a.folder / i.filename.split("/", 1)[1]).read_bytes()


def test_manifest_verifies(released):
    _, a, _, _ = released
    lines = a.manifest.read_text(encoding="utf-8").splitlines()
    listed = [line.split("  ", 1)[1] for line in lines]
    assert listed == sorted(listed) == sorted(set(a.files) - {MANIFEST})
    for line in lines:
        digest, rel = line.split("  ", 1)
        assert hashlib.sha256((a.folder / rel).read_bytes()).hexdigest() == digest, rel
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "--check", "--strict", "--quiet", MANIFEST], cwd=a.folder, check=True)


def test_release_result_displays(released):
    _, a, _, _ = released
    assert "prize-eligible winners=1/3" in repr(a)
    assert "Alpha &lt;b&gt;lab&lt;/b&gt;" in a._repr_html_()
    text = a.summary()  # what `kit release` prints
    assert text.startswith(f"released diabetes {a.version}: {len(a.files)} files") and str(a.folder) in text
    assert "privacy gate: " in text and sum(line.startswith("  #") for line in text.splitlines()) == 3


# -- licences ----------------------------------------------------------------------------------------------
def nb_json(cells=(), metadata=None) -> dict:
    return {
        "cells": [{"cell_type": kind, "source": text, "metadata": {}} for kind, text in cells],
        "metadata": metadata or {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.mark.parametrize(
    "nb, licence, eligible",
    [
        (nb_json(metadata={"license": "MIT"}), "MIT", True),
        (nb_json(metadata={"license": {"spdx": "apache-2.0"}}), "Apache-2.0", True),
        (nb_json([("markdown", "# Team\n\n**License:** [BSD-3-Clause](LICENSE)\n")]), "BSD-3-Clause", True),
        (nb_json([("markdown", "Licence: MIT License.")]), "MIT", True),
        (nb_json([("code", "# SPDX-License-Identifier: GPL-3.0-or-later\nimport numpy")]), "GPL-3.0-or-later", True),
        (nb_json([("code", ["# SPDX-License-Identifier: ", "MIT OR CC0-1.0\n"])]), "MIT OR CC0-1.0", True),
        (nb_json([("markdown", "License: GPL-3.0+")]), "GPL-3.0-or-later", True),
        (
            nb_json([("markdown", "License: LGPL-2.1-only WITH Classpath-exception-2.0")]),
            "LGPL-2.1-only WITH Classpath-exception-2.0",
            True,
        ),
        (nb_json(metadata={"license": "CC0-1.0"}), "CC0-1.0", False),
        (nb_json([("markdown", "License: MIT AND CC-BY-NC-4.0")]), "MIT AND CC-BY-NC-4.0", False),
        (nb_json([("markdown", "License: proprietary")]), "proprietary", False),
        (nb_json([("markdown", "License: LicenseRef-our-terms")]), "LicenseRef-our-terms", False),
        (nb_json([("code", 'license = "MIT"')]), "", False),  # code is not a declaration
        (nb_json([("markdown", "No licence here.")]), "", False),
    ],
)
def test_notebook_licence(nb, licence, eligible):
    check = notebook_licence(nb)
    assert (check.licence, check.eligible) == (licence, eligible)
    assert bool(check.reason) != eligible
    assert notebook_licence(json.dumps(nb).encode()) == check


def test_licence_reasons():
    cc0 = notebook_licence(nb_json(metadata={"license": "CC0-1.0"}))
    assert "not OSI-approved" in cc0.reason and "MIT-0" in cc0.reason
    clash = notebook_licence(nb_json([("markdown", "License: MIT")], metadata={"license": "Apache-2.0"}))
    assert not clash.eligible and "conflicting" in clash.reason and "metadata.license" in clash.reason
    assert "not valid JSON" in notebook_licence(b"{not json").reason
    assert spdx_check("(MIT OR Apache-2.0) AND BSD-2-Clause")[:2] == (True, "(MIT OR Apache-2.0) AND BSD-2-Clause")
    assert not spdx_check("MIT OR")[0] and "not an SPDX licence expression" in spdx_check("MIT OR")[2]


# -- the card export of the leaderboard app ---------------------------------------------------------------
def test_export_card_shows_final_results_only_once_closed(released):
    ch, _, _, tmp = released
    work = tmp / "work"
    while_open = export_card(ch, workdir=work, now=OPEN, out_dir=tmp / "open")
    text = "".join(p.read_text(encoding="utf-8") for n, p in while_open.files.items() if not n.endswith(".png"))
    assert "No final private leaderboard" in text and "Subgroup results" not in text
    for team, *_ in TEAMS:
        assert team not in text and team.replace("<", "&lt;").replace(">", "&gt;") not in text
    assert while_open.subgroups is None and while_open.document.leaderboard is None
    closed = export_card(ch, workdir=work, now=CLOSED, n_resamples=RESAMPLES)
    assert closed.out_dir == work / "exports" / "diabetes-data-card"
    readme = closed.files["README.md"].read_text(encoding="utf-8")
    assert "## Subgroup results" in readme and "Alpha &lt;b&gt;lab&lt;/b&gt;" in readme
    # no ledger yet: a card without results, even after the close
    empty = export_card(ch, workdir=tmp / "nothing", now=CLOSED)
    assert empty.document.leaderboard is None
