"""Where submissions come from: a registry of sources keyed by name.

- ``folder``: ``<root>/<team>/<name>.ipynb|.csv`` (the team is the folder name)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import KitError
from .intake import KINDS, HandIn

_SOURCES: dict[str, Callable[..., Iterator[HandIn]]] = {}


def register_source(name: str):
    def deco(fn):
        _SOURCES[name] = fn
        return fn

    return deco


def get_source(name: str):
    try:
        return _SOURCES[name]
    except KeyError:
        raise KitError(
            f"{name!r} is not a submission source", fix=f"use one of {', '.join(sorted(_SOURCES))}"
        ) from None


def _gradable(p: Path) -> bool:
    return p.suffix.lower() in KINDS and not p.name.startswith(".")


@register_source("folder")
def iter_folder(root: Path, team: str | None = None) -> Iterator[HandIn]:
    """Team folders holding notebooks and prediction files.

    Files directly in ``root`` belong to ``team`` or, without it, to a team named after ``root``
    itself (``kit grade ID submissions/alice`` grades Alice's files).
    """
    root = Path(root)
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
