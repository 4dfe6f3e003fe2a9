"""The winners of a release: each top team's selected submission, its licence, and the files of its hand-in folder.

**What intake keeps.** A hand-in is stored alone, content-addressed
(``<workdir>/<id>/store/<sha256>.ipynb``); the ledger row keeps its ``filename``
(the name only), its ``sha256`` and its ``source``: the folder ``kit grade`` or
``kit watch`` was given (``submissions/``, holding ``<team>/<files>`` or the files of
one team), the file's folder for a single file, ``nbgrader:<assignment>`` for an
nbgrader course. The stored notebook is therefore always there; the rest of the
team's folder only where it was handed in.

**The hand-in folder** (:func:`hand_in_folder`) is found again from ``source``: the
original file, named ``filename`` and with the recorded sha256, either directly in
``source`` (the folder is ``source``, its top level only: its sub-folders are other
teams', as intake reads them) or in a team's sub-folder of ``source`` (the folder is
that sub-folder, recursively). A relative ``source`` is read from the current
folder. When the folder is not found (moved, an nbgrader course, a changed file), the
release carries the stored notebook alone and its licence is read from it alone.

**What is released** of an eligible winner's folder (:func:`folder_files`), under
``winners/<rank>-<team>-<submission>/``: the selected notebook (the stored bytes,
byte-identical to the original), the licence files, the environment files
(:data:`ENVIRONMENT_FILES`) and the other code and text files
(:data:`CODE_SUFFIXES`: ``.py``, ``.R``, ``.md``, ``.yml`` ...). Never: a data file
(any other suffix, a CSV, and any file whose bytes are one of the challenge's data
files), another notebook (each notebook in a team folder is a hand-in of its own), a
hidden file or folder, a symlink, a file over :data:`MAX_FILE_BYTES` or more than :data:`MAX_DEPTH`
folders deep, nor more than
:data:`MAX_FILES` files or :data:`MAX_FOLDER_BYTES` in all (the first ones by path
are kept).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from . import WinnerEntry
from .licences import LICENCE_FILE, LicenceCheck, hand_in_licence

#: environment files released with a winner's notebook (lower-cased names)
ENVIRONMENT_FILES = frozenset(
    """environment.yml environment.yaml requirements.txt requirements-dev.txt pyproject.toml setup.py setup.cfg
    pipfile pipfile.lock poetry.lock uv.lock conda-lock.yml renv.lock description apt.txt runtime.txt install.r
    dockerfile makefile""".split()
)
_REQUIREMENTS = re.compile(r"requirements[\w.-]*\.(?:txt|in)", re.I)
#: suffixes of the code and text files released with a winner's notebook
CODE_SUFFIXES = frozenset(".py .r .jl .sh .sql .md .rst .toml .yml .yaml .cfg .ini".split())
_DOCS = re.compile(r"(?:readme|citation|notice|authors|contributors)(?:\.(?:md|txt|rst|cff))?", re.I)
MAX_FILE_BYTES = 1024 * 1024
MAX_FILES = 200
MAX_FOLDER_BYTES = 20 * 1024 * 1024
#: how deep below a team's folder files are looked for
MAX_DEPTH = 5
_SKIP_DIRS = frozenset({"__pycache__", "node_modules"})


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _subdirs(dirs: list[str], *, deeper: bool) -> list[str]:
    """The sub-folders to walk into: not hidden, not caches, not below :data:`MAX_DEPTH`, sorted."""
    return sorted(d for d in dirs if deeper and not d.startswith(".") and d not in _SKIP_DIRS)


def hand_in_folder(sub: dict) -> tuple[Path, Path, bool] | None:
    """``(folder, original, recursive)`` of a ledger submission's hand-in, or ``None`` (see the module docstring)."""
    source = str(sub.get("source") or "")
    name = str(sub.get("filename") or "")
    if not source or source.startswith("nbgrader:") or not name or Path(name).name != name:
        return None
    root = Path(source)
    if not root.is_dir():
        return None

    def same(p: Path) -> bool:
        return _regular(p) and p.stat().st_size == sub.get("size", p.stat().st_size) and _sha256(p) == sub["sha256"]

    if same(root / name):
        return root, root / name, False
    team = str(sub.get("team") or "")
    try:
        subdirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.is_symlink()), key=lambda d: d.name != team)
    except OSError:
        return None
    for d in subdirs:
        if d.name.startswith("."):
            continue
        for top, dirs, files in os.walk(d):
            dirs[:] = _subdirs(dirs, deeper=len(Path(top).relative_to(d).parts) < MAX_DEPTH)
            if name in files and same(Path(top) / name):
                return d, Path(top) / name, True
    return None


def _wanted(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    lower = name.lower()
    return bool(
        LICENCE_FILE.fullmatch(name)
        or lower in ENVIRONMENT_FILES
        or _REQUIREMENTS.fullmatch(name)
        or _DOCS.fullmatch(name)
        or Path(lower).suffix in CODE_SUFFIXES
    )


def folder_files(folder: Path, *, recursive: bool, shipped: frozenset[str] = frozenset()) -> dict[str, Path]:
    """The files of a hand-in folder a release may carry besides its notebook (relative path -> path), sorted.

    ``shipped``: the sha256 of the challenge's data files, never released from a folder.
    """
    found: list[tuple[str, Path]] = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = _subdirs(dirs, deeper=recursive and len(Path(top).relative_to(folder).parts) < MAX_DEPTH)
        for f in sorted(files):
            path = Path(top) / f
            rel = path.relative_to(folder).as_posix()
            if f.startswith(".") or "\n" in rel or "\\" in rel or not _wanted(rel) or not _regular(path):
                continue
            found.append((rel, path))
    out: dict[str, Path] = {}
    total = 0
    for rel, path in sorted(found):
        size = path.stat().st_size
        if size > MAX_FILE_BYTES or len(out) >= MAX_FILES or total + size > MAX_FOLDER_BYTES:
            continue
        if shipped and _sha256(path) in shipped:
            continue
        out[rel] = path
        total += size
    return out


def _shipped(ch) -> frozenset[str]:
    """The sha256 of the challenge's data files (as its spec records them)."""
    out = set()
    for role in ("train", "test", "sample_submission", "labels"):
        f = getattr(ch.spec.data, role, None)
        if f is not None and getattr(f, "sha256", None):
            out.add(str(f.sha256).lower())
    return frozenset(out)


def winner_entries(ch, board, ledger, top: int) -> tuple[list[WinnerEntry], dict[str, bytes]]:
    """The top teams' entries and the files that may be released of each eligible one (path -> bytes)."""
    from ..challenge import safe_name

    t = board.table
    chosen = t[t["rank"].notna() & (t["rank"].fillna(top + 1).astype(int) <= top)]
    shipped = _shipped(ch)
    entries, released = [], {}
    for r in chosen.itertuples(index=False):
        sub = ledger.submission(int(r.submission_id))
        kind, stored = sub["kind"], Path(sub["stored_path"])
        notebook = ""
        files: tuple[str, ...] = ()
        if kind != "notebook":
            check = LicenceCheck(reason="a predictions file, not a notebook: there is no code to release")
        elif not stored.is_file():
            check = LicenceCheck(reason=f"the stored notebook is missing ({stored})")
        else:
            data = stored.read_bytes()
            found = hand_in_folder(sub)
            check = hand_in_licence(data, found[0] if found else None)
            if check.eligible:
                base = f"winners/{int(r.rank)}-{safe_name(str(r.team), 'team')}-{int(r.submission_id)}"
                bundle: dict[str, bytes] = {}
                if found:
                    folder, original, recursive = found
                    for rel, path in folder_files(folder, recursive=recursive, shipped=shipped).items():
                        bundle[rel] = path.read_bytes()  # never a notebook nor a CSV: see _wanted
                    rel_nb = original.relative_to(folder).as_posix()
                if not found or "\n" in rel_nb or "\\" in rel_nb:
                    rel_nb = safe_name(str(sub["filename"]), "notebook.ipynb")
                bundle[rel_nb] = data  # the stored original (verified to be the folder's, when found)
                notebook = f"{base}/{rel_nb}"
                files = tuple(f"{base}/{rel}" for rel in sorted(bundle))
                released.update({f"{base}/{rel}": bundle[rel] for rel in bundle})
        entries.append(
            WinnerEntry(
                rank=int(r.rank),
                team=str(r.team),
                submission_id=int(r.submission_id),
                kind=kind,
                filename=str(sub["filename"]),
                licence=check.licence,
                licence_source=check.source,
                eligible=check.eligible,
                reason=check.reason,
                notebook=notebook,
                files=files,
            )
        )
    return entries, released
