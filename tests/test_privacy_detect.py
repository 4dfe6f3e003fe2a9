"""Direct identifiers in French and English tables: Presidio recognizers, validated content, NER, column names."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest

from kit.cards.schema import PrivacyPolicy
from kit.privacy import assess_release, categories, mask, normalise_name, scan_identifiers
from kit.privacy import recognizers as rec

SURNAMES = ["Martin", "Leroy", "Fournier", "Girard", "Rousseau", "Lambert", "Fontaine", "Durand", "Dupont", "Bernard"]
SURNAMES += ["Moreau", "Mercier"]
FIRST_NAMES = ["Marie", "Jean", "Sophie", "Luc", "Anne", "Paul", "Camille", "Julien", "Claire", "Hugo", "Léa", "Louis"]


def doctored_frame() -> pd.DataFrame:
    """The issue's doctored table: every kind of French and English direct identifier, 12 patients."""
    return pd.DataFrame(
        {
            "case_id": [f"case-{i:03d}" for i in range(12)],
            "nom": SURNAMES,
            "Prénom": FIRST_NAMES,
            "patients": SURNAMES[::-1],  # surnames, no honorific, a neutral name: the NER finds them
            "num_secu": ["1 85 05 78 006 084 91", "2 53 07 2B 073 004 70", "2 95 10 99 126 111 93"] * 4,
            "ref_a": ["1 85 05 78 006 084 91", "2.53.07.2A.073.004.43", "2 95 10 99 126 111 93"] * 4,  # spaced, dotted
            "ref_b": ["185057800608491", "253072B07300470", "295109912611193"] * 4,  # compact
            "ref_c": np.array([185057800608491, 295109912611193, 185057800608491] * 4, dtype="int64"),  # integer
            "téléphone": ["06 14 21 65 63", "01 23 45 67 89", "07 81 22 33 44"] * 4,
            "joindre": ["06 14 21 65 63", "06.14.21.65.63", "+33 6 14 21 65 63"] * 4,  # the three forms
            "code_postal": [75002, 13001, 69003, 1000, 33000, 59000] * 2,  # integers: 01000 lost its 0
            "cp": [75015, 6000, 31000, 67000, 44000, 35000] * 2,  # an ambiguous name, confirmed by the values
            "adresse": ["12 rue de la Paix", "3 bis avenue Foch", "221 Baker Street", "8 place Bellecour"] * 3,
            "ipp": ["IPP85893910", "IPP85893911", "IPP85893912", "IPP85893913"] * 3,
            "sejour": ["NDA 123456789", "NDA 123456790", "NDA 123456791", "NDA 123456792"] * 3,
            "date_naissance": ["14/05/1985", "01/12/1950", "23/07/1962", "30/01/1999"] * 3,
            "courriel": ["marie.martin@exemple.fr", "jean.leroy@hopital.fr", "s.fournier@mail.com"] * 4,
            "appel": ["Mme Bernard", "M. Dupont", "Dr Martin", "Pr Leroy", "Mlle Petit", "Mme Durand"] * 2,
            "notes": [
                "Vu Mme Dupont, rappeler au 06 14 21 65 63",
                "Patient stable, pas de changement de traitement.",
                "RAS, revoir dans 3 mois.",
            ]
            * 4,
            "email": ["alice@example.org", "bob@example.com", "carol@example.co.uk"] * 4,
            "phone": ["+44 7700 900123", "020 7946 0958", "+1 415 555 2671"] * 4,
            "ssn": ["123-45-6789", "987-65-4321", "536-22-8727"] * 4,
            "website": ["https://chu-exemple.fr/service/12", "www.example.org", "http://x.example/a"] * 4,
            "ip": ["192.168.0.12", "10.0.0.1", "172.16.4.3"] * 4,
            "age": [45, 93, 61, 70] * 3,
            "date_entree": pd.to_datetime(["2020-01-05", "2020-02-11", "2021-03-09", "2022-07-14"] * 3),
            # not identifying
            "sexe": ["M", "F"] * 6,
            "annee_naissance": [1985, 1950, 1962, 1999] * 3,
            "hba1c": [6.1, 7.4, 8.0, 5.9] * 3,
        }
    )


EXPECTED = {
    "nom": "person_name",
    "Prénom": "person_name",
    "patients": "person_name",
    "num_secu": "national_id",
    "ref_a": "national_id",
    "ref_b": "national_id",
    "ref_c": "national_id",
    "téléphone": "phone",
    "joindre": "phone",
    "code_postal": "postcode",
    "cp": "postcode",
    "adresse": "address",
    "ipp": "record_number",
    "sejour": "record_number",
    "date_naissance": "date",
    "courriel": "email",
    "appel": "person_name",
    "email": "email",
    "phone": "phone",
    "ssn": "national_id",
    "website": "url",
    "ip": "ip_address",
    "age": "age_over_89",
    "date_entree": "date",
}
POLICY = PrivacyPolicy(allowed_identifiers=["case_id"])
CACHED = (
    rec.get_analyzer,
    rec.load_nlp,
    rec.content_recognizers,
    rec.context_recognizers,
    rec._tld_extractor,
    rec._has_public_suffix,
)


@pytest.fixture(scope="module")
def offline():
    """The scan of the doctored table, every model and list loaded afresh while the network is unreachable.

    Loads the spaCy model once for the module. Returns the report and the connections attempted.
    """
    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network unreachable (test)")

    with pytest.MonkeyPatch.context() as mp:
        for name in ("connect", "connect_ex"):
            mp.setattr(socket.socket, name, refuse)
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        for cached in CACHED:
            cached.cache_clear()
        report = assess_release({"d": doctored_frame()}, POLICY)
        found = rec.get_analyzer().analyze("Vu Mme Dupont (marie.dupont@exemple.fr) au 06 14 21 65 63", language="fr")
    return report, attempts, {r.entity_type for r in found}


def by_column(findings) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(f.column, set()).add(f.category)
    return out


def test_nothing_is_downloaded(offline):
    report, attempts, entities = offline
    assert attempts == []
    # what needs the suffix list (e-mail) and the model (NER) worked
    assert {"email", "person_name"} <= {f.category for f in report.findings}
    assert {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"} <= entities


def test_one_finding_per_identifier_column_with_the_right_category(offline):
    report = offline[0]
    found = by_column(report.findings)
    notes = found.pop("notes")
    assert found == {column: {category} for column, category in EXPECTED.items()}
    assert {"person_name", "phone"} <= notes  # "Vu Mme Dupont, rappeler au 06 14 21 65 63"
    assert all(f.free_text for f in report.findings if f.column == "notes")


def test_each_finding_says_how_it_was_found(offline):
    how = {(f.column, f.category): f.detected_by for f in offline[0].findings}
    assert how["ref_a", "national_id"] == ("content: NIR key valid",)
    assert how["ref_c", "national_id"] == ("content: NIR key valid",)  # an int64 column
    assert how["joindre", "phone"] == ("content: valid FR phone number",)
    assert how["code_postal", "postcode"] == ("column name", "content: French postcode")
    assert how["cp", "postcode"] == ("column name", "content: French postcode")
    assert how["ipp", "record_number"] == ("column name", "content: hospital number with its prefix")
    assert how["appel", "person_name"] == ("content: honorific + name",)
    assert how["Prénom", "person_name"] == ("column name",)
    assert len(how["patients", "person_name"]) == 1 and how["patients", "person_name"][0].startswith("NER: PER on ")
    assert "content: honorific + name" in how["notes", "person_name"] and "NER: PER" in how["notes", "person_name"]
    assert how["age", "age_over_89"] == ("values",)
    rows = {f.column: (f.n_rows, f.rows) for f in offline[0].findings if f.category == "phone"}
    assert rows["notes"] == (4, (0, 3, 6, 9)) and rows["joindre"][0] == 12


def test_masked_examples_never_echo_the_value(offline):
    report = offline[0]
    frame = doctored_frame()
    text = str(report.to_dict()) + report._repr_html_() + str([p.to_dict() for p in report.reasons])
    for f in report.findings:
        for value in frame[f.column].astype(str):
            if len(value) >= 4 and not value.isdigit() or len(value) >= 6:
                assert value not in f.example, (f.column, value)
                assert value not in text, (f.column, value)
    assert mask("1 85 05 78 006 084 91") == "1 8* 0* 7* 0** 0** 9*"


def test_a_clean_clinical_table_has_no_finding():
    rng = np.random.default_rng(0)
    n = 500
    clean = pd.DataFrame(
        {
            "case_id": [f"case-{i:04d}" for i in range(n)],
            "age": rng.integers(18, 89, n),  # whole years
            "sex": rng.choice(["M", "F"], n),
            "grade": rng.choice(["I", "II", "III"], n),
            "service": rng.choice(
                ["Cardiologie", "Pneumologie", "Neurologie", "Gériatrie", "Oncologie", "Urgences"], n
            ),
            "annee_diagnostic": rng.integers(1998, 2021, n),  # dates as years
            "hba1c": np.round(rng.normal(7, 1, n), 1),
            "lab_a": rng.choice([12345, 23456, 75002, 13001, 69003], n),  # lab values shaped like postcodes
            "lab_b": rng.integers(10_000, 99_999, n),
            "plaquettes": rng.integers(150_000, 450_000, n),
            "creatinine": np.round(rng.normal(80, 20, n), 2),
            "cim10": rng.choice(["E11.9", "I21.0", "C50.9", "J45.9", "I10"], n),
            "stade": rng.choice(["T1N0M0", "T2N1M0", "T3N0M1"], n),
        }
    )
    assert scan_identifiers({"clean": clean}) == []


def test_a_nir_with_a_wrong_key_is_not_a_nir():
    wrong = pd.DataFrame(
        {
            "ref_a": ["1 85 05 78 006 084 92", "2 95 10 99 126 111 94"] * 3,
            "ref_b": ["185057800608492", "253072B07300471"] * 3,
            "ref_c": np.array([185057800608492, 295109912611194] * 3, dtype="int64"),
        }
    )
    assert scan_identifiers({"w": wrong}) == []
    right = wrong.assign(ref_a=["1 85 05 78 006 084 91", "2 53 07 2A 073 004 43"] * 3)
    assert by_column(scan_identifiers({"w": right})) == {"ref_a": {"national_id"}}


def test_a_nir_among_random_numbers_or_in_a_float_column():
    rng = np.random.default_rng(1)
    ids = rng.integers(10**14, 3 * 10**14, 200)  # random 15-digit numbers: about 1 in 97 has a valid key
    assert scan_identifiers({"t": pd.DataFrame({"ref": ids})}) == []
    floats = pd.DataFrame({"ref": [185057800608491.0, np.nan, 295109912611193.0]})  # NaN made it float64
    (finding,) = scan_identifiers({"t": floats})
    assert finding.category == "national_id" and finding.rows == (0, 2) and finding.example == "1**************"


@pytest.mark.parametrize(
    "text", ["06 14 21 65 63", "06.14.21.65.63", "+33 6 14 21 65 63", "0033 6 14 21 65 63", "tél. 0614216563"]
)
def test_french_phone_numbers_in_free_text(text):
    notes = pd.DataFrame({"notes": [f"Patient rappelé au {text} ce matin pour son bilan.", "Pas de souci ce jour."]})
    (finding,) = scan_identifiers({"t": notes})
    assert finding.category == "phone" and finding.rows == (0,) and finding.free_text


def test_the_ner_sample_of_free_text_is_seeded_and_reported():
    notes = [f"Consultation {i} avec le Dr Martin{i:03d}, bilan normal." for i in range(200)]
    notes += [f"contrôle {i} sans particularité" for i in range(200)]  # no capital: never given to the NER
    frame = pd.DataFrame({"notes": notes})
    report = assess_release({"t": frame}, max_values=50, seed=3)
    assert any(w.startswith("t.notes: 400 distinct values") for w in report.warnings)
    again = assess_release({"t": frame}, max_values=50, seed=3)
    assert report.findings == again.findings
    honorific = next(f for f in report.findings if f.category == "person_name")
    assert honorific.n_rows == 200  # the pattern still saw every value
    # under the bound, nothing is sampled and nothing is said
    assert not any("distinct values" in w for w in assess_release({"t": frame}, max_values=1000).warnings)


@pytest.mark.parametrize(
    ("column", "category"),
    [
        ("nom", "person_name"),
        ("Prénom", "person_name"),
        ("nom_de_naissance", "person_name"),
        ("LastName", "person_name"),
        ("code_postal", "postcode"),
        ("Code Commune", "postcode"),
        ("num_secu", "national_id"),
        ("N° Sécu", "national_id"),
        ("NIR", "national_id"),
        ("IPP", "record_number"),
        ("nda", "record_number"),
        ("num_dossier", "record_number"),
        ("date_naissance", "date"),
        ("DateDeNaissance", "date"),
        ("adresse", "address"),
        ("ville", "address"),
        ("lieu_naissance", "address"),
        ("telephone", "phone"),
        ("tél_portable", "phone"),
        ("courriel", "email"),
        ("adresse_mail", "email"),
        ("adresse_ip", "ip_address"),
        ("site_web", "url"),
    ],
)
def test_french_and_english_column_names(column, category):
    matched = {c.key for c in categories() if c.names is not None and c.names.search(normalise_name(column))}
    assert matched == {category}, (column, normalise_name(column))


@pytest.mark.parametrize("column", ["nom_medicament", "nom_service", "annee_naissance", "sexe", "deces", "cp_score"])
def test_names_that_are_not_identifiers(column):
    assert not any(c.names is not None and c.names.search(normalise_name(column)) for c in categories())


def test_normalise_name():
    assert normalise_name("Prénom") == "prenom"
    assert normalise_name("N° Sécu") == "n_secu"
    assert normalise_name("DateDeNaissance") == "date_de_naissance"
    assert normalise_name("Nœud") == "noeud"


def test_every_category_entity_has_a_recognizer():
    emitted = {e for r in rec.content_recognizers() + rec.context_recognizers() for e in r.supported_entities}
    emitted |= set(rec.NER_LABELS.values())
    for cat in categories():
        assert set(cat.entities) <= emitted, cat.key
