"""What a team may know of its hand-ins, read from the ledger.

The status of a hand-in: ``queued`` (recorded, not graded yet), ``grading``, then the status
of its newest run (``scored``, ``failed``, ``invalid``, ``rejected``) with its message, or
``refused`` with the refusal's reason. Only public scores are ever read here: the private
split's scores are not served while the challenge is open, and this module never reads them
at all (a closed challenge's private scores are on its board).

The questions are :mod:`kit.ledger.queries`' (``latest_runs_of``, ``public_scores_of``,
``refusals_by_id``); this module turns their answers into what a team is shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..ledger import Ledger
    from .teams import HandInRow

#: the statuses after which nothing changes
FINAL = ("scored", "failed", "invalid", "rejected", "refused")


@dataclass
class Status:
    """A hand-in's status as its team sees it."""

    status: str
    message: str = ""
    kind: str | None = None
    public: dict[str, float | None] = field(default_factory=dict)
    finished_at: str | None = None
    feedback_path: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL


def _clean(value) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def submission_statuses(ledger: Ledger, submission_ids: Iterable[int], busy: set[int] | None = None) -> dict:
    """{submission id: :class:`Status`} from each submission's newest run and its public scores."""
    from ..ledger.queries import latest_runs_of, public_scores_of

    ids = sorted({int(i) for i in submission_ids})
    out: dict[int, Status] = {}
    runs = latest_runs_of(ledger, ids)
    scores: dict[int, dict[str, float | None]] = {}
    if len(runs):
        for score in public_scores_of(ledger, [int(r) for r in runs["run_id"]]).to_dict("records"):
            scores.setdefault(int(score["run_id"]), {})[str(score["metric"])] = _clean(score["value"])
    for rec in runs.to_dict("records"):
        out[int(rec["submission_id"])] = Status(
            status=str(rec["status"]),
            message=str(rec["error"] or "") if rec["status"] != "scored" else "",
            kind=rec["error_kind"] if isinstance(rec["error_kind"], str) else None,
            public=scores.get(int(rec["run_id"]), {}),
            finished_at=str(rec["finished_at"]),
            feedback_path=rec["feedback_path"] if isinstance(rec["feedback_path"], str) else None,
        )
    for sid in ids:
        if sid not in out:
            out[sid] = Status("grading" if busy and sid in busy else "queued")
    return out


def refusals(ledger: Ledger, refusal_ids: Iterable[int]) -> dict:
    """{refusal id: :class:`Status`} of refusals recorded at intake."""
    from ..ledger.queries import refusals_by_id

    out: dict[int, Status] = {}
    for rec in refusals_by_id(ledger, list(refusal_ids)).to_dict("records"):
        out[int(rec["id"])] = Status(
            status="refused",
            message=str(rec["reason"]),
            kind=str(rec["kind"]),
            finished_at=str(rec["refused_at"]),
            feedback_path=rec["feedback_path"] if isinstance(rec["feedback_path"], str) else None,
        )
    return out


def hand_in_statuses(ledger: Ledger, rows: list[HandInRow], busy: set[int] | None = None) -> dict[int, Status]:
    """{hand-in id: :class:`Status`} for a team's hand-ins (see the module docstring)."""
    subs = submission_statuses(ledger, [r.submission_id for r in rows if r.submission_id is not None], busy)
    refused = refusals(ledger, [r.refusal_id for r in rows if r.refusal_id is not None])
    out = {}
    for r in rows:
        if r.refusal_id is not None:
            out[r.id] = refused.get(r.refusal_id, Status("refused", message=r.reason))
        elif r.submission_id is not None:
            out[r.id] = subs[r.submission_id]
        else:  # pragma: no cover - every hand-in is a submission or a refusal
            out[r.id] = Status("refused", message=r.reason)
    return out


__all__ = ["FINAL", "Status", "hand_in_statuses", "refusals", "submission_statuses"]
