"""Grading: intake, label-blind notebook runs, scoring by the hidden grading notebook, the ledger.

The names below are imported on first use, so that the trusted scoring kernel, which only
needs ``kit.grading.scoring``, does not import the grader's machinery (nbformat and its
JSON-schema stack alone take more than a second to import).
"""

from __future__ import annotations

import importlib

__all__ = ["DEFAULT_WORKDIR", "GradeReport", "grade", "open_ledger"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module(".grader", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
