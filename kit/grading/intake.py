"""Intake: turn handed-in files into ledger submissions, and check notebooks before running them.

A submission is keyed by (challenge, team, sha256 of its bytes): handing in the
same file twice records it once. The original bytes are kept in a
content-addressed store before the ledger row that points to them is written,
so a row never points at a file that is not there.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..errors import KitError, NotebookError

KINDS = {".ipynb": "notebook", ".csv": "predictions"}
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_TEAM_LENGTH = 100


@dataclass(frozen=True)
class HandIn:
    """A file handed in by a team, before it is recorded."""

    path: Path
    team: str
    submitted_at: str | None = None  # ISO time; None = now
    source: str = ""  # where it came from (folder, nbgrader course, ...)

    @property
    def kind(self) -> str:
        return kind_of(self.path)


def kind_of(path: Path) -> str:
    kind = KINDS.get(Path(path).suffix.lower())
    if kind is None:
        raise KitError(
            f"cannot grade a {Path(path).suffix or 'suffix-less'} file",
            where=str(path),
            fix="hand in a notebook (.ipynb) or a predictions file (.csv)",
        )
    return kind


def check_team(team: str, where: str = "") -> str:
    """Team names are data: any text, but not empty, not too long, no control characters."""
    team = unicodedata.normalize("NFC", str(team)).strip()
    if not team:
        raise KitError(
            "the team name is empty",
            where=where,
            fix="pass --team NAME or put the file in a folder named after the team",
        )
    if len(team) > MAX_TEAM_LENGTH:
        raise KitError(
            f"the team name is {len(team)} characters long (at most {MAX_TEAM_LENGTH})",
            where=where,
            fix="use a shorter team name",
        )
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in team):
        raise KitError("the team name contains control characters", where=where, fix="use printable characters only")
    return team


def read_bytes_safely(path: Path, limit: int) -> bytes:
    """Read a regular file without following a final symlink, up to ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise KitError(
            f"cannot read the file ({exc.strerror})",
            where=str(path),
            fix="hand in a regular file, not a link or a folder",
        ) from None
    with os.fdopen(fd, "rb") as f:
        import stat

        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise KitError("not a regular file", where=str(path), fix="hand in a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise KitError(
            f"the file is larger than {limit / 1e6:.0f} MB",
            where=str(path),
            fix="hand in a smaller file (clear large outputs from the notebook)",
        )
    return data


def store_bytes(store: Path, data: bytes, suffix: str) -> tuple[str, Path]:
    """Write ``data`` to ``store/<sha256><suffix>`` atomically; return (sha256, path)."""
    digest = hashlib.sha256(data).hexdigest()
    target = store / f"{digest}{suffix}"
    if not target.exists():
        store.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=store, prefix=".incoming-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    return digest, target


def check_notebook(data: bytes, where: str) -> nbformat.NotebookNode:
    """Parse a submitted notebook; it must be JSON, a valid notebook, with a ``parameters`` cell."""
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise NotebookError(
            "the notebook is not UTF-8 text", where=where, fix="hand in the .ipynb file saved by Jupyter"
        ) from None
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"the notebook is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            where=where,
            fix="hand in the .ipynb file saved by Jupyter, not an export or a copy-paste",
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw:
        raise NotebookError(
            "the file is JSON but not a notebook (no 'cells')",
            where=where,
            fix="hand in the .ipynb file saved by Jupyter",
        )
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except (nbformat.ValidationError, KeyError, TypeError, ValueError) as exc:
        raise NotebookError(
            f"the notebook does not follow the notebook format: {str(exc).splitlines()[0]}",
            where=where,
            fix="open and save it in JupyterLab, then hand it in again",
        ) from None
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise NotebookError(
            "the notebook has no cell tagged 'parameters'",
            where=where,
            fix=(
                "keep the starter notebook's parameters cell (it defines data_dir and predictions_path); "
                "in JupyterLab, select the cell and add the tag 'parameters' in the property inspector"
            ),
        )
    if nb.cells[tagged[0]].cell_type != "code":
        raise NotebookError(
            f"the cell tagged 'parameters' (cell {tagged[0]}) is not a code cell",
            where=where,
            fix="tag the code cell that defines data_dir and predictions_path",
        )
    return nb
