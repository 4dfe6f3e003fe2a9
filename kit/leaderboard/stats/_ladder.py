"""The Ladder leaderboard of Blum & Hardt (ICML 2015): :func:`ladder`, :class:`LadderResult`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ...errors import MetricError
from ...metrics.resampling import scores_from_mean_losses
from ._inputs import MetricLike, _as_metric


@dataclass(frozen=True, eq=False)
class LadderResult:
    """The Ladder leaderboard of one team's chronological submissions.

    Attributes
    ----------
    raw : ndarray (submissions,)
        The public score of each submission.
    released : ndarray (submissions,)
        The score the Ladder shows after each submission.
    improved : ndarray of bool (submissions,)
        The submission beat the reference by more than one standard error and
        became the new reference.
    threshold : ndarray (submissions,)
        The standard error ``s / sqrt(n)`` it had to beat, in loss units (inf for
        the first submission).
    """

    raw: np.ndarray
    released: np.ndarray
    improved: np.ndarray
    threshold: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"raw": self.raw, "released": self.released, "improved": self.improved, "threshold": self.threshold},
            index=pd.RangeIndex(1, len(self.raw) + 1, name="submission"),
        )

    def _repr_html_(self) -> str:
        return "<p><b>Ladder leaderboard</b> (Blum &amp; Hardt 2015)</p>" + self.to_frame().to_html()


def ladder(losses: ArrayLike, metric: MetricLike | None = None, *, round_released: bool = True) -> LadderResult:
    """The parameter-free Ladder (Blum & Hardt, ICML 2015, Algorithm 2).

    With ``R_0 = inf`` and ``l_best`` the per-case losses of the last released
    submission: submission ``t`` with losses ``l_t`` and mean loss ``R(f_t)`` is
    released when ``R(f_t) < R_{t-1} - s / sqrt(n)``, where ``s`` is the sample
    standard deviation (``ddof=1``, as in the authors' Ladder.jl) of the paired
    differences ``l_t - l_best``; the released value is ``R(f_t)`` rounded to the
    nearest multiple of ``1 / n``. Otherwise ``R_t = R_{t-1}`` and the reference
    stays. The first submission is always released.

    Parameters
    ----------
    losses : array-like, shape (submissions, cases)
        Per-case losses (lower is better) of one team's submissions in
        chronological order, e.g. ``metric.case_losses(y_public, predictions)``.
    metric : Metric or str, optional
        When given (it must have a per-case loss), ``raw`` and ``released`` are
        turned into scores with ``metric.from_mean_loss``; otherwise they are mean
        losses.
    round_released : bool
        Round released losses to the ``1 / n`` grid as in the paper.

    Returns
    -------
    LadderResult
    """
    L = np.asarray(losses, dtype=float)
    if L.ndim == 1:
        L = L[None, :]
    if L.ndim != 2 or L.shape[0] == 0 or L.shape[1] < 2:
        raise MetricError(
            f"the Ladder needs per-case losses of shape (submissions, cases >= 2), got {L.shape}",
            fix="pass one row of per-case losses per submission, in chronological order",
        )
    if not np.isfinite(L).all():
        bad = np.flatnonzero(~np.isfinite(L).all(axis=1)) + 1
        raise MetricError(
            "per-case losses contain NaN or infinite values",
            where=f"submissions {', '.join(map(str, bad[:10]))}",
            fix="score complete predictions only",
        )
    m = None if metric is None else _as_metric(metric)
    if m is not None and m.per_case is None:
        raise MetricError(
            f"{m.name} has no per-case loss; the Ladder is defined on mean losses",
            fix="use a metric with a per-case loss (e.g. log_loss, brier, accuracy)",
        )
    k, n = L.shape
    mean = L.mean(axis=1)
    released = np.empty(k)
    improved = np.zeros(k, dtype=bool)
    threshold = np.empty(k)
    current = math.inf
    best: int | None = None  # the last released submission
    for t in range(k):
        s = L[t].std(ddof=1) if best is None else (L[t] - L[best]).std(ddof=1)
        threshold[t] = math.inf if best is None else s / math.sqrt(n)
        if mean[t] < current - s / math.sqrt(n):
            current = round(mean[t] * n) / n if round_released else mean[t]
            best = t
            improved[t] = True
        released[t] = current
    if m is not None:
        mean, released = scores_from_mean_losses(m, mean), scores_from_mean_losses(m, released)
    return LadderResult(raw=mean, released=released, improved=improved, threshold=threshold)
