"""Card renderers: a registry keyed by name (``markdown``, ``html``, ``croissant``).

A renderer turns a :class:`CardDocument` (the organiser's card, the challenge
spec, the computed statistics, the privacy report and the leaderboard summary)
into the bytes of one file. Rendering is deterministic: the same document gives
the same bytes (no clock, no random ids; the only dates are the spec's).

Markdown and HTML share one content builder, :func:`card_blocks`, which produces
a list of simple blocks (headings, paragraphs, fields, tables, images); each
renderer only serialises blocks, escaping every piece of organiser- or
team-supplied text for its format. Croissant JSON-LD is built with
``mlcroissant`` objects and validated with ``mlcroissant`` before it is written.
"""

from __future__ import annotations

import base64
import html
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import yaml

from ..errors import Problem
from ..metrics import get_metric
from .compute import CardStats, LeaderboardSummary, Plot
from .schema import CARD_FILENAME, CARD_SCHEMA_VERSION, Card, CardError

# -- the document -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardDocument:
    """Everything a renderer needs; nothing else is read while rendering."""

    challenge_id: str
    spec: object  # kit.challenge.ChallengeSpec
    card: Card
    stats: CardStats
    privacy: object  # kit.privacy.PrivacyReport
    leaderboard: LeaderboardSummary | None = None
    plot_dir: str = "plots"
    subgroups: object = None  # kit.cards.subgroups.SubgroupResults of the top teams, or None

    @property
    def plots(self) -> dict[str, Plot]:
        return {p.name: p for p in self.stats.plots}


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
    items: tuple[tuple[str, str], ...]


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


Block = Union[Heading, Para, Note, Fields, Bullets, Table, Image, Code]


def fmt(x, digits: int = 4) -> str:
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


def _dt(d) -> str:
    return d.strftime("%Y-%m-%d %H:%M UTC")


def split_statement(doc: CardDocument) -> str:
    s = doc.spec
    sz = doc.stats.splits
    return (
        f"The {sz.total} cases were split at random with seed {s.seed} by `kit prepare`: "
        f"{sz.train} for training ({pct(sz.train, sz.total)}) and {sz.test} for testing "
        f"(test fraction {s.split.test_fraction}); the test cases were split again into a public "
        f"leaderboard part ({sz.public}) and a private part ({sz.private}) used for the final ranking "
        f"(public fraction {s.split.public_fraction}). Case ids are random and carry no information."
    )


def anonymity_statement(doc: CardDocument) -> str:
    a = doc.privacy.anonymity
    pol = doc.privacy.policy
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
    return text + f" Computed with {a.engine}."


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

    out += [
        Heading(2, "Files"),
        Para("The released files and their SHA-256 checksums:"),
        Table(
            ("file", "content", "rows", "columns", "bytes", "sha256"),
            tuple((f.path, f.description, str(f.rows), str(len(f.columns)), str(f.bytes), f.sha256) for f in st.files),
            (False, False, True, True, True, False),
        ),
    ]

    out += [Heading(2, "Dataset structure"), Heading(3, "Columns")]
    notes = c.composition.columns
    # a column the privacy gate flagged never has its values echoed, even after an override
    flagged = {}
    for f in doc.privacy.findings:
        flagged.setdefault(f.column, []).append(f.label)
    rows = []
    for col in st.columns:
        if col.name in flagged:
            values = "withheld: " + ", ".join(dict.fromkeys(flagged[col.name]))
        elif col.levels:
            values = ", ".join(f"{v}: {n}" for v, n in col.levels)
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
    out.append(Para(f"{st.missing_cells} missing cell(s) in total. {c.composition.missing_data}"))
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
    t = st.target
    if t.classes:
        head = ("value",) + tuple(t.splits)
        out.append(
            Table(
                head,
                tuple((f"{t.columns[0]} = {v}",) + tuple(str(n) for n in counts) for v, counts in t.classes),
                (False,) + (True,) * len(t.splits),
            )
        )
        if t.positive_label:
            out.append(Para(f"Positive class: {t.positive_label}."))
    if t.summaries:
        out.append(
            Table(
                ("split", "n", "mean", "sd", "min", "median", "max"),
                tuple(
                    (name, str(x.n), fmt(x.mean), fmt(x.std), fmt(x.min), fmt(x.median), fmt(x.max))
                    for name, x in zip(t.splits, t.summaries, strict=True)
                ),
                (False,) + (True,) * 6,
            )
        )
    if "target" in plots:
        out.append(Image(plots["target"]))

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
    ]

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
        out += _subgroup_blocks(doc)

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


def _demographics_blocks(doc: CardDocument) -> list[Block]:
    c, sub = doc.card, doc.stats.subgroups
    out: list[Block] = [Heading(3, "Patient demographics"), Para(c.demographics.population)]
    if c.demographics.notes:
        out.append(Para(c.demographics.notes))
    if not sub.present:
        out.append(Para("The released tables have no age or sex column: no subgroup counts can be computed."))
        return out
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
        out.append(Para(f"{sub.age_column}: median {fmt(a.median)}, range {fmt(a.min)} to {fmt(a.max)} ({a.n} cases)."))
        out.append(
            Table(
                (f"{sub.age_column} band",) + sub.splits,
                tuple((b,) + tuple(str(n) for n in counts) for b, counts in sub.age_bands),
                (False,) + (True,) * len(sub.splits),
            )
        )
    if sub.target_by_group:
        target = doc.spec.target[0]
        label = f"share {target} = 1" if doc.spec.task in ("binary", "survival") else f"mean {target}"
        out.append(
            Table(
                ("group", "cases with a known target", label),
                tuple((g, str(n), fmt(v)) for g, n, v in sub.target_by_group),
                (False, True, True),
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
    if p.override is not None:
        o = p.override
        out.append(Heading(4, "Release override"))
        out.append(
            Fields((("Decided by", o.by), ("Date", str(o.date) if o.date else "not given"), ("Reason", o.reason)))
        )
        out.append(Para("The gate blocked the release for these reasons:"))
        out.append(Bullets(tuple(f"{r.where}: {r.what}" for r in p.reasons)))
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


def _subgroup_blocks(doc: CardDocument) -> list[Block]:
    """Each metric of the top teams per subgroup (sex, age bands), with intervals and warnings."""
    sub = doc.subgroups
    out: list[Block] = [Heading(2, "Subgroup results"), Para(sub.describe())]
    if not sub.present:
        out.append(Para("The test data have no sex or age column: only the results over all test cases are shown."))
    for metric in sub.metrics:
        m = get_metric(metric)
        headers, rows = sub.metric_table(metric)
        direction = "higher is better" if m.greater_is_better else "lower is better"
        counts = 2 if sub.task in ("binary", "survival") else 1  # cases (and positives or events)
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


def _score(x, lb: LeaderboardSummary) -> str:
    return "—" if x is None else f"{x:.{lb.precision}f}"


# -- the registry --------------------------------------------------------------------------------
class Renderer(ABC):
    """One output format of a card. Subclasses set ``name`` and ``filename`` and implement ``render``."""

    name: str = ""
    filename: str = ""
    media_type: str = "text/plain"

    @abstractmethod
    def render(self, doc: CardDocument) -> bytes:
        """The bytes of the file, the same for the same document."""


_RENDERERS: dict[str, Renderer] = {}


def register_renderer(renderer: Renderer | type[Renderer]) -> Renderer | type[Renderer]:
    """Register a renderer (an instance or a class, usable as a decorator)."""
    instance = renderer() if isinstance(renderer, type) else renderer
    if not instance.name or not instance.filename:
        raise CardError(
            "a renderer needs a name and a filename",
            where=type(instance).__name__,
            fix="set the class attributes name and filename",
        )
    if instance.name in _RENDERERS:
        raise CardError(f"renderer {instance.name!r} is already registered", fix="choose another name")
    _RENDERERS[instance.name] = instance
    return renderer


def get_renderer(name: str) -> Renderer:
    try:
        return _RENDERERS[name]
    except KeyError:
        raise CardError(
            f"{name!r} is not a card renderer", fix=f"use one of: {', '.join(get_renderer_names())}"
        ) from None


def get_renderer_names() -> list[str]:
    return sorted(_RENDERERS)


# -- Markdown (Hugging Face dataset card) ---------------------------------------------------------
#: characters that format inline Markdown or break a table cell; ``<``, ``>``, ``&`` become entities
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_text(text: str) -> str:
    """Prose: Markdown is allowed, raw HTML is not (it is shown as text)."""
    return html.escape(str(text), quote=False)


def md_cell(text: str) -> str:
    """Data (team names, column names, values): no Markdown, no HTML, one line."""
    t = html.escape(" ".join(str(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", t)


HF_TASKS = {"binary": "tabular-classification", "regression": "tabular-regression", "survival": "tabular-regression"}


def size_category(n: int) -> str:
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
        (1_000_000_000, "100M<n<1B"),
    ]
    return next((label for bound, label in bounds if n < bound), "n>1B")


def front_matter(doc: CardDocument) -> dict:
    c, st = doc.card, doc.stats
    licence = c.distribution.licence
    meta: dict = {"pretty_name": c.dataset.name}
    if licence.id == "other":
        meta["license"] = "other"
        meta["license_name"] = re.sub(r"[^a-z0-9]+", "-", licence.name.lower()).strip("-")
        if licence.url:
            meta["license_link"] = licence.url
    else:
        meta["license"] = licence.id.lower()
    meta["task_categories"] = [HF_TASKS[doc.spec.task]]
    tags = {"medical", "health", "tabular", "challenge-kit", *[k.lower() for k in c.dataset.keywords]}
    if doc.spec.task == "survival":
        tags.add("survival-analysis")
    meta["tags"] = sorted(tags)
    meta["size_categories"] = [size_category(st.n_cases)]
    files = {f.role: f.path for f in st.files}
    meta["configs"] = [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": files["train"]}, {"split": "test", "path": files["test"]}],
        },
        {"config_name": "test_labels", "data_files": [{"split": "test", "path": files["labels"]}]},
    ]
    return meta


class MarkdownRenderer(Renderer):
    name = "markdown"
    filename = "README.md"
    media_type = "text/markdown"

    def render(self, doc: CardDocument) -> bytes:
        head = yaml.safe_dump(front_matter(doc), sort_keys=False, allow_unicode=True, width=1000)
        parts = ["---\n" + head + "---\n"]
        for block in card_blocks(doc):
            parts.append(self.block(block, doc))
        return ("\n".join(parts).rstrip("\n") + "\n").encode("utf-8")

    def block(self, b: Block, doc: CardDocument) -> str:
        if isinstance(b, Heading):
            return f"{'#' * b.level} {md_text(' '.join(b.text.split()))}\n"
        if isinstance(b, Para):
            return md_text(b.text) + "\n"
        if isinstance(b, Note):
            return "> " + md_text(b.text) + "\n"
        if isinstance(b, Fields):
            return "\n".join(f"- **{md_cell(k)}**: {md_text(v)}" for k, v in b.items) + "\n"
        if isinstance(b, Bullets):
            return "\n".join(f"- {md_text(v)}" for v in b.items) + "\n"
        if isinstance(b, Code):
            return "```text\n" + b.text.replace("```", "'''") + "\n```\n"
        if isinstance(b, Image):
            return f"![{md_cell(b.plot.alt)}]({doc.plot_dir}/{b.plot.filename})\n"
        if isinstance(b, Table):
            align = [
                ("---:" if (b.numeric[i] if i < len(b.numeric) else False) else "---") for i in range(len(b.headers))
            ]
            lines = ["| " + " | ".join(md_cell(h) for h in b.headers) + " |", "| " + " | ".join(align) + " |"]
            lines += ["| " + " | ".join(md_cell(v) for v in row) + " |" for row in b.rows]
            return "\n".join(lines) + "\n"
        raise TypeError(f"unknown block {b!r}")


register_renderer(MarkdownRenderer)


# -- HTML --------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;
color:#1f2328;line-height:1.5}
h1{border-bottom:1px solid #d0d7de;padding-bottom:.3rem}h2{border-bottom:1px solid #eaeef2;padding-bottom:.2rem;
margin-top:2rem}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}th,td{border:1px solid #d0d7de;
padding:.25rem .5rem;vertical-align:top;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f6f8fa}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}
dd{margin:0}blockquote{color:#57606a;border-left:.25rem solid #d0d7de;margin:0;padding:0 1rem}
pre{background:#f6f8fa;padding:.6rem;white-space:pre-wrap}img{max-width:100%;height:auto}
code{font-size:.85rem;word-break:break-all}
""".strip()


def _html_value(text: str) -> str:
    t = html.escape(str(text))
    if re.fullmatch(r"https?://[^\s\"'<>]+", str(text)):
        return f'<a href="{t}">{t}</a>'
    return t


class HtmlRenderer(Renderer):
    """A single self-contained page: plots embedded as base64 PNG, every text escaped."""

    name = "html"
    filename = "card.html"
    media_type = "text/html"

    def render(self, doc: CardDocument) -> bytes:
        e = html.escape
        body = "\n".join(self.block(b) for b in card_blocks(doc))
        page = (
            f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{e(doc.card.dataset.name)} — data card</title>\n<style>\n{_CSS}\n</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n"
        )
        return page.encode("utf-8")

    def block(self, b: Block) -> str:
        e = html.escape
        if isinstance(b, Heading):
            return f"<h{b.level}>{e(b.text)}</h{b.level}>"
        if isinstance(b, Para):
            return f"<p>{e(b.text)}</p>"
        if isinstance(b, Note):
            return f"<blockquote><p>{e(b.text)}</p></blockquote>"
        if isinstance(b, Fields):
            return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{_html_value(v)}</dd>" for k, v in b.items) + "</dl>"
        if isinstance(b, Bullets):
            return "<ul>" + "".join(f"<li>{e(v)}</li>" for v in b.items) + "</ul>"
        if isinstance(b, Code):
            return f"<pre>{e(b.text)}</pre>"
        if isinstance(b, Image):
            data = base64.b64encode(b.plot.png).decode("ascii")
            return (
                f'<figure><img src="data:image/png;base64,{data}" alt="{e(b.plot.alt)}">'
                f"<figcaption>{e(b.plot.title)}</figcaption></figure>"
            )
        if isinstance(b, Table):
            num = lambda i: i < len(b.numeric) and b.numeric[i]  # noqa: E731
            head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
            rows = "".join(
                "<tr>"
                + "".join(
                    f'<td class="num">{e(v)}</td>' if num(i) else f"<td>{_html_value(v)}</td>"
                    for i, v in enumerate(row)
                )
                + "</tr>"
                for row in b.rows
            )
            return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        raise TypeError(f"unknown block {b!r}")


register_renderer(HtmlRenderer)


# -- Croissant JSON-LD ---------------------------------------------------------------------------------
CROISSANT_VERSION = "http://mlcommons.org/croissant/1.1"
SPDX_URL = "https://spdx.org/licenses/{}.html"


def _record_set_id(role: str) -> str:
    return {"labels": "test_labels"}.get(role, role)


def croissant_metadata(doc: CardDocument):
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


def _column_role(column: str, role: str, spec) -> str:
    if column == spec.id_column:
        return "random case id (links test, test labels and sample submission)"
    if column == "split" and role == "labels":
        return "leaderboard part of the test case: public or private"
    if column in spec.target:
        return "target"
    if role == "sample_submission":
        return "constant baseline prediction"
    return "feature"


def validate_croissant(jsonld: dict | str, *, files: dict[str, str] | None = None, records: bool = False) -> list[str]:
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


register_renderer(CroissantRenderer)


def render(doc: CardDocument, names: Sequence[str] = ("markdown", "html", "croissant")) -> dict[str, bytes]:
    """Render a document with the named renderers: ``{filename: bytes}``."""
    return {get_renderer(n).filename: get_renderer(n).render(doc) for n in names}
