"""The Ladder leaderboard of Blum & Hardt (ICML 2015): :func:`ladder`, :class:`LadderResult`,
and its two rules, a registry keyed by name (:data:`LADDERS`).

The Ladder shows a team a new public score only when a submission beats the score shown
so far by a margin, and rounds what it shows; a team then learns little about the public
cases from its many submissions, and the public board stays an honest estimate.

The rules (``method``)
    ``parameter-free`` (Algorithm 2 of the paper; :data:`DEFAULT_LADDER`): submission
    ``t`` is released when its mean loss ``R_t < R_shown - s / sqrt(n)``, ``s`` the
    sample standard deviation (``ddof=1``, as in the authors' Ladder.jl) of the paired
    per-case differences with the submission shown; the value shown is ``R_t`` rounded
    to the nearest multiple of ``1 / n``.
    ``fixed`` (Algorithm 1, "the Ladder" with a step ``eta``): released when
    ``R_t < R_shown - eta``; shown rounded to the nearest multiple of ``eta``.
    In both, the first submission is always released, and a submission that is not
    released leaves the shown one in place.

Bounded losses
    The paper's guarantee (the leaderboard error bound of its Theorem 3.1) assumes
    every per-case loss in [0, 1]: the rounding grid and ``eta`` are in those units.
    The losses are therefore divided by ``loss_scale`` before the rule is applied:

    * a metric whose per-case loss is bounded (:attr:`Metric.case_loss_upper
      <kit.metrics.Metric.case_loss_upper>`: Brier 1, 0-1 loss 1, multiclass Brier 2)
      is divided by its bound, so the guarantee holds as stated;
    * an unbounded loss (squared error for RMSE, absolute error for MAE, log loss)
      has no such bound: ``loss_scale`` must be given. The board passes the mean loss,
      on the public cases, of the challenge's constant baseline (the sample
      submission's constant prediction, learnt from the training table), so the
      rounding grid and ``eta`` are fractions of the baseline's loss (a mean of 1 is
      the baseline). The released values are then meaningful, but the paper's bound
      does not strictly apply: a rescaled per-case loss can still exceed 1.
      Without ``loss_scale`` such a metric is refused, naming the fix.

    Released values are reported back in the metric's units (mean losses times
    ``loss_scale``, then the score by ``metric.from_mean_loss``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ...errors import MetricError
from ...metrics import Metric
from ...metrics.resampling import scores_from_mean_losses
from ...registry import Registry
from ._inputs import MetricLike, _as_metric

#: the Ladder of the boards (``kit leaderboard --ladder``)
DEFAULT_LADDER = "parameter-free"


@dataclass(frozen=True)
class LadderRule:
    """One rule of the Ladder: the margin a submission must beat, and the rounding grid.

    ``margin(losses, shown, eta)``: the margin by which submission losses ``losses`` (one
    row, in [0, 1] units) must beat the mean of the shown submission's ``shown`` (None
    before the first release). ``grid(n, eta)``: released values are rounded to the
    nearest multiple of it.
    """

    name: str
    description: str
    needs_eta: bool
    margin: Callable[[np.ndarray, np.ndarray | None, float | None], float]
    grid: Callable[[int, float | None], float]


def _checked(obj: object) -> LadderRule:
    if not isinstance(obj, LadderRule):
        raise MetricError(
            f"a Ladder rule must be a kit.leaderboard.stats.LadderRule, got {type(obj).__name__}",
            fix="register LadderRule(name=..., description=..., needs_eta=..., margin=..., grid=...)",
        )
    return obj


#: the Ladder's rules by name (plug-ins: entry-point group ``challenge_kit.ladders``)
LADDERS: Registry[LadderRule] = Registry(
    "ladder", error=MetricError, coerce=_checked, hint="kit.leaderboard.stats.LADDERS.names()"
)


def _free_margin(losses: np.ndarray, shown: np.ndarray | None, eta: float | None) -> float:
    if shown is None:
        return math.inf  # the first submission is always released (R_0 = inf)
    return float(np.std(losses - shown, ddof=1)) / math.sqrt(losses.size)


LADDERS.register(
    LadderRule(
        name="parameter-free",
        description="parameter-free Ladder: released when better by one standard error of the paired "
        "differences, rounded to 1/n",
        needs_eta=False,
        margin=_free_margin,
        grid=lambda n, eta: 1.0 / n,
    )
)


def _fixed_margin(losses: np.ndarray, shown: np.ndarray | None, eta: float | None) -> float:
    assert eta is not None
    return math.inf if shown is None else eta


LADDERS.register(
    LadderRule(
        name="fixed",
        description="Ladder with a fixed step eta: released when better by eta, rounded to a multiple of eta",
        needs_eta=True,
        margin=_fixed_margin,
        grid=lambda n, eta: float(eta) if eta is not None else math.nan,
    )
)


@dataclass(frozen=True, eq=False)
class LadderResult:
    """The Ladder leaderboard of one team's chronological submissions.

    Attributes
    ----------
    raw : ndarray (submissions,)
        The public score of each submission (the mean loss without a metric).
    released : ndarray (submissions,)
        The score the Ladder shows after each submission.
    improved : ndarray of bool (submissions,)
        The submission beat the shown one by the margin and became the shown one.
    threshold : ndarray (submissions,)
        The margin it had to beat, in the losses' own units (inf for the first).
    shown : ndarray of int (submissions,)
        Index (0-based) of the submission whose score is shown after each submission:
        the last one released. Every statistic of a Ladder board is of ``shown[-1]``.
    method : str
        The rule (a name of :data:`LADDERS`).
    eta : float or None
        The step of the ``fixed`` rule, in [0, 1] units (losses divided by ``loss_scale``).
    loss_scale : float
        What the per-case losses were divided by.
    """

    raw: np.ndarray
    released: np.ndarray
    improved: np.ndarray
    threshold: np.ndarray
    shown: np.ndarray
    method: str = DEFAULT_LADDER
    eta: float | None = None
    loss_scale: float = 1.0

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "raw": self.raw,
                "released": self.released,
                "improved": self.improved,
                "threshold": self.threshold,
                "shown": self.shown + 1,
            },
            index=pd.RangeIndex(1, len(self.raw) + 1, name="submission"),
        )

    def _repr_html_(self) -> str:
        rule = LADDERS.get(self.method).description
        return f"<p><b>Ladder leaderboard</b> (Blum &amp; Hardt 2015; {rule})</p>" + self.to_frame().to_html()


def _resolve_scale(m: Metric | None, L: np.ndarray, loss_scale: float | None) -> float:
    """What the losses are divided by so that they lie in [0, 1] (see the module docstring)."""
    if loss_scale is not None:
        if not (math.isfinite(loss_scale) and loss_scale > 0):
            raise MetricError(
                f"loss_scale must be a positive number, got {loss_scale}",
                fix="pass the bound of the per-case loss, or the mean loss of a constant baseline",
            )
        return float(loss_scale)
    if m is not None:
        if math.isfinite(m.case_loss_upper):
            return float(m.case_loss_upper)
        raise MetricError(
            f"{m.name}'s per-case loss is unbounded, and the Ladder assumes losses in [0, 1]",
            fix="pass loss_scale=..., e.g. the mean loss of a constant baseline on the same cases "
            "(the board uses the sample submission's constant prediction)",
        )
    if L.min() < 0 or L.max() > 1:
        raise MetricError(
            f"per-case losses lie in [{L.min():g}, {L.max():g}], and the Ladder assumes losses in [0, 1]",
            fix="pass the metric (its per-case loss bound rescales them) or loss_scale=...",
        )
    return 1.0


def ladder(
    losses: ArrayLike,
    metric: MetricLike | None = None,
    *,
    method: str = DEFAULT_LADDER,
    eta: float | None = None,
    loss_scale: float | None = None,
    round_released: bool = True,
) -> LadderResult:
    """The Ladder over one team's submissions (Blum & Hardt, ICML 2015; see the module docstring).

    Parameters
    ----------
    losses : array-like, shape (submissions, cases)
        Per-case losses (lower is better) of one team's submissions in
        chronological order, e.g. ``metric.case_losses(y_public, predictions)``.
    metric : Metric or str, optional
        When given (it must have a per-case loss), ``raw`` and ``released`` are
        turned into scores with ``metric.from_mean_loss``, and a bounded per-case loss
        is divided by its bound; otherwise they are mean losses, which must lie in [0, 1]
        unless ``loss_scale`` is given.
    method : str
        ``"parameter-free"`` (default) or ``"fixed"`` (a name of :data:`LADDERS`).
    eta : float, optional
        The step of the ``fixed`` rule, in [0, 1] units; required by it, refused by the other.
    loss_scale : float, optional
        Divide the losses by this (see "Bounded losses" in the module docstring);
        required for a metric with an unbounded per-case loss.
    round_released : bool
        Round released values to the rule's grid, as in the paper.

    Returns
    -------
    LadderResult
    """
    rule = LADDERS.get(method)
    if rule.needs_eta and (eta is None or not (math.isfinite(eta) and eta > 0)):
        raise MetricError(
            f"the {rule.name!r} Ladder needs a positive step eta, got {eta}",
            fix="pass eta=..., in [0, 1] loss units (e.g. 0.01: one hundredth of the loss range)",
        )
    if not rule.needs_eta and eta is not None:
        raise MetricError(
            f"the {rule.name!r} Ladder takes no step eta", fix="use method='fixed' with eta, or leave eta out"
        )
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
    scale = _resolve_scale(m, L, loss_scale)
    U = L / scale
    k, n = U.shape
    grid = rule.grid(n, eta)
    mean = U.mean(axis=1)
    released = np.empty(k)
    improved = np.zeros(k, dtype=bool)
    threshold = np.empty(k)
    shown = np.empty(k, dtype=int)
    current = math.inf
    best: int | None = None  # the submission shown
    for t in range(k):
        margin = rule.margin(U[t], None if best is None else U[best], eta)
        threshold[t] = margin * scale
        if best is None or mean[t] < current - margin:
            current = round(mean[t] / grid) * grid if round_released else mean[t]
            best = t
            improved[t] = True
        released[t] = current
        shown[t] = best
    raw, out = mean * scale, released * scale
    if m is not None:
        raw, out = scores_from_mean_losses(m, raw), scores_from_mean_losses(m, out)
    return LadderResult(
        raw=raw,
        released=out,
        improved=improved,
        threshold=threshold,
        shown=shown,
        method=rule.name,
        eta=eta,
        loss_scale=scale,
    )
