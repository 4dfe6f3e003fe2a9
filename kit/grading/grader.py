"""``grade``: intake, run, score and record a batch of submissions.

1. intake: every file is read (never following links), stored by content hash and
   recorded in the ledger; the same team and content is recorded once;
2. run: each notebook runs label-blind in its own work folder (:mod:`.submission_run`,
   on the executor of :mod:`.executors`);
3. score: all prediction files of the batch are scored by ONE run of the hidden
   grading notebook (:mod:`.grading_notebook`: papermill, trusted, with the labels), fed
   each file as soon as its notebook has run;
4. record: one ledger run per submission with its status, error and scores (:mod:`.recording`).

A failing submission is recorded and never stops the others. If the grader
stops half-way, submissions without a run are graded on the next call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ..defaults import DEFAULT_EXECUTOR, DEFAULT_SANDBOX, DEFAULT_SCORE_EVERY, DEFAULT_WORKDIR, DEFAULT_WORKERS

if TYPE_CHECKING:  # pragma: no cover
    from .intake import HandIn
    from .report import GradeReport


def grade(
    challenge,
    sources: Sequence = (),
    *,
    team: str | None = None,
    workdir=DEFAULT_WORKDIR,
    sandbox: str = DEFAULT_SANDBOX,
    workers: int = DEFAULT_WORKERS,
    executor: str = DEFAULT_EXECUTOR,
    scheduler=None,
    regrade: bool = False,
    root=None,
    hand_ins: Sequence[HandIn] = (),
    kernel_name: str = "python3",
    now: datetime | None = None,
    progress: bool | None = None,
    warm: bool = True,
    score_every: int = DEFAULT_SCORE_EVERY,
    assignment: str | None = None,
) -> GradeReport:
    """Grade files or folders of submissions for a challenge; see the module docstring.

    ``sandbox``: how participant notebooks are isolated (:mod:`kit.execution.sandbox`);
    ``workers`` and ``executor`` (``local`` or ``dask`` with ``scheduler``): how many run at
    once and where; ``warm``: take pre-warmed kernels; ``now``: the hand-in time of files
    that carry none; ``progress``: a progress bar (default: when there is a terminal or a
    notebook); ``score_every``: scored results are recorded at least every so many runs;
    ``assignment``: the assignment to grade in an nbgrader course directory (default: all).
    """
    # the kernels' zygote starts first, before this process imports what the batch needs; the
    # grading kernel starts at once too, in the background, while the notebooks run
    from .executors import get_executor

    prestarted = get_executor(executor).prestart(sandbox=sandbox, warm=warm)
    try:
        from .session import GradingSession
    except BaseException:
        if prestarted is not None:
            prestarted.close()
        raise
    with GradingSession(
        challenge,
        workdir=workdir,
        sandbox=sandbox,
        workers=workers,
        executor=executor,
        scheduler=scheduler,
        kernel_name=kernel_name,
        warm=warm,
        warm_scorer=True,
        root=root,
        score_every=score_every,
        keep_warm=False,
        prestarted=prestarted,
    ) as session:
        return session.grade(
            sources, team=team, hand_ins=hand_ins, regrade=regrade, now=now, progress=progress, assignment=assignment
        )


__all__ = ["grade"]
