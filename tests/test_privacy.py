"""The privacy gate: direct identifiers, k-anonymity, l-diversity, overrides."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pandas as pd
import pytest

from kit.cards.compute import read_release_frames
from kit.cards.schema import PrivacyOverride, PrivacyPolicy, read_card
from kit.challenge import list_challenges, load_challenge
from kit.privacy import (
    AnonymityCheck,
    PrivacyReport,
    ReleaseBlocked,
    assess_anonymity,
    assess_release,
    check_release,
    get_category_names,
    mask,
)


def identifying_frame() -> pd.DataFrame:
    """Six patients with direct identifiers and a (age, sex) combination that is unique (k = 1)."""
    return pd.DataFrame(
        {
            "case_id": [f"case-{i:04d}" for i in range(1, 7)],
            "full_name": ["Alice Martin", "Bruno Keller", "Chloe Dubois", "Dmitri Orlov", "Emma Stone", "Farid Haddad"],
            "email": [
                "alice.martin@example.org",
                "bkeller@mail.example.com",
                "chloe@example.fr",
                "d.orlov@example.net",
                "emma@example.co.uk",
                "farid.h@example.org",
            ],
            "phone": [
                "+44 7700 900123",
                "020 7946 0958",
                "(555) 123-4567",
                "555-987-6543",
                "+33 1 23 45 67 89",
                "07700 900456",
            ],
            "date_of_birth": ["1970-03-14", "1985-12-01", "14/03/1990", "2001-07-04", "1962-11-30", "1958-02-17"],
            "postcode": ["SW1A 1AA", "M1 1AE", "EH1 1YZ", "CB2 1TN", "B33 8TH", "LS1 4AP"],
            "age": [54, 39, 34, 23, 61, 66],
            "sex": ["F", "M", "F", "M", "F", "M"],
            "outcome": [1, 0, 1, 0, 1, 0],
        }
    )


POLICY = PrivacyPolicy(
    quasi_identifiers=["age", "sex"],
    sensitive_attributes=["outcome"],
    k_anonymity=2,
    l_diversity=2,
    allowed_identifiers=["case_id"],
)


def by_column(report: PrivacyReport) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in report.findings:
        out.setdefault(f.column, set()).add(f.category)
    return out


def test_identifiers_and_small_groups_block_the_release_for_each_reason():
    frame = identifying_frame()
    with pytest.raises(ReleaseBlocked) as info:
        check_release({"train": frame}, POLICY)
    err = info.value
    where = {p.where for p in err.problems}
    assert {
        "train.full_name",
        "train.email",
        "train.phone",
        "train.date_of_birth",
        "train.postcode",
        "privacy.k_anonymity",
        "privacy.l_diversity",
    } <= where
    found = by_column(err.report)
    assert "person_name" in found["full_name"]
    assert "email" in found["email"]
    assert "phone" in found["phone"]
    assert "date" in found["date_of_birth"]
    assert "postcode" in found["postcode"]
    assert "case_id" not in found  # allowed by the policy
    assert {"age", "sex", "outcome"}.isdisjoint(found)
    k_problem = next(p for p in err.problems if p.where == "privacy.k_anonymity")
    assert "k = 1" in k_problem.what and "k >= 2" in k_problem.what
    assert err.report.anonymity.k == 1 and err.report.anonymity.records_unique == 6
    assert err.report.blocked and err.report.status == "blocked"
    # every reason has a fix, and the message lists them all
    assert all(p.fix for p in err.problems)
    assert str(err).count("\n  - ") == len(err.problems)


def test_identifying_values_are_never_echoed():
    frame = identifying_frame()
    report = assess_release({"train": frame}, POLICY)
    text = str([p.to_dict() for p in report.reasons]) + report._repr_html_() + str(report.to_dict())
    for column in ("full_name", "email", "phone", "date_of_birth", "postcode"):
        for value in frame[column]:
            assert value not in text, (column, value)
    assert mask("alice.martin@example.org") == "a****.m*****@e******.o**"


def test_findings_name_example_rows_by_position():
    frame = identifying_frame().rename(columns={"email": "contact"})
    frame.loc[2, "contact"] = "no e-mail given"
    report = assess_release({"train": frame}, POLICY)
    email = next(f for f in report.findings if f.column == "contact")
    assert email.category == "email" and email.detected_by == ("content: e-mail address",)
    assert email.n_rows == 5 and email.rows == (0, 1, 3, 4, 5)
    # a column named like an identifier counts every non-empty row, whatever its content
    named = next(f for f in assess_release({"train": identifying_frame()}, POLICY).findings if f.column == "email")
    assert named.detected_by == ("column name", "content: e-mail address") and named.n_rows == 6


SIGNED = {
    "reason": "synthetic test data",
    "organiser": {"name": "A. Organiser (challenge lead)", "date": "2026-01-05"},
    "dpo": {"name": "B. Protection (DPO)", "date": "2026-01-06"},
}


def test_override_lets_residual_risk_through_and_is_kept_in_the_report():
    frame = identifying_frame()[["case_id", "age", "sex", "outcome"]]  # no direct identifier left
    override = PrivacyOverride.model_validate(SIGNED)
    report = check_release({"train": frame}, POLICY, override=SIGNED)
    assert report.override == override
    assert not report.blocked and report.overridden and report.status == "released with override"
    assert report.reasons == report.residual_risks and not report.must_fix  # the reasons stay on record
    # singling out, inference (singletons) and linkability (sample uniqueness), each its own reason
    assert {p.where for p in report.reasons} == {"privacy.k_anonymity", "privacy.l_diversity", "privacy.linkability"}
    page = report._repr_html_()
    assert "A. Organiser" in page and "B. Protection" in page and "2026-01-06" in page
    assert report.to_dict()["override"]["dpo"] == {"name": "B. Protection (DPO)", "date": "2026-01-06"}


def test_override_never_covers_a_direct_identifier():
    with pytest.raises(ReleaseBlocked) as info:
        check_release({"train": identifying_frame()}, POLICY, override=SIGNED)
    where = {p.where for p in info.value.problems}
    assert {"train.email", "train.full_name", "train.phone"} <= where
    assert not where & {"privacy.k_anonymity", "privacy.l_diversity"}  # only what no override covers
    assert "never overridden" in info.value.fix and "drop the column" in info.value.fix
    report = info.value.report
    assert report.status == "blocked" and report.blocked and not report.overridden
    assert report.override == PrivacyOverride.model_validate(SIGNED)
    assert "refused" in report._repr_html_()


def test_release_blocked_pickles_with_its_report():
    with pytest.raises(ReleaseBlocked) as info:
        check_release({"train": identifying_frame()}, POLICY)
    clone = pickle.loads(pickle.dumps(info.value))
    assert clone.problems == info.value.problems
    assert clone.report.status == "blocked"
    assert clone.to_dict()["kind"] == "release-blocked"


@pytest.mark.parametrize("challenge_id", list_challenges())
def test_shipped_challenges_pass_the_gate_with_their_policy(challenge_id):
    """Each shipped challenge passes its policy, or records the standing decision that overrides it."""
    ch = load_challenge(challenge_id)
    card = read_card(ch.starter_dir / "card.yml")
    report = check_release(read_release_frames(ch), card.privacy, card.privacy_override, key=ch.spec.id_column)
    assert report.status == ("released with override" if card.privacy_override else "passed")
    assert report.findings == ()
    if card.privacy.quasi_identifiers:
        a = report.anonymity
        assert (a.k >= card.privacy.k_anonymity and a.l >= card.privacy.l_diversity) != bool(card.privacy_override)
        assert a.n_records == sum(len(f) for n, f in read_release_frames(ch).items() if n in ("train", "test"))
    else:
        assert report.anonymity is None


def test_diabetes_measured_k_and_l():
    ch = load_challenge("diabetes")
    card = read_card(ch.starter_dir / "card.yml")
    frames = read_release_frames(ch)
    # the card's honest thresholds (k = 2, l = 2) block; its standing override lets the release through
    with pytest.raises(ReleaseBlocked) as info:
        check_release(frames, card.privacy, key="case_id")
    assert {p.where for p in info.value.problems} == {
        "privacy.k_anonymity",
        "privacy.l_diversity",
        "privacy.t_closeness",
        "privacy.linkability",
    }
    assert "bands of width 5 (gives k = 2)" in info.value.problems[0].fix
    report = check_release(frames, card.privacy, card.privacy_override, key="case_id")
    assert report.status == "released with override"
    a = report.anonymity
    cases = pd.concat([frames["train"], frames["test"]])
    sizes = cases.groupby(["age", "sex"]).size()
    assert a.k == sizes.min() == 1
    assert a.records_unique == int((sizes == 1).sum())
    # progression of the test cases comes from the labels file, linked by case id
    joined = pd.concat(
        [
            frames["train"][["age", "sex", "progression"]],
            frames["test"].merge(frames["labels"], on="case_id")[["age", "sex", "progression"]],
        ]
    )
    assert a.l == joined.groupby(["age", "sex"])["progression"].nunique().min() == 1
    # thresholds of 1 would be flagged as offering no protection
    assert not any("imposes no protection" in w for w in report.warnings)
    weak = assess_release(frames, card.privacy.model_copy(update={"k_anonymity": 1, "l_diversity": 1}), key="case_id")
    assert not {"privacy.k_anonymity"} & {p.where for p in weak.reasons}
    assert any("imposes no protection" in w for w in weak.warnings)


def test_pycanon_and_pandas_agree(monkeypatch):
    pytest.importorskip("pycanon")
    from kit.privacy.risk import _k_l, _strings

    rng = np.random.default_rng(0)
    n = 3000
    table = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "sex": rng.choice(["F", "M"], n),
            "region": rng.integers(0, 12, n),
            "dx": rng.integers(0, 4, n),
        }
    )
    table.loc[rng.choice(n, 40, replace=False), "region"] = np.nan
    qi, sa = ["age", "sex", "region"], ["dx"]
    strings = _strings(table, qi + sa)
    k, l_value, engine = _k_l(strings, qi, sa)
    assert engine.startswith("pycanon")
    groups = strings.groupby(qi)
    assert k == groups.size().min()
    assert l_value == groups["dx"].nunique().min()
    # without pycanon the gate computes the same numbers with pandas
    monkeypatch.setitem(sys.modules, "pycanon", None)
    assert _k_l(strings, qi, sa) == (k, l_value, "pandas")


def test_strict_categories_check_every_value_of_big_columns():
    n = 30_000
    notes = pd.Series([f"visit {i}: patient stable, seen by the Cardiology team" for i in range(n)])
    notes.iloc[n - 1] = "call back on 0161 496 0000 or write to jo@example.org"
    notes.iloc[n - 2] = "reviewed by Dr. Smith"
    report = assess_release({"notes": pd.DataFrame({"note": notes})}, max_values=1000)
    cats = {f.category: f for f in report.findings}
    assert cats["email"].rows == (n - 1,) and not cats["email"].sampled
    assert cats["phone"].rows == (n - 1,)
    assert cats["email"].free_text
    # the NER saw a sample only, and the report says so
    assert any(w.startswith(f"notes.note: {n} distinct values") for w in report.warnings)
    assert all(f.where == "notes.note" for f in report.findings)
    # the honorific + name pattern is cheap: it sees every value, sample or not
    assert cats["person_name"].rows == (n - 2,) and "content: honorific + name" in cats["person_name"].detected_by


def test_dates_ages_and_allowed_columns():
    frame = pd.DataFrame(
        {
            "admission_year": [2001, 2002, 2003],  # year only: allowed
            "visit_date": pd.to_datetime(["2020-01-05", "2020-02-01", "2021-03-09"]),
            "age": [45, 92, 88],
            "notes": ["aged 93 at admission and still active", "ok", "ok"],
            "site_url": ["https://hospital.example/ward", "", ""],
            "ip": ["192.168.0.12", "10.0.0.1", "10.0.0.2"],
            "patient_id": ["P1", "P2", "P3"],
        }
    )
    report = assess_release({"t": frame}, PrivacyPolicy(allowed_identifiers=["patient_id"]))
    found = by_column(report)
    assert "admission_year" not in found
    assert found["visit_date"] == {"date"}
    assert found["age"] == {"age_over_89"}
    assert "age_over_89" in found["notes"]
    assert "url" in found["site_url"]
    assert "ip_address" in found["ip"]
    assert "patient_id" not in found
    age = next(f for f in report.findings if f.column == "age")
    assert age.rows == (1,)


def test_policy_naming_missing_columns_blocks():
    report = assess_release(
        {"t": pd.DataFrame({"age": [1, 2]})}, PrivacyPolicy(quasi_identifiers=["age", "postcode_district"])
    )
    assert report.blocked
    assert report.reasons[0].where == "privacy.quasi_identifiers"


def test_report_html_escapes_column_names():
    frame = pd.DataFrame({"<script>alert(1)</script>email": ["x@example.org"]})
    html_text = assess_release({"t": frame})._repr_html_()
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text


def test_category_registry():
    assert {
        "person_name",
        "email",
        "phone",
        "date",
        "age_over_89",
        "address",
        "postcode",
        "record_number",
        "url",
        "ip_address",
    } <= set(get_category_names())


def test_anonymity_not_measured_without_quasi_identifiers():
    check, problems = assess_anonymity({"t": identifying_frame()}, PrivacyPolicy())
    assert check is None and problems == []
    assert isinstance(assess_anonymity({"t": identifying_frame()}, POLICY)[0], AnonymityCheck)
