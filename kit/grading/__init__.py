"""Grading: intake, label-blind notebook runs, scoring by the hidden grading notebook, recording.

- :mod:`.intake` (hand-ins into the ledger), :mod:`.sources` (where they come from: a
  registry), :mod:`.rules` (dates and quotas);
- :mod:`.submission_run` (one submission's notebook, label-blind), :mod:`.executors`
  (where they run: a registry);
- :mod:`.grading_notebook` (the hidden grading notebook, one run per batch, trusted);
- :mod:`.recording` and :mod:`.report` (the ledger runs, feedback and the batch report);
- :mod:`.session` (a grader kept between batches), :mod:`.grader` (``grade``),
  :mod:`.watch` (``kit watch``), :mod:`.feedback`, :mod:`.nbgrader_io`.

The names below are imported on first use: ``import kit.grading`` costs nothing. The read
side (leaderboards, cards, widgets, the release) never imports this package.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "grade": ".grader",
    "GradeReport": ".report",
    "Entry": ".report",
    "GradingSession": ".session",
    "DEFAULT_WORKERS": ".session",
    "DEFAULT_SANDBOX": ".session",
    "DEFAULT_EXECUTOR": ".session",
    "HandIn": ".intake",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
