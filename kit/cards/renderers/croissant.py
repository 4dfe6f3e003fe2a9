"""The Croissant card: Croissant 1.1 JSON-LD with the Responsible-AI vocabulary.

:func:`croissant_metadata` builds the card as ``mlcroissant`` objects;
:func:`validate_croissant` validates JSON-LD with ``mlcroissant`` (and, optionally,
reads every record set from the files). :class:`CroissantRenderer` refuses to write
JSON-LD that mlcroissant rejects or warns about. ``mlcroissant`` is imported on first use.

The card conforms to Croissant 1.1 and to the Croissant RAI 1.0 vocabulary: every RAI
property is present, mapped from the prose of ``card.yml`` where the card has it, and
otherwise says explicitly that it is not applicable or not reported (:data:`RAI_PROPERTIES`
lists them). mlcroissant 1.1 spells two of them differently from the RAI specification
(``dataCollectionTimeFrame``, ``dataDataManipulationProtocol``) and reads the timeframe as
dates only: those two are written under the specification's names
(``rai:dataCollectionTimeframe``, ``rai:dataManipulationProtocol``).

The card's data-protection section (GDPR and French health-data rules) is summed up in
``rai:personalSensitiveInformation`` and given in full with the W3C Data Privacy Vocabulary
(``dpv:`` properties of the dataset, :mod:`.dpv`), its texts tagged with their language.

Each file's ``contentUrl`` is relative to the card's folder (``doc.data_urls``): in the
repository, ``data_cards/<id>/`` points to ``../../starter_kits/<id>/data/…``; in a
release the files are beside the card (``data/…``). A file that is not published yet (the
test labels of an open challenge) is left out, with its record set.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...errors import Problem
from ..document import (
    CardDocument,
    anonymity_statement,
    commitment_statement,
    draft_statement,
    generalisation_statement,
    privacy_status,
    sealed_statement,
    split_statement,
)
from ..protection import data_protection_summary
from ..schema import CardError
from . import Renderer
from .dpv import DPV_CONTEXT, dpv_properties

if TYPE_CHECKING:
    import mlcroissant as mlc

    from ...challenge import ChallengeSpec

CROISSANT_VERSION = "http://mlcommons.org/croissant/1.1"
RAI_VERSION = "http://mlcommons.org/croissant/RAI/1.0"
SPDX_URL = "https://spdx.org/licenses/{}.html"
#: every property of the Croissant RAI 1.0 vocabulary (http://mlcommons.org/croissant/RAI/1.0); the card has each
RAI_PROPERTIES = (
    "rai:dataCollection",
    "rai:dataCollectionType",
    "rai:dataCollectionMissingData",
    "rai:dataCollectionRawData",
    "rai:dataCollectionTimeframe",
    "rai:dataPreprocessingProtocol",
    "rai:dataImputationProtocol",
    "rai:dataManipulationProtocol",
    "rai:dataAnnotationProtocol",
    "rai:dataAnnotationPlatform",
    "rai:dataAnnotationAnalysis",
    "rai:annotationsPerItem",
    "rai:annotatorDemographics",
    "rai:machineAnnotationTools",
    "rai:dataBiases",
    "rai:dataUseCases",
    "rai:dataLimitations",
    "rai:dataSocialImpact",
    "rai:personalSensitiveInformation",
    "rai:dataReleaseMaintenancePlan",
)
NOT_REPORTED = "Not reported in the data card"


def _record_set_id(role: str) -> str:
    return {"labels": "test_labels"}.get(role, role)


def croissant_metadata(doc: CardDocument) -> mlc.Metadata:
    """The card as an ``mlcroissant.Metadata`` (Croissant 1.1 with the RAI vocabulary)."""
    import mlcroissant as mlc

    c, s, st = doc.card, doc.spec, doc.stats
    ctx = mlc.Context(conforms_to=CROISSANT_VERSION)
    try:  # the standard @context of the version (mlcroissant otherwise writes its 1.0 context)
        from mlcroissant._src.core.rdf import make_context

        ctx.rdf = mlc.Rdf(context=make_context(ctx))
    except ImportError:
        pass
    kinds = {
        "integer": mlc.DataType.INTEGER,
        "float": mlc.DataType.FLOAT,
        "boolean": mlc.DataType.BOOL,
        "text": mlc.DataType.TEXT,
        "datetime": mlc.DataType.DATETIME,
    }
    notes = c.composition.columns
    distribution, record_sets = [], []
    test_rs = _record_set_id("test")
    for f in st.files:
        if f.withheld:  # not published yet: no file to read, and its checksum stays hidden
            continue
        description = f.description
        if f.role == "labels" and (commitment := commitment_statement(doc)):
            description = f"{description}. {commitment}"
        distribution.append(
            mlc.FileObject(
                ctx=ctx,
                id=f.name,
                name=f.name,
                description=description,
                content_url=doc.data_url(f.role, f.path),
                content_size=f"{f.bytes} B",
                encoding_formats=["text/csv"],
                sha256=f.sha256,
            )
        )
        rs = _record_set_id(f.role)
        fields = []
        for column, kind in zip(f.columns, f.kinds, strict=True):
            description = notes.get(column) or _column_role(column, f.role, s)
            references = None
            if column == s.id_column and f.role in ("labels", "sample_submission"):
                references = mlc.Source(ctx=ctx, field=f"{test_rs}/{column}")
            fields.append(
                mlc.Field(
                    ctx=ctx,
                    id=f"{rs}/{column}",
                    name=column,
                    description=description,
                    data_types=[kinds[kind]],
                    source=mlc.Source(ctx=ctx, file_object=f.name, extract=mlc.Extract(ctx=ctx, column=column)),
                    references=references,
                )
            )
        record_sets.append(
            mlc.RecordSet(
                ctx=ctx, id=rs, name=rs, description=f.description, fields=fields, key=[f"{rs}/{s.id_column}"]
            )
        )
    licence = c.distribution.licence
    licence_value = licence.url or (SPDX_URL.format(licence.id) if licence.id != "other" else licence.name)
    preprocessing = [c.preprocessing.by_source, c.preprocessing.by_organisers, split_statement(doc)]
    sensitive = [
        _sentences(
            ("De-identification", c.de_identification.status),
            ("", c.de_identification.method),
            ("", c.de_identification.notes or ""),
        ),
        _sentences(("Ethics approval", c.ethics.approval)),
        _sentences(("Consent", c.ethics.consent)),
        _sentences(("Withdrawing consent", c.ethics.withdrawal)),
        data_protection_summary(c.data_protection),
        _sentences(("Patient demographics", c.demographics.population)),
        _sentences(("Confidential data", c.composition.confidential)),
        privacy_status(doc) + " " + anonymity_statement(doc),
    ]
    if doc.privacy.override is not None:
        o = doc.privacy.override
        sensitive.append(
            f"Release override by {o.by}" + (f" on {o.date}" if o.date else "") + f": {o.reason}. "
            "Blocked reasons: " + "; ".join(f"{r.where}: {r.what}" for r in doc.privacy.reasons)
        )
    missing = (
        f"{st.missing_cells} missing cell(s) in the {'training cases' if doc.sealed else 'released tables'} "
        f"({sum(1 for x in st.columns if x.missing)} column(s) with missing values). "
        f"{c.composition.missing_data}"
    )
    annotation = [c.labelling.protocol, f"Annotators and their expertise: {c.labelling.annotators}"]
    use_cases = list(c.uses.intended) + [f"Out of scope: {u}" for u in c.uses.out_of_scope]
    maintenance = _sentences(
        ("Maintainer", c.maintenance.maintainer), ("Contact", c.maintenance.contact), ("", c.maintenance.updates)
    )
    if doc.sealed:
        description = (
            f"{c.dataset.summary} The data of the challenge “{s.title}” ({doc.challenge_id}), while it is open: "
            f"{s.description} {sealed_statement(doc)}"
        )
    else:
        description = (
            f"{c.dataset.summary} Released after the challenge “{s.title}” ({doc.challenge_id}): {s.description}"
        )
    if c.todo:
        description = f"{draft_statement(doc)} {description}"
    return mlc.Metadata(
        ctx=ctx,
        name=c.dataset.name,
        description=description,
        conforms_to=[CROISSANT_VERSION, RAI_VERSION],
        creators=[_creator(ctx, text) for text in c.dataset.creators],
        cite_as=c.distribution.citation,
        url=c.dataset.homepage,
        version=c.dataset.version,
        license=[licence_value],
        date_published=s.closes.date().isoformat(),
        keywords=sorted(set(c.dataset.keywords)) or None,
        same_as=[f"https://doi.org/{c.dataset.doi}"] if c.dataset.doi else None,
        distribution=distribution,
        record_sets=record_sets,
        data_collection=_sentences(
            ("", c.collection.process),
            ("Collected by", c.collection.collected_by),
            ("Timeframe", c.collection.timeframe),
            ("Sites", c.collection.sites),
        ),
        data_collection_type=[_collection_type(s)],
        data_collection_raw_data=c.collection.raw_data,
        data_collection_missing_data=missing,
        data_preprocessing_protocol=preprocessing,
        data_imputation_protocol=(
            "Not applicable: the organisers impute no value; missing values are released as missing. Any "
            "imputation by the source is described in rai:dataPreprocessingProtocol."
        ),
        data_annotation_protocol=annotation,
        data_annotation_platform=[
            f"{NOT_REPORTED}: no annotation platform is named; how the labels were made is in "
            "rai:dataAnnotationProtocol."
        ],
        data_annotation_analysis=[c.labelling.agreement],
        annotations_per_item=c.labelling.annotations_per_item or f"{NOT_REPORTED}.",
        annotator_demographics=[_sentences(("Annotators and their expertise", c.labelling.annotators))],
        machine_annotation_tools=[
            f"{NOT_REPORTED}: no machine annotation tool is named; how the labels were made is in "
            "rai:dataAnnotationProtocol."
        ],
        data_biases=list(c.uses.biases),
        data_limitations=_limitations(doc),
        data_use_cases=use_cases,
        data_social_impact=c.uses.social_impact,
        personal_sensitive_information=sensitive,
        data_release_maintenance_plan=maintenance,
    )


def _creator(ctx, text: str):
    """A creator of ``card.yml`` (``Name (affiliation)``) as a schema.org Person, the affiliation as its description."""
    import mlcroissant as mlc

    name, _, rest = text.partition(" (")
    if rest.endswith(")"):
        return mlc.Person(ctx=ctx, name=name.strip(), description=rest[:-1].strip())
    return mlc.Person(ctx=ctx, name=text.strip())


def _collection_type(spec: ChallengeSpec) -> str:
    """rai:dataCollectionType (one of the RAI vocabulary's recommended values, with what it means here)."""
    if spec.source.dataset is not None:
        return (
            "Secondary Data analysis: a published dataset, reused for this challenge; how it was first collected "
            "is in rai:dataCollection."
        )
    return f"Others: the organisers' own table; {NOT_REPORTED.lower()} beyond rai:dataCollection."


def _rai_spelling(jsonld: dict[str, Any], doc: CardDocument) -> dict[str, Any]:
    """The two RAI 1.0 properties mlcroissant 1.1 cannot write under their own names, and the data-protection
    properties (:mod:`.dpv`) after the RAI ones, in key order."""
    c = doc.card
    extra = {
        "rai:dataCollectionTimeframe": [_sentences(("", c.collection.timeframe))],
        "rai:dataManipulationProtocol": _sentences(
            ("By the organisers", c.preprocessing.by_organisers), ("Generalisation", generalisation_statement(doc))
        ),
    }
    for key in ("rai:dataCollectionTimeFrame", "rai:dataDataManipulationProtocol"):
        jsonld.pop(key, None)
    head = {k: v for k, v in jsonld.items() if not k.startswith("rai:") and k not in ("distribution", "recordSet")}
    rai = dict(sorted({**{k: v for k, v in jsonld.items() if k.startswith("rai:")}, **extra}.items()))
    tail: dict[str, Any] = {k: jsonld[k] for k in ("distribution", "recordSet") if k in jsonld}
    head["@context"] = {**head["@context"], **DPV_CONTEXT}
    return {**head, **rai, **dpv_properties(c.data_protection), **tail}


def _limitations(doc: CardDocument) -> list[str]:
    """The card's limitations, plus what the subgroup results cannot show (Croissant has no field for them)."""
    out = list(doc.card.uses.limitations)
    if doc.subgroups is not None and (text := doc.subgroups.limitation()):
        out.append(text)
    return out


def _sentences(*parts: tuple[str, str]) -> str:
    """'Label: text.' sentences joined, each ending with exactly one full stop."""
    out = []
    for label, text in parts:
        text = " ".join(str(text).split())
        if not text:
            continue
        text = text if text[-1] in ".!?" else text + "."
        out.append(f"{label}: {text}" if label else text)
    return " ".join(out)


def _column_role(column: str, role: str, spec: ChallengeSpec) -> str:
    if column == spec.id_column:
        return "random case id (links test, test labels and sample submission)"
    if column == "split" and role == "labels":
        return "leaderboard part of the test case: public or private"
    if column in spec.target:
        return "target"
    if role == "sample_submission":
        return "constant baseline prediction"
    return "feature"


def validate_croissant(
    jsonld: dict[str, Any] | str, *, files: dict[str, str] | None = None, records: bool = False
) -> list[str]:
    """Validate Croissant JSON-LD with mlcroissant; return its warnings, raise :class:`CardError` on errors.

    ``records=True`` also reads every record set from the files (``files`` maps a
    file id such as ``train.csv`` to a local path, otherwise each ``contentUrl`` is
    resolved from the JSON-LD's folder): this checks the sha256 of each file and that
    every declared column exists and parses with its declared type. Entries of ``files``
    the JSON-LD does not describe (the test labels of a card built while the challenge
    is open) are ignored.
    """
    import mlcroissant as mlc

    where = jsonld if isinstance(jsonld, str) else "croissant"
    if files:
        described = _file_ids(jsonld)
        files = {k: v for k, v in files.items() if k in described}
    try:
        dataset = mlc.Dataset(jsonld=jsonld, mapping=files)
    except mlc.ValidationError as exc:
        raise CardError(
            "mlcroissant rejects the Croissant JSON-LD",
            where=str(where),
            problems=[_croissant_problem(line) for line in str(exc).splitlines() if line.strip()],
            fix="fix the card generator or the card fields named above",
        ) from None
    warnings = sorted(dataset.metadata.ctx.issues.warnings)
    if records:
        for rs in dataset.metadata.record_sets:
            try:
                for _ in dataset.records(rs.uuid):
                    pass
            except Exception as exc:  # mlcroissant wraps every reading failure in GenerationError
                cause = exc.__cause__ or exc
                raise CardError(
                    f"record set {rs.uuid!r} cannot be read from its file",
                    where=str(where),
                    fix="check the file's sha256, columns and types against the JSON-LD",
                    problems=[_croissant_problem(f"{type(cause).__name__}: {cause}")],
                ) from None
    return warnings


def _file_ids(jsonld: dict[str, Any] | str) -> set[str]:
    """The ids of the files a Croissant JSON-LD (a dict, or the path of its file) describes."""
    if isinstance(jsonld, str):
        with open(jsonld, encoding="utf-8") as f:
            jsonld = json.load(f)
    assert isinstance(jsonld, dict)
    return {str(d.get("@id")) for d in jsonld.get("distribution", [])}


def _croissant_problem(line: str) -> Problem:
    return Problem(line.strip())


class CroissantRenderer(Renderer):
    """Croissant 1.1 JSON-LD with Responsible-AI fields; validated by mlcroissant before it is returned."""

    name = "croissant"
    filename = "croissant.json"
    media_type = "application/ld+json"

    def render(self, doc: CardDocument) -> bytes:
        jsonld = _rai_spelling(croissant_metadata(doc).to_json(), doc)
        # mlcroissant's reader edits the @context it is given: validate a copy
        warnings = validate_croissant(json.loads(json.dumps(jsonld)))
        if warnings:
            raise CardError(
                "mlcroissant warns about the generated Croissant JSON-LD",
                where="croissant.json",
                problems=[_croissant_problem(w) for w in warnings],
                fix="fill in the card fields mlcroissant names",
            )
        return (json.dumps(jsonld, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
