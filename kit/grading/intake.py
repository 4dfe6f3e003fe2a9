"""Intake: turn handed-in files into ledger submissions, and check notebooks before running them.

A submission is keyed by (challenge, team, sha256 of its bytes): handing in the
same file twice records it once. The original bytes are kept in a
content-addressed store before the ledger row that points to them is written,
so a row never points at a file that is not there. Every hand-in, accepted or refused
by the submission rules, gets its ledger row (:func:`take_in`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import KitError, NotebookError
from ..ledger import utcnow
from .report import Entry
from .rules import parse_time, rule_violation

if TYPE_CHECKING:  # pragma: no cover
    import nbformat

    from ..challenge import Challenge
    from ..ledger import Ledger
    from ..workspace import Workspace
    from .recording import Recorder

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
    import nbformat

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
        invalid: dict = {}
        nb = nbformat.reads(json.dumps(raw), as_version=4, capture_validation_error=invalid)  # validated once
        if invalid:
            raise invalid["ValidationError"]
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


# -- into the ledger ----------------------------------------------------------------------
@dataclass
class Queued:
    """A recorded submission waiting to be graded (``data``: its stored bytes; None if lost)."""

    submission_id: int
    team: str
    filename: str
    kind: str
    stored_path: str
    data: bytes | None


def take_in(
    challenge: Challenge,
    ledger: Ledger,
    workspace: Workspace,
    hand_ins,
    recorder: Recorder,
    *,
    regrade: bool = False,
    now: datetime,
) -> list[Queued]:
    """Read, store and record every hand-in; return those to grade.

    A file that cannot be read gets a report entry (not-recorded) with the reason; a hand-in
    that breaks a submission rule is recorded with a ``rejected`` run; one already graded is
    skipped (unless ``regrade``). ``now``: the hand-in time of files that carry none.
    """
    ch = challenge
    queue = []
    for h in hand_ins:
        name = h.path.name
        try:
            team = check_team(h.team, where=str(h.path))
            kind = kind_of(h.path)
            limit = MAX_NOTEBOOK_BYTES if kind == "notebook" else ch.spec.limits.file_size_mb * 1024 * 1024
            data = read_bytes_safely(h.path, limit)
        except KitError as exc:
            recorder.report.entries.append(
                Entry(None, str(h.team), name, h.path.suffix, "not-recorded", "intake", error=str(exc))
            )
            continue
        digest, stored = store_bytes(workspace.store_dir(ch.id), data, h.path.suffix.lower())
        at = parse_time(h.submitted_at) if h.submitted_at else now
        existing = ledger.find_submission(ch.id, team, digest)
        violation = None if existing else rule_violation(ch.spec, ledger, team, at)
        sid, _created = ledger.add_submission(
            challenge=ch.id,
            team=team,
            kind=kind,
            filename=name,
            sha256=digest,
            size=len(data),
            stored_path=str(stored),
            source=h.source,
            submitted_at=at.isoformat(timespec="microseconds"),
        )
        item = Queued(sid, team, name, kind, str(stored), data)
        if violation:
            recorder.failure(item, status="rejected", stage="intake", started=utcnow(), error=violation)
            continue
        latest = ledger.latest_status(sid)
        if latest is not None and (not regrade or latest == "rejected"):
            recorder.report.entries.append(Entry(sid, team, name, kind, "skipped", "intake"))
            continue
        queue.append(item)
    return queue


def pending_submissions(challenge: Challenge, ledger: Ledger) -> list[Queued]:
    """Submissions recorded earlier but never graded (the grader was stopped)."""
    out = []
    for sid in ledger.pending(challenge.id):
        s = ledger.submission(sid)
        p = Path(s["stored_path"])
        out.append(Queued(sid, s["team"], s["filename"], s["kind"], str(p), p.read_bytes() if p.exists() else None))
    return out
