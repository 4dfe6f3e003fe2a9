"""Where submissions come from: a registry of sources keyed by name.

A source says whether it recognises a path (:meth:`Source.accepts`) and lists the
hand-ins under it (:meth:`Source.hand_ins`). :func:`collect_hand_ins` asks the sources
in order of ``priority`` (highest first) and uses the first that accepts each path:

- ``nbgrader``: an nbgrader course directory (it has ``submitted/``): the team is the
  student id, the hand-in time is nbgrader's ``timestamp.txt``;
- ``folder``: ``<root>/<team>/<name>.ipynb|.csv`` (the team is the folder name);
- ``file``: one file, for ``--team`` (default: its folder's name).

A plug-in adds one through the ``challenge_kit.submission_sources`` entry points.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import KitError
from ..registry import Registry
from .intake import KINDS, HandIn


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


def _gradable(p: Path) -> bool:
    return p.suffix.lower() in KINDS and not p.name.startswith(".")


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
        entries = sorted(root.iterdir())
        for p in entries:
            if (p.is_file() or p.is_symlink()) and _gradable(p):
                yield HandIn(path=p, team=team or root.resolve().name, source=str(root))
        for d in entries:
            if d.is_dir() and not d.name.startswith("."):
                for p in sorted(d.rglob("*")):
                    if ".ipynb_checkpoints" in p.parts or not (p.is_file() or p.is_symlink()) or not _gradable(p):
                        continue
                    yield HandIn(path=p, team=team or d.name, source=str(root))


@register_source
class OneFile(Source):
    """A single file; its team is ``team`` or the name of its folder."""

    name = "file"
    priority = 0

    def accepts(self, path: Path) -> bool:
        return path.exists() or path.is_symlink()

    def hand_ins(self, path: Path, *, team: str | None = None, assignment: str | None = None) -> Iterator[HandIn]:
        yield HandIn(path=path, team=team or path.resolve().parent.name, source=str(path.parent))


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
