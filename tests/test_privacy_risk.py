"""The three EDPB criteria (singling out, linkability, inference) against brute-force computations."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pandas as pd
import pytest

from kit.cards.compute import read_release_frames
from kit.cards.schema import PrivacyPolicy, read_card
from kit.challenge import load_challenge
from kit.privacy import assess_anonymity
from kit.privacy.criteria import FAILED, NOT_ASSESSED, PASSED, RiskAssessment, assess_risk
from kit.privacy.risk import (
    candidate_kind,
    encode,
    group_ids,
    ordered_distance,
    ranks,
    search_quasi_identifiers,
    variational_distance,
)


# -- brute force ---------------------------------------------------------------------------------
def brute_sizes(table: pd.DataFrame, qi) -> pd.Series:
    """The size of each record's group of equal quasi-identifiers (missing values equal each other)."""
    keys = table[list(qi)].astype("string").fillna("<missing>")
    return keys.groupby(list(qi), dropna=False)[qi[0]].transform("size")


def brute_distance(table: pd.DataFrame, qi, s: str, ordered: bool) -> pd.Series:
    """Li et al. (2007) per group, by the formula: EMD over ordered values, or half the L1 distance."""
    values = np.sort(table[s].unique())
    q = table[s].value_counts(normalize=True).reindex(values, fill_value=0).to_numpy()
    out = {}
    for name, group in table.groupby(list(qi)):
        p = group[s].value_counts(normalize=True).reindex(values, fill_value=0).to_numpy()
        if ordered:
            out[name] = np.abs(np.cumsum(p - q)).sum() / (len(values) - 1) if len(values) > 1 else 0.0
        else:
            out[name] = 0.5 * np.abs(p - q).sum()
    return pd.Series(out)


def planted(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Birth year x postcode x sex single people out; the other columns barely do, or are not candidates."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "case_id": [f"case-{i:05d}" for i in range(n)],
            "birth_year": rng.integers(1930, 1990, n),
            "postcode": rng.choice([f"PC-{i:03d}" for i in range(40)], n),
            "sex": rng.choice(["F", "M"], n),
            "smoker": rng.choice(["no", "yes"], n, p=[0.95, 0.05]),
            "on_statin": rng.choice([0, 1], n, p=[0.95, 0.05]),
            "creatinine": rng.normal(80, 15, n).round(1),
            "note": ["seen in clinic, no change in treatment"] * n,
            "outcome": rng.integers(0, 2, n),
        }
    )


# -- singling out --------------------------------------------------------------------------------
def test_search_finds_the_planted_quasi_identifiers_with_exact_figures():
    table = planted()
    risk = assess_risk({"train": table}, PrivacyPolicy(k_anonymity=5), key="case_id", exclude=["outcome"])
    so = risk.singling_out
    assert dict(so.candidates) == {
        "birth_year": "date",
        "postcode": "geography",
        "sex": "sex",
        "smoker": "categorical",
        "on_statin": "code",
    }  # not the id, the measurement, the free text or the excluded target
    assert so.source == "search" and set(so.quasi_identifiers) == {"birth_year", "postcode", "sex"}
    assert so.combinations[0].columns == so.quasi_identifiers
    # every reported combination: figures over every record, as pandas counts them
    for comb in so.combinations:
        sizes = brute_sizes(table, comb.columns)
        assert comb.k == sizes.min()
        assert comb.records_unique == (sizes == 1).sum()
        assert comb.records_below_k == (sizes < 5).sum()
    sizes = brute_sizes(table, list(so.quasi_identifiers))
    assert so.k == sizes.min() == 1 and so.status == FAILED
    assert so.records_at_risk == (sizes < 5).sum() and so.records_unique == (sizes == 1).sum()
    assert so.examples == tuple(f"train:{i}" for i in np.flatnonzero(sizes < 5)[:5])
    # the search ranks every combination of up to 3 candidates
    assert "25 combination(s) of up to 3 of 5 candidate column(s)" in so.method


def test_ranking_is_exact_and_leaves_out_combinations_that_add_nothing():
    table = planted(800, seed=1)
    cands = [("birth_year", "date"), ("postcode", "geography"), ("sex", "sex"), ("smoker", "categorical")]
    search = search_quasi_identifiers(table, cands, k_threshold=3, max_combination=3, top=100)
    brute = {}
    for size in (1, 2, 3):
        for combo in itertools.combinations([c for c, _ in cands], size):
            s = brute_sizes(table, combo)
            brute[combo] = (int((s == 1).sum()), int((s < 3).sum()), int(s.min()))
    found = {c.columns: (c.records_unique, c.records_below_k, c.k) for c in search.combinations}
    for combo, figures in found.items():
        assert figures == brute[combo]
        # a combination is kept only when it singles out more than each of its parts
        for part in itertools.combinations(combo, len(combo) - 1):
            if part:
                assert brute[part] != figures
    ranked = sorted(brute.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[1][2], len(kv[0])))
    assert search.combinations[0].columns == ranked[0][0]
    # ranking on a sample gives the same riskiest combination; figures stay those of every record
    sampled = search_quasi_identifiers(table, cands, k_threshold=3, search_rows=400)
    assert sampled.ranked_on == 400 and "seeded sample of 400 of 800 records, 50%" in sampled.method
    assert sampled.riskiest == search.riskiest


def test_declared_quasi_identifiers_are_assessed_and_reported_with_the_riskiest_found():
    table = planted()
    policy = PrivacyPolicy(quasi_identifiers=["sex", "smoker"], k_anonymity=5)
    so = assess_risk({"train": table}, policy, exclude=["outcome"]).singling_out
    assert so.source == "declared" and so.quasi_identifiers == ("sex", "smoker")
    declared = [c for c in so.combinations if c.declared]
    assert [c.columns for c in declared] == [("sex", "smoker")]
    assert so.status == PASSED and so.k == brute_sizes(table, ["sex", "smoker"]).min()
    # the riskier columns the organiser did not declare are named (a pass is still a pass)
    assert {"birth_year", "postcode"} <= set(so.undeclared)
    assert so.problems() == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("age", "age"),
        ("Sexe", "sex"),
        ("code_postal", "geography"),
        ("departement", "geography"),
        ("date_admission", "date"),
        ("Département", "geography"),
        ("patient_id", ""),
        ("comment", ""),
        ("birth_weight", ""),  # an event word alone does not make a date: a measurement
        ("valid", "code"),  # "id" only as a whole word
        ("ward", "categorical"),
        ("serial", ""),  # one value per record: an identifier whatever its name
    ],
)
def test_candidate_kinds(name, kind):
    rng = np.random.default_rng(0)
    values = {
        "comment": pd.Series([f"free text about visit {i} and more words" for i in range(50)]),
        "patient_id": pd.Series(range(50)),
        "birth_weight": pd.Series(rng.normal(3300, 400, 50)),
        "ward": pd.Series(rng.choice(["A", "B", "C"], 50)),
        "serial": pd.Series([f"S{i}" for i in range(50)]),
    }.get(name, pd.Series(rng.integers(0, 5, 50)))
    assert candidate_kind(name, values) == kind


def test_real_data_diabetes_age_and_sex():
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    risk = assess_risk({"diabetes": frame}, PrivacyPolicy(k_anonymity=2), exclude=["target"])
    so = risk.singling_out
    # the measurements (bmi, bp, s1-s6) have too many values to be quasi-identifiers
    assert dict(so.candidates) == {"age": "age", "sex": "sex"}
    assert so.quasi_identifiers == ("age", "sex")
    sizes = brute_sizes(frame, ["age", "sex"])
    assert (so.k, so.records_unique) == (sizes.min(), (sizes == 1).sum()) == (1, 13)


def test_real_data_gbsg2_age_and_menopausal_status():
    from sksurv.datasets import load_gbsg2

    x, _ = load_gbsg2()
    # what an outsider knows of a woman: age and menopausal status; the rest are measurements
    known = x[["age", "menostat", "estrec", "progrec", "pnodes", "tsize"]]
    so = assess_risk({"gbsg2": known}, PrivacyPolicy(k_anonymity=2)).singling_out
    assert dict(so.candidates) == {"age": "age", "menostat": "categorical"}
    assert so.quasi_identifiers == ("age", "menostat")
    sizes = brute_sizes(known, ["age", "menostat"])
    assert so.records_unique == (sizes == 1).sum() == 13
    # with the clinical categories too, age is in every riskiest combination
    full = assess_risk({"gbsg2": x}, PrivacyPolicy(quasi_identifiers=["age", "menostat"], k_anonymity=2))
    assert all("age" in c.columns for c in full.singling_out.combinations)
    assert full.singling_out.undeclared == ("horTh", "tgrade")


def test_released_challenge_tables_linked_by_case_id_agree_with_assess_anonymity():
    ch = load_challenge("diabetes")
    card = read_card(ch.starter_dir / "card.yml")
    frames = read_release_frames(ch)
    risk = assess_risk(frames, card.privacy, key="case_id", exclude=[*ch.spec.target, "split"])
    old, _ = assess_anonymity(frames, card.privacy, key="case_id")
    assert old is not None
    so, inf = risk.singling_out, risk.inference
    assert risk.n_records == old.n_records == len(frames["train"]) + len(frames["test"])
    assert (so.k, so.records_at_risk, so.records_unique, so.n_classes) == (
        old.k,
        old.records_below_k,
        old.records_unique,
        old.n_classes,
    )
    # progression of the test cases comes from the labels, not the sample submission's placeholder
    assert inf.l == old.l == 1 and inf.n_records == 442
    assert inf.homogeneous_classes == 0 and inf.singletons == so.records_unique
    joined = pd.concat(
        [
            frames["train"][["age", "sex", "progression"]],
            frames["test"].merge(frames["labels"], on="case_id")[["age", "sex", "progression"]],
        ]
    )
    assert inf.t == pytest.approx(brute_distance(joined, ["age", "sex"], "progression", ordered=True).max())


# -- inference -----------------------------------------------------------------------------------
def test_l_and_t_are_exact_against_brute_force():
    rng = np.random.default_rng(3)
    n = 2000
    table = pd.DataFrame(
        {
            "age_band": rng.integers(0, 8, n),
            "sex": rng.choice(["F", "M"], n),
            "region": rng.choice(list("ABCDEFG"), n),
            "score": rng.integers(0, 12, n).astype(float),  # numeric: ordered distance
            "diagnosis": rng.choice(["asthma", "copd", "none", "other"], n, p=[0.1, 0.1, 0.7, 0.1]),  # categorical
        }
    )
    table.loc[rng.choice(n, 60, replace=False), "score"] = np.nan
    qi, sa = ["age_band", "sex", "region"], ["score", "diagnosis"]
    policy = PrivacyPolicy(quasi_identifiers=qi, sensitive_attributes=sa, k_anonymity=3, l_diversity=3)
    inf = assess_risk({"t": table}, policy, t_closeness=0.3).inference
    kept = table.dropna(subset=sa)
    groups = kept.groupby(qi)
    distinct = groups[sa].nunique().min(axis=1)
    sizes = groups.size()
    assert inf.n_records == len(kept) and inf.n_classes == len(sizes)
    assert inf.l == distinct.min()
    distance = pd.concat(
        [brute_distance(kept, qi, "score", True), brute_distance(kept, qi, "diagnosis", False)], axis=1
    ).max(axis=1)
    assert inf.t == pytest.approx(distance.max())
    assert inf.t_without_singletons == pytest.approx(distance[sizes > 1].max())
    assert inf.singletons == (sizes == 1).sum()
    assert inf.homogeneous_classes == ((sizes > 1) & (distinct == 1)).sum()
    assert inf.low_diversity_classes == ((sizes > 1) & (distinct > 1) & (distinct < 3)).sum()
    assert inf.classes_above_t == ((sizes > 1) & (distance > 0.3)).sum()
    assert inf.records_above_t == sizes[(sizes > 1) & (distance > 0.3)].sum()
    assert dict(inf.distances) == {"score": "earth mover's (ordered)", "diagnosis": "variational"}


@pytest.mark.parametrize("seed", range(5))
def test_distances_per_group_match_the_formulas(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    table = pd.DataFrame({"g": rng.integers(0, int(rng.integers(1, 30)), n), "v": rng.integers(0, 9, n) * 1.5})
    ids, sizes = group_ids(*zip(encode(table["g"]), strict=True))
    by_group = pd.Series(ids).groupby(table["g"].to_numpy()).first()  # group label -> id
    rank, m = ranks(table["v"])
    emd = ordered_distance(ids, rank, m, sizes.size)
    codes, _ = encode(table["v"])
    vd = variational_distance(ids, codes, sizes.size)
    want_emd = brute_distance(table, ["g"], "v", True)
    want_vd = brute_distance(table, ["g"], "v", False)
    for label, i in by_group.items():
        assert emd[i] == pytest.approx(want_emd[label], abs=1e-12)
        assert vd[i] == pytest.approx(want_vd[label], abs=1e-12)


def test_ordered_categories_use_the_ordered_distance():
    grade = pd.Categorical(["I", "II", "III", "III", "I", "II"], categories=["I", "II", "III", "IV"], ordered=True)
    table = pd.DataFrame({"sex": ["F", "F", "F", "M", "M", "M"], "grade": grade})
    inf = assess_risk({"t": table}, PrivacyPolicy(quasi_identifiers=["sex"], sensitive_attributes=["grade"])).inference
    assert dict(inf.distances) == {"grade": "earth mover's (ordered)"}
    # F: I, II, III; M: III, I, II -> the same distribution as the whole (the unused IV does not count)
    assert inf.t == pytest.approx(0.0)


def test_homogeneous_groups_are_reported_apart_from_singletons():
    rows = (
        [("40-49", "F", "diabetes")] * 3  # homogeneous: whoever knows (40-49, F) learns "diabetes"
        + [("50-59", "M", "asthma"), ("60-69", "F", "copd"), ("70-79", "M", "none"), ("80-89", "F", "none")]
        + [("30-39", "M", d) for d in ["none", "asthma", "copd", "diabetes"] * 3]
    )
    table = pd.DataFrame(rows, columns=["age_band", "sex", "diagnosis"])
    policy = PrivacyPolicy(quasi_identifiers=["age_band", "sex"], sensitive_attributes=["diagnosis"], k_anonymity=2)
    risk = assess_risk({"visits": table}, policy, t_closeness=1.0)
    inf = risk.inference
    assert (inf.homogeneous_classes, inf.homogeneous_records, inf.singletons) == (1, 3, 4)
    assert inf.homogeneous_examples == ("visits:0", "visits:1", "visits:2")
    assert inf.singleton_examples == ("visits:3", "visits:4", "visits:5", "visits:6")
    assert inf.l == 1 and inf.status == FAILED and inf.records_at_risk == 7
    problems = inf.problems()
    assert [p.where for p in problems] == ["privacy.l_diversity", "privacy.l_diversity"]
    homogeneous, singletons = problems
    assert "homogeneous" in homogeneous.what and "1 group(s)" in homogeneous.what and "3 records" in homogeneous.what
    assert "singletons" in singletons.what and "4 record(s)" in singletons.what
    assert "visits:0" not in singletons.what and "visits:3" not in homogeneous.what
    # every problem names rows, never a value
    text = json.dumps(risk.to_dict()) + risk._repr_html_() + risk.summary()
    assert "diabetes" not in text and "asthma" not in text


# -- linkability ---------------------------------------------------------------------------------
def population_and_sample(seed: int = 7):
    rng = np.random.default_rng(seed)
    n = 40_000
    population = pd.DataFrame(
        {
            "age": np.clip(rng.normal(50, 18, n).round(), 18, 99).astype(int),
            "sex": rng.choice(["F", "M"], n),
            "region": rng.choice([f"R{i:02d}" for i in range(13)], n),
        }
    )
    sample = population.sample(1500, random_state=seed).reset_index(drop=True)
    sample["outcome"] = rng.integers(0, 2, len(sample))
    return population, sample


def test_linkability_against_population_counts_and_by_sample_uniqueness():
    population, sample = population_and_sample()
    qi = ["age", "sex", "region"]
    policy = PrivacyPolicy(quasi_identifiers=qi, k_anonymity=3)
    census = population.value_counts(qi)  # population counts per combination, a named series
    with_ref = assess_risk({"release": sample}, policy, reference=census).linkability
    merged = sample.merge(census.rename("count").reset_index(), on=qi, how="left")["count"].fillna(0)
    assert with_ref.reference and with_ref.method.startswith("population uniqueness")
    assert with_ref.records_at_risk == (merged < 3).sum()
    assert with_ref.share == pytest.approx((merged < 3).mean())
    assert with_ref.records_population_unique == (merged == 1).sum()
    assert with_ref.records_not_in_reference == 0 and with_ref.population == len(population)
    # the same counts given as a frame with a count column, ages as floats: the same answer
    frame = census.rename("count").reset_index().astype({"age": float})
    assert assess_risk({"release": sample}, policy, reference=frame).linkability == with_ref
    # without a reference: sample uniqueness, named as such, and far more pessimistic
    alone = assess_risk({"release": sample}, policy).linkability
    sizes = brute_sizes(sample, qi)
    assert not alone.reference and alone.method.startswith("sample uniqueness")
    assert alone.records_at_risk == (sizes == 1).sum() and alone.share == pytest.approx((sizes == 1).mean())
    assert alone.share > with_ref.share > 0
    assert with_ref.problems()[0].where == alone.problems()[0].where == "privacy.linkability"
    assert "reference population" in with_ref.problems()[0].what
    assert "sample uniqueness" in alone.problems()[0].what


def test_linkability_reference_on_released_columns_only():
    population, sample = population_and_sample()
    census = population.value_counts(["age"])
    ok = assess_risk({"release": sample}, PrivacyPolicy(), reference=census)
    assert ok.linkability.quasi_identifiers == ("age",)
    wrong = population.assign(commune="x").value_counts(["age", "commune"])
    risk = assess_risk({"release": sample}, PrivacyPolicy(), reference=wrong)
    assert risk.linkability.status == NOT_ASSESSED
    assert [p.where for p in risk.problems() if p.where == "privacy.reference"] == ["privacy.reference"]
    assert "commune" in risk.problems()[0].what


# -- the whole -----------------------------------------------------------------------------------
def test_a_clean_table_passes_all_three_criteria():
    rng = np.random.default_rng(11)
    n = 4000
    population = pd.DataFrame(
        {
            "age_band": rng.choice(["18-34", "35-49", "50-64", "65-79", "80+"], n * 10),
            "sex": rng.choice(["F", "M"], n * 10),
            "region": rng.choice(["north", "south", "east", "west"], n * 10),
        }
    )
    table = population.iloc[:n].assign(
        diagnosis=rng.choice(["a", "b", "c"], n), score=rng.integers(0, 10, n), outcome=rng.integers(0, 2, n)
    )
    policy = PrivacyPolicy(sensitive_attributes=["diagnosis", "score"], k_anonymity=5, l_diversity=3)
    census = population.value_counts(["age_band", "sex", "region"])
    risk = assess_risk({"train": table}, policy, reference=census, exclude=["outcome"])
    assert isinstance(risk, RiskAssessment)
    assert [c.status for c in risk.criteria] == [PASSED, PASSED, PASSED]
    assert risk.passed and risk.problems() == [] and risk.status == PASSED
    assert risk.singling_out.quasi_identifiers == ("age_band", "sex", "region")
    assert risk.inference.t < 0.2 and risk.inference.l == 3 and risk.linkability.share == 0
    # and by sample uniqueness too
    assert assess_risk({"train": table}, policy, exclude=["outcome"]).passed


def test_report_json_summary_and_html():
    table = planted(500)
    policy = PrivacyPolicy(sensitive_attributes=["outcome"], k_anonymity=5)
    risk = assess_risk({"train": table}, policy)
    data = json.loads(json.dumps(risk.to_dict()))
    assert [data[c]["criterion"] for c in ("singling_out", "linkability", "inference")] == [
        "singling out",
        "linkability",
        "inference",
    ]
    assert data["singling_out"]["combinations"][0]["unique_share"] > 0
    assert [(p["where"], p["what"].split(":")[0]) for p in data["problems"]] == [
        ("privacy.k_anonymity", "singling out"),
        ("privacy.linkability", "linkability"),
        ("privacy.l_diversity", "inference (homogeneous groups)"),
        ("privacy.l_diversity", "inference (singletons)"),
        ("privacy.t_closeness", "inference (t-closeness)"),
    ]
    assert all(p.fix for p in risk.problems())
    lines = risk.summary().splitlines()
    assert lines[0].endswith("failed") and lines[1].startswith("- singling out: failed; k = 1")
    # values never appear, column names are escaped in HTML
    for value in table["postcode"].unique():
        assert value not in json.dumps(data) + risk._repr_html_()
    odd = pd.DataFrame({"<b>sex</b>": ["F", "M"] * 50, "age": list(range(20, 70)) * 2})
    assert "<b>sex</b>" not in assess_risk({"t": odd})._repr_html_()
    # nothing to assess: no candidate column, nothing declared
    empty = assess_risk({"t": pd.DataFrame({"x": np.arange(100) * 0.37})})
    assert [c.status for c in empty.criteria] == [NOT_ASSESSED] * 3 and empty.passed


def test_declared_columns_missing_are_policy_problems():
    risk = assess_risk(
        {"t": planted(100)}, PrivacyPolicy(quasi_identifiers=["sex", "postcode_district"], sensitive_attributes=["x"])
    )
    assert [p.where for p in risk.policy_problems] == ["privacy.quasi_identifiers", "privacy.sensitive_attributes"]
    assert risk.singling_out.status == NOT_ASSESSED and not risk.passed


def test_hundred_thousand_records_by_thirty_columns_in_a_few_seconds():
    rng = np.random.default_rng(0)
    n = 100_000
    cols: dict[str, object] = {
        "case_id": np.arange(n),
        "age": rng.integers(18, 95, n),
        "sex": rng.choice(["F", "M"], n),
        "region": rng.integers(0, 13, n),
        "admission_year": rng.integers(2010, 2024, n),
        "dx": rng.choice(list("ABCDEFGH"), n),
    }
    cols |= {f"flag{j}": rng.integers(0, 2 + j % 5, n) for j in range(16)}
    cols |= {f"lab{j}": rng.normal(size=n) for j in range(8)}
    table = pd.DataFrame(cols)
    assert table.shape == (n, 30)
    start = time.perf_counter()
    risk = assess_risk({"train": table}, PrivacyPolicy(sensitive_attributes=["dx"]), key="case_id")
    elapsed = time.perf_counter() - start
    assert len(risk.singling_out.candidates) == 20 and risk.n_records == n
    assert "1350 combination(s)" in risk.singling_out.method
    sizes = brute_sizes(table, list(risk.singling_out.quasi_identifiers))
    assert risk.singling_out.records_at_risk == (sizes < 5).sum()
    assert elapsed < 20, elapsed  # about 2 s on one core; generous for loaded CI machines
