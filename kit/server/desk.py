"""The hand-in desk of ``kit serve``: a team's upload becomes a ledger row at once.

Each upload is taken in by the kit's own intake (:func:`kit.grading.intake.take_in`, the
code behind ``kit grade`` and ``kit watch``): the team name checked again, the bytes kept in
the content-addressed store, the submission rules of the spec applied (dates, quotas), and
a ledger row written, a submission (graded later by :mod:`kit.server.grader`), a submission
with a ``rejected`` run (a rule broken), or a refusal. The desk answers with the hand-in's
id as soon as that row exists; grading comes after.

Before the intake, the desk refuses what an upload over HTTP can be and a file in a team
folder cannot (each refusal with its ledger row, in the refusals table, and its feedback):

- a file name that is a path (``../../etc/passwd.csv``, ``a/b.csv``, a leading dot, a NUL);
- a kind the kit does not grade (only ``.ipynb`` notebooks and ``.csv`` predictions);
- a file over the size limit (``limits.file_size_mb`` MiB for predictions, 20 MiB for a
  notebook), counted as it arrives and never kept;
- a notebook named ``.csv``, or text that is not JSON named ``.ipynb``.

The hand-in time is the server's receipt time: the moment the last byte of the upload
arrived (the server's clock; a participant's clock or a file's time plays no part). The
spec's phases and daily quotas are judged on it.

Uploads are taken in one at a time (a lock around the intake): a burst of uploads from one
team cannot pass its quota between a count and a write, and the grader never sees a
submission whose ``rejected`` run is not written yet.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..grading.feedback import write_feedback
from ..grading.intake import (
    KINDS,
    MAX_NOTEBOOK_BYTES,
    MIB,
    HandIn,
    IntakeRefusal,
    check_file_name,
    kind_of,
    shown,
    store_bytes,
    take_in,
    too_large,
)
from ..grading.recording import Recorder, error_text
from ..grading.report import GradeReport
from ..ledger import RefusalRecord
from ..workspace import private_dir, seal

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Challenge
    from ..ledger import Ledger
    from ..workspace import Workspace
    from .teams import Team, TeamStore

#: what the ledger records as the source of a hand-in made through the server
SOURCE = "kit serve"
#: the HTTP status of each kind of refusal (anything else: 400)
HTTP_STATUS = {
    "file-name": 400,
    "suffix": 415,
    "wrong-kind": 415,
    "too-large": 413,
    "team-name": 409,
    "team-clash": 409,
}
#: the longest file name taken (bytes of UTF-8, as most file systems allow)
MAX_NAME_BYTES = 255


def upload_limit(challenge: Challenge) -> int:
    """The largest upload the desk reads (the larger of the two limits; the kind's own is checked after)."""
    return max(MAX_NOTEBOOK_BYTES, challenge.spec.limits.file_size_mb * MIB)


def size_limit(challenge: Challenge, kind: str) -> int:
    return MAX_NOTEBOOK_BYTES if kind == "notebook" else challenge.spec.limits.file_size_mb * MIB


@dataclass(frozen=True)
class Receipt:
    """What the desk made of an upload: the hand-in's id, and its outcome so far.

    ``status``: ``queued`` (recorded, to be graded), ``duplicate`` (the same bytes as an
    earlier hand-in of the team: that submission's result stands), ``rejected`` (a rule of
    the spec: too late, too early, over a quota; recorded, not graded) or ``refused`` (not
    taken in: ``what`` says why and ``fix`` what to do).
    """

    id: int
    status: str
    http_status: int
    filename: str
    received_at: str
    submission_id: int | None = None
    refusal_id: int | None = None
    what: str = ""
    fix: str = ""

    def to_json(self) -> dict:
        return asdict(self)


class _Recorder(Recorder):
    """The intake's recorder, remembering what it recorded of the one hand-in it is given."""

    refusal_id: int | None = None
    error: dict | None = None

    def refusal(self, hand_in, error, **kwargs) -> int:
        self.refusal_id = super().refusal(hand_in, error, **kwargs)
        self.error = error
        return self.refusal_id

    def failure(self, item, **kwargs) -> int:
        self.error = kwargs.get("error")
        return super().failure(item, **kwargs)


def check_upload_name(name: str) -> str:
    """An uploaded file's name, if it is a plain file name (no path, no leading dot, visible characters)."""
    where = shown(name)
    parts = name.replace("\\", "/").split("/")
    if len(parts) > 1 or name in ("", ".", "..") or "\x00" in name:
        raise IntakeRefusal(
            f"the file name '{shown(name)}' is a path, not a file name",
            where=where,
            fix="hand in the file under its own name (predictions.csv, starter.ipynb)",
            kind="file-name",
        )
    if name.startswith("."):
        raise IntakeRefusal(
            f"the file name '{shown(name)}' begins with a dot (a hidden file)",
            where=where,
            fix="rename the file without the leading dot",
            kind="file-name",
        )
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise IntakeRefusal(
            f"the file name is longer than {MAX_NAME_BYTES} bytes",
            where=where[:80] + "...",
            fix="use a shorter file name",
            kind="file-name",
        )
    return check_file_name(name, where=where)


def _looks_like_notebook(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return False
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return b'"cells"' in head
    return isinstance(raw, dict) and "cells" in raw


def check_content(kind: str, data: bytes, where: str) -> None:
    """A notebook named ``.csv``, or a ``.ipynb`` that is no JSON at all, is refused as the wrong kind."""
    if kind == "predictions" and _looks_like_notebook(data):
        raise IntakeRefusal(
            "this file is a notebook (JSON with cells) named as a CSV file",
            where=where,
            fix="hand in a notebook under its .ipynb name, and predictions as a .csv file",
            kind="wrong-kind",
        )
    if kind == "notebook" and not data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        raise IntakeRefusal(
            "this file is not a notebook (a notebook is JSON; this looks like text or a CSV table)",
            where=where,
            fix="hand in predictions as a .csv file, and a notebook as the .ipynb file Jupyter saved",
            kind="wrong-kind",
        )


class Desk:
    """Takes uploads in (see the module docstring); ``wake`` is called when one is queued for grading."""

    def __init__(
        self,
        challenge: Challenge,
        workspace: Workspace,
        ledger: Ledger,
        teams: TeamStore,
        *,
        incoming: Path,
        wake: Callable[[], None] = lambda: None,
    ):
        self.ch = challenge
        self.workspace = workspace
        self.ledger = ledger
        self.teams = teams
        self.incoming = private_dir(incoming)
        for left in self.incoming.glob("upload-*"):  # what a killed server left half taken in
            shutil.rmtree(left, ignore_errors=True)
        self.stage = Path(tempfile.mkdtemp(prefix="upload-", dir=self.incoming))
        self.wake = wake
        self.lock = threading.Lock()
        #: the refusal fingerprints of this server's life: each upload is its own event
        self._instance = uuid.uuid4().hex

    def close(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)

    def receive(self, team: Team, filename: str, data: bytes | None, *, size: int, received: datetime) -> Receipt:
        """Take one upload in. ``data`` is None when it was larger than :func:`upload_limit` (not kept)."""
        at = received.isoformat(timespec="microseconds")
        where = shown(filename)
        try:
            name = check_upload_name(filename)
            kind = kind_of(Path(name))
            limit = size_limit(self.ch, kind)
            if data is None or size > limit:
                raise too_large(size, limit, kind, where)
            check_content(kind, data, where)
        except IntakeRefusal as exc:
            with self.lock:
                return self._refuse(team, filename, exc, size=size, at=at, data=data)
        # the bytes go to the content-addressed store first, outside the lock (its fsync is the
        # slowest step): the intake then finds them there (it keeps a rejected hand-in's bytes too)
        store_bytes(self.workspace.store_dir(self.ch.id), data, Path(name).suffix.lower())
        with self.lock:
            return self._take_in(team, name, data, received)

    # -- refused before the intake --------------------------------------------------------------
    def _refuse(
        self, team: Team, filename: str, exc: IntakeRefusal, *, size: int, at: str, data: bytes | None
    ) -> Receipt:
        ch = self.ch
        error = exc.to_dict()
        error["kind"] = exc.kind
        digest = stored = None
        if data is not None and exc.kind != "too-large":  # what was read is kept: nothing handed in is lost
            suffix = Path(filename).suffix.lower()
            digest, path = store_bytes(self.workspace.store_dir(ch.id), data, suffix if suffix in KINDS else ".bin")
            stored = str(path)
        folder = self.workspace.refused_dir(ch.id)
        feedback = write_feedback(
            folder, challenge=ch, team=team.name, filename=shown(filename), status="refused", error=error
        )
        seal(folder)
        fingerprint = hashlib.sha256(f"{SOURCE}\0{self._instance}\0{at}\0{uuid.uuid4().hex}".encode()).hexdigest()
        refusal_id, _ = self.ledger.add_refusal(
            RefusalRecord(
                challenge=ch.id,
                team=team.name,
                filename=shown(filename),
                path=shown(filename),
                source=SOURCE,
                kind=exc.kind,
                reason=error_text(error),
                fingerprint=fingerprint,
                size=size,
                sha256=digest,
                stored_path=stored,
                submitted_at=at,
                feedback_path=str(feedback),
            )
        )
        return self._receipt(
            team,
            filename,
            size,
            at,
            status="refused",
            http_status=HTTP_STATUS.get(exc.kind, 400),
            refusal_id=refusal_id,
            error=error,
        )

    # -- through the intake -------------------------------------------------------------------------
    def _take_in(self, team: Team, name: str, data: bytes, received: datetime) -> Receipt:
        ch = self.ch
        at = received.isoformat(timespec="microseconds")
        earlier = self.ledger.find_submission(ch.id, team.name, hashlib.sha256(data).hexdigest())
        # the intake reads a file: the upload is written, under its own name, in the desk's staging
        # folder (one upload at a time, under the lock), and removed once its bytes are in the store
        path = self.stage / name
        _remove(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            hand_in = HandIn(path=path, team=team.name, submitted_at=at, source=SOURCE, received_at=at, root=self.stage)
            report = GradeReport(challenge=ch, workdir=str(self.workspace.root))
            recorder = _Recorder(ch, self.ledger, self.workspace, report)
            queue = take_in(ch, self.ledger, self.workspace, [hand_in], recorder, now=received)
        finally:
            _remove(path)
        entry = report.entries[-1] if report.entries else None
        if recorder.refusal_id is not None:
            error = recorder.error or {}
            return self._receipt(
                team,
                name,
                len(data),
                at,
                status="refused",
                http_status=HTTP_STATUS.get(str(error.get("kind")), 400),
                refusal_id=recorder.refusal_id,
                error=error,
            )
        if entry is not None and entry.status == "rejected":
            late = not (ch.spec.opens <= received < ch.spec.closes)
            return self._receipt(
                team,
                name,
                len(data),
                at,
                status="rejected",
                http_status=403 if late else 429,
                submission_id=entry.submission_id,
                error=recorder.error or {},
            )
        if queue:
            sid = queue[0].submission_id
            receipt = self._receipt(
                team,
                name,
                len(data),
                at,
                status="duplicate" if earlier is not None else "queued",
                http_status=202,
                submission_id=sid,
            )
            self.wake()
            return receipt
        # the same bytes as a graded hand-in of the team: its result stands
        return self._receipt(
            team,
            name,
            len(data),
            at,
            status="duplicate",
            http_status=200,
            submission_id=entry.submission_id if entry is not None else earlier,
        )

    def _receipt(
        self,
        team: Team,
        filename: str,
        size: int,
        at: str,
        *,
        status: str,
        http_status: int,
        submission_id: int | None = None,
        refusal_id: int | None = None,
        error: dict | None = None,
    ) -> Receipt:
        error = error or {}
        what, fix = str(error.get("what", "")), str(error.get("fix", ""))
        hand_in_id = self.teams.add_hand_in(
            team.id,
            received_at=at,
            filename=shown(filename),
            size=size,
            outcome=status,
            http_status=http_status,
            submission_id=submission_id,
            refusal_id=refusal_id,
            reason=error_text(error) if error else "",
        )
        return Receipt(
            id=hand_in_id,
            status=status,
            http_status=http_status,
            filename=shown(filename),
            received_at=at,
            submission_id=submission_id,
            refusal_id=refusal_id,
            what=what,
            fix=fix,
        )


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


__all__ = ["SOURCE", "Desk", "Receipt", "check_content", "check_upload_name", "size_limit", "upload_limit"]
