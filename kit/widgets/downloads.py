"""Downloads that write nothing on the server: links whose ``data:`` URL holds the file.

A public board is read-only: its visitors get the board as CSV, Markdown or HTML from a link
the browser saves itself (the ``download`` attribute), never from an export that writes a file
beside the ledger. The organiser's board uses the same links for feedback reports, which the
Voilà server would not serve from the work folder (403).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

#: the board formats offered for download: (format of kit.leaderboard.render, extension, MIME type, label)
BOARD_DOWNLOADS = (
    ("csv", "csv", "text/csv", "CSV"),
    ("markdown", "md", "text/markdown", "Markdown"),
    ("html", "html", "text/html", "HTML"),
)
#: a file larger than this is not inlined in a page (its path is shown instead)
MAX_INLINE_BYTES = 5_000_000


def data_url(content: str | bytes, mime: str) -> str:
    """A ``data:`` URL holding ``content`` (text is UTF-8)."""
    raw = content.encode("utf-8") if isinstance(content, str) else content
    charset = ";charset=utf-8" if isinstance(content, str) else ""
    return f"data:{mime}{charset};base64,{base64.b64encode(raw).decode('ascii')}"


def download_link(content: str | bytes, filename: str, mime: str, label: str, *, css_class: str = "") -> str:
    """An ``<a download>`` link that saves ``content`` as ``filename`` in the browser."""
    e = html.escape
    cls = f' class="kit-download {e(css_class)}"' if css_class else ' class="kit-download"'
    return f'<a{cls} download="{e(filename)}" href="{data_url(content, mime)}">{e(label)}</a>'


def board_downloads(board) -> str:
    """Links to download ``board`` (as shown) as CSV, Markdown and HTML."""
    from ..leaderboard import render

    stem = f"{board.challenge.id}-{board.phase}-leaderboard"
    links = [
        download_link(render(board, fmt), f"{stem}.{ext}", mime, label, css_class=f"kit-download-{fmt}")
        for fmt, ext, mime, label in BOARD_DOWNLOADS
    ]
    return "Download the board: " + " · ".join(links)


def file_link(path: str | Path, label: str, *, mime: str = "text/html") -> str:
    """A download link holding the file at ``path``; its escaped path when it is missing or too
    large to inline."""
    p = Path(path)
    e = html.escape
    try:
        if p.stat().st_size <= MAX_INLINE_BYTES:
            return download_link(p.read_bytes(), p.name, mime, label)
    except OSError:
        return f'<span class="kit-missing" title="{e(str(p))}">{e(label)} (missing)</span>'
    return f'<code title="too large to download from the board">{e(str(p))}</code>'
