"""The Croissant card: Croissant 1.1 JSON-LD with the Responsible-AI vocabulary.

:func:`croissant_metadata` builds the card as ``mlcroissant`` objects;
:func:`validate_croissant` validates JSON-LD with ``mlcroissant`` (and, optionally,
reads every record set from the files). :class:`CroissantRenderer` refuses to write
JSON-LD that mlcroissant rejects or warns about. ``mlcroissant`` is imported on first use.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...errors import Problem
from ..document import CardDocument, anonymity_statement, draft_statement, privacy_status, split_statement
from ..schema import CardError
from . import Renderer

if TYPE_CHECKING:
    import mlcroissant as mlc

    from ...challenge import ChallengeSpec

CROISSANT_VERSION = "http://mlcommons.org/croissant/1.1"
SPDX_URL = "https://spdx.org/licenses/{}.html"


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
        distribution.append(
            mlc.FileObject(
                ctx=ctx,
                id=f.name,
                name=f.name,
                description=f.description,
                content_url=f.path,
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
        f"{st.missing_cells} missing cell(s) in the released tables "
        f"({sum(1 for x in st.columns if x.missing)} column(s) with missing values). "
        f"{c.composition.missing_data}"
    )
    annotation = [c.labelling.protocol, f"Annotators and their expertise: {c.labelling.annotators}"]
    use_cases = list(c.uses.intended) + [f"Out of scope: {u}" for u in c.uses.out_of_scope]
    maintenance = _sentences(
        ("Maintainer", c.maintenance.maintainer), ("Contact", c.maintenance.contact), ("", c.maintenance.updates)
    )
    description = f"{c.dataset.summary} Released after the challenge “{s.title}” ({doc.challenge_id}): {s.description}"
    if c.todo:
        description = f"{draft_statement(doc)} {description}"
    return mlc.Metadata(
        ctx=ctx,
        name=c.dataset.name,
        description=description,
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
        data_collection_raw_data=c.collection.raw_data,
        data_collection_missing_data=missing,
        data_preprocessing_protocol=preprocessing,
        data_annotation_protocol=annotation,
        data_annotation_analysis=[c.labelling.agreement],
        annotations_per_item=c.labelling.annotations_per_item,
        data_biases=list(c.uses.biases),
        data_limitations=_limitations(doc),
        data_use_cases=use_cases,
        data_social_impact=c.uses.social_impact,
        personal_sensitive_information=sensitive,
        data_release_maintenance_plan=maintenance,
    )


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
    file id such as ``train.csv`` to a local path, otherwise paths are resolved
    beside the JSON-LD): this checks the sha256 of each file and that every
    declared column exists and parses with its declared type.
    """
    import mlcroissant as mlc

    where = jsonld if isinstance(jsonld, str) else "croissant"
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


def _croissant_problem(line: str) -> Problem:
    return Problem(line.strip())


class CroissantRenderer(Renderer):
    """Croissant 1.1 JSON-LD with Responsible-AI fields; validated by mlcroissant before it is returned."""

    name = "croissant"
    filename = "croissant.json"
    media_type = "application/ld+json"

    def render(self, doc: CardDocument) -> bytes:
        jsonld = croissant_metadata(doc).to_json()
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
