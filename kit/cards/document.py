"""The content of a data card, shared by every renderer.

A :class:`CardDocument` holds everything a card shows: the organisers' card
(:class:`~kit.cards.schema.Card`), the challenge spec, the computed statistics
(:mod:`kit.cards.compute`), the privacy report (:mod:`kit.privacy`), the leaderboard
summary and the subgroup results of the top teams. :func:`card_blocks` turns it into
a list of simple blocks (headings, paragraphs, fields, tables, images); the Markdown
and HTML renderers (:mod:`kit.cards.renderers`) only serialise blocks, escaping every
piece of organiser- or team-supplied text for their format. The text helpers
(:func:`split_statement`, :func:`anonymity_statement`, :func:`privacy_status`,
:func:`draft_statement`) are shared with the Croissant renderer.

A card built while the challenge is open (``doc.stats.sealed``) says so at the top and next
to every table it affects: the statistics are those of the training cases, the test cases
are only counted, and the test labels are described by their salted commitment (the spec's
``data.labels.commitment``) instead of their checksum. After the event the card gives every
split, the labels' checksum, and the salt that lets anyone check the commitment.

Building the blocks is deterministic: no clock, no random ids; the only dates are the spec's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..metrics import get_metric
from .compute import CardStats, ColumnStats, LeaderboardSummary, Plot
from .fields import Localised
from .protection import data_protection_items
from .schema import CARD_FILENAME, CARD_SCHEMA_VERSION, TO_WRITE, Card

if TYPE_CHECKING:
    from ..challenge import ChallengeSpec
    from ..privacy import PrivacyReport
    from .subgroups import SubgroupResults


# -- the document -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardDocument:
    """Everything a renderer needs; nothing else is read while rendering."""

    challenge_id: str
    spec: ChallengeSpec
    card: Card
    stats: CardStats
    privacy: PrivacyReport
    leaderboard: LeaderboardSummary | None = None
    plot_dir: str = "plots"
    subgroups: SubgroupResults | None = None  # of the top teams, or None
    #: role -> where the file is, relative to the card's folder (Croissant's contentUrl); default: its release path
    data_urls: Mapping[str, str] = field(default_factory=dict)
    #: the salt of the labels' commitment (hex), shown once the challenge is closed; None while it is open
    labels_salt: str | None = None

    @property
    def plots(self) -> dict[str, Plot]:
        return {p.name: p for p in self.stats.plots}

    @property
    def sealed(self) -> bool:
        """The card of an open challenge: nothing computed from the test labels or the test cases' values."""
        return self.stats.sealed

    def data_url(self, role: str, default: str) -> str:
        return self.data_urls.get(role, default)


# -- content blocks, shared by Markdown and HTML ------------------------------------------------
@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Fields:
    """Labelled values; a :class:`Localised` value is shown in every language it is written in."""

    items: tuple[tuple[str, str | Localised], ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Image:
    plot: Plot


@dataclass(frozen=True)
class Code:
    text: str


Block = Heading | Para | Note | Fields | Bullets | Table | Image | Code


def fmt(x: object, digits: int = 4) -> str:
    """A number for a card: integers as such, floats with up to ``digits`` significant decimals."""
    if x is None:
        return "—"
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.{digits}g}"
    return str(x)


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def _dt(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M UTC")


def draft_statement(doc: CardDocument) -> str:
    """What a draft card lacks (empty for a complete card)."""
    todo = doc.card.todo
    if not todo:
        return ""
    prefix = "composition.columns."
    columns = [t.removeprefix(prefix) for t in todo if t.startswith(prefix)]
    fields = [t for t in todo if not t.startswith(prefix)]
    if columns:
        fields.append(f"composition.columns (the meaning of {', '.join(columns)})")
    return (
        f"Draft: {len(todo)} field(s) of {CARD_FILENAME} are still to be written by the organiser; each reads "
        f"“{TO_WRITE}”: {'; '.join(fields)}. Do not publish this card before they are written."
    )


def split_statement(doc: CardDocument) -> str:
    """How the cases were split (random, grouped or temporal, from the spec), with the sizes."""
    s = doc.spec
    sz = doc.stats.splits
    group = s.split.group_column
    temporal = s.split.temporal
    by_group = f", grouped by {group} (no {group} has cases in two parts)" if group else ""
    if temporal is not None:
        text = (
            f"The {sz.total} cases were split in time by `kit prepare`, on {temporal.column}: "
            f"{sz.train} cases before {temporal.cutoff} for training ({pct(sz.train, sz.total)}) and "
            f"{sz.test} cases at or after it for testing"
            + (
                f" (cases after the cut-off of a {group} seen in training are left out, so that no {group} "
                "has cases in two parts)"
                if group
                else ""
            )
            + f"; the test cases were split at random with seed {s.seed}{by_group} into a public leaderboard "
            f"part ({sz.public}) and a private part ({sz.private}) used for the final ranking "
            f"(public fraction {s.split.public_fraction})."
        )
    else:
        text = (
            f"The {sz.total} cases were split at random with seed {s.seed} by `kit prepare`{by_group}: "
            f"{sz.train} for training ({pct(sz.train, sz.total)}) and {sz.test} for testing "
            f"(test fraction {s.split.test_fraction}); the test cases were split again into a public "
            f"leaderboard part ({sz.public}) and a private part ({sz.private}) used for the final ranking "
            f"(public fraction {s.split.public_fraction})."
        )
    if s.source.id_column:
        return text + f" Case ids are those of the source table ({s.source.id_column})."
    return text + " Case ids are random and carry no information."


def sealed_statement(doc: CardDocument) -> str:
    """What a card of an open challenge leaves out, and when the full card comes (empty after the close)."""
    if not doc.sealed:
        return ""
    sz = doc.stats.splits
    return (
        f"This card was built while the challenge is open (it closes on {_dt(doc.spec.closes)}). Its statistics "
        f"are those of the {sz.train} training cases; the {sz.test} test cases ({sz.public} public, {sz.private} "
        "private) are only counted, and nothing in it is computed from the test labels. The test labels, their "
        "distribution and the test cases' statistics are published with the full card after the challenge closes."
    )


def commitment_statement(doc: CardDocument) -> str:
    """The salted commitment of the test labels: what it is, and (after the close) the salt to check it."""
    labels = doc.spec.data.labels
    if labels.commitment is None:
        return ""
    scheme = (
        f"The challenge spec committed to the test labels at launch: sha256(salt ‖ bytes of the labels file) = "
        f"{labels.commitment}, where the salt is 32 random bytes kept with the hidden grading files."
    )
    if doc.sealed or doc.labels_salt is None:
        return (
            f"{scheme} The labels file is not published while the challenge is open; its salt is revealed with it "
            "after the close, so that anyone can then check that the labels were not changed after launch."
        )
    return (
        f"{scheme} The salt, revealed with the labels, is {doc.labels_salt} (hex; the file test_labels.salt beside "
        "the labels in a release). Check it with kit.challenge.verify_commitment(labels_bytes, salt, commitment), "
        "or: printf '%s' SALT | xxd -r -p | cat - test_labels.csv | sha256sum."
    )


def shown_levels(doc: CardDocument, col: ColumnStats) -> bool:
    """Whether the card lists a column's values with their counts.

    Only for a column that is not an identifier (found by the privacy gate, declared in the policy's
    ``allowed_identifiers``, or the id column) and whose every value is held by at least ``k`` records
    (``k``: the policy's k-anonymity threshold). Otherwise the card gives the number of distinct values
    only: a rare value (a surname, a first name, a small group) is never echoed.
    """
    if not col.levels:
        return False
    pol = doc.privacy.policy
    identifiers = {f.column for f in doc.privacy.findings} | set(pol.allowed_identifiers) | {doc.spec.id_column}
    if col.name in identifiers:
        return False
    return min(n for _, n in col.levels) >= pol.k_anonymity


def generalisation_items(doc: CardDocument) -> list[str]:
    """What the kit generalised or removed before the split: the spec's ``source.remedies``
    (:mod:`kit.remedies`) and ``source.drop``, each with the risk it targets."""
    src = doc.spec.source
    items = [f"{r.describe()} (against {r.targets})" for r in src.remedies]
    items += [f"{col}: dropped (left out of every file)" for col in src.drop]
    return items


def generalisation_statement(doc: CardDocument) -> str:
    items = generalisation_items(doc)
    if not items:
        return "No column was generalised or dropped by the kit (the spec's source.remedies and source.drop are empty)."
    return "Before the split, from the spec's source.remedies and source.drop: " + "; ".join(items) + "."


def anonymity_statement(doc: CardDocument) -> str:
    a = doc.privacy.anonymity
    pol = doc.privacy.policy
    later = ""
    if doc.sealed and pol.sensitive_attributes and pol.quasi_identifiers:
        later = (
            f" l-diversity of ({', '.join(pol.sensitive_attributes)}) uses the test labels: it is given in the card "
            "published after the challenge closes."
        )
    if a is None:
        return "k-anonymity and l-diversity are not measured: no quasi-identifiers are declared." + (
            f" Rationale: {pol.rationale}" if pol.rationale else ""
        )
    text = (
        f"k-anonymity on ({', '.join(a.quasi_identifiers)}): k = {a.k} (threshold {a.k_threshold}); "
        f"{a.n_classes} groups over {a.n_records} records; {a.records_unique} record(s) unique on these "
        f"columns; {a.records_below_k} record(s) in groups smaller than the threshold."
    )
    if a.l is not None:
        text += (
            f" l-diversity of ({', '.join(a.sensitive_attributes)}) within these groups: l = {a.l} "
            f"(threshold {a.l_threshold})."
        )
    if a.banded_k:
        text += (
            " With numeric quasi-identifiers in bands of width "
            + ", ".join(f"{w}: k = {k}" for w, k in a.banded_k)
            + "."
        )
    return text + f" Computed with {a.engine}." + later


def privacy_status(doc: CardDocument) -> str:
    p = doc.privacy
    found = len(p.findings)
    head = {
        "passed": "The release passed the privacy gate",
        "released with override": "The privacy gate blocked this release; it was released by an explicit override",
        "blocked": "The privacy gate blocks this release",
    }[p.status]
    return (
        f"{head}: {found} direct-identifier finding(s) (HIPAA Safe Harbor categories, by column name and "
        f"content) over {len(p.tables)} table(s)."
    )


# -- the content builder ------------------------------------------------------------------------------
def card_blocks(doc: CardDocument) -> list[Block]:
    c, s, st = doc.card, doc.spec, doc.stats
    plots = doc.plots
    out: list[Block] = [
        Heading(1, c.dataset.name),
        Para(c.dataset.summary),
        Note(
            f"Data card of the challenge “{s.title}” ({doc.challenge_id}), card schema "
            f"version {CARD_SCHEMA_VERSION}. The prose comes from the organisers' "
            f"{CARD_FILENAME}; every number, table and plot is computed from the released "
            f"files by challenge-kit."
        ),
    ]
    if c.todo:
        out.append(Note(draft_statement(doc)))
    if doc.sealed:
        out.append(Note(sealed_statement(doc)))
    licence = c.distribution.licence
    summary = [
        ("Challenge", s.title),
        ("Task", f"{s.task} ({', '.join(s.target)})"),
        ("Cases", str(st.n_cases)),
        ("Features", str(st.n_features)),
        ("Licence", f"{licence.name} ({licence.id})"),
        ("Version", c.dataset.version),
        ("Creators", "; ".join(c.dataset.creators)),
    ]
    if c.dataset.homepage:
        summary.append(("Homepage", c.dataset.homepage))
    if c.dataset.doi:
        summary.append(("DOI", c.dataset.doi))
    summary.append(("Privacy gate", doc.privacy.status))
    out += [Heading(2, "Dataset summary"), Fields(tuple(summary))]

    withheld = "withheld until the challenge closes"
    out += [
        Heading(2, "Files"),
        Para("The released files and their SHA-256 checksums:"),
        Table(
            ("file", "content", "rows", "columns", "bytes", "sha256"),
            tuple(
                (
                    f.path,
                    f.description,
                    str(f.rows),
                    str(len(f.columns)),
                    "—" if f.bytes is None else str(f.bytes),
                    f.sha256 or withheld,
                )
                for f in st.files
            ),
            (False, False, True, True, True, False),
        ),
    ]
    if commitment := commitment_statement(doc):
        out.append(Para(commitment))

    out += [Heading(2, "Dataset structure"), Heading(3, "Columns")]
    notes = c.composition.columns
    # a column the privacy gate flagged never has its values echoed, even after an override
    flagged: dict[str, list[str]] = {}
    for f in doc.privacy.findings:
        flagged.setdefault(f.column, []).append(f.label)
    if doc.sealed:
        out.append(
            Para(
                f"Computed on the {st.splits.train} training cases (the test cases are only counted while the "
                "challenge is open)."
            )
        )
    rows = []
    for col in st.columns:
        if col.name in flagged:
            values = "withheld: " + ", ".join(dict.fromkeys(flagged[col.name]))
        elif shown_levels(doc, col):
            values = ", ".join(f"{v}: {n}" for v, n in col.levels)
        elif col.levels:
            values = f"{col.unique} distinct (not listed: an identifier, or a value held by fewer than k records)"
        elif col.mean is not None:
            values = f"mean {fmt(col.mean)}, sd {fmt(col.std)}, range {fmt(col.min)} to {fmt(col.max)}"
        else:
            values = f"{col.unique} distinct"
        rows.append(
            (
                col.name,
                col.role,
                col.kind,
                f"{col.missing} ({pct(col.missing, col.count)})",
                values,
                notes.get(col.name, ""),
            )
        )
    out.append(Table(("column", "role", "type", "missing", "values", "meaning"), tuple(rows)))
    where = " of the training cases" if doc.sealed else " in total"
    out.append(Para(f"{st.missing_cells} missing cell(s){where}. {c.composition.missing_data}"))
    if "missingness" in plots:
        out.append(Image(plots["missingness"]))

    out += [
        Heading(3, "Splits"),
        Table(
            ("split", "cases", "share"),
            tuple((name, str(n), pct(n, st.splits.total)) for name, n in st.splits.items()),
            (False, True, True),
        ),
        Para(split_statement(doc)),
    ]

    out += [Heading(3, "Target")]
    out += _target_blocks(doc)

    out += [
        Heading(2, "Motivation"),
        Fields(
            (
                ("Purpose", c.motivation.purpose),
                ("Creators", "; ".join(c.dataset.creators)),
                ("Funding", c.motivation.funding),
            )
        ),
    ]
    out += [
        Heading(2, "Composition"),
        Fields(
            (
                ("Instances", c.composition.instances),
                ("Target", c.composition.target),
                ("Sampling", c.composition.sampling),
                ("Missing data", c.composition.missing_data),
                ("Errors and noise", c.composition.noise),
                ("Confidential data", c.composition.confidential),
            )
        ),
    ]
    out += [
        Heading(2, "Collection process"),
        Fields(
            (
                ("Process", c.collection.process),
                ("Collected by", c.collection.collected_by),
                ("Timeframe", c.collection.timeframe),
                ("Sites", c.collection.sites),
                ("Raw data", c.collection.raw_data),
            )
        ),
    ]
    lab = [
        ("Annotation protocol", c.labelling.protocol),
        ("Annotators and their expertise", c.labelling.annotators),
        ("Inter-annotator agreement", c.labelling.agreement),
    ]
    if c.labelling.annotations_per_item:
        lab.append(("Annotations per item", c.labelling.annotations_per_item))
    out += [
        Heading(2, "Preprocessing and labelling"),
        Fields(
            (
                ("Preprocessing by the source", c.preprocessing.by_source),
                ("Preprocessing by the organisers", c.preprocessing.by_organisers),
                *lab,
            )
        ),
        Heading(3, "Generalisation and suppression"),
    ]
    generalised = generalisation_items(doc)
    out.append(Bullets(tuple(generalised)) if generalised else Para(generalisation_statement(doc)))

    out += [
        Heading(2, "Health data"),
        Heading(3, "Ethics and consent"),
        Fields(
            (
                ("Ethics approval", c.ethics.approval),
                ("Consent", c.ethics.consent),
                ("Withdrawing consent", c.ethics.withdrawal),
            )
        ),
        Heading(3, "Data protection"),
        Fields(data_protection_items(c.data_protection)),
    ]
    deid = [("Status", c.de_identification.status), ("Method", c.de_identification.method)]
    if c.de_identification.notes:
        deid.append(("Notes", c.de_identification.notes))
    out += [Heading(3, "De-identification"), Fields(tuple(deid))]
    out += _demographics_blocks(doc)
    out += _privacy_blocks(doc)

    out += [
        Heading(2, "Uses"),
        Heading(3, "Intended uses"),
        Bullets(tuple(c.uses.intended)),
        Heading(3, "Out-of-scope uses"),
        Bullets(tuple(c.uses.out_of_scope)),
        Heading(3, "Known biases"),
        Bullets(tuple(c.uses.biases)),
        Heading(3, "Limitations"),
        Bullets(tuple(c.uses.limitations)),
        Heading(3, "Social impact"),
        Para(c.uses.social_impact),
    ]

    out += _challenge_blocks(doc)
    if doc.subgroups is not None:
        out += _subgroup_blocks(doc.subgroups)

    dist = [("Licence", f"{licence.name} ({licence.id})")]
    if licence.url:
        dist.append(("Licence text", licence.url))
    if licence.statement:
        dist.append(("Licence statement", licence.statement))
    if c.distribution.terms:
        dist.append(("Terms of use", c.distribution.terms))
    out += [Heading(2, "Distribution"), Fields(tuple(dist)), Para("Cite as:"), Code(c.distribution.citation)]
    out += [
        Heading(2, "Maintenance"),
        Fields(
            (
                ("Maintainer", c.maintenance.maintainer),
                ("Contact", c.maintenance.contact),
                ("Updates", c.maintenance.updates),
            )
        ),
    ]
    return out


def _target_blocks(doc: CardDocument) -> list[Block]:
    """Each target column per split: classes counted (class columns), numbers summarised (numeric
    columns), the Kaplan-Meier estimate at the spec's times (an event with a time), and their plots."""
    s, t = doc.spec, doc.stats.target
    several = len(t.class_targets) + len(t.numeric_targets) > 1
    out: list[Block] = []
    if t.sealed:
        out.append(
            Para(
                f"The target of the {doc.stats.splits.train} training cases. The test labels stay hidden until the "
                "challenge closes: their distribution is published with the full card after the close."
            )
        )
    for ct in t.class_targets:
        out.append(
            Table(
                ("value",) + tuple(t.splits),
                tuple((f"{ct.column} = {v}",) + tuple(str(n) for n in counts) for v, counts in ct.classes),
                (False,) + (True,) * len(t.splits),
            )
        )
    if t.positive_label:
        out.append(Para(f"Positive class: {t.positive_label}."))
    if s.classes:
        order = " (ordered, from the lowest)" if s.ordinal else ""
        out.append(Para(f"Classes of {s.target[0]}{order}: {', '.join(s.classes)}."))
    for nt in t.numeric_targets:
        if several:
            out.append(Para(f"{nt.column}, by split:"))
        out.append(
            Table(
                ("split", "n", "mean", "sd", "min", "median", "max"),
                tuple(
                    (name, str(x.n), fmt(x.mean), fmt(x.std), fmt(x.min), fmt(x.median), fmt(x.max))
                    for name, x in zip(t.splits, nt.summaries, strict=True)
                ),
                (False,) + (True,) * 6,
            )
        )
    if t.event_time is not None and t.curves and t.times:
        event, time = t.event_time
        out.append(
            Para(
                f"Event-free probability by split (Kaplan-Meier estimate; an event is {event} = 1) at the "
                "follow-up times of the challenge's metrics; “—” where a split has no follow-up that long"
                + (" (training cases only while the challenge is open):" if t.sealed else ":")
            )
        )
        out.append(
            Table(
                ("split", *(f"{time} = {fmt(x)}" for x in t.times)),
                tuple((c.split, *(fmt(c.at(x)) for x in t.times)) for c in t.curves),
                (False,) + (True,) * len(t.times),
            )
        )
    for plot in doc.stats.plots:
        if plot.name == "target" or plot.name.startswith("target_") or plot.name == "kaplan_meier":
            out.append(Image(plot))
    return out


def _demographics_blocks(doc: CardDocument) -> list[Block]:
    c, sub = doc.card, doc.stats.subgroups
    out: list[Block] = [Heading(3, "Patient demographics"), Para(c.demographics.population)]
    if c.demographics.notes:
        out.append(Para(c.demographics.notes))
    if not sub.present:
        out.append(Para("The released tables have no age or sex column: no subgroup counts can be computed."))
        return out
    if sub.sealed:
        out.append(
            Para(
                "Cases counted in the training and test sets (the test cases' public or private part is not shown "
                "while the challenge is open); the age summary and the target within each group are computed on "
                "the training cases only."
            )
        )
    if sub.sex_column:
        out.append(
            Table(
                (sub.sex_column,) + sub.splits,
                tuple((v,) + tuple(str(n) for n in counts) for v, counts in sub.sex),
                (False,) + (True,) * len(sub.splits),
            )
        )
    if sub.age_column:
        a = sub.age_summary
        if a is not None:  # always computed with the age column
            basis = "training cases" if sub.sealed else "cases"
            out.append(
                Para(f"{sub.age_column}: median {fmt(a.median)}, range {fmt(a.min)} to {fmt(a.max)} ({a.n} {basis}).")
            )
        out.append(
            Table(
                (f"{sub.age_column} band",) + sub.splits,
                tuple((b,) + tuple(str(n) for n in counts) for b, counts in sub.age_bands),
                (False,) + (True,) * len(sub.splits),
            )
        )
    if sub.target_by_group:
        known = "training cases with a known target" if sub.sealed else "cases with a known target"
        out.append(
            Table(
                ("group", known, *sub.target_measures),
                tuple((g, str(n), *(fmt(v) for v in values)) for g, n, values in sub.target_by_group),
                (False, True) + (True,) * len(sub.target_measures),
            )
        )
    if "age_sex_pyramid" in doc.plots:
        out.append(Image(doc.plots["age_sex_pyramid"]))
    return out


def _privacy_blocks(doc: CardDocument) -> list[Block]:
    p, pol = doc.privacy, doc.privacy.policy
    out: list[Block] = [Heading(3, "Privacy assessment"), Para(privacy_status(doc))]
    items = [
        ("Quasi-identifiers", ", ".join(pol.quasi_identifiers) or "none declared"),
        ("Sensitive attributes", ", ".join(pol.sensitive_attributes) or "none declared"),
        (
            "Thresholds",
            (f"k ≥ {pol.k_anonymity}" + (f", l ≥ {pol.l_diversity}" if pol.sensitive_attributes else ""))
            if pol.quasi_identifiers
            else "not applicable (no quasi-identifiers)",
        ),
        ("Allowed identifier columns", ", ".join(pol.allowed_identifiers) or "none"),
    ]
    out += [Fields(tuple(items)), Para(anonymity_statement(doc))]
    if pol.rationale and p.anonymity is not None:
        out.append(Para(f"Rationale: {pol.rationale}"))
    if p.findings:
        out.append(
            Table(
                ("where", "identifier", "found by", "rows", "example rows"),
                tuple(
                    (
                        f.where,
                        f.label + (" (free text)" if f.free_text else ""),
                        " and ".join(f.detected_by),
                        str(f.n_rows),
                        ", ".join(str(r) for r in f.rows),
                    )
                    for f in p.findings
                ),
            )
        )
    if p.warnings:
        out.append(Bullets(tuple(f"Warning: {w}" for w in p.warnings)))
    if p.risk is not None:
        out += _risk_blocks(p.risk)
    if p.override is not None:
        from .schema import SIGNOFF_ROLES

        o = p.override
        out.append(Heading(4, "Release override"))
        signed = tuple((f"Signed by {SIGNOFF_ROLES[role]}", f"{so.name}, {so.date}") for role, so in o.signoffs)
        out.append(Fields((*signed, ("Reason", o.reason))))
        out.append(Para("The gate blocked the release for these reasons:"))
        out.append(Bullets(tuple(f"{r.where}: {r.what}" for r in p.reasons)))
    return out


def _risk_blocks(risk) -> list[Block]:
    """The three criteria of the EDPB's opinion 05/2014 (the CNIL's): singling out, linkability, inference."""
    out: list[Block] = [
        Heading(4, "Re-identification risk"),
        Fields(tuple((c.name.capitalize(), f"{c.status}: {c.headline()}") for c in risk.criteria)),
    ]
    combos = risk.singling_out.combinations
    if combos:
        out.append(Para("The combinations of columns that single out the most records (found by search):"))
        out.append(
            Table(
                ("columns", "records unique", "k", "declared"),
                tuple(
                    (", ".join(c.columns), str(c.records_unique), str(c.k), "yes" if c.declared else "no")
                    for c in combos
                ),
            )
        )
    out.append(Bullets(tuple(f"{c.name}: {c.method}" for c in risk.criteria)))
    return out


def _challenge_blocks(doc: CardDocument) -> list[Block]:
    s, c = doc.spec, doc.card
    primary = get_metric(s.metrics.primary)
    direction = "higher is better" if primary.greater_is_better else "lower is better"
    items = [
        ("Title", s.title),
        ("Description", s.description),
        ("Task", s.task),
        ("Id column", s.id_column),
        ("Target", ", ".join(s.target)),
    ]
    if s.positive_label:
        items.append(("Positive label", s.positive_label))
    if s.classes:
        items.append(("Classes", ", ".join(s.classes) + (" (ordered, from the lowest)" if s.ordinal else "")))
    if s.survival_times:
        items.append(("Follow-up times of the metrics", ", ".join(f"{t:g}" for t in s.survival_times)))
    predicted = s.prediction_columns
    if predicted != [s.target[0]]:
        items.append(("Prediction columns", ", ".join(predicted)))
    items += [
        ("Primary metric", f"{primary.name} ({direction}): {primary.description}"),
        ("Other metrics", ", ".join(s.metrics.secondary) or "none"),
        ("Organisers", "; ".join(c.challenge.organisers)),
        ("Contact", c.challenge.contact),
    ]
    out: list[Block] = [
        Heading(2, "The challenge"),
        Fields(tuple(items)),
        Heading(3, "Timeline"),
        Table(("phase", "start", "end"), tuple((p.name, _dt(p.start), _dt(p.end)) for p in s.phases)),
    ]
    out.append(Heading(3, "Final leaderboard"))
    lb = doc.leaderboard
    if lb is None:
        out.append(Para("No final private leaderboard was given when this card was built."))
    else:
        arrow = "higher is better" if lb.greater_is_better else "lower is better"
        text = (
            f"{lb.n_teams} team(s) ranked on the private test set by {lb.metric} ({arrow}); best score "
            f"{_score(lb.best, lb)}, median {_score(lb.median, lb)}."
        )
        if lb.overlapping_winner is not None:
            text += (
                f" {lb.overlapping_winner} other team(s) have a confidence interval that overlaps the "
                "winner's: their ranking relative to the winner is uncertain."
            )
        out.append(Para(text))
        out.append(
            Table(
                ("rank", "team", lb.metric, "interval", "code", "code licence"),
                tuple(
                    (
                        str(r.rank),
                        r.team,
                        _score(r.score, lb),
                        f"{_score(r.ci_low, lb)} to {_score(r.ci_high, lb)}",
                        r.code_url or "not given",
                        r.code_licence or "not stated in the card",
                    )
                    for r in lb.top
                ),
                (True, False, True, False, False, False),
            )
        )
    if c.challenge.notes:
        out.append(Para(c.challenge.notes))
    return out


def _subgroup_blocks(sub: SubgroupResults) -> list[Block]:
    """Each metric of the top teams per subgroup (sex, age bands), with intervals and warnings."""
    out: list[Block] = [Heading(2, "Subgroup results"), Para(sub.describe())]
    if not sub.present:
        out.append(Para("The test data have no sex or age column: only the results over all test cases are shown."))
    for metric in sub.metrics:
        m = get_metric(metric)
        headers, rows = sub.metric_table(metric)
        direction = "higher is better" if m.greater_is_better else "lower is better"
        counts = 1 + sub.count_is_number  # cases (and the count of 1s of a 0/1 class column)
        numeric = (False,) + (True,) * counts + (False,) * (len(headers) - 1 - counts)
        out += [Heading(3, f"{metric} ({direction})"), Table(headers, rows, numeric)]
    small = sub.small
    if small:
        out.append(
            Para(
                f"Too small to say anything (fewer than {sub.min_cases} cases): "
                + "; ".join(f"{label} ({n} cases)" for label, n in small)
                + "."
            )
        )
    return out


def _score(x: float | None, lb: LeaderboardSummary) -> str:
    return "—" if x is None else f"{x:.{lb.precision}f}"
