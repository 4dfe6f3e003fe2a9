"""Recording what grading found: one ledger run per hand-in, its feedback, its report entry.

:class:`Recorder` is the only writer of grading runs: a failure (rejected, failed,
invalid) or the scores the hidden grading notebook computed. Each run is written in one
ledger transaction, after its feedback file exists.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GradingError
from ..ledger import Ledger, RunRecord
from ..metrics import get_metric
from ..workspace import Workspace
from .feedback import write_feedback
from .intake import Queued
from .report import Entry, GradeReport
from .submission_run import RunOutcome

if TYPE_CHECKING:  # pragma: no cover
    from ..challenge import Challenge


def error_text(error: dict) -> str:
    """An error dict (what, where, fix, problems) as the text kept in the ledger."""
    head = error.get("what", "")
    if error.get("where"):
        head = f"{error['where']}: {head}"
    lines = [head]
    for p in error.get("problems", []) or []:
        lines.append(
            f"  - {p['where'] + ': ' if p.get('where') else ''}{p['what']}"
            + (f" (fix: {p['fix']})" if p.get("fix") else "")
        )
    if error.get("fix"):
        lines.append(f"Fix: {error['fix']}")
    return "\n".join(lines)


def read_case_predictions(per_case_path: str | Path) -> np.ndarray:
    """The prediction column(s) of a ``per_case.csv`` the grading notebook wrote, in its order:
    ``prediction`` as shape (cases,), or the ``prediction.<column>`` columns as (cases, columns).

    Read with the csv module (the grader's process does not import pandas for it): the
    numbers are pandas' shortest round-trip text, which ``float`` turns back into the very
    same doubles.
    """
    with open(per_case_path, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        cols = [i for i, h in enumerate(header) if h == "prediction" or h.startswith("prediction.")]
        values = np.array([[float(row[c]) if row[c] else math.nan for c in cols] for row in rows], dtype=float)
        return values[:, 0] if len(cols) == 1 else values.reshape(-1, len(cols))


def manifest_entry(item: Queued, outcome: RunOutcome) -> dict:
    """What the grading notebook is told about one submission to score."""
    name = item.filename if item.kind == "predictions" else "predictions_path"
    return {
        "key": str(item.submission_id),
        "predictions": outcome.predictions_path,
        "out_dir": outcome.run_dir,
        "name": name,
    }


class Recorder:
    """Writes each hand-in's outcome into the ledger, its feedback file and the batch report."""

    def __init__(self, challenge: Challenge, ledger: Ledger, workspace: Workspace, report: GradeReport):
        self.challenge = challenge
        self.ledger = ledger
        self.workspace = workspace
        self.report = report
        m = get_metric(challenge.spec.metrics.primary)
        self._primary = (m.name, m.greater_is_better)

    def failure(
        self,
        item: Queued,
        *,
        status: str,
        stage: str,
        error: dict,
        started: str,
        outcome: RunOutcome | None = None,
    ) -> int:
        """Record a rejected, failed or invalid hand-in; returns the run's id."""
        run_dir = Path(outcome.run_dir) if outcome else self.workspace.run_dir(self.challenge.id, item.submission_id)
        feedback = write_feedback(
            run_dir,
            challenge=self.challenge,
            team=item.team,
            filename=item.filename,
            status=status,
            error=error,
            executed_path=outcome.executed_path if outcome else None,
        )
        rec = RunRecord(
            submission_id=item.submission_id,
            status=status,
            stage=stage,
            started_at=started,
            duration_s=outcome.duration_s if outcome else None,
            error_kind=error.get("kind"),
            error=error_text(error),
            cell_index=error.get("cell_index"),
            traceback=error.get("traceback") or None,
            executed_path=outcome.executed_path if outcome else None,
            output_path=outcome.output_path if outcome else None,
            feedback_path=str(feedback),
            details={"problems": error.get("problems", []), **(outcome.details if outcome else {})},
            primary=self._primary,
        )
        run_id = self.ledger.add_run(rec)
        self.report.entries.append(
            Entry(
                item.submission_id,
                item.team,
                item.filename,
                item.kind,
                status,
                stage,
                error=rec.error or "",
                run_id=run_id,
            )
        )
        return run_id

    def scores(self, ready: list[tuple[Queued, RunOutcome]], results: dict) -> None:
        """Record the grading notebook's result for each (item, outcome) of *ready*."""
        ch = self.challenge
        for item, outcome in ready:
            key = str(item.submission_id)
            res = results.get(key)
            if res is None:
                raise GradingError(
                    f"the grading notebook returned no result for submission {key}",
                    where=str(ch.grade_notebook),
                    fix="check the notebook's manifest loop",
                )
            if res["status"] != "scored":
                self.failure(
                    item,
                    status="invalid",
                    stage="validate",
                    started=outcome.started_at,
                    error=res["error"] or {"what": "invalid predictions"},
                    outcome=outcome,
                )
                continue
            per_case_path = res.get("per_case_path")
            preds = read_case_predictions(per_case_path) if per_case_path else None
            feedback = write_feedback(
                outcome.run_dir,
                challenge=ch,
                team=item.team,
                filename=item.filename,
                status="scored",
                scores=res["scores"],
            )
            rec = RunRecord(
                submission_id=item.submission_id,
                status="scored",
                stage="score",
                started_at=outcome.started_at,
                duration_s=outcome.duration_s,
                executed_path=outcome.executed_path,
                feedback_path=str(feedback),
                predictions_path=outcome.predictions_path,
                output_path=outcome.output_path,
                per_case_path=per_case_path,
                scores=res["scores"],
                case_predictions=preds,
                primary=self._primary,
                details={"warnings": res.get("warnings", []), **outcome.details},
            )
            run_id = self.ledger.add_run(rec)
            score = res["scores"].get("public", {}).get(ch.spec.metrics.primary)
            self.report.entries.append(
                Entry(
                    item.submission_id,
                    item.team,
                    item.filename,
                    item.kind,
                    "scored",
                    "score",
                    score=score,
                    run_id=run_id,
                )
            )


__all__ = ["Recorder", "error_text", "manifest_entry", "read_case_predictions"]
