"""Remedies (kit.remedies): each transform, each lowering the risk it targets, at `kit new` and `kit prepare`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from kit.authoring.new import new_challenge
from kit.authoring.remedy import remedy, with_remedies
from kit.cards import build_card
from kit.cards.schema import PrivacyPolicy
from kit.challenge import load_challenge, parse_spec
from kit.cli import cli
from kit.errors import DataIntegrityError, SpecError
from kit.prepare import prepare
from kit.privacy import ReleaseBlocked, assess_release, scan_identifiers
from kit.privacy.criteria import assess_risk
from kit.remedies import (
    AgeBands,
    DateTo,
    Departement,
    MergeRare,
    TopCode,
    apply_remedies,
    departement,
    from_short_form,
    generalised,
    get_remedy_names,
    parse_remedies,
)

POSTCODES = ["75012", "75015", "75020", "69003", "69007", "13008", "13001", "59000", "01000", "20100", "20200"]
POSTCODES += ["97411", "97400", "33000", "33800", "44000", "44300"]
DIAGNOSES = ["I21", "I50", "J18", "E11", "C50"]


def stays(n: int = 600, seed: int = 1) -> pd.DataFrame:
    """Hospital stays with the quasi-identifiers the remedies target: exact ages (some over 89),
    admission dates, postcodes, long stays, rare diagnoses."""
    rng = np.random.default_rng(seed)
    diagnosis = rng.choice(DIAGNOSES, n).astype(object)
    rare = rng.choice(n, 25, replace=False)
    diagnosis[rare] = [f"Q{10 + i}" for i in range(25)]  # 25 rare codes, one patient each
    stay = rng.integers(1, 20, n)
    stay[rng.choice(n, 8, replace=False)] = rng.integers(90, 400, 8)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 99, n),
            "sex": rng.choice(["F", "M"], n),
            "code_postal": rng.choice(POSTCODES, n),
            "admission": [
                (pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(d))).date().isoformat()
                for d in rng.integers(0, 1400, n)
            ],
            "length_of_stay": stay,
            "diagnosis": diagnosis,
            "readmitted": rng.integers(0, 2, n),
        }
    )


# -- each transform ------------------------------------------------------------------------------
def test_age_bands_label_bands_and_a_top_band():
    ages = pd.Series([0, 23, 45, 89, 90, 104, None], name="age")
    assert AgeBands(column="age").transform(ages).tolist()[:6] == ["0-9", "20-29", "40-49", "80-89", "90+", "90+"]
    assert pd.isna(AgeBands(column="age").transform(ages).iloc[6])
    # a band that straddles the top ends below it
    assert AgeBands(column="age", width=20, top=85).transform(pd.Series([81, 84, 85], name="age")).tolist() == [
        "80-84",
        "80-84",
        "85+",
    ]
    assert AgeBands(column="age", top=None).transform(pd.Series([95], name="age")).tolist() == ["90-99"]
    assert AgeBands(column="age", width=5).transform(pd.Series([42.5], name="age")).tolist() == ["[40, 45)"]


def test_top_code_keeps_the_column_numeric():
    out = TopCode(column="los", above=60, below=1).transform(pd.Series([0, 5, 61, 400], name="los"))
    assert out.tolist() == [1, 5, 60, 60] and pd.api.types.is_integer_dtype(out)
    with pytest.raises(ValueError, match="needs `above`"):
        TopCode(column="los")


def test_dates_to_month_or_year_iso_and_french():
    dates = pd.Series(["2021-03-04", "31/12/2020", None, "2021-03-04 10:00"], name="d")
    assert DateTo(column="d", to="month").transform(dates).tolist()[:2] == ["2021-03", "2020-12"]
    assert DateTo(column="d").transform(dates).tolist()[3] == "2021"
    with pytest.raises(DataIntegrityError, match=r"1 value\(s\) are not dates: row 2 \('soon'\)"):
        DateTo(column="d").transform(pd.Series(["2021-03-04", "soon"], name="d"))


@pytest.mark.parametrize(
    ("code", "dep"),
    [("75012", "75"), ("01000", "01"), ("20100", "2A"), ("20200", "2B"), ("20600", "2B"), ("97411", "974")]
    + [("98800", "988"), ("2A004", "2A"), ("2b033", "2B"), ("7501", None), ("00100", None), ("750123", None)],
)
def test_departement_of_a_postcode_or_commune_code(code, dep):
    assert departement(code) == dep


def test_departement_reads_integers_that_lost_their_leading_zero():
    out = Departement(column="cp").transform(pd.Series([1000, 75012, None], name="cp"))
    assert out.tolist()[:2] == ["01", "75"] and pd.isna(out.iloc[2])
    with pytest.raises(DataIntegrityError) as err:
        Departement(column="cp").transform(pd.Series(["75012", "Paris", "123456"], name="cp"))
    assert "2 value(s) are not French postcodes" in err.value.what
    assert "row 2 ('Paris')" in err.value.what and "row 3 ('123456')" in err.value.what


def test_merge_rare_categories_and_refuse_a_taken_name():
    values = pd.Series(list("aaabbc"), name="c")
    assert MergeRare(column="c", min_count=3).transform(values).tolist() == ["a"] * 3 + ["other"] * 3
    with pytest.raises(DataIntegrityError, match="already has a category 'a'"):
        MergeRare(column="c", min_count=3, into="a").transform(pd.Series(list("aaabc"), name="c"))


def test_short_forms_and_bad_remedies_name_the_fix():
    assert from_short_form("age_bands", "age:5:none") == AgeBands(column="age", width=5, top=None)
    assert from_short_form("date_to", "admission:month") == DateTo(column="admission", to="month")
    assert from_short_form("merge_rare", "dx:3") == MergeRare(column="dx", min_count=3)
    with pytest.raises(SpecError) as err:
        from_short_form("date_to", "admission:week")
    assert err.value.where == "--date-to" and "'month' or 'year'" in err.value.what and ":month" in err.value.fix
    with pytest.raises(SpecError) as err:
        parse_remedies([{"kind": "blur", "column": "age"}, {"kind": "age_bands", "column": "age", "width": 1}])
    assert [p.where for p in err.value.problems] == ["source.remedies[0]", "source.remedies[1]"]
    assert all(n in err.value.problems[0].fix for n in get_remedy_names())


def test_the_spec_refuses_remedies_on_the_target_twice_on_a_column_or_on_a_dropped_one():
    data = yaml.safe_load(open("starter_kits/gbsg2/challenge.yml"))
    for remedies, drop, message in [
        ([{"kind": "top_code", "column": "days", "above": 2000}], [], "the target: remedies never change it"),
        ([{"kind": "age_bands", "column": "age"}, {"kind": "top_code", "column": "age", "above": 80}], [], "two"),
        ([{"kind": "age_bands", "column": "age"}], ["age"], "is dropped and remedied"),
    ]:
        data["source"] |= {"remedies": remedies, "drop": drop}
        with pytest.raises(SpecError, match=message):
            parse_spec(data, source="test")


# -- each remedy lowers the risk it targets -------------------------------------------------------
def _at_risk(frame: pd.DataFrame, qi: list[str]) -> tuple[int, int]:
    """(records at risk of singling out, records linkable) on the declared quasi-identifiers."""
    risk = assess_risk({"t": frame}, PrivacyPolicy(quasi_identifiers=qi), exclude=["readmitted"])
    return risk.singling_out.records_at_risk, risk.linkability.records_at_risk


def _categories(frame: pd.DataFrame, column: str, remedies=()) -> set[str]:
    """The identifier categories the gate finds in *column* (after the spec's *remedies*)."""
    report = assess_release({"t": frame[[column]]}, criteria=False, generalised=generalised(remedies))
    return {f.category for f in report.findings if f.column == column}


@pytest.mark.parametrize(
    ("remedy", "qi", "identifier"),
    [
        (AgeBands(column="age", width=10, top=90), ["age", "sex"], "age_over_89"),
        (TopCode(column="length_of_stay", above=30), ["length_of_stay"], None),
        (DateTo(column="admission", to="month"), ["admission"], "date"),
        (DateTo(column="admission", to="year"), ["admission", "sex"], "date"),
        (Departement(column="code_postal"), ["code_postal", "sex", "readmitted"], "postcode"),
        (MergeRare(column="diagnosis", min_count=10), ["diagnosis", "sex"], None),
    ],
    ids=lambda v: v.describe() if hasattr(v, "describe") else None,
)
def test_each_remedy_lowers_the_risk_it_targets(remedy, qi, identifier):
    before = stays()
    after = apply_remedies(before, [remedy])
    (single_before, link_before), (single_after, link_after) = _at_risk(before, qi), _at_risk(after, qi)
    assert single_after < single_before, (single_before, single_after)
    assert link_after < link_before or link_before == 0, (link_before, link_after)
    if identifier:
        assert identifier in _categories(before, remedy.column)
        assert identifier not in _categories(after, remedy.column, [remedy]), "the identifier it targets is gone"
    assert before["age"].dtype.kind == "i", "the input frame is left unchanged"


def test_dropping_a_column_removes_its_identifier():
    frame = stays()
    frame["nom"] = [f"Martin{i}" for i in range(len(frame))]
    assert _categories(frame, "nom") == {"person_name"}
    assert not scan_identifiers({"t": frame.drop(columns=["nom", "admission", "code_postal", "age"])})


# -- at kit new and kit prepare -------------------------------------------------------------------
@pytest.fixture
def kit_root(tmp_path):
    root = tmp_path / "root"
    (root / "starter_kits").mkdir(parents=True)
    (root / "grading").mkdir()
    stays().to_csv(root / "stays.csv", index=False)
    return root


def test_kit_new_is_blocked_without_remedies_and_passes_with_them(kit_root):
    with pytest.raises(ReleaseBlocked) as err:
        new_challenge("stays", kit_root / "stays.csv", target=["readmitted"], root=kit_root)
    blocked = {p.where.split(".")[-1] for p in err.value.problems}
    assert not (kit_root / "starter_kits" / "stays").exists()

    result = CliRunner().invoke(
        cli,
        ["--root", str(kit_root), "new", "stays", "--data", str(kit_root / "stays.csv"), "--target", "readmitted"]
        + ["--age-bands", "age:10:90", "--date-to", "admission:year", "--departement", "code_postal"]
        + ["--merge-rare", "diagnosis:10", "--top-code", "length_of_stay:30"],
    )
    assert result.exit_code == 0, (blocked, result.output)
    assert "remedies (age: bands of 10 years" in result.output and "records at risk" in result.output
    ch = load_challenge("stays", root=kit_root)
    assert [r.kind for r in ch.spec.source.remedies] == ["age_bands", "top_code", "date", "departement", "merge_rare"]
    train = pd.read_csv(ch.path("train"), dtype=str)
    assert set(train["code_postal"]) <= {"75", "69", "13", "59", "01", "2A", "2B", "974", "33", "44"}
    assert "named like a postcode column, but generalised by a remedy" in result.output
    assert set(train["admission"]) <= {"2019", "2020", "2021", "2022"} and "90+" in set(train["age"])
    assert set(train["diagnosis"]) == {*DIAGNOSES, "other"}
    # kit prepare rebuilds every file byte for byte from the spec's remedies
    assert all(r.matches for r in prepare("stays", root=kit_root))


def test_kit_prepare_adds_a_remedy_rebuilds_and_keeps_the_spec_layout(root):
    spec_path = root / "starter_kits" / "gbsg2" / "challenge.yml"
    original = spec_path.read_text()
    train_before = pd.read_csv(root / "starter_kits" / "gbsg2" / "data" / "train.csv")
    result = CliRunner().invoke(cli, ["--root", str(root), "prepare", "gbsg2", "--age-bands", "age:10"])
    assert result.exit_code == 0, result.output
    assert "recorded new sha256" in result.output and "singling out" in result.output
    text = spec_path.read_text()
    assert text.splitlines()[0] == original.splitlines()[0], "the header comment is kept"
    assert "  remedies:\n    - {kind: age_bands, column: age, width: 10, top: 90}\n" in text
    train = pd.read_csv(root / "starter_kits" / "gbsg2" / "data" / "train.csv")
    assert train["case_id"].tolist() == train_before["case_id"].tolist(), "the same split"
    assert set(train["age"]) <= {f"{a}-{a + 9}" for a in range(20, 90, 10)}
    assert all(r.matches for r in prepare("gbsg2", root=root)), "recorded: the next prepare verifies"
    # the card lists the remedy, in every rendering
    card = build_card("gbsg2", root=root, out_dir=root / "card", draft=True)
    readme = card.files["README.md"].read_text()
    assert "### Generalisation and suppression" in readme
    assert "- age: bands of 10 years, 90 and over as 90+ (against singling out and linkability on age" in readme
    croissant = json.loads(card.files["croissant.json"].read_text())
    assert "age: bands of 10 years" in croissant["rai:dataManipulationProtocol"]

    # a remedy on the same column replaces it; one that cannot apply changes nothing
    remedy("gbsg2", [AgeBands(column="age", width=5)], root=root)
    assert "width: 5" in spec_path.read_text() and "width: 10" not in spec_path.read_text()
    kept, files = spec_path.read_text(), {p: p.read_bytes() for p in (root / "starter_kits" / "gbsg2").rglob("*.csv")}
    result = CliRunner().invoke(cli, ["--root", str(root), "prepare", "gbsg2", "--departement", "tgrade"])
    assert result.exit_code != 0 and "not French postcodes" in result.output
    assert spec_path.read_text() == kept and all(p.read_bytes() == b for p, b in files.items())


def test_with_remedies_rewrites_only_the_source_block():
    text = "id: x\nsource:\n  file: a.csv\n  remedies:\n    - {kind: date, column: d, to: year}\n  drop: [n]\n\ndata:\n"
    out = with_remedies(text, [{"kind": "age_bands", "column": "age"}])
    assert (
        out
        == "id: x\nsource:\n  file: a.csv\n  drop: [n]\n  remedies:\n    - {kind: age_bands, column: age}\n\ndata:\n"
    )
    assert with_remedies(out, []) == "id: x\nsource:\n  file: a.csv\n  drop: [n]\n\ndata:\n"
