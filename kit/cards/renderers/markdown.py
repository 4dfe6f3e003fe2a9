"""The Markdown card: a Hugging Face dataset card (YAML front matter, then the card's blocks).

Prose may use Markdown but never raw HTML (it is shown as text); data (team names,
column names, values) is escaped so that it cannot format anything or break a table.
"""

from __future__ import annotations

import html
import re

import yaml

from ..document import Block, Bullets, CardDocument, Code, Fields, Heading, Image, Note, Para, Table, card_blocks
from ..fields import Localised
from . import Renderer

#: characters that format inline Markdown or break a table cell; ``<``, ``>``, ``&`` become entities
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_text(text: str) -> str:
    """Prose: Markdown is allowed, raw HTML is not (it is shown as text)."""
    return html.escape(str(text), quote=False)


def md_cell(text: str) -> str:
    """Data (team names, column names, values): no Markdown, no HTML, one line."""
    t = html.escape(" ".join(str(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", t)


def md_field(label: str, value: str | Localised) -> str:
    """A labelled field; a text given by language is labelled EN or FR, two of them as a nested list."""
    head = f"- **{md_cell(label)}**:"
    if not isinstance(value, Localised) or not value.tagged:
        return f"{head} {md_text(str(value))}"
    texts = [f"{code.upper()}: {md_text(text)}" for code, text in value.items()]
    if len(texts) == 1:
        return f"{head} {texts[0]}"
    return "\n".join([head, *(f"  - {t}" for t in texts)])


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
    meta["task_categories"] = [doc.spec.task_type.hf_category]
    tags = {"medical", "health", "tabular", "challenge-kit", *[k.lower() for k in c.dataset.keywords]}
    if st.target.event_time is not None:  # an event with a follow-up time
        tags.add("survival-analysis")
    if doc.spec.ordinal:
        tags.add("ordinal-classification")
    meta["tags"] = sorted(tags)
    meta["size_categories"] = [size_category(st.n_cases)]
    files = {f.role: f.path for f in st.files}
    meta["configs"] = [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": files["train"]}, {"split": "test", "path": files["test"]}],
        },
    ]
    if not doc.sealed:  # the test labels are published after the challenge closes
        meta["configs"].append(
            {"config_name": "test_labels", "data_files": [{"split": "test", "path": files["labels"]}]}
        )
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
            return "\n".join(md_field(k, v) for k, v in b.items) + "\n"
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
