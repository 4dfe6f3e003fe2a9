"""Croissant: every committed and released croissant.json loads all its records with mlcroissant from where it
lies (contentUrl relative to the card's folder), declares Croissant 1.1 and RAI 1.0, names its creators, and has
every property of the RAI 1.0 vocabulary."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, SHIPPED

from kit.cards import card_path, read_card
from kit.cards.renderers.croissant import validate_croissant
from kit.challenge import load_challenge

pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
CLOSED = datetime(2027, 7, 8, tzinfo=timezone.utc)
#: http://mlcommons.org/croissant/RAI/1.0: every property of the vocabulary (mlcommons/croissant, croissant_rai.ttl)
RAI_1_0 = (
    "dataCollection",
    "dataCollectionType",
    "dataCollectionMissingData",
    "dataCollectionRawData",
    "dataCollectionTimeframe",
    "dataPreprocessingProtocol",
    "dataImputationProtocol",
    "dataManipulationProtocol",
    "dataReleaseMaintenancePlan",
    "personalSensitiveInformation",
    "dataAnnotationProtocol",
    "dataAnnotationPlatform",
    "dataAnnotationAnalysis",
    "annotationsPerItem",
    "annotatorDemographics",
    "machineAnnotationTools",
    "dataSocialImpact",
    "dataBiases",
    "dataLimitations",
    "dataUseCases",
)


def load_records(path: Path) -> dict[str, int]:
    """Every record set of a Croissant file read with mlcroissant, without any mapping: record set -> records."""
    import mlcroissant as mlc

    assert validate_croissant(str(path), records=True) == []
    dataset = mlc.Dataset(jsonld=str(path))
    return {rs.uuid: sum(1 for _ in dataset.records(rs.uuid)) for rs in dataset.metadata.record_sets}


def rows(path: Path) -> int:
    return len(pd.read_csv(path))


def check_metadata(jsonld: dict, challenge_id: str) -> None:
    assert jsonld["conformsTo"] == ["http://mlcommons.org/croissant/1.1", "http://mlcommons.org/croissant/RAI/1.0"]
    assert jsonld["@context"]["rai"] == "http://mlcommons.org/croissant/RAI/"
    for name in RAI_1_0:
        value = jsonld.get(f"rai:{name}")
        assert value and all(str(v).strip() for v in (value if isinstance(value, list) else [value])), name
    # mlcroissant's own spellings of two of them are not written
    assert "rai:dataCollectionTimeFrame" not in jsonld and "rai:dataDataManipulationProtocol" not in jsonld
    card = read_card(card_path(load_challenge(challenge_id, root=REPO)))
    names = [c["name"] for c in jsonld["creator"]]
    assert names == [c.split(" (")[0] for c in card.dataset.creators]
    assert all(c["@type"] == "sc:Person" for c in jsonld["creator"])
    assert card.collection.timeframe.split()[0] in jsonld["rai:dataCollectionTimeframe"][0]
    for name in ("dataAnnotationPlatform", "machineAnnotationTools", "dataImputationProtocol"):
        text = json.dumps(jsonld[f"rai:{name}"])
        assert "Not reported" in text or "Not applicable" in text, name


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_every_committed_croissant_loads_all_its_records(challenge_id):
    ch = load_challenge(challenge_id, root=REPO)
    path = REPO / "data_cards" / challenge_id / "croissant.json"
    jsonld = json.loads(path.read_text(encoding="utf-8"))
    for d in jsonld["distribution"]:
        assert (path.parent / d["contentUrl"]).resolve().is_file(), d["contentUrl"]
    # a committed card is sealed: the hidden labels are neither described nor read
    assert load_records(path) == {
        "train": rows(ch.path("train")),
        "test": rows(ch.path("test")),
        "sample_submission": rows(ch.path("sample_submission")),
    }
    check_metadata(jsonld, challenge_id)


def test_a_released_croissant_loads_all_its_records(tmp_path):
    from test_release import TEAMS, build_ledger

    from kit.release import release

    ch = load_challenge("diabetes", root=REPO)
    work = tmp_path / "work"
    build_ledger(ch, work, tmp_path / "stored", teams=TEAMS[:2])
    result = release(ch, workdir=work, out_dir=tmp_path / "out", now=CLOSED, n_resamples=50)
    path = result.folder / "croissant.json"
    jsonld = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(d["contentUrl"] for d in jsonld["distribution"]) == [
        "data/sample_submission.csv",
        "data/test.csv",
        "data/test_labels.csv",
        "data/train.csv",
    ]
    # the release can be moved: its card reads the files beside it
    moved = tmp_path / "moved"
    result.folder.rename(moved)
    assert load_records(moved / "croissant.json") == {
        "train": rows(ch.path("train")),
        "test": rows(ch.path("test")),
        "test_labels": rows(ch.path("labels")),
        "sample_submission": rows(ch.path("sample_submission")),
    }
    check_metadata(jsonld, "diabetes")
