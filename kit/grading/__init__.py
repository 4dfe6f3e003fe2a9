"""Grading: intake, label-blind notebook runs, scoring by the hidden grading notebook, the ledger."""
from .grader import DEFAULT_WORKDIR, GradeReport, grade, open_ledger

__all__ = ["DEFAULT_WORKDIR", "GradeReport", "grade", "open_ledger"]
