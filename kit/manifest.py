"""The manifest of a scoring run: the prediction files the grader hands the grading notebook.

A JSON list, or a JSON-lines file that the grader appends to while the batch's notebooks
run and ends with :data:`END_OF_MANIFEST` (:func:`follow_manifest`). Both sides use this
module: the grader (:mod:`kit.grading.grading_notebook`) writes it, and the trusted
grading notebook (:func:`kit.scoring.score_batch`) reads it; it imports nothing but the
standard library, so the grader writes it without importing the scoring libraries.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

#: The line that ends a streamed manifest.
END_OF_MANIFEST = {"end": True}


def follow_manifest(path, *, poll: float = 0.01):
    """The entries of a JSON-lines manifest, read as a grader appends them, up to the end line.

    This is how one run of the grading notebook scores a whole batch while its notebooks
    are still running: each submission is scored as soon as its predictions exist. The
    grader writes every line whole (one ``write`` of the line and its newline); a line
    is taken only once its newline is there.
    """
    with open(path, "rb") as fh:
        partial = b""
        while True:
            chunk = fh.readline()
            if not chunk.endswith(b"\n"):  # nothing new yet, or a line still being written
                partial += chunk
                time.sleep(poll)
                continue
            line, partial = partial + chunk, b""
            if not line.strip():
                continue
            entry = json.loads(line)
            if entry == END_OF_MANIFEST:
                return
            yield entry


def read_manifest(manifest):
    """Entries of a manifest: a list, a JSON file (a list), or a JSON-lines file being written."""
    if isinstance(manifest, (str, Path)):
        path = Path(manifest)
        if path.suffix == ".jsonl":
            return follow_manifest(path)
        return json.loads(path.read_text(encoding="utf-8"))
    return manifest


__all__ = ["END_OF_MANIFEST", "follow_manifest", "read_manifest"]
