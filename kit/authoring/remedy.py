"""Remedying an existing challenge: ``kit prepare ID --age-bands age:10:90 ...``.

:func:`remedy` adds generalisation remedies (:mod:`kit.remedies`) to a challenge's spec,
rebuilds its files from the source, records their new sha256, runs the privacy gate on the
new tables and says what the remedies changed (the three criteria's records at risk, before
and after). A remedy on a column that already has one replaces it. Nothing changes unless
everything succeeds: a value a remedy cannot transform, or a gate that still blocks, leaves
the spec and the files as they were.

The spec is edited as text (its comments and layout kept): the ``remedies:`` list of its
``source:`` block is rewritten, one remedy per line in YAML's flow style.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..challenge import Challenge, load_challenge, parse_spec
from ..errors import SpecError
from ..prepare import PreparedFile, build, write_tables
from ..remedies import parse_remedies
from .new import _privacy_gate


@dataclass
class Remedied:
    """What :func:`remedy` did: the rebuilt files, and the gate's note (risk before and after)."""

    challenge: Challenge
    files: list[PreparedFile]
    notes: list[str] = field(default_factory=list)


def with_remedies(text: str, remedies: Sequence[dict], *, where: str = "the spec") -> str:
    """The spec's YAML *text* with ``source.remedies`` set to *remedies* (comments and layout kept)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"^source:\s*(#.*)?$", line)), None)
    if start is None:
        raise SpecError("the spec has no `source:` block", where=where, fix="add the source of the challenge's data")
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # blank lines belong to what follows
        end -= 1
    block = lines[start + 1 : end]
    indent = next((len(b) - len(b.lstrip()) for b in block if b.strip()), 2)
    kept, skipping = [], False
    for b in block:
        depth = len(b) - len(b.lstrip())
        if b.strip() and depth == indent and b.lstrip().startswith("remedies:"):
            skipping = True
            continue
        if skipping and (not b.strip() or depth > indent or (depth == indent and b.lstrip().startswith("- "))):
            continue
        skipping = False
        kept.append(b)
    pad = " " * indent
    new = []
    if remedies:
        new.append(f"{pad}remedies:\n")
        for r in remedies:
            flow = yaml.safe_dump(dict(r), default_flow_style=True, sort_keys=False, width=10_000).strip()
            new.append(f"{pad}  - {flow}\n")
    return "".join(lines[: start + 1] + kept + new + lines[end:])


def remedy(
    challenge: str,
    remedies: Sequence[Any],
    *,
    root: str | os.PathLike[str] | None = None,
    quasi_identifiers: Sequence[str] = (),
) -> Remedied:
    """Add *remedies* to the spec of *challenge*, rebuild its files, and re-assess (see the module's doc)."""
    ch = load_challenge(challenge, root=root)
    added = parse_remedies(remedies, where="remedies")
    columns = {r.column for r in added}
    merged = [r for r in ch.spec.source.remedies if r.column not in columns] + added
    old_text = ch.spec_path.read_text(encoding="utf-8")
    new_text = with_remedies(old_text, [r.spec() for r in merged], where=str(ch.spec_path))
    spec = parse_spec(yaml.safe_load(new_text), source=str(ch.spec_path))
    if spec.source.remedies != merged:  # the text edit must say what was meant
        raise SpecError(
            "could not rewrite source.remedies in the spec",
            where=str(ch.spec_path),
            fix="write them by hand under `source:` (see `kit new --help`)",
        )
    new_ch = Challenge(spec, ch.root)
    built = build(new_ch)
    plain = Challenge(spec.model_copy(update={"source": spec.source.model_copy(update={"remedies": []})}), ch.root)
    note = _privacy_gate(spec, built, quasi_identifiers, before=build(plain) if merged else None)
    ch.spec_path.write_text(new_text, encoding="utf-8")
    try:
        files = write_tables(new_ch, built.frames, write_hashes=True)
    except BaseException:
        ch.spec_path.write_text(old_text, encoding="utf-8")
        raise
    return Remedied(challenge=load_challenge(challenge, root=root), files=files, notes=[*built.notes, note])


__all__ = ["Remedied", "remedy", "with_remedies"]
