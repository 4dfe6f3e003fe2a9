"""Reading the kit's YAML files (challenge specs, card files) with errors that name the line."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import KitError

#: libyaml's loader when PyYAML was built with it (about 10x faster; participants' kernels
#: read the spec in every ``kit.check``), else the pure-Python one; both are "safe".
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path, *, error: type[KitError], missing: KitError):
    """The parsed YAML of ``path``; ``missing`` when there is no file, ``error`` for bad syntax."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise missing from None
    try:
        return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise error(
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            where=where,
            fix="fix the YAML syntax (indentation, colons, quotes)",
        ) from None
