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
        scoring/<submission>/<stamp>/ what the grading notebook wrote of that run: per_case.csv
                                      (case ids, split, per-case losses), scores.json (private
                                      scores): hidden, never beside the feedback
        batches/<stamp>/              a run of the hidden grading notebook (trusted, hidden)
        refused/<stamp>/              the feedback of a hand-in refused at intake
        scratch/                      per-batch data folder and work folders (removed)

Only the grader's user may read what it keeps: the ledger is mode 0600, and ``store``,
``runs``, ``scoring``, ``batches`` and ``refused`` are folders of mode 0700 whose files are
narrowed to 0600 once written (:meth:`Workspace.secure`, :func:`seal`). A run folder holds
only what its team may see; handing one over gives nothing hidden away. The work folder and
each challenge folder stay traversable: the sandboxes reach their data folder in
``scratch/`` through them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .defaults import DEFAULT_WORKDIR
from .errors import KitError

if TYPE_CHECKING:  # pragma: no cover
    from .ledger import Ledger

LEDGER_NAME = "ledger.sqlite"
#: the modes of what only the grader may read: its folders and its files
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
#: the folders of a challenge that only the grader may read
PRIVATE_FOLDERS = ("store", "runs", "scoring", "batches", "refused")


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

    def scoring_dir(self, challenge_id: str) -> Path:
        return self.challenge_dir(challenge_id) / "scoring"

    def refused_dir(self, challenge_id: str) -> Path:
        """A new folder for the feedback of a hand-in refused at intake (not created)."""
        return self.challenge_dir(challenge_id) / "refused" / stamp()

    def secure(self, challenge_id: str) -> None:
        """Create the challenge's private folders with mode 0700, and seal what earlier batches
        of the hidden grading notebook left.

        A folder found open to others (a work folder written by an earlier version) is sealed
        whole, once: its own mode then says it is done.
        """
        for name in PRIVATE_FOLDERS:
            folder = self.challenge_dir(challenge_id) / name
            try:
                legacy = folder.lstat().st_mode & 0o077
            except FileNotFoundError:
                legacy = 0
            if legacy:
                seal(folder)
            else:
                private_dir(folder)
        self.seal_batches(challenge_id)

    def seal_batches(self, challenge_id: str) -> None:
        """Seal every batch folder not sealed yet (its own mode tells: a sealed one is 0700)."""
        try:
            entries = list(os.scandir(self.batches_dir(challenge_id)))
        except OSError:
            return
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False) and e.stat(follow_symlinks=False).st_mode & 0o077:
                    seal(e.path)
            except OSError:
                pass

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


def scoring_dir_of(run_dir: str | os.PathLike[str]) -> Path:
    """Where the grading notebook writes what it found of the run in *run_dir*:
    ``<challenge>/scoring/<submission>/<stamp>`` for ``<challenge>/runs/<submission>/<stamp>``."""
    run = Path(run_dir)
    if run.parent.parent.name != "runs":
        raise KitError(
            "not a run folder of a work folder",
            where=str(run),
            fix="use Workspace.run_dir(challenge, submission) for a submission's run folder",
        )
    return run.parent.parent.parent / "scoring" / run.parent.name / run.name


def private_dir(path: str | os.PathLike[str]) -> Path:
    """*path* as a folder of mode 0700 (created with its missing parents, or narrowed)."""
    p = Path(path)
    p.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    _narrow(p, PRIVATE_DIR_MODE)
    return p


def seal(path: str | os.PathLike[str]) -> None:
    """Narrow a folder and all it holds to its owner: folders 0700, files 0600.

    Links are never followed (nor changed); what is not the grader's own is left as it is.
    """
    root = Path(path)
    if not root.is_dir() or root.is_symlink():
        if root.is_file() and not root.is_symlink():
            _narrow(root, PRIVATE_FILE_MODE)
        return
    for folder, dirs, files in os.walk(root, topdown=False, followlinks=False):
        for name in files:
            _narrow(Path(folder) / name, PRIVATE_FILE_MODE)
        for name in dirs:
            _narrow(Path(folder) / name, PRIVATE_DIR_MODE)
    _narrow(root, PRIVATE_DIR_MODE)  # last: a sealed folder's own mode says it is sealed


def _narrow(path: Path, mode: int) -> None:
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode or st.st_uid != os.geteuid():
            return
        os.chmod(path, mode)
    except OSError:
        pass


def open_ledger(workdir: str | os.PathLike[str] | Workspace | None = None, *, create: bool = True) -> Ledger:
    """``Workspace(workdir).open_ledger(create=...)``."""
    return Workspace(workdir).open_ledger(create=create)


__all__ = [
    "DEFAULT_WORKDIR",
    "LEDGER_NAME",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "Workspace",
    "open_ledger",
    "private_dir",
    "scoring_dir_of",
    "seal",
    "stamp",
]
