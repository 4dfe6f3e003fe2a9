"""Bootstrap confidence intervals of the scores, a registry keyed by name.

``auto`` (:data:`DEFAULT_INTERVAL`, the boards' method) chooses by the metric's kind:
``studentized`` for a mean-type metric (one with a per-case loss: Brier, log loss,
accuracy, RMSE, MAE), ``bca`` for the others (AUC, c-index, F1, R², ...). A team whose
interval is undefined by that method gets the next one (studentized, then BCa, then
percentile), and :meth:`BootstrapResult.confidence_intervals` names the method of every
team in its ``method`` column.

``studentized`` (symmetric bootstrap-t) — mean-type metrics
    The mean per-case loss ``m`` and its standard error ``s = sd / sqrt(n)``; on every
    paired resample ``t_b = (m_b - m) / s_b``, ``s_b`` the resample's own standard error.
    The interval of the mean loss is ``m ± q s``, ``q`` the ``1 - alpha`` quantile of
    ``|t_b|`` (Hall's symmetric bootstrap-t, whose coverage error is of order ``1/n^2``
    against ``1/n`` for the equal-tailed one), clipped to the loss's range
    ``[0, case_loss_upper]`` and turned into scores by ``metric.from_mean_loss`` (RMSE: the
    square root of the mean squared error, so the RMSE interval is not symmetric). The t
    statistic is nearly pivotal for a mean, so the interval keeps its level where the
    skewness of squared errors makes percentile and BCa intervals too short (RMSE on 100
    cases: about 92.5% for both; ``benchmarks/coverage.py``). It is undefined (and BCa is
    used) when more than ``alpha`` of the resamples have losses all equal, e.g. a 0/1 loss
    with very few errors.

``bca`` — the other metrics
    Efron's bias-corrected and accelerated interval (Efron & Tibshirani 1993, ch. 14; the
    formulas of ``scipy.stats.bootstrap(method="BCa")``): the bias correction
    ``z0 = Phi^-1(p0)``, ``p0`` the share of resampled scores below the full-data score
    (resampled scores tied with it, up to :mod:`kit.leaderboard.ties`'s tolerance, count one
    half, as scipy's ``percentileofscore(kind="mean")``); the acceleration
    ``a = sum U^3 / (6 (sum U^2)^(3/2))``, ``U_i = mean(J) - J_i``, from jackknife scores
    ``J`` (:func:`jackknife_scores`: leave-one-case-out up to :data:`JACKKNIFE_GROUPS`
    cases, beyond that leave-one-group-out over that many groups, a grouped jackknife
    whose ``a`` estimates the same skewness, ``mu3 / (sigma^3 sqrt(n))``); the interval is
    the ``Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q)))`` quantiles of the resampled scores,
    ``q = alpha/2, 1 - alpha/2``. A percentile interval of an AUC near its ceiling is too
    short (0.98 with 40 positives: 89% coverage, upper bounds at 1.0000); BCa holds 94-95%.
    BCa is undefined when every resampled score lies on one side of the full-data score
    (``z0`` infinite) or the adjusted levels are.

``percentile``
    The ``alpha/2`` and ``1 - alpha/2`` quantiles of the resampled scores (linear
    interpolation); the last resort of the others, and available by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from ...errors import MetricError
from ...metrics import Metric, Target
from ...metrics.resampling import CHUNK, scores_from_mean_losses, team_case_losses
from ...registry import Registry
from ..ties import tied

if TYPE_CHECKING:
    from ._bootstrap import BootstrapResult

#: leave-one-out jackknife up to this many cases; beyond, this many groups of cases
JACKKNIFE_GROUPS = 500
#: the interval method of :func:`~kit.leaderboard.stats.paired_bootstrap` and of the boards
DEFAULT_INTERVAL = "auto"

#: what a bootstrap computes for an interval method: ``"jackknife"``, ``"studentized"``
Need = str


@dataclass(frozen=True)
class IntervalMethod:
    """A bootstrap interval method.

    ``needs(metric)``: what the bootstrap must compute for it (``"jackknife"``,
    ``"studentized"``); ``compute(result)``: ``(low, high, method used)``, one entry per
    team of a :class:`~kit.leaderboard.stats.BootstrapResult`.
    """

    name: str
    description: str
    needs: Callable[[Metric], tuple[Need, ...]]
    compute: Callable[[BootstrapResult], tuple[np.ndarray, np.ndarray, np.ndarray]]


def _checked(obj: object) -> IntervalMethod:
    if not isinstance(obj, IntervalMethod):
        raise MetricError(
            f"an interval method must be a kit.leaderboard.stats.IntervalMethod, got {type(obj).__name__}",
            fix="register IntervalMethod(name=..., description=..., needs=..., compute=...)",
        )
    return obj


#: interval methods by name (plug-ins: entry-point group ``challenge_kit.bootstrap_intervals``)
INTERVALS: Registry[IntervalMethod] = Registry(
    "bootstrap interval", error=MetricError, coerce=_checked, hint="kit.leaderboard.stats.INTERVALS.names()"
)


def get_interval(name: str) -> IntervalMethod:
    """The interval method registered as *name*; raises :class:`MetricError` naming the choices."""
    return INTERVALS.get(name)


#: what each method used is called in a board's notes
METHOD_DESCRIPTIONS = {
    "studentized": "symmetric studentized bootstrap (bootstrap-t) intervals",
    "bca": "BCa intervals (bias-corrected and accelerated)",
    "percentile": "percentile intervals",
}


# -- percentile ------------------------------------------------------------------------------
def percentile_interval(result: BootstrapResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``alpha/2`` and ``1 - alpha/2`` quantiles of every team's resampled scores."""
    low, high = np.quantile(result.replicates, [result.alpha / 2, 1 - result.alpha / 2], axis=1)
    return low, high, np.full(len(result.teams), "percentile", dtype=object)


INTERVALS.register(
    IntervalMethod(
        name="percentile",
        description=METHOD_DESCRIPTIONS["percentile"],
        needs=lambda metric: (),
        compute=percentile_interval,
    )
)


# -- BCa ---------------------------------------------------------------------------------------
def bias_correction(observed: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """``z0`` of every team: ``Phi^-1`` of the share of resampled scores below the full-data one
    (ties count one half); infinite when every resampled score lies on one side."""
    obs = observed[:, None]
    equal = tied(replicates, obs)
    below = (replicates < obs) & ~equal
    share = (below.sum(axis=1) + 0.5 * equal.sum(axis=1)) / replicates.shape[1]
    return special.ndtri(share)


def acceleration(jackknife: np.ndarray) -> np.ndarray:
    """``a`` of every team (rows) from its jackknife scores; NaN scores are left out, a team
    whose jackknife scores are all equal has ``a = 0``, one with fewer than two has NaN."""
    J = np.asarray(jackknife, dtype=float)
    out = np.full(J.shape[0], np.nan)
    for t, row in enumerate(J):
        row = row[np.isfinite(row)]
        if row.size < 2:
            continue
        u = row.mean() - row
        den = float(np.sum(u**2))
        out[t] = float(np.sum(u**3)) / (6.0 * den**1.5) if den > 0 else 0.0
    return out


def bca_levels(z0: np.ndarray, a: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The adjusted quantile levels ``(alpha_1, alpha_2)``; NaN where they are undefined."""
    out = []
    for q in (alpha / 2, 1 - alpha / 2):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            z = z0 + special.ndtri(q)
            denom = 1 - a * z
            level = special.ndtr(z0 + z / denom)
        out.append(np.where(np.isfinite(z0) & np.isfinite(a) & (denom > 0), level, np.nan))
    return out[0], out[1]


def _bca_or_percentile(result: BootstrapResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BCa where it is defined, the percentile interval elsewhere."""
    low, high, used = percentile_interval(result)
    if result.jackknife is None:
        raise MetricError(
            "the BCa interval needs the jackknife scores, and this bootstrap has none",
            fix="run paired_bootstrap(..., interval='bca' or 'auto'), or ask for confidence_intervals('percentile')",
        )
    z0 = bias_correction(result.observed, result.replicates)
    lo_level, hi_level = bca_levels(z0, acceleration(result.jackknife), result.alpha)
    for t in np.flatnonzero(np.isfinite(lo_level) & np.isfinite(hi_level)):
        low[t], high[t] = np.quantile(result.replicates[t], [lo_level[t], hi_level[t]])
        used[t] = "bca"
    return low, high, used


INTERVALS.register(
    IntervalMethod(
        name="bca",
        description=METHOD_DESCRIPTIONS["bca"],
        needs=lambda metric: ("jackknife",),
        compute=_bca_or_percentile,
    )
)


# -- studentized ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Studentized:
    """What the bootstrap-t interval of a mean-type metric needs, per team.

    ``mean``: the full-data mean per-case loss; ``se``: its standard error
    ``sd(ddof=1) / sqrt(n)``; ``t``: ``(m_b - m) / s_b`` on every valid resample (0 where
    the resample's losses are all equal to ``m``, infinite where they are equal to another
    value).
    """

    mean: np.ndarray
    se: np.ndarray
    t: np.ndarray


def _moments(losses: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of every team's losses (rows) on every resample (rows of indices)."""
    T, n = losses.shape
    draws = indices.shape[1]
    centred = losses - losses.mean(axis=1, keepdims=True)  # the variance is the same, computed stably
    both = np.vstack([centred, centred**2])  # first and second moments in one product
    sums = np.empty((2 * T, len(indices)))
    for b0 in range(0, len(indices), 4 * CHUNK):
        chunk = indices[b0 : b0 + 4 * CHUNK].astype(np.int64)
        offsets = np.arange(len(chunk), dtype=np.int64)[:, None] * n
        counts = np.bincount((chunk + offsets).ravel(), minlength=len(chunk) * n).reshape(len(chunk), n)
        sums[:, b0 : b0 + len(chunk)] = both @ counts.T.astype(float)
    mean, second = sums[:T] / draws, sums[T:] / draws
    var = second - mean**2
    var[var <= 1e-10 * second] = 0.0  # losses all equal but for rounding: no spread
    var *= draws / max(draws - 1, 1)
    return mean + losses.mean(axis=1, keepdims=True), np.sqrt(var / draws)


def studentized_spread(metric: Metric, y: Target, P: np.ndarray, indices: np.ndarray) -> Studentized:
    """:class:`Studentized` of every team (rows of ``P``) over the resamples ``indices``."""
    losses = team_case_losses(metric, y, P)
    n = losses.shape[1]
    m = losses.mean(axis=1)
    s = losses.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(len(m))
    mb, sb = _moments(losses, indices)
    diff = mb - m[:, None]
    same = tied(mb, m[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(same, 0.0, np.where(sb > 0, diff / np.where(sb > 0, sb, 1.0), np.sign(diff) * np.inf))
    return Studentized(mean=m, se=s, t=t)


def _studentized_bca_or_percentile(result: BootstrapResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The symmetric bootstrap-t interval where it is finite, else BCa, else the percentile interval."""
    st = result.studentized
    if st is None:
        raise MetricError(
            "the studentized interval needs the resamples' standard errors, and this bootstrap has none",
            fix="run paired_bootstrap(..., interval='studentized' or 'auto') with a metric that has a per-case loss",
        )
    low, high, used = _bca_or_percentile(result)
    metric = result.metric
    with np.errstate(invalid="ignore"):  # infinite t (resamples of equal losses): q is inf or NaN, not used
        q = np.quantile(np.abs(st.t), 1 - result.alpha, axis=1)
        loss_low = np.clip(st.mean - q * st.se, 0.0, metric.case_loss_upper)
        loss_high = np.clip(st.mean + q * st.se, 0.0, metric.case_loss_upper)
    ok = np.isfinite(q) & np.isfinite(loss_low) & np.isfinite(loss_high)
    if ok.any():
        a = scores_from_mean_losses(metric, loss_low[ok])
        b = scores_from_mean_losses(metric, loss_high[ok])
        low[ok], high[ok] = np.minimum(a, b), np.maximum(a, b)  # from_mean_loss may decrease (accuracy)
        used[ok] = "studentized"
    return low, high, used


def _needs_per_case(metric: Metric) -> tuple[Need, ...]:
    if metric.per_case is None:
        raise MetricError(
            f"{metric.name} has no per-case loss: the studentized interval is for means of per-case losses",
            fix="use interval='bca' (or 'auto', which chooses BCa for such a metric)",
        )
    return ("studentized", "jackknife")


INTERVALS.register(
    IntervalMethod(
        name="studentized",
        description=METHOD_DESCRIPTIONS["studentized"],
        needs=_needs_per_case,
        compute=_studentized_bca_or_percentile,
    )
)


def _auto(result: BootstrapResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if result.metric.per_case is not None:
        return _studentized_bca_or_percentile(result)
    return _bca_or_percentile(result)


INTERVALS.register(
    IntervalMethod(
        name="auto",
        description="studentized bootstrap intervals for a mean-type metric, BCa intervals for the others",
        needs=lambda metric: ("studentized", "jackknife") if metric.per_case is not None else ("jackknife",),
        compute=_auto,
    )
)


# -- the jackknife ----------------------------------------------------------------------------
def jackknife_groups(n: int, groups: int = JACKKNIFE_GROUPS) -> list[np.ndarray]:
    """The cases left out by each jackknife score: one case each up to *groups* cases, else
    *groups* groups of ``n // groups`` or ``n // groups + 1`` cases (a fixed shuffle, seed 0)."""
    if n <= groups:
        return [np.array([i]) for i in range(n)]
    return list(np.array_split(np.random.default_rng(0).permutation(n), groups))


def jackknife_scores(
    metric: Metric, y: Target, P: np.ndarray, n_jobs: int | None = None, groups: int = JACKKNIFE_GROUPS
) -> np.ndarray:
    """Every team's score with each group of cases (:func:`jackknife_groups`) left out.

    Scored by :meth:`Metric.resample_scores <kit.metrics.Metric.resample_scores>` on the
    kept cases, :data:`~kit.metrics.resampling.CHUNK` groups at a time; a metric scored by
    its mean per-case loss (no scorer of its own) by the mean of the kept losses directly.

    Returns
    -------
    ndarray, shape (teams, groups)
        NaN where the metric is undefined without those cases.
    """
    n = P.shape[1]
    left_out = jackknife_groups(n, groups)
    out = np.full((P.shape[0], len(left_out)), np.nan)
    if n < 2:  # nothing is left once the only case is out
        return out
    if metric.resampled is None and metric.per_case is not None:  # what resample_scores would average
        losses = team_case_losses(metric, y, P)
        total = losses.sum(axis=1, keepdims=True)
        out_sums = np.stack([losses[:, g].sum(axis=1) for g in left_out], axis=1)
        kept = np.array([n - len(g) for g in left_out], dtype=float)
        return scores_from_mean_losses(metric, (total - out_sums) / kept)
    sizes = np.array([len(g) for g in left_out])
    for size in np.unique(sizes):
        which = np.flatnonzero(sizes == size)
        for start in range(0, len(which), CHUNK):
            rows = which[start : start + CHUNK]
            keep = np.ones((len(rows), n), dtype=bool)
            for r, g in enumerate(rows):
                keep[r, left_out[g]] = False
            idx = (np.flatnonzero(keep.ravel()) % n).reshape(len(rows), n - int(size)).astype(np.int32)
            out[:, rows] = metric.resample_scores(y, P, idx, n_jobs)
    return out
