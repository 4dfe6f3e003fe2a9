"""A work folder: where a grader keeps its ledger and every artefact it addresses.

Both sides start here: the grader writes into a :class:`Workspace`, and the read side
(leaderboards, cards, widgets, the release) opens its ledger without importing anything
of :mod:`kit.grading`.

Layout::

    <workdir>/
      ledger.sqlite                   the append-only ledger (the single source of truth)
      exports/                        what the board app and ``kit card --workdir`` export
      release/                        ``kit release`` bundles (default location)
      <challenge>/
        grader.lock                   one grader per challenge and work folder
        store/<sha256>.<ext>          every hand-in, by content
        runs/<submission>/<stamp>/    a grading run: executed notebook, predictions, feedback
        batches/<stamp>/              a run of the hidden grading notebook (trusted, hidden)
        scratch/                      per-batch data folder and work folders (removed)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .defaults import DEFAULT_WORKDIR
from .errors import KitError

if TYPE_CHECKING:  # pragma: no cover
    from .ledger import Ledger

LEDGER_NAME = "ledger.sqlite"


def stamp() -> str:
    """A UTC time stamp for folder names, sortable, unique to the microsecond."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


@dataclass(frozen=True)
class Workspace:
    """The work folder at *root* (``kit-work`` by default)."""

    root: Path

    def __init__(self, root: str | os.PathLike[str] | Workspace | None = None):
        if isinstance(root, Workspace):
            root = root.root
        object.__setattr__(self, "root", Path(root if root is not None else DEFAULT_WORKDIR))

    # -- the ledger ------------------------------------------------------------------
    @property
    def ledger_path(self) -> Path:
        return self.root / LEDGER_NAME

    @property
    def has_ledger(self) -> bool:
        return self.ledger_path.exists()

    def open_ledger(self, *, create: bool = True) -> Ledger:
        """The ledger of this work folder; with ``create=False`` a missing one is an error."""
        from .ledger import Ledger

        if not create and not self.has_ledger:
            raise KitError(
                "no ledger yet",
                where=str(self.ledger_path),
                fix="grade submissions first (`kit grade CHALLENGE PATH`), or pass --workdir "
                "with the folder a grader wrote",
            )
        return Ledger(self.ledger_path)

    # -- folders -------------------------------------------------------------------------
    def challenge_dir(self, challenge_id: str) -> Path:
        return self.root / challenge_id

    def store_dir(self, challenge_id: str) -> Path:
        return self.challenge_dir(challenge_id) / "store"

    def runs_dir(self, challenge_id: str) -> Path:
        return self.challenge_dir(challenge_id) / "runs"

    def run_dir(self, challenge_id: str, submission_id: int) -> Path:
        """A new run folder of a submission (not created)."""
        return self.runs_dir(challenge_id) / str(submission_id) / stamp()

    def batches_dir(self, challenge_id: str) -> Path:
        return self.challenge_dir(challenge_id) / "batches"

    def scratch_dir(self, challenge_id: str) -> Path:
        return self.challenge_dir(challenge_id) / "scratch"

    def lock_path(self, challenge_id: str) -> Path:
        return self.challenge_dir(challenge_id) / "grader.lock"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def release_dir(self) -> Path:
        return self.root / "release"

    def __fspath__(self) -> str:
        return str(self.root)

    def __str__(self) -> str:
        return str(self.root)


def open_ledger(workdir: str | os.PathLike[str] | Workspace | None = None, *, create: bool = True) -> Ledger:
    """``Workspace(workdir).open_ledger(create=...)``."""
    return Workspace(workdir).open_ledger(create=create)


__all__ = ["DEFAULT_WORKDIR", "LEDGER_NAME", "Workspace", "open_ledger", "stamp"]
