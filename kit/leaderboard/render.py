"""Leaderboard renderers, a registry keyed by name: table, csv, markdown, html.

Team and file names are data supplied by participants: every renderer escapes
them for its format (HTML entities, Markdown punctuation, CSV formula prefixes).
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Callable

import pandas as pd

from ..registry import Registry

#: board formats: ``render(board, name)`` turns a board into text
BOARD_FORMATS: Registry[Callable[..., str]] = Registry("board format", hint="kit.leaderboard.get_board_format_names()")
register_board_format = BOARD_FORMATS.register
_HIDDEN = ("submission_id", "run_id")


def _hidden(board) -> list[str]:
    hidden = list(_HIDDEN)
    if "selected_by" in board.table.columns and (board.table["selected_by"] == "best").all():
        hidden.append("selected_by")  # says nothing when every team is represented by its best
    return [c for c in hidden if c in board.table.columns]


def get_board_format_names() -> list[str]:
    return BOARD_FORMATS.names()


def get_board_format(name: str) -> Callable[..., str]:
    return BOARD_FORMATS.get(name)


def render(board, fmt: str = "table") -> str:
    """The board in format *fmt* (one of :func:`get_board_format_names`)."""
    return get_board_format(fmt)(board)


TABLE_SECONDARY = 3  # secondary metrics shown by the text table; every format but "table" shows all


def board_cells(board, max_secondary: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Display strings: scores at the metric's precision, missing values as '—'."""
    from ..metrics import get_metric

    drop = _hidden(board)
    if max_secondary is not None:
        drop += board.challenge.spec.metrics.secondary[max_secondary:]
    t = board.table.drop(columns=[c for c in drop if c in board.table.columns])
    header, rows = list(t.columns), []
    precision = {c: get_metric(c).precision for c in t.columns if _is_metric(c)}
    for rec in t.itertuples(index=False):
        row = []
        for col, v in zip(header, rec, strict=True):
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                row.append("—")
            elif col in ("score", "public_score", "ci_low", "ci_high"):
                row.append(board.metric.format(float(v)))
            elif col == "p_first":
                row.append(f"{float(v):.0%}")
            elif col == "tied_top":
                row.append("yes" if v else "")
            elif col in precision:
                row.append(f"{float(v):.{precision[col]}f}")
            elif col == "move":
                row.append(f"{int(v):+d}" if int(v) else "0")
            elif col == "submitted_at":
                row.append(str(v)[:19].replace("T", " "))
            else:
                row.append(str(v))
        rows.append(row)
    header = [_label(board, c) for c in header]
    return header, rows


def _is_metric(col: str) -> bool:
    from ..metrics import get_metric_names

    return col in get_metric_names()


def _label(board, col: str) -> str:
    if col == "score":
        return f"{board.phase} {board.metric.name} {board.metric.arrow}"
    if col == "public_score":
        return f"public {board.metric.name}"
    return col


def _title(board) -> str:
    spec = board.challenge.spec
    return f"{spec.title} [{spec.id}] - {board.phase} leaderboard ({len(board.table)} teams)"


@register_board_format(name="table")
def to_table(board) -> str:
    header, rows = board_cells(board, max_secondary=TABLE_SECONDARY)
    if not rows:
        return _title(board) + "\n(no scored submissions yet)"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    right = [i for i, h in enumerate(header) if h not in ("team", "submitted_at")]

    def line(cells):
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [_title(board), line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
    out += [f"note: {n}" for n in board.notes]
    more = [m for m in board.challenge.spec.metrics.secondary[TABLE_SECONDARY:] if m in board.table.columns]
    if more:  # (a Ladder board shows no secondary metric)
        out.append(f"note: {', '.join(more)} are in --format csv, markdown and html")
    return "\n".join(out)


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas in participant-supplied text (=, +, -, @, tab, CR)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@register_board_format(name="csv")
def to_csv(board) -> str:
    t = board.table.copy()
    for col in ("team", "filename"):
        if col in t.columns:
            t[col] = t[col].astype(str).map(_csv_safe)
    buf = io.StringIO()
    t.to_csv(buf, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue()


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text: str) -> str:
    """Escape Markdown emphasis, links, code and table pipes; HTML-escape tags and entities."""
    text = html.escape(text.replace("\n", " ").replace("\r", " "), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


@register_board_format(name="markdown")
def to_markdown(board) -> str:
    header, rows = board_cells(board)
    team_i = header.index("team") if "team" in header else -1
    lines = [
        f"### {_md(_title(board))}",
        "",
        "| " + " | ".join(_md(h) for h in header) + " |",
        "|" + "|".join("---:" if h not in ("team", "submitted_at") else ":---" for h in header) + "|",
    ]
    for r in rows:
        cells = [_md(c) if i == team_i else c.replace("|", "\\|") for i, c in enumerate(r)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *[f"_{_md(n)}_" for n in board.notes]]
    return "\n".join(lines).rstrip() + "\n"


@register_board_format(name="html")
def to_html(board) -> str:
    header, rows = board_cells(board)
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
    notes = "".join(f"<p><i>{e(n)}</i></p>" for n in board.notes)
    return (
        f'<div class="kit-leaderboard"><h3>{e(_title(board))}</h3>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</div>\n"
    )
