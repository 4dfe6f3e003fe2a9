"""The files of a release: deterministic bytes (sorted tables, a SHA-256 manifest, a reproducible zip)."""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from ..errors import KitError

FILE_MODE = 0o644


# -- files -----------------------------------------------------------------------------------------------------
def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def manifest_text(folder: Path, files) -> str:
    """``sha256sum`` lines (hash, two spaces, path) of ``files`` under ``folder``, sorted by path."""
    lines = []
    for rel in sorted(files):
        if "\n" in rel or "\\" in rel:
            raise KitError(f"a file name that sha256sum cannot list: {rel!r}", fix="rename the file")
        lines.append(f"{hashlib.sha256((folder / rel).read_bytes()).hexdigest()}  {rel}\n")
    return "".join(lines)


def write_zip(folder: Path, files, dest: Path, *, prefix: str, date_time: datetime) -> Path:
    """A deterministic zip of ``files`` (paths under ``folder``), stored under ``prefix/``.

    Sorted entries, one timestamp for all (``date_time``, UTC, at the zip format's
    2-second resolution), Unix mode 0644, deflate level 9, no extra fields, no comment.
    """
    stamp = date_time.astimezone(timezone.utc).timetuple()[:6] if date_time.tzinfo else date_time.timetuple()[:6]
    stamp = max(stamp, (1980, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(dest, "w") as zf:
        for rel in sorted(files):
            info = zipfile.ZipInfo(f"{prefix}/{rel}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix: the mode below is honoured
            info.external_attr = (0o100000 | FILE_MODE) << 16
            zf.writestr(info, (folder / rel).read_bytes(), compresslevel=9)
    return dest


def _csv_safe(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _rounded_board(board):
    from ..cards.compute import _round

    shown = copy.copy(board)
    t = board.table.drop(columns=["run_id"], errors="ignore").copy()
    for c in t.columns:
        if t[c].dtype.kind == "f":
            t[c] = t[c].map(_round)
    shown.table = t
    return shown


def _board_csv(board) -> str:
    """The board as CSV; the score columns named after the metric (rmse, public_rmse) like the secondary ones."""
    from ..leaderboard import render

    shown = _rounded_board(board)
    m = board.metric.name
    shown.table = shown.table.rename(columns={"score": m, "public_score": f"public_{m}"})
    return render(shown, "csv")


def _board_markdown(board) -> str:
    from ..leaderboard import render

    return render(_rounded_board(board), "markdown")


def _winners_csv(winners) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "rank",
            "team",
            "submission_id",
            "kind",
            "filename",
            "licence",
            "licence_source",
            "prize_eligible",
            "reason",
            "notebook",
            "files",
        ]
    )
    for x in winners:
        w.writerow(
            [
                x.rank,
                _csv_safe(x.team),
                x.submission_id,
                x.kind,
                _csv_safe(x.filename),
                _csv_safe(x.licence),
                x.licence_source,
                "yes" if x.eligible else "no",
                x.reason,
                x.notebook,
                ";".join(x.files),
            ]
        )
    return buf.getvalue()


def _winners_markdown(ch, winners, top: int) -> str:
    from ..cards.renderers.markdown import md_cell

    lines = [
        f"# Winners of {md_cell(ch.spec.title)} ({md_cell(ch.id)})",
        "",
        f"The teams ranked {top} or better on the final private leaderboard. A team is prize-eligible when "
        "its selected submission declares an OSI-approved open-source licence: a LICENSE file in its hand-in "
        "folder, or an SPDX identifier or licence name in the notebook (where it was found is listed). Only "
        "eligible teams' code is included, in `winners/`: the notebook with its licence, environment and code "
        "files, never data. CC0-1.0 is not OSI-approved and is not accepted.",
        "",
        "| rank | team | submission | licence | found in | prize-eligible | reason | released files |",
        "| ---: | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for x in winners:
        released = ", ".join(x.files)
        lines.append(
            f"| {x.rank} | {md_cell(x.team)} | {md_cell(f'{x.submission_id} ({x.kind}: {x.filename})')} | "
            f"{md_cell(x.licence or '—')} | {md_cell(x.licence_source or '—')} | "
            f"{'yes' if x.eligible else '**no**'} | {md_cell(x.reason or '—')} | {md_cell(released or '—')} |"
        )
    return "\n".join(lines) + "\n"
