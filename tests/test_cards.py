"""Data cards: schema, computed statistics, renderers (Markdown, HTML, Croissant), build_card; the card of an
open challenge (sealed: nothing from the test labels) and of a closed one (everything)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kit.cards import (
    CardError,
    build_card,
    card_path,
    get_card_renderer,
    get_card_renderer_names,
    parse_card,
    read_card,
)
from kit.cards.compute import compute_stats, read_release_frames
from kit.cards.document import CardDocument
from kit.cards.renderers import Renderer, register_card_renderer
from kit.cards.renderers.croissant import validate_croissant
from kit.challenge import commit_labels, list_challenges, load_challenge, new_salt, verify_commitment, write_salt
from kit.privacy import ReleaseBlocked, check_release

ROOT = Path(__file__).resolve().parents[1]
# rdflib (used by mlcroissant to read JSON-LD) warns about its own deprecated API
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
SHIPPED = list_challenges(ROOT)
CLOSED = datetime(2027, 7, 8, tzinfo=timezone.utc)  # the shipped challenges close on 2027-07-07
OPEN = datetime(2027, 7, 1, tzinfo=timezone.utc)  # when the committed cards are "built" (they are sealed cards)


# -- helpers -----------------------------------------------------------------------------------
def copy_challenge(tmp_path: Path, challenge_id: str, edit_card=None):
    """A copy of a shipped challenge under a scratch root, with an optionally edited card."""
    root = tmp_path / "root"
    shutil.copytree(ROOT / "starter_kits" / challenge_id, root / "starter_kits" / challenge_id)
    shutil.copytree(ROOT / "grading" / challenge_id, root / "grading" / challenge_id)
    if edit_card is not None:
        path = root / "starter_kits" / challenge_id / "card.yml"
        card = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit_card(card)
        path.write_text(yaml.safe_dump(card, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_challenge(challenge_id, root=root)


def _csv(frame: pd.DataFrame, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


IDENTIFYING = pd.DataFrame(
    {
        "case_id": [f"case-{i:04d}" for i in range(1, 11)],
        "full_name": [
            "Alice Martin",
            "Bruno Keller",
            "Chloe Dubois",
            "Dmitri Orlov",
            "Emma Stone",
            "Farid Haddad",
            "Greta Lind",
            "Hugo Petit",
            "Ines Costa",
            "Jonas Berg",
        ],
        "email": [f"patient{i}@example.org" for i in range(1, 11)],
        "phone": [f"+44 7700 900{i:03d}" for i in range(1, 11)],
        "date_of_birth": [f"19{50 + i}-0{1 + i % 9}-1{i % 10}" for i in range(10)],
        "postcode": [
            "SW1A 1AA",
            "M1 1AE",
            "EH1 1YZ",
            "CB2 1TN",
            "B33 8TH",
            "LS1 4AP",
            "G1 1XQ",
            "CF10 1EP",
            "BT1 5GS",
            "NE1 4ST",
        ],
        "age": [54, 39, 34, 23, 61, 66, 54, 39, 70, 45],
        "sex": [1, 2, 1, 2, 1, 2, 1, 2, 1, 2],
        "progression": [150.0, 80.0, 210.0, 95.0, 160.0, 300.0, 120.0, 99.0, 180.0, 140.0],
    }
)


def identifying_challenge(tmp_path: Path, override=None, frame: pd.DataFrame = IDENTIFYING, privacy=None):
    """A challenge whose data carry direct identifiers and an (age, sex) group of one (or ``frame``'s data and
    ``privacy`` policy): its first 6 rows are the training cases, the others the test cases."""
    cid = "leaky"
    root = tmp_path / "root"
    kit_dir, grading = root / "starter_kits" / cid, root / "grading" / cid
    train, test_full = frame.iloc[:6], frame.iloc[6:]
    labels = test_full[["case_id", "progression"]].assign(split=["public", "public", "private", "private"])
    sample = test_full[["case_id"]].assign(progression=150.0)
    hashes = {
        "train": _csv(train, kit_dir / "data" / "train.csv"),
        "test": _csv(test_full.drop(columns="progression"), kit_dir / "data" / "test.csv"),
        "sample_submission": _csv(sample, kit_dir / "data" / "sample_submission.csv"),
    }
    _csv(labels, grading / "labels.csv")
    salt = new_salt()
    write_salt(grading / "labels.salt", salt)
    spec = yaml.safe_load((ROOT / "starter_kits" / "diabetes" / "challenge.yml").read_text(encoding="utf-8"))
    spec["id"] = cid
    for role, digest in hashes.items():
        spec["data"][role]["sha256"] = digest
    spec["data"]["labels"]["commitment"] = commit_labels((grading / "labels.csv").read_bytes(), salt)
    (kit_dir / "challenge.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    card = yaml.safe_load((ROOT / "starter_kits" / "diabetes" / "card.yml").read_text(encoding="utf-8"))
    card["composition"]["columns"] = {}
    card["privacy"] = privacy or {
        "quasi_identifiers": ["age", "sex"],
        "sensitive_attributes": ["progression"],
        "k_anonymity": 2,
        "l_diversity": 1,
        "allowed_identifiers": ["case_id"],
    }
    card.pop("privacy_override", None)  # the diabetes card's standing override is not this dataset's
    if override is not None:
        card["privacy_override"] = override
    (kit_dir / "card.yml").write_text(yaml.safe_dump(card, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_challenge(cid, root=root)


def release_files(ch) -> dict[str, str]:
    """Croissant file id -> local path, for reading the records of a card."""
    return {f.name: str(f.source) for f in compute_stats(ch, plots=False).files}


def front_matter(readme: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", readme, re.S)
    assert match, "README.md must start with YAML front matter"
    return yaml.safe_load(match.group(1))


# -- every shipped challenge ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``built(challenge_id)``: the card of a shipped challenge, built once for this module (read only)."""
    out = tmp_path_factory.mktemp("cards")
    results = {}

    def get(challenge_id: str):
        if challenge_id not in results:
            results[challenge_id] = build_card(challenge_id, root=ROOT, out_dir=out / challenge_id, now=OPEN)
        return results[challenge_id]

    return get


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_shipped_card_builds_and_validates(challenge_id, built):
    result = built(challenge_id)
    assert {"README.md", "card.html", "croissant.json"} <= set(result.files)
    card = read_card(card_path(load_challenge(challenge_id, root=ROOT)))
    # a shipped card passes the gate, or records the standing decision that lets it through
    assert result.privacy.status == ("released with override" if card.privacy_override else "passed")
    if card.privacy_override:
        assert result.privacy.override == card.privacy_override and result.privacy.reasons
    ch = load_challenge(challenge_id, root=ROOT)
    # static validation, then every record read from the files (sha256, columns, types)
    assert validate_croissant(str(result.files["croissant.json"]), files=release_files(ch), records=True) == []
    for name, path in result.files.items():
        assert path.exists() and path.stat().st_size > 0, name
    assert challenge_id in result._repr_html_() and result.privacy.status in result._repr_html_()


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_committed_cards_are_current(challenge_id, built):
    """data_cards/<id>/ must be what build_card writes today (text files byte for byte)."""
    committed = ROOT / "data_cards" / challenge_id
    fresh = built(challenge_id)
    hint = (
        'rebuild with: python -c "from datetime import datetime, timezone; from kit.cards import build_card; '
        f"build_card('{challenge_id}', now=datetime(2027, 7, 1, tzinfo=timezone.utc))\""
    )
    for name in ("README.md", "croissant.json"):
        assert (committed / name).read_bytes() == fresh.files[name].read_bytes(), f"{name} is stale; {hint}"
    strip = lambda b: re.sub(rb"base64,[A-Za-z0-9+/=]+", b"base64,", b)  # noqa: E731
    assert strip((committed / "card.html").read_bytes()) == strip(fresh.files["card.html"].read_bytes()), hint
    assert sorted(p.name for p in (committed / "plots").glob("*.png")) == sorted(
        p.name for p in (fresh.files["README.md"].parent / "plots").glob("*.png")
    ), hint
    ch = load_challenge(challenge_id, root=ROOT)
    assert validate_croissant(str(committed / "croissant.json"), files=release_files(ch), records=True) == []
    # the committed cards are sealed: the participants' spec and cards never hold the labels' plain hash
    plain = hashlib.sha256(ch.path("labels").read_bytes()).hexdigest()
    for path in [*committed.rglob("*"), *ch.starter_dir.rglob("*")]:
        if path.is_file():
            assert plain.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_rendering_twice_gives_identical_bytes(challenge_id, tmp_path, built):
    a = built(challenge_id)
    b = build_card(challenge_id, root=ROOT, out_dir=tmp_path / "b", now=OPEN)
    assert a.files["README.md"].parent != b.files["README.md"].parent
    assert list(a.files) == list(b.files)
    for name in a.files:
        assert a.files[name].read_bytes() == b.files[name].read_bytes(), name


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_computed_statistics_match_the_files(challenge_id):
    ch = load_challenge(challenge_id, root=ROOT)
    frames = read_release_frames(ch)
    stats = compute_stats(ch, frames)
    for f in stats.files:
        if f.role == "labels":
            assert verify_commitment(f.source.read_bytes(), ch.labels_salt(), ch.spec.data.labels.commitment)
        else:
            assert f.sha256 == getattr(ch.spec.data, f.role).sha256
        assert f.rows == len(frames[f.role]) and f.columns == tuple(frames[f.role].columns)
    split_counts = frames["labels"]["split"].value_counts()
    assert stats.splits.train == len(frames["train"])
    assert (stats.splits.public, stats.splits.private) == (split_counts["public"], split_counts["private"])
    assert stats.n_cases == len(frames["train"]) + len(frames["test"])
    assert stats.n_features == len(frames["test"].columns) - 1
    for plot in stats.plots:
        assert plot.png.startswith(b"\x89PNG\r\n\x1a\n") and plot.alt
    names = {p.name for p in stats.plots}
    assert {"target", "missingness"} <= names
    if challenge_id == "diabetes":
        sub = stats.subgroups
        assert (sub.sex_column, sub.age_column) == ("sex", "age") and "age_sex_pyramid" in names
        assert sum(sum(c) for _, c in sub.sex) == stats.n_cases
        assert sum(sum(c) for _, c in sub.age_bands) == stats.n_cases
    if challenge_id == "breast-cancer":
        assert not stats.subgroups.present and "age_sex_pyramid" not in names
        counts = dict(stats.target.classes)
        assert counts["1"][-1] == int(pd.concat([frames["train"], frames["labels"]])["malignant"].sum())


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_croissant_describes_files_columns_and_rai(challenge_id, tmp_path):
    from kit.cards.renderers.croissant import RAI_PROPERTIES

    result = build_card(challenge_id, root=ROOT, out_dir=tmp_path, renderers=("croissant",), now=CLOSED)
    jsonld = json.loads(result.files["croissant.json"].read_text(encoding="utf-8"))
    ch = load_challenge(challenge_id, root=ROOT)
    assert jsonld["conformsTo"] == ["http://mlcommons.org/croissant/1.1", "http://mlcommons.org/croissant/RAI/1.0"]
    by_url = {d["contentUrl"]: d for d in jsonld["distribution"]}
    base = f"../../starter_kits/{challenge_id}/data"  # seen from data_cards/<id>/
    assert by_url[f"{base}/train.csv"]["sha256"] == ch.spec.data.train.sha256
    labels = by_url[f"../../grading/{challenge_id}/labels.csv"]  # a closed card: the labels, with their checksum
    assert labels["sha256"] == hashlib.sha256(ch.path("labels").read_bytes()).hexdigest()
    assert ch.spec.data.labels.commitment in labels["description"] and ch.labels_salt() in labels["description"]
    assert all(d["encodingFormat"] == "text/csv" for d in jsonld["distribution"])
    record_sets = {rs["@id"]: rs for rs in jsonld["recordSet"]}
    assert set(record_sets) == {"train", "test", "test_labels", "sample_submission"}
    train_types = {f["name"]: f["dataType"] for f in record_sets["train"]["field"]}
    assert train_types["case_id"] == "sc:Text"
    assert set(train_types) == set(pd.read_csv(ch.path("train"), nrows=1).columns)
    assert set(train_types.values()) <= {"sc:Text", "sc:Float", "sc:Integer", "sc:Boolean"}
    for key in RAI_PROPERTIES:
        assert jsonld.get(key), key
    assert any("Ethics approval" in s for s in jsonld["rai:personalSensitiveInformation"])


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_markdown_is_a_hugging_face_dataset_card(challenge_id, tmp_path):
    result = build_card(challenge_id, root=ROOT, out_dir=tmp_path, renderers=("markdown",))
    readme = result.files["README.md"].read_text(encoding="utf-8")
    meta = front_matter(readme)
    assert meta["pretty_name"] and meta["license"] and meta["task_categories"] and meta["size_categories"]
    assert meta["size_categories"] == ["n<1K"]
    for section in (
        "## Motivation",
        "## Composition",
        "## Collection process",
        "## Preprocessing and labelling",
        "## Uses",
        "## Distribution",
        "## Maintenance",
        "### Ethics and consent",
        "### De-identification",
        "### Patient demographics",
        "### Privacy assessment",
        "## The challenge",
        "### Timeline",
    ):
        assert f"\n{section}\n" in readme, section
    for plot in result.stats.plots:
        assert f"(plots/{plot.filename})" in readme
        assert (tmp_path / "plots" / plot.filename).exists()


# -- the card schema -----------------------------------------------------------------------------------
def shipped_card_data(challenge_id="breast-cancer") -> dict:
    return yaml.safe_load((ROOT / "starter_kits" / challenge_id / "card.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_shipped_card_files_validate(challenge_id):
    card = read_card(card_path(load_challenge(challenge_id, root=ROOT)))
    assert card.schema_version == 1


def test_every_missing_or_empty_field_is_named_in_one_error():
    data = shipped_card_data()
    data["ethics"]["consent"] = ""
    data["ethics"]["withdrawal"] = None
    del data["de_identification"]["status"]
    data["uses"]["intended"] = []
    del data["labelling"]
    with pytest.raises(CardError) as info:
        parse_card(data, source="card.yml")
    where = {p.where: p for p in info.value.problems}
    assert {
        "ethics.consent",
        "ethics.withdrawal",
        "de_identification.status",
        "uses.intended",
        "labelling.protocol",
        "labelling.annotators",
        "labelling.agreement",
    } <= set(where)
    assert where["ethics.consent"].what == "required field is empty"
    assert where["de_identification.status"].what == "required field is missing"
    assert "ethics.consent" in where["ethics.consent"].fix
    assert "not reported" in info.value.fix
    assert info.value.where == "card.yml"


def test_unknown_fields_and_values_are_rejected():
    data = shipped_card_data()
    data["ethics"]["aproval"] = "typo"
    data["de_identification"]["status"] = "anonymous"
    with pytest.raises(CardError) as info:
        parse_card(data)
    where = {p.where for p in info.value.problems}
    assert {"ethics.aproval", "de_identification.status"} <= where


def test_schema_does_not_import_the_challenge_module():
    code = (
        "import sys, kit.cards.schema as s; "
        "assert 'kit.challenge' not in sys.modules, 'kit.challenge'; "
        "assert 'matplotlib' not in sys.modules and 'mlcroissant' not in sys.modules; "
        "s.PrivacyPolicy(quasi_identifiers=['age'])"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_empty_card_field_stops_build_before_writing(tmp_path):
    ch = copy_challenge(tmp_path, "breast-cancer", lambda c: c["ethics"].update(approval="  "))
    out = tmp_path / "out"
    with pytest.raises(CardError) as info:
        build_card(ch, out_dir=out)
    assert [p.where for p in info.value.problems] == ["ethics.approval"]
    assert not out.exists()


def test_card_columns_must_exist(tmp_path):
    ch = copy_challenge(tmp_path, "diabetes", lambda c: c["composition"]["columns"].update(glucose="typo"))
    with pytest.raises(CardError) as info:
        build_card(ch, out_dir=tmp_path / "out")
    assert info.value.problems[0].where == "composition.columns"
    assert "'glucose'" in info.value.problems[0].what


# -- the privacy gate inside build_card ------------------------------------------------------------------
def test_blocked_release_writes_nothing(tmp_path):
    ch = identifying_challenge(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(ReleaseBlocked) as info:
        build_card(ch, out_dir=out)
    where = {p.where for p in info.value.problems}
    assert {
        "train.full_name",
        "train.email",
        "train.phone",
        "train.date_of_birth",
        "train.postcode",
        "test.full_name",
        "privacy.k_anonymity",
    } <= where
    assert not out.exists()


DECISION = {
    "reason": "Synthetic records made for this test; no real patient.",
    "organiser": {"name": "Olga Organiser", "date": "2026-11-20"},
    "dpo": {"name": "Dana Reviewer", "date": "2026-11-21"},
}
#: the identifying records without their direct identifiers: only residual risk remains
RESIDUAL = IDENTIFYING.drop(columns=["full_name", "email", "phone", "date_of_birth", "postcode"])


def test_an_override_never_releases_direct_identifiers(tmp_path):
    ch = identifying_challenge(tmp_path, override=DECISION)
    with pytest.raises(ReleaseBlocked) as info:
        build_card(ch, out_dir=tmp_path / "out")
    assert {p.where for p in info.value.problems} >= {"train.full_name", "train.email"}
    assert "never overridden" in info.value.fix and not (tmp_path / "out").exists()


@pytest.mark.parametrize("in_card", [False, True], ids=["argument", "card-file"])
def test_override_is_recorded_in_every_output(tmp_path, in_card):
    ch = identifying_challenge(tmp_path, override=DECISION if in_card else None, frame=RESIDUAL)
    result = build_card(ch, out_dir=tmp_path / "out", override=None if in_card else DECISION)
    assert result.privacy.status == "released with override"
    readme = result.files["README.md"].read_text(encoding="utf-8")
    page = result.files["card.html"].read_text(encoding="utf-8")
    jsonld = json.loads(result.files["croissant.json"].read_text(encoding="utf-8"))
    rai = " ".join(jsonld["rai:personalSensitiveInformation"])
    for text in (readme, page, rai):
        assert "Synthetic records made for this test" in text
        assert "Olga Organiser" in text and "Dana Reviewer" in text and "2026-11-21" in text
        assert "k = 1" in text
    assert "#### Release override" in readme


# -- the leaderboard, the winners and escaping --------------------------------------------------------
XSS = "<script>alert(1)</script>"


def leaderboard() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [1, 2, 3, 4],
            "team": [XSS, "pipes | and **stars**", "plain team", "fourth"],
            "score": [0.991, 0.982, 0.9, 0.8],
            "ci_low": [0.97, 0.95, 0.85, 0.7],
            "ci_high": [1.0, 0.995, 0.93, 0.86],
        }
    )


def test_team_names_are_escaped_and_winners_licences_shown(tmp_path):
    winners = [{"team": XSS, "code_url": "https://example.org/code", "code_licence": "MIT"}]
    ch = copy_challenge(tmp_path, "breast-cancer", lambda c: c["challenge"].update(winners=winners))
    result = build_card(ch, out_dir=tmp_path / "out", leaderboard=leaderboard(), now=CLOSED)
    page = result.files["card.html"].read_text(encoding="utf-8")
    readme = result.files["README.md"].read_text(encoding="utf-8")
    assert XSS not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in readme and "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" not in readme
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in readme
    assert "pipes \\| and \\*\\*stars\\*\\*" in readme
    row = next(line for line in readme.splitlines() if line.startswith("| 1 |"))
    assert "0.991" in row and "MIT" in row and "https://example.org/code" in row
    assert "4 team(s) ranked" in readme and "1 other team(s) have a confidence interval" in readme
    third = next(line for line in readme.splitlines() if line.startswith("| 3 |"))
    assert "not stated in the card" in third
    assert not any(line.startswith("| 4 |") for line in readme.splitlines())


def test_leaderboard_problems_are_named(tmp_path):
    ch = copy_challenge(
        tmp_path, "breast-cancer", lambda c: c["challenge"].update(winners=[{"team": "ghost", "code_licence": "MIT"}])
    )
    with pytest.raises(CardError) as info:
        build_card(ch, out_dir=tmp_path / "a", leaderboard=leaderboard(), now=CLOSED)
    assert info.value.problems[0].where == "ghost"
    with pytest.raises(CardError) as info:
        build_card(
            "breast-cancer",
            root=ROOT,
            out_dir=tmp_path / "b",
            leaderboard=leaderboard().drop(columns=["ci_low"]),
            now=CLOSED,
        )
    assert [p.where for p in info.value.problems] == ["ci_low"]


# -- the renderer registry -------------------------------------------------------------------------------
def test_renderer_registry():
    assert get_card_renderer_names() == ["croissant", "html", "markdown"]
    with pytest.raises(CardError) as info:
        get_card_renderer("pdf")
    assert "croissant, html, markdown" in info.value.fix
    with pytest.raises(CardError):
        register_card_renderer(
            type("Again", (Renderer,), {"name": "markdown", "filename": "x.md", "render": lambda self, doc: b""})
        )


class _PlainText(Renderer):
    name = "markdown"
    filename = "card.txt"

    def render(self, doc):
        return b"card\n"


def test_card_renderer_names_are_not_overwritten_silently():
    original = get_card_renderer("markdown")
    with pytest.raises(CardError) as info:
        register_card_renderer(_PlainText)
    assert "'markdown'" in info.value.what and "replace=True" in info.value.fix
    assert get_card_renderer("markdown") is original
    try:
        register_card_renderer(_PlainText, replace=True)
        replaced = get_card_renderer("markdown")
        assert isinstance(replaced, _PlainText) and replaced.filename == "card.txt"  # the class became an instance
    finally:
        register_card_renderer(original, replace=True)
    assert get_card_renderer("markdown") is original
    # a renderer without a filename is refused
    with pytest.raises(CardError):
        register_card_renderer(type("Nameless", (_PlainText,), {"name": "nameless", "filename": ""}))
    assert "nameless" not in get_card_renderer_names()


def test_unknown_card_renderer_lists_the_registered_ones():
    with pytest.raises(CardError) as info:
        get_card_renderer("pdf")
    assert "'pdf'" in info.value.what
    assert info.value.fix.startswith("use one of: " + ", ".join(get_card_renderer_names()))


@pytest.mark.parametrize("name", ["croissant", "html", "markdown"])
def test_every_renderer_is_deterministic(name):
    ch = load_challenge("diabetes", root=ROOT)
    card = read_card(card_path(ch))
    frames = read_release_frames(ch)
    doc = CardDocument(
        challenge_id=ch.id,
        spec=ch.spec,
        card=card,
        stats=compute_stats(ch, frames),
        privacy=check_release(frames, card.privacy, card.privacy_override, key=ch.spec.id_column),
    )
    renderer = get_card_renderer(name)
    first = renderer.render(doc)
    assert first == renderer.render(doc) and first.endswith(b"\n")


def test_unknown_renderer_fails_before_writing(tmp_path):
    with pytest.raises(CardError):
        build_card("breast-cancer", root=ROOT, out_dir=tmp_path / "out", renderers=("markdown", "pdf"))
    assert not (tmp_path / "out").exists()


# -- the diabetes card's honest thresholds ----------------------------------------------------------------
def test_diabetes_card_declares_honest_thresholds_and_a_standing_override():
    card = read_card(card_path(load_challenge("diabetes", root=ROOT)))
    assert (card.privacy.k_anonymity, card.privacy.l_diversity) == (2, 2)
    assert "public in the source data since 2004" in card.privacy_override.reason
    assert card.privacy_override.organiser.name == "challenge-kit maintainers (organiser)"
    assert card.privacy_override.dpo.name == "challenge-kit maintainers (acting data protection contact)"
    committed = (ROOT / "data_cards" / "diabetes" / "README.md").read_text(encoding="utf-8")
    assert "k = 1 (threshold 2)" in committed
    # l-diversity of the progression uses the test labels: the committed (sealed) card leaves it to the full card
    assert "l = 1" not in committed and "l-diversity of (progression) uses the test labels" in committed
    assert "#### Release override" in committed and "challenge-kit maintainers (organiser)" in committed
    assert "imposes no protection" not in committed


# -- subgroup results ---------------------------------------------------------------------------------------
def synthetic_subgroups(teams=(XSS, "plain team")):
    """Binary subgroup results: one subgroup has no positive case, one is small."""
    from kit.cards.subgroups import Outcome, Subgroup, SubgroupResults, subgroup_scores

    rng = pd.Series(range(120))
    y = ((rng % 3) == 0).astype(float).to_numpy().copy()  # pandas 3 hands out read-only views
    y[:40] = 0.0  # the first 40 cases: no positive case
    P = [(0.8 * y + 0.2 * (rng.to_numpy() % 7) / 7), (0.5 * y + 0.5 * (rng.to_numpy() % 5) / 5)]
    groups = [
        Subgroup("all cases", "", "", rng.to_numpy() >= 0),
        Subgroup("sex = 1", "sex", "1", rng.to_numpy() < 40),
        Subgroup("sex = 2", "sex", "2", rng.to_numpy() >= 40),
        Subgroup("age 90+", "age", "90+", rng.to_numpy() >= 110),
    ]
    table = subgroup_scores(
        y,
        P,
        list(teams),
        groups,
        ["roc_auc", "brier"],
        outcome=Outcome("malignant", y.astype(int).astype(str), ("0", "1")),
        ranks=[1, 2],
        n_resamples=200,
    )
    return SubgroupResults(
        challenge_id="breast-cancer",
        split="private",
        task="binary",
        target="malignant",
        teams=((1, teams[0]), (2, teams[1])),
        metrics=("roc_auc", "brier"),
        subgroups=tuple((g.label, g.n) for g in groups),
        table=table,
        sex_column="sex",
        age_column="age",
        n_resamples=200,
        classes=("0", "1"),
    )


def test_subgroup_scores_name_the_missing_class_and_small_subgroups():
    sub = synthetic_subgroups()
    t = sub.table.set_index(["subgroup", "metric", "team"])
    no_positive = t.loc[("sex = 1", "roc_auc", XSS)]
    assert pd.isna(no_positive["score"]) and no_positive["n_positive"] == 0
    assert "no case with malignant = 1" in no_positive["warning"] and "undefined" in no_positive["warning"]
    brier = t.loc[("sex = 1", "brier", XSS)]
    assert brier["score"] >= 0 and "reflects one class only" in brier["warning"]
    small = t.loc[("age 90+", "roc_auc", XSS)]
    assert "too small to say anything: 10 case(s), fewer than 30" in small["warning"]
    overall = t.loc[("all cases", "roc_auc", XSS)]
    assert overall["warning"] == "" and overall["ci_low"] <= overall["score"] <= overall["ci_high"]
    assert sub.small == [("age 90+", 10)]
    assert "a class is missing in sex = 1" in sub.limitation()


def test_card_renders_subgroup_results_escaped(tmp_path):
    board = leaderboard()
    board.loc[1, "team"] = "plain team"
    result = build_card(
        "breast-cancer", root=ROOT, out_dir=tmp_path, leaderboard=board, subgroups=synthetic_subgroups(), now=CLOSED
    )
    readme = result.files["README.md"].read_text(encoding="utf-8")
    page = result.files["card.html"].read_text(encoding="utf-8")
    section = readme.split("\n## Subgroup results\n")[1].split("\n## ")[0]
    assert "### roc_auc (higher is better)" in section and "### brier (lower is better)" in section
    assert (
        "| subgroup | cases | malignant = 1 | 1. &lt;script&gt;alert(1)&lt;/script&gt; | 2. plain team | note |"
        in section
    )
    assert "no case with malignant = 1" in section and "Too small to say anything" in section
    assert "<h2>Subgroup results</h2>" in page and "<script" not in page
    limitations = json.loads(result.files["croissant.json"].read_text(encoding="utf-8"))["rai:dataLimitations"]
    assert any("a class is missing in sex = 1" in text for text in limitations)
    # without subgroup results there is no such section
    plain = build_card(
        "breast-cancer", root=ROOT, out_dir=tmp_path / "plain", leaderboard=board, renderers=("markdown",), now=CLOSED
    )
    assert "Subgroup results" not in plain.files["README.md"].read_text(encoding="utf-8")


def test_subgroups_from_a_ledger_need_the_board_object(tmp_path):
    with pytest.raises(CardError) as info:
        build_card("breast-cancer", root=ROOT, out_dir=tmp_path, leaderboard=leaderboard(), ledger=object(), now=CLOSED)
    assert "final_board" in info.value.fix
    assert not tmp_path.joinpath("README.md").exists()


def test_given_winners_replace_the_card_file_entries(tmp_path):
    winners = [{"team": XSS, "code_url": "https://example.org/code", "code_licence": "MIT"}]
    ch = copy_challenge(tmp_path, "breast-cancer", lambda c: c["challenge"].update(winners=winners))
    result = build_card(
        ch,
        out_dir=tmp_path / "out",
        leaderboard=leaderboard(),
        renderers=("markdown",),
        winners=[{"team": XSS, "code_licence": "none declared: not prize-eligible"}],
        now=CLOSED,
    )
    row = next(
        line for line in result.files["README.md"].read_text(encoding="utf-8").splitlines() if line.startswith("| 1 |")
    )
    assert "none declared: not prize-eligible" in row and "example.org" not in row


# -- the two states of a card: sealed while the challenge is open, full after the close ---------------------
def md_rows(readme: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header line starts with ``header`` (cells unescaped)."""
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip().replace("\\_", "_") for c in line.strip("|").split(" | ")])
    return rows


def perturb_test_cases(ch, seed: int = 1):
    """Change every test label and every value of the test cases, except what a sealed card may count (the
    id, the sex and age columns, the policy's quasi-identifiers, the split); the spec follows (the same salt)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    spec = ch.spec
    card = read_card(card_path(ch))
    keep = {spec.id_column, "age", "sex", "split", *card.privacy.quasi_identifiers}
    # and the public columns the gate's quasi-identifier search counts combinations of (test features
    # are published with the test set: counting them leaks no label)
    from kit.cards.compute import read_release_frames
    from kit.privacy.criteria import assess_risk

    public = {k: v for k, v in read_release_frames(ch).items() if k != "labels"}
    found = assess_risk(public, card.privacy, key=spec.id_column, exclude=[*spec.target, "split"])
    keep |= {column for column, _ in found.singling_out.candidates}

    def changed(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for c in frame.columns:
            if c in keep:
                continue
            values = frame[c]
            if pd.api.types.is_numeric_dtype(values) and values.nunique() > 2:
                frame[c] = (values * rng.uniform(0.5, 1.5, len(values)) + 1).round(2)
            else:  # classes, events, categories: another of the values seen
                frame[c] = rng.choice(values.dropna().unique(), len(values))
        return frame

    test = changed(pd.read_csv(ch.path("test"), dtype={spec.id_column: str}))
    labels = changed(pd.read_csv(ch.path("labels"), dtype={spec.id_column: str}))
    text = ch.spec_path.read_text(encoding="utf-8")
    old_test, old_commitment = spec.data.test.sha256, spec.data.labels.commitment
    new_test = _csv(test, ch.path("test"))
    _csv(labels, ch.path("labels"))
    new_commitment = commit_labels(ch.path("labels").read_bytes(), ch.labels_salt())
    ch.spec_path.write_text(text.replace(old_test, new_test).replace(old_commitment, new_commitment), encoding="utf-8")
    return load_challenge(ch.id, root=ch.root), {old_test: "TEST-SHA256", old_commitment: "COMMITMENT"}


def card_texts(result, masks: dict[str, str] | None = None) -> dict[str, str]:
    """The text of every card file (plots as their bytes' sha256), each value of ``masks`` put for its key, and
    the size of test.csv masked (the public file's size and checksum change with its values)."""
    out = {}
    for name, path in result.files.items():
        if name.endswith(".png"):
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
            continue
        text = path.read_text(encoding="utf-8")
        for old, new in (masks or {}).items():
            text = text.replace(old, new)
        test = next(f for f in result.stats.files if f.role == "test")
        for old, new in ((f"| {test.bytes} |", "| TEST-BYTES |"), (f'"{test.bytes} B"', '"TEST-BYTES"')):
            text = text.replace(old, new)
        text = text.replace(f'<td class="num">{test.bytes}</td>', '<td class="num">TEST-BYTES</td>')
        out[name] = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", text)
    return out


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_a_sealed_card_does_not_change_with_the_test_labels_or_values(challenge_id, tmp_path):
    """While the challenge is open, changing every test label and every test value (but the counted sex, age
    and quasi-identifier columns) changes nothing in the card but the checksums of the changed files."""
    ch = copy_challenge(tmp_path, challenge_id)
    before = build_card(ch, out_dir=tmp_path / "before", now=OPEN)
    closed_before = build_card(ch, out_dir=tmp_path / "closed-before", now=CLOSED, renderers=("markdown",))
    changed, masks = perturb_test_cases(ch)
    changed.verify()
    after = build_card(changed, out_dir=tmp_path / "after", now=OPEN)
    new_masks = {changed.spec.data.test.sha256: "TEST-SHA256", changed.spec.data.labels.commitment: "COMMITMENT"}
    assert card_texts(before, masks) == card_texts(after, new_masks)
    # after the close the card shows the test labels: the same change shows
    closed_after = build_card(changed, out_dir=tmp_path / "closed-after", now=CLOSED, renderers=("markdown",))
    a, b = (r.files["README.md"].read_text(encoding="utf-8") for r in (closed_before, closed_after))
    assert a.split("### Target")[1].split("## Motivation")[0] != b.split("### Target")[1].split("## Motivation")[0]


def test_a_card_exported_while_open_has_only_training_numbers_and_counts(tmp_path):
    """The board's export of the diabetes card while the challenge is open, with a graded batch in the ledger:
    every number of its column, target, demographic and file tables is a statistic of the training cases or a
    count; the full card after the close has the test labels' statistics, their checksum and the salt."""
    from test_release import build_ledger

    from kit.cards import export_card
    from kit.cards.compute import _round, age_band
    from kit.cards.document import fmt

    ch = copy_challenge(tmp_path, "diabetes")
    work = tmp_path / "work"
    build_ledger(ch, work, tmp_path / "stored")
    result = export_card(ch, workdir=work, now=OPEN, out_dir=tmp_path / "open")
    assert result.stats.sealed and result.document.leaderboard is None and result.subgroups is None
    readme = result.files["README.md"].read_text(encoding="utf-8")
    train = pd.read_csv(ch.path("train"), dtype={"case_id": str})
    test = pd.read_csv(ch.path("test"), dtype={"case_id": str})
    labels = pd.read_csv(ch.path("labels"), dtype={"case_id": str})
    everyone = pd.concat([train, test.merge(labels, on="case_id")], ignore_index=True)

    def summary(v: pd.Series) -> str:
        mean, sd, low, high = (fmt(_round(x)) for x in (v.mean(), v.std(), v.min(), v.max()))
        return f"mean {mean}, sd {sd}, range {low} to {high}"

    # the columns: statistics of the training cases only
    for name, _role, _, missing, values, _ in md_rows(readme, "| column | role |"):
        column = train[name]
        assert missing.startswith(f"{int(column.isna().sum())} ")
        if name == "sex":
            assert values == ", ".join(f"{v}: {n}" for v, n in sorted(column.value_counts().items()))
        elif name == "case_id":
            assert values == f"{len(train)} distinct"
        else:
            assert values == summary(column), name
            assert values != summary(everyone[name]), name
    # the target: a single row, the training cases'
    ((split, n, mean, sd, low, median, high),) = md_rows(readme, "| split | n | mean |")
    y = train["progression"]
    assert (split, n) == ("train", str(len(train)))
    assert [mean, sd, low, median, high] == [
        fmt(_round(f(y))) for f in (pd.Series.mean, pd.Series.std, pd.Series.min, pd.Series.median, pd.Series.max)
    ]
    # the demographics: counts of training and test cases, and the target of the training cases only
    for sex, n_train, n_test in md_rows(readme, "| sex | train | test |"):
        assert (int(n_train), int(n_test)) == ((train["sex"] == int(sex)).sum(), (test["sex"] == int(sex)).sum())
    for band, n_train, n_test in md_rows(readme, "| age band | train | test |"):
        assert int(n_train) == (train["age"].map(age_band) == band).sum()
        assert int(n_test) == (test["age"].map(age_band) == band).sum()
    assert f"age: median {fmt(_round(train['age'].median()))}, range" in readme
    leaky = 0
    for group, n, mean in md_rows(readme, "| group | training cases with a known target |"):
        column, value = ("sex", group.split(" = ")[1]) if group.startswith("sex") else ("age", group.split(" ")[1])
        part = train[train["sex"] == int(value)] if column == "sex" else train[train["age"].map(age_band) == value]
        assert (int(n), mean) == (len(part), fmt(_round(part["progression"].mean()))), group
        if column == "age":
            every = everyone[everyone["age"].map(age_band) == value]
            leaky += len(every) - len(part) <= 2 and mean != fmt(_round(every["progression"].mean()))
    assert leaky, "a small age band whose mean over every case would give a test label away"
    # the files: the labels are counted, their size and checksum withheld; the spec's commitment is shown
    rows = {r[0]: r for r in md_rows(readme, "| file | content |")}
    assert rows["data/test_labels.csv"][2:] == [str(len(labels)), "3", "—", "withheld until the challenge closes"]
    plain = hashlib.sha256(ch.path("labels").read_bytes()).hexdigest()
    texts = "".join(card_texts(result).values())
    assert plain not in texts and ch.labels_salt() not in texts and ch.spec.data.labels.commitment in readme
    for split in ("public test", "private test"):
        assert split not in readme.split("### Target")[1].split("## Motivation")[0]
    assert "l = 1" not in readme and "test_labels" not in front_matter(readme)["configs"][-1]["config_name"]
    jsonld = json.loads(result.files["croissant.json"].read_text(encoding="utf-8"))
    assert {d["@id"] for d in jsonld["distribution"]} == {"train.csv", "test.csv", "sample_submission.csv"}

    # after the close: the full card
    closed = export_card(ch, workdir=work, now=CLOSED, out_dir=tmp_path / "closed", n_resamples=50)
    full = closed.files["README.md"].read_text(encoding="utf-8")
    rows = {r[0]: r for r in md_rows(full, "| split | n | mean |")}
    for split, name in (("public test", "public"), ("private test", "private")):
        part = labels.loc[labels["split"] == name, "progression"]
        assert rows[split][1:3] == [str(len(part)), fmt(_round(part.mean()))]
    assert rows["all"][1:3] == [str(len(everyone)), fmt(_round(everyone["progression"].mean()))]
    assert plain in full and ch.labels_salt() in full and "l = 1 (threshold 2)" in full
    assert "## Subgroup results" in full and front_matter(full)["configs"][-1]["config_name"] == "test_labels"


def test_open_cards_refuse_results(tmp_path):
    with pytest.raises(CardError) as info:
        build_card("breast-cancer", root=ROOT, out_dir=tmp_path, leaderboard=leaderboard(), now=OPEN)
    assert (
        "open until 2027-07-07" in info.value.what
        and "after the close" in info.value.fix
        and "now=" not in info.value.fix
    )
    assert not tmp_path.joinpath("README.md").exists()


def test_levels_are_listed_only_for_non_identifiers_held_by_k_records(tmp_path):
    frame = IDENTIFYING[["case_id", "age", "sex", "progression"]].assign(
        cohort=[f"Lefebvre-{i}" for i in range(10)],  # a rare value in every row: never echoed
        site=["north", "south"] * 5,  # 3 and 3 training cases: listed (k = 2)
        ward=["a", "a", "a", "a", "a", "b", "a", "b", "a", "b"],  # 1 training case in ward b: not listed
        patient=[f"group-{i % 5:04d}" for i in range(10)],  # a declared identifier: not listed
    )
    privacy = {"k_anonymity": 2, "allowed_identifiers": ["case_id", "patient"]}
    ch = identifying_challenge(tmp_path, frame=frame, privacy=privacy)
    from kit.privacy import assess_release

    # the card's rendering of the gate's assessment (whatever the gate decides about ten records)
    frames = read_release_frames(ch)
    card = read_card(card_path(ch))
    doc = CardDocument(
        challenge_id=ch.id,
        spec=ch.spec,
        card=card,
        stats=compute_stats(ch, frames, plots=False, sealed=True),
        privacy=assess_release(frames, card.privacy, key=ch.spec.id_column),
    )
    text = get_card_renderer("markdown").render(doc).decode("utf-8")
    rows = {r[0]: r[4] for r in md_rows(text, "| column | role |")}
    assert rows["site"] == "north: 3, south: 3"
    assert rows["sex"] == "1: 3, 2: 3"
    for column, n in (("cohort", 6), ("ward", 2), ("patient", 5)):
        assert rows[column].startswith(f"{n} distinct (not listed"), column
    assert "Lefebvre" not in text and "group-0001" not in text
