"""The data-protection section of the card (GDPR and French health-data rules): validated codes, texts in
English and French, required before a release, named in a draft, rendered in Markdown, HTML and Croissant
(W3C Data Privacy Vocabulary, language-tagged values) that mlcroissant still validates and loads."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import rdflib
import yaml
from conftest import REPO, SHIPPED
from pydantic import BaseModel

from kit.cards import CardError, build_card, card_path, parse_card, read_card
from kit.cards.fields import LANGUAGES, TO_WRITE, Localised
from kit.cards.protection import ARTICLE_6, ARTICLE_9, CNIL_METHODOLOGIES, DataProtection
from kit.cards.renderers.croissant import validate_croissant
from kit.challenge import load_challenge

pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
CLOSED = datetime(2027, 7, 8, tzinfo=timezone.utc)
OPEN = datetime(2027, 7, 1, tzinfo=timezone.utc)
DPV = "https://w3id.org/dpv#"
SCHEMA = "https://schema.org/"
#: every field of the section an organiser must write (dotted paths from the card's top)
REQUIRED = (
    "data_protection.controller",
    "data_protection.legal_basis.article_6.basis",
    "data_protection.legal_basis.article_6.explanation",
    "data_protection.legal_basis.article_9.basis",
    "data_protection.legal_basis.article_9.explanation",
    "data_protection.dpia.status",
    "data_protection.dpia.details",
    "data_protection.patient_information",
    "data_protection.cnil.procedure",
    "data_protection.cnil.explanation",
    "data_protection.hosting.host",
    "data_protection.hosting.hds",
    "data_protection.retention",
    "data_protection.dpo_contact",
)
#: a section of an organiser who processes personal data in France, partly in French only
PERSONAL = {
    "controller": {"en": "Hôpital Exemple, DPO office", "fr": "Hôpital Exemple, bureau du DPO"},
    "legal_basis": {
        "article_6": {"basis": "Art. 6(1)(e)", "explanation": "A research task in the public interest."},
        "article_9": {"basis": "9 (2) (j)", "explanation": {"fr": "Recherche scientifique <b>encadrée</b>."}},
    },
    "dpia": {"status": "Carried out", "details": "DPIA 2026-04, held by the DPO."},
    "patient_information": {"en": "Posters and a web page; right to object.", "fr": "Affiches et page web."},
    "cnil": {"procedure": "mr-004", "reference": "2226543 v 0", "explanation": "Research on existing data."},
    "hosting": {"host": "Hospital servers, France.", "hds": "HDS certificate of the hospital's host."},
    "retention": "Two years after the challenge closes, then deleted.",
    "dpo_contact": "dpo@hopital.example",
}


def shipped_data(challenge_id: str = "breast-cancer") -> dict:
    return yaml.safe_load((REPO / "starter_kits" / challenge_id / "card.yml").read_text(encoding="utf-8"))


def with_section(section: dict, challenge_id: str = "breast-cancer") -> dict:
    data = shipped_data(challenge_id)
    data["data_protection"] = section
    return data


def problems(data: dict, **kw) -> dict:
    with pytest.raises(CardError) as info:
        parse_card(data, source="card.yml", **kw)
    return {p.where: p for p in info.value.problems}


def edited(**changes) -> dict:
    """PERSONAL with dotted paths replaced (a value of None removes the field)."""
    section = json.loads(json.dumps(PERSONAL))
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = section
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return section


# -- the schema -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_every_shipped_card_states_its_data_protection_honestly(challenge_id):
    dp = read_card(card_path(load_challenge(challenge_id, root=REPO))).data_protection
    # public research tables released by their authors as open data: no basis, formality or number invented
    assert (dp.legal_basis.article_6.basis, dp.legal_basis.article_9.basis) == ("not applicable",) * 2
    assert "recital 26" in str(dp.legal_basis.article_6.explanation)
    assert (dp.dpia.status, dp.cnil.procedure, dp.cnil.reference) == ("not required", "not applicable", None)
    assert "challenge-kit maintainers" in str(dp.controller)


def test_codes_are_written_in_one_canonical_form():
    dp = parse_card(with_section(PERSONAL)).data_protection
    assert (dp.legal_basis.article_6.basis, dp.legal_basis.article_9.basis) == ("6(1)(e)", "9(2)(j)")
    assert (dp.legal_basis.article_6.dpv, dp.legal_basis.article_9.dpv) == ("eu-gdpr:A6-1-e", "eu-gdpr:A9-2-j")
    assert (dp.dpia.status, dp.cnil.procedure) == ("carried out", "MR-004")
    assert dp.controller.languages == ("en", "fr") and dp.legal_basis.article_9.explanation.languages == ("fr",)
    assert not dp.retention.tagged and str(dp.retention).startswith("Two years")
    # a card dumps back to what the organiser wrote
    again = parse_card(with_section(dp.model_dump())).data_protection
    assert again == dp


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        ("legal_basis__article_6__basis", "6(1)(g)", ["6(1)(a) consent", "6(1)(f) legitimate interests", "recital 26"]),
        ("legal_basis__article_6__basis", "9(2)(j)", ["not a basis of GDPR art. 6(1)"]),
        ("legal_basis__article_9__basis", "9(2)(k)", ["9(2)(j) archiving", "'not applicable'"]),
        ("legal_basis__article_9__basis", "consent", ["9(2)(a) explicit consent"]),
        ("cnil__procedure", "MR-007", ["not one of the CNIL's reference methodologies", "MR-001", "MR-006"]),
        ("cnil__procedure", "MR4a", ["not one of the CNIL's reference methodologies", "'authorisation'"]),
        ("cnil__procedure", "declared", ["not a procedure", "MR-004 research not involving the human person"]),
        ("dpia__status", "done", ["not a DPIA status", "'carried out'", "'not required'"]),
    ],
)
def test_a_bad_code_is_refused_with_what_to_write_instead(path, value, words):
    where = "data_protection." + path.replace("__", ".")
    found = problems(with_section(edited(**{path: value})))
    assert list(found) == [where]
    assert repr(value) in found[where].what
    for w in words:
        assert w in found[where].what, w


def test_every_code_of_the_tables_is_accepted():
    for letter in ARTICLE_6:
        for nine in ARTICLE_9:
            section = edited(
                legal_basis__article_6__basis=f"6(1)({letter})", legal_basis__article_9__basis=f"9(2)({nine})"
            )
            assert parse_card(with_section(section)).data_protection.legal_basis.article_9.letter == nine
    for code in CNIL_METHODOLOGIES:
        assert parse_card(with_section(edited(cnil__procedure=code.lower()))).data_protection.cnil.procedure == code


def test_articles_6_and_9_must_agree_and_an_authorisation_needs_its_number():
    found = problems(with_section(edited(legal_basis__article_6__basis="not applicable")))
    (problem,) = found.values()
    assert problem.where == "data_protection.legal_basis" and "make them agree" in problem.what
    assert "both 'not applicable'" in problem.what
    found = problems(with_section(edited(cnil__procedure="authorisation", cnil__reference=None)))
    assert "decision number in `reference`" in found["data_protection.cnil"].what
    found = problems(with_section(edited(cnil__procedure="not applicable")))
    assert "remove the reference" in found["data_protection.cnil"].what


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ({"de": "Text"}, "unknown language 'de'"),
        ({"en": "Text", "fr": " "}, "the French text (`fr`) is empty"),
        ({"en": "", "fr": None}, "required field is empty"),
        ({}, "required field is empty"),
        ("  ", "required field is empty"),
        (["a", "b"], "is not a text"),
    ],
)
def test_a_text_is_a_string_or_one_per_language(value, what):
    found = problems(with_section(edited(retention=value)))
    assert what in found["data_protection.retention"].what


def test_localised_texts_know_their_languages():
    both = Localised.parse({"fr": "texte", "en": "text"})
    assert list(both.items()) == [("en", "text"), ("fr", "texte")] and both.tagged and str(both) == "text"
    assert both.prefixed({"en": "A. ", "fr": "B. "}) == Localised(en="A. text", fr="B. texte")
    plain = Localised.parse(" text ")
    assert not plain.tagged and plain.dump() == "text" and plain != Localised(en="text")
    assert set(LANGUAGES) == {"en", "fr"}
    with pytest.raises(TypeError):
        Localised(de="Text")


def test_every_field_teaches_what_to_write():
    """Descriptions are what `kit new` writes beside each empty field, and the fix of each missing one."""

    def walk(model: type[BaseModel], path: str):
        for name, field in model.model_fields.items():
            assert field.description and len(field.description) > 20, f"{path}{name}"
            sub = field.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                walk(sub, f"{path}{name}.")

    walk(DataProtection, "data_protection.")


# -- required before a release; named in a draft -------------------------------------------------------
def test_a_card_without_the_section_is_refused_with_every_field_named():
    data = shipped_data()
    del data["data_protection"]
    found = problems(data)
    assert set(found) == set(REQUIRED)
    for where, p in found.items():
        assert p.what == "required field is missing" and f"`{where}`" in p.fix
    assert "hébergeur de données de santé" in found["data_protection.hosting.hds"].fix
    assert "MR-001 to MR-006" in found["data_protection.cnil.procedure"].fix
    # an empty text is named too, with what to write there
    found = problems(with_section(edited(dpo_contact="", hosting__host={"en": " "})))
    assert set(found) == {"data_protection.dpo_contact", "data_protection.hosting.host"}
    assert "data protection officer" in found["data_protection.dpo_contact"].fix


def test_a_draft_lists_the_section_as_still_to_write_and_still_checks_what_is_written():
    data = shipped_data()
    del data["data_protection"]
    card = parse_card(data, draft=True)
    assert set(REQUIRED) <= set(card.todo)
    assert card.data_protection.legal_basis.article_6.basis == TO_WRITE
    assert str(card.data_protection.controller) == TO_WRITE
    # half written: an unwritten code is a placeholder, a written one is checked
    section = {"legal_basis": {"article_6": {"basis": "6(1)(e)"}}, "cnil": {"procedure": "MR-9"}, "retention": {}}
    found = problems(with_section(section), draft=True)
    assert list(found) == ["data_protection.cnil.procedure"]
    del section["cnil"]
    card = parse_card(with_section(section), draft=True)
    assert "data_protection.retention" in card.todo and "data_protection.legal_basis.article_6.basis" not in card.todo
    assert card.data_protection.legal_basis.article_9.basis == TO_WRITE


def test_kit_new_writes_the_section_with_every_field_empty():
    from kit.authoring.new import card_template

    spec = load_challenge("gbsg2", root=REPO).spec
    text = card_template(spec, ["case_id", "age"])
    assert "\ndata_protection: # " in text and "\n  legal_basis: # " in text
    for where in REQUIRED:
        name = where.rsplit(".", 1)[-1]
        indent = "  " * where.count(".")
        assert f"\n{indent}{name}: # " in text, where
    card = parse_card(yaml.safe_load(text), draft=True)
    assert set(REQUIRED) <= set(card.todo)


def test_release_refuses_a_card_without_the_section(tmp_path):
    from test_cards import copy_challenge

    from kit.release import release

    ch = copy_challenge(tmp_path, "diabetes", lambda c: c.pop("data_protection"))
    work = tmp_path / "work"
    with pytest.raises(CardError) as info:
        release(ch, workdir=work, now=CLOSED)
    assert {p.where for p in info.value.problems} == set(REQUIRED)
    assert info.value.where.endswith("card.yml") and "fill in every field" in info.value.fix
    assert not (work / "release").exists()


# -- rendering ----------------------------------------------------------------------------------------------
def test_committed_cards_show_both_languages_where_both_are_given():
    readme = (REPO / "data_cards" / "breast-cancer" / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Data protection\n", 1)[1].split("\n### ", 1)[0]
    assert "- **Data controller**:\n  - EN: For this challenge" in section
    assert "\n  - FR: Pour ce challenge" in section
    assert "- **Legal basis (GDPR art. 6)**:\n  - EN: Not applicable. " in section
    assert "\n  - FR: Non applicable. " in section
    html = (REPO / "data_cards" / "breast-cancer" / "card.html").read_text(encoding="utf-8")
    assert '<p lang="fr"><abbr class="lang" title="French">FR</abbr>Pour ce challenge' in html
    # a text in one language, written as a plain string, is shown as it is
    plain = (REPO / "data_cards" / "diabetes" / "README.md").read_text(encoding="utf-8")
    assert "- **Legal basis (GDPR art. 6)**: Not applicable. The organisers re-publish" in plain
    assert "  - EN:" not in plain


@pytest.fixture(scope="module")
def personal(tmp_path_factory):
    """A card of a closed challenge whose data are personal data processed in France, in every format."""
    from test_cards import copy_challenge

    tmp = tmp_path_factory.mktemp("personal")
    ch = copy_challenge(tmp, "breast-cancer", lambda c: c.update(data_protection=PERSONAL))
    return ch, build_card(ch, out_dir=tmp / "card", now=CLOSED)


def test_markdown_and_html_label_each_language_and_escape_it(personal):
    _, result = personal
    readme = result.files["README.md"].read_text(encoding="utf-8")
    basis = "6(1)(e), task in the public interest or official authority"
    assert f"- **Legal basis (GDPR art. 6)**: {basis}. A research task in the public interest." in readme
    # a text in French only is labelled, with the French name of the basis
    assert (
        "- **Exception for health data (GDPR art. 9)**: FR: 9(2)(j), archivage, recherche scientifique ou "
        "historique, ou statistiques. Recherche scientifique &lt;b&gt;encadrée&lt;/b&gt;." in readme
    )
    assert "- **CNIL formality**: Reference methodology MR-004 (research not involving the human person), " in readme
    assert "- **Impact assessment (DPIA, GDPR art. 35)**: Carried out. DPIA 2026-04" in readme
    html = result.files["card.html"].read_text(encoding="utf-8")
    assert "<b>encadrée</b>" not in html and "&lt;b&gt;encadrée&lt;/b&gt;" in html
    assert '<p lang="en"><abbr class="lang" title="English">EN</abbr>Posters and a web page' in html


def _croissant(path: Path) -> tuple[dict, rdflib.Graph]:
    jsonld = json.loads(path.read_text(encoding="utf-8"))
    graph = rdflib.Graph().parse(data=json.dumps(jsonld), format="json-ld", base=path.parent.as_uri() + "/")
    return jsonld, graph


def _texts(graph: rdflib.Graph, prop: str, kind: str) -> dict[str | None, str]:
    """The descriptions of the nodes of type ``kind`` that the dataset relates by ``prop``: language -> text."""
    out = {}
    for _, _, node in graph.triples((None, rdflib.URIRef(DPV + prop), None)):
        if (node, rdflib.RDF.type, rdflib.URIRef(kind)) in graph:
            for _, _, text in graph.triples((node, rdflib.URIRef(SCHEMA + "description"), None)):
                out[text.language] = str(text)
    return out


def test_croissant_gives_the_section_with_the_data_privacy_vocabulary(personal):
    ch, result = personal
    path = result.files["croissant.json"]
    jsonld, graph = _croissant(path)
    assert jsonld["@context"]["dpv"] == DPV and jsonld["@context"]["eu-gdpr"] == "https://w3id.org/dpv/legal/eu/gdpr#"
    assert [b["@type"] for b in jsonld["dpv:hasLegalBasis"]] == ["eu-gdpr:A6-1-e", "eu-gdpr:A9-2-j"]
    assert jsonld["dpv:hasImpactAssessment"]["@type"] == "dpv:DPIA" and "dpv:hasJustification" not in jsonld
    authority = jsonld["dpv:hasAuthority"]
    assert authority["@type"] == "dpv:DataProtectionAuthority" and "MR-004" in authority["sc:name"]
    assert authority["sc:identifier"] == "2226543 v 0"
    assert [c["@type"] for c in jsonld["dpv:hasStorageCondition"]] == [
        "dpv:StorageLocation",
        "dpv:StorageCondition",
        "dpv:StorageDuration",
    ]
    # each language is a tagged value; a plain text takes the card's language (English)
    assert jsonld["dpv:hasDataController"]["sc:description"] == [
        {"@value": "Hôpital Exemple, DPO office", "@language": "en"},
        {"@value": "Hôpital Exemple, bureau du DPO", "@language": "fr"},
    ]
    assert _texts(graph, "hasDataController", DPV + "DataController") == {
        "en": "Hôpital Exemple, DPO office",
        "fr": "Hôpital Exemple, bureau du DPO",
    }
    gdpr = "https://w3id.org/dpv/legal/eu/gdpr#"
    assert _texts(graph, "hasLegalBasis", gdpr + "A9-2-j") == {"fr": "Recherche scientifique <b>encadrée</b>."}
    assert _texts(graph, "hasDataProtectionOfficer", DPV + "DataProtectionOfficer") == {"en": "dpo@hopital.example"}
    # the RAI summary names the codes; mlcroissant still validates the card and reads every record
    sensitive = " ".join(jsonld["rai:personalSensitiveInformation"])
    assert "legal basis art. 6: 6(1)(e); art. 9: 9(2)(j); DPIA: carried out; CNIL: MR-004 2226543 v 0" in sensitive
    from test_cards import release_files

    assert validate_croissant(str(path), files=release_files(ch), records=True) == []


@pytest.mark.parametrize("challenge_id", SHIPPED)
def test_committed_croissant_says_why_each_rule_does_not_apply(challenge_id):
    jsonld, graph = _croissant(REPO / "data_cards" / challenge_id / "croissant.json")
    assert "dpv:hasLegalBasis" not in jsonld and "dpv:hasAuthority" not in jsonld
    names = [j["sc:name"] for j in jsonld["dpv:hasJustification"]]
    assert names == [
        "GDPR art. 6(1): not applicable",
        "GDPR art. 9(2): not applicable",
        "Data protection impact assessment (GDPR art. 35): not required",
        "CNIL formality: not applicable",
    ]
    assert all(j["@type"] == "justifications:NotRequiredJustification" for j in jsonld["dpv:hasJustification"])
    languages = set(_texts(graph, "hasDataController", DPV + "DataController"))
    assert languages == ({"en", "fr"} if challenge_id == "breast-cancer" else {"en"})
    for prop in ("hasNotice", "hasStorageCondition", "hasDataProtectionOfficer"):
        assert any(graph.triples((None, rdflib.URIRef(DPV + prop), None))), prop
