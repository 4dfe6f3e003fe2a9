"""What a batch did to each hand-in: :class:`GradeReport` and its :class:`Entry` rows."""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..metrics import get_metric

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..challenge import Challenge

#: the statuses an entry can have (the first four are also ledger run statuses; "refused": refused at
#: intake, recorded in the ledger's refusals table)
ENTRY_STATUSES = ("scored", "failed", "invalid", "rejected", "skipped", "refused")

#: what a failure's kind (the error's ``kind``: :data:`kit.execution.outcome.FAILURE_KINDS`, the
#: intake's refusals, the validation's) reads as in a batch summary
REASONS = {
    "error": "a cell raised an error",
    "execution": "a cell raised an error",
    "memory": "memory limit",
    "file_size": "file-size limit",
    "processes": "process limit",
    "cpu_time": "CPU-time limit",
    "wall_time": "wall-clock limit",
    "cell_time": "per-cell time limit",
    "timeout": "time limit",
    "disk": "disk limit",
    "output": "output limit",
    "exited": "the kernel was ended by the notebook",
    "kernel_died": "the kernel died",
    "killed": "the kernel died",
    "no-predictions": "no predictions written",
    "invalid-predictions": "invalid predictions",
    "invalid-notebook": "invalid notebook",
    "rejected": "submission rules (deadline, quota)",
    "too-large": "file too large",
    "link": "a link, not a file",
    "team-name": "invalid team name",
    "team-clash": "team name clashes with another team",
    "suffix": "not a notebook or CSV",
    "file-name": "invalid file name",
    "unreadable": "unreadable file",
    "not-regular": "not a regular file",
    "missing": "file gone before it was read",
    "lost": "lost by the grader",
}


@dataclass
class Entry:
    """One hand-in of a batch and what became of it."""

    submission_id: int | None
    team: str
    filename: str
    kind: str
    status: str  # one of ENTRY_STATUSES
    stage: str = ""
    score: float | None = None
    error: str = ""
    run_id: int | None = None
    #: the failure's kind (a key of :data:`REASONS`), "" when scored or skipped
    reason: str = ""


@dataclass
class GradeReport:
    """Every hand-in of a batch, in the order they were taken in, with the batch's duration."""

    challenge: Challenge
    entries: list[Entry] = field(default_factory=list)
    workdir: str = ""
    seconds: float = 0.0

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([e.__dict__ for e in self.entries])

    @property
    def counts(self) -> Counter[str]:
        return Counter(e.status for e in self.entries)

    def failure_reasons(self) -> Counter[str]:
        """How many hand-ins were not scored, by reason (the kind of failure, not where it happened)."""
        return Counter(
            REASONS.get(e.reason, e.reason.replace("-", " ").replace("_", " ") or e.stage or "unknown")
            for e in self.entries
            if e.status in ("failed", "invalid", "rejected", "refused")
        )

    def summary(self) -> str:
        c = self.counts
        graded = c["scored"] + c["failed"] + c["invalid"]
        text = (
            f"graded {graded}: {c['scored']} scored, {c['failed']} failed, {c['invalid']} invalid; "
            f"skipped {c['skipped']} already graded"
        )
        if c["rejected"]:
            text += f"; {c['rejected']} rejected by the submission rules"
        if c["refused"]:
            text += f"; {c['refused']} refused at intake"
        return text + (f" ({self.seconds:.1f} s)" if self.seconds else "")

    def __repr__(self) -> str:
        m = get_metric(self.challenge.spec.metrics.primary)
        lines = [self.summary()]
        for e in self.entries:
            score = f"{m.name} {m.format(e.score)}" if e.score is not None else ""
            err = f"  {e.error.splitlines()[0][:120]}" if e.error else ""
            lines.append(
                f"  #{e.submission_id or '-':<5} {e.status:<9} {e.team[:24]:<24} {e.filename[:28]:<28} {score}{err}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        m = get_metric(self.challenge.spec.metrics.primary)
        e_ = html.escape
        rows = "".join(
            f"<tr><td>{e.submission_id or ''}</td><td>{e_(e.team)}</td><td>{e_(e.filename)}</td>"
            f"<td>{e_(e.status)}</td><td>{e_(m.format(e.score)) if e.score is not None else ''}</td>"
            f"<td>{e_(e.error.splitlines()[0] if e.error else '')}</td></tr>"
            for e in self.entries
        )
        return (
            f"<p>{e_(self.summary())}</p><table><thead><tr><th>#</th><th>team</th><th>file</th>"
            f"<th>status</th><th>public {e_(m.name)}</th><th>error</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )


__all__ = ["ENTRY_STATUSES", "REASONS", "Entry", "GradeReport"]
