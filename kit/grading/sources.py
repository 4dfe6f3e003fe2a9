"""Where submissions come from: a registry of sources keyed by name.

A source says whether it recognises a path (:meth:`Source.accepts`) and lists the
hand-ins under it (:meth:`Source.hand_ins`). :func:`collect_hand_ins` asks the sources
in order of ``priority`` (highest first) and uses the first that accepts each path:

- ``nbgrader``: an nbgrader course directory (it has ``submitted/``): the team is the
  student id, the hand-in time is nbgrader's ``timestamp.txt``;
- ``folder``: ``<root>/<team>/<name>.ipynb|.csv`` (the team is the folder name);
- ``file``: one file, for ``--team`` (default: its folder's name).

Participants write these folders: their content is hostile. Below the folder given, no link
is followed, neither to a file nor to a folder (a link to the grading folder would hand in
its labels): a link, a hidden file or folder and anything that is not a regular file are
handed on *refused* (:attr:`~kit.grading.intake.HandIn.refused`), so that intake records
each with its reason. Only Jupyter's own autosave folders (``.ipynb_checkpoints``: copies
of the notebooks beside them) are passed over.

A plug-in adds one through the ``challenge_kit.submission_sources`` entry points.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import KitError
from ..registry import Registry
from .intake import KINDS, HandIn, refusal, shown

#: folders passed over without a record: Jupyter's autosaves of the notebooks beside them
AUTOSAVE_FOLDERS = frozenset({".ipynb_checkpoints"})


class Source:
    """A kind of place hand-ins come from."""

    name = ""
    #: sources with a higher priority are asked first
    priority = 0

    def accepts(self, path: Path) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def hand_ins(self, path: Path, *, team: str | None = None, assignment: str | None = None) -> Iterator[HandIn]:
        raise NotImplementedError  # pragma: no cover - abstract

    def __repr__(self) -> str:
        return f"<submission source {self.name!r}>"


def _instance(obj) -> Source:
    source = obj() if isinstance(obj, type) else obj
    if not isinstance(source, Source):
        raise KitError(f"{obj!r} is not a submission source", fix="subclass kit.grading.sources.Source")
    return source


SOURCES: Registry[Source] = Registry("submission source", coerce=_instance, hint="kit.grading.sources.SOURCES.names()")
register_source = SOURCES.register


def get_source(name: str) -> Source:
    return SOURCES.get(name)


def get_source_names() -> list[str]:
    return SOURCES.names()


def _gradable(name: str) -> bool:
    return Path(name).suffix.lower() in KINDS


def _entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: e.name)


def _hand_in(root: Path, path: Path, team: str, refused: dict | None = None) -> HandIn:
    return HandIn(path=path, team=team, source=str(root), root=root, refused=refused)


def _where(root: Path, path: Path) -> str:
    return shown(str(path.relative_to(root)))


def _walk_team(root: Path, folder: Path, team: str) -> Iterator[HandIn]:
    """The hand-ins of one team's folder, at any depth, without following a link."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = _entries(current)
        except OSError as exc:
            yield _hand_in(
                root,
                current,
                team,
                refusal(
                    "unreadable",
                    f"cannot list the folder ({exc.strerror})",
                    where=_where(root, current),
                    fix="make the folder readable",
                ),
            )
            continue
        subfolders = []
        for e in entries:
            path = Path(e.path)
            if e.is_dir(follow_symlinks=False):
                if e.name not in AUTOSAVE_FOLDERS:
                    subfolders.append(path)
                continue
            hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
            h = _file(root, e, team, hidden=hidden)
            if h is not None:
                yield h
        stack.extend(reversed(subfolders))


def _file(root: Path, e: os.DirEntry, team: str, *, hidden: bool) -> HandIn | None:
    """The hand-in a folder entry that is not a folder makes (None: it is not one)."""
    path = Path(e.path)
    if e.is_symlink():  # whatever its name: a link is recorded, never followed
        return _hand_in(root, path, team, _link(root, path))
    if not _gradable(e.name):
        return None  # not a hand-in: a README, a data file of the team's own
    if not e.is_file(follow_symlinks=False):
        return _hand_in(root, path, team, _not_regular(root, path))
    if hidden:
        return _hand_in(
            root,
            path,
            team,
            refusal(
                "hidden",
                "a hidden file (or a file in a hidden folder) is not taken in",
                where=_where(root, path),
                fix="hand it in under a name that does not begin with a dot, in a folder that does not either",
            ),
        )
    return _hand_in(root, path, team)


def _link(root: Path, path: Path) -> dict:
    return refusal(
        "link",
        "a symbolic link: links are not followed",
        where=_where(root, path),
        fix="hand in the file itself, in a real folder (not a link to one)",
    )


def _not_regular(root: Path, path: Path) -> dict:
    return refusal(
        "not-regular", "not a regular file (a pipe or a device)", where=_where(root, path), fix="hand in a regular file"
    )


@register_source
class NbgraderCourse(Source):
    """An nbgrader course directory: ``submitted/<student>/<assignment>/``."""

    name = "nbgrader"
    priority = 20

    def accepts(self, path: Path) -> bool:
        return path.is_dir() and (path / "submitted").is_dir()

    def hand_ins(self, path: Path, *, team: str | None = None, assignment: str | None = None) -> Iterator[HandIn]:
        from .nbgrader_io import iter_course

        return iter_course(path, assignment)


@register_source
class TeamFolders(Source):
    """Team folders holding notebooks and prediction files.

    Files directly in the folder belong to ``team`` or, without it, to a team named after the
    folder itself (``kit grade ID submissions/alice`` grades Alice's files).
    """

    name = "folder"
    priority = 10

    def accepts(self, path: Path) -> bool:
        return path.is_dir()

    def hand_ins(self, path: Path, *, team: str | None = None, assignment: str | None = None) -> Iterator[HandIn]:
        root = Path(path)
        own = team or Path(os.path.abspath(root)).name
        for e in _entries(root):
            p = Path(e.path)
            if e.is_dir(follow_symlinks=False):
                if e.name not in AUTOSAVE_FOLDERS:
                    yield from _walk_team(root, p, team or e.name)
            elif e.is_symlink() and not _gradable(e.name):  # a link in place of a team folder
                yield _hand_in(root, p, team or e.name, _link(root, p))
            elif (h := _file(root, e, own, hidden=e.name.startswith("."))) is not None:
                yield h


@register_source
class OneFile(Source):
    """A single file; its team is ``team`` or the name of its folder."""

    name = "file"
    priority = 0

    def accepts(self, path: Path) -> bool:
        return path.exists() or path.is_symlink()

    def hand_ins(self, path: Path, *, team: str | None = None, assignment: str | None = None) -> Iterator[HandIn]:
        yield HandIn(path=path, team=team or Path(os.path.abspath(path)).parent.name, source=str(path.parent))


def collect_hand_ins(paths: Iterable, team: str | None = None, assignment: str | None = None) -> list[HandIn]:
    """The hand-ins under each path, read by the first source (by priority) that accepts it."""
    ordered = sorted((s for _, s in SOURCES.items()), key=lambda s: -s.priority)
    out: list[HandIn] = []
    for src in paths:
        p = Path(src)
        source = next((s for s in ordered if s.accepts(p)), None)
        if source is None:
            raise KitError("no such file or folder", where=str(p), fix="check the path")
        out.extend(source.hand_ins(p, team=team, assignment=assignment))
    return out


__all__ = ["SOURCES", "Source", "collect_hand_ins", "get_source", "get_source_names", "register_source"]
