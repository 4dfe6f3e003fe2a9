"""The HTML card: one self-contained page, plots embedded as base64 PNG, every text escaped."""

from __future__ import annotations

import base64
import html
import re

from ..document import Block, Bullets, CardDocument, Code, Fields, Heading, Image, Note, Para, Table, card_blocks
from ..fields import LANGUAGES, Localised
from . import Renderer

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
dd p{margin:0}abbr.lang{font-size:.75rem;font-weight:600;color:#57606a;text-decoration:none;margin-right:.3rem}
""".strip()


def _html_field(value: str | Localised) -> str:
    """A field's value: a text given by language is one paragraph per language, labelled and marked with its lang."""
    if not isinstance(value, Localised) or not value.tagged:
        return _html_value(str(value))
    return "".join(
        f'<p lang="{code}"><abbr class="lang" title="{LANGUAGES[code]}">{code.upper()}</abbr>{_html_value(text)}</p>'
        for code, text in value.items()
    )


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
            return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{_html_field(v)}</dd>" for k, v in b.items) + "</dl>"
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
