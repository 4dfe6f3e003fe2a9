"""Recording what grading found: one ledger run per hand-in, its feedback, its report entry.

:class:`Recorder` is the only writer of grading runs: a failure (rejected, failed,
invalid) or the scores the hidden grading notebook computed. Each run is written in one
ledger transaction, after its feedback file exists.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GradingError, KitError
from ..ledger import Ledger, RefusalRecord, RunRecord
from ..metrics import get_metric
from ..workspace import Workspace, private_dir, scoring_dir_of, seal
from .feedback import write_feedback
from .intake import HandIn, Queued, shown, store_bytes
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
    """What the grading notebook is told about one submission to score.

    It writes what it found (per-case losses, the split, the private scores) into the run's
    hidden twin (created here, mode 0700), never into the run folder its team may be given.
    """
    name = item.filename if item.kind == "predictions" else "predictions_path"
    out_dir = scoring_dir_of(outcome.run_dir)
    private_dir(out_dir.parent)
    private_dir(out_dir)
    return {
        "key": str(item.submission_id),
        "predictions": outcome.predictions_path,
        "out_dir": str(out_dir),
        "name": name,
    }


def seal_run(run_dir: str | Path) -> None:
    """Narrow a recorded run's folder and its hidden twin (and their submission folders) to the grader."""
    folders = [Path(run_dir)]
    try:
        folders.append(scoring_dir_of(run_dir))
    except KitError:  # a run folder outside a work folder's layout has no twin
        pass
    for folder in folders:
        if folder.exists():
            private_dir(folder.parent)
            seal(folder)


class Recorder:
    """Writes each hand-in's outcome into the ledger, its feedback file and the batch report."""

    def __init__(self, challenge: Challenge, ledger: Ledger, workspace: Workspace, report: GradeReport):
        self.challenge = challenge
        self.ledger = ledger
        self.workspace = workspace
        self.report = report
        m = get_metric(challenge.spec.metrics.primary)
        self._primary = (m.name, m.greater_is_better)
        workspace.secure(challenge.id)

    def refusal(
        self,
        hand_in: HandIn,
        error: dict,
        *,
        fingerprint: str,
        submitted_at: datetime | None,
        data: bytes | None = None,
    ) -> int:
        """Record a hand-in refused at intake (once per fingerprint) with its feedback; returns its id.

        ``data``: its bytes when they were read (a team-name clash), kept in the store so that
        nothing readable that was handed in is lost.
        """
        ch = self.challenge
        team, filename = shown(hand_in.team), shown(hand_in.path.name)
        refusal_id = self.ledger.find_refusal(fingerprint)
        if refusal_id is None:
            digest = stored = None
            if data is not None:
                digest, stored_path = store_bytes(self.workspace.store_dir(ch.id), data, hand_in.path.suffix.lower())
                stored = str(stored_path)
            folder = self.workspace.refused_dir(ch.id)
            feedback = write_feedback(folder, challenge=ch, team=team, filename=filename, status="refused", error=error)
            seal(folder)
            try:
                size = len(data) if data is not None else hand_in.path.lstat().st_size
            except OSError:
                size = None
            refusal_id, _ = self.ledger.add_refusal(
                RefusalRecord(
                    challenge=ch.id,
                    team=team,
                    filename=filename,
                    path=hand_in.where,
                    source=shown(hand_in.source),
                    kind=str(error.get("kind") or "refused"),
                    reason=error_text(error),
                    fingerprint=fingerprint,
                    size=size,
                    sha256=digest,
                    stored_path=stored,
                    submitted_at=submitted_at.isoformat(timespec="microseconds") if submitted_at else None,
                    feedback_path=str(feedback),
                )
            )
        self.report.entries.append(
            Entry(
                None,
                team,
                filename,
                shown(hand_in.path.suffix) or "-",
                "refused",
                "intake",
                error=f"{error_text(error)}\n(refused at intake: refusal #{refusal_id} of the ledger)",
                reason=str(error.get("kind") or "refused"),
            )
        )
        return refusal_id

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
        seal_run(run_dir)
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
                reason=str(error.get("kind") or status),
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
            seal_run(outcome.run_dir)
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
        self.workspace.seal_batches(ch.id)  # the batch's executed grading notebook and results


__all__ = ["Recorder", "error_text", "manifest_entry", "read_case_predictions", "seal_run"]
