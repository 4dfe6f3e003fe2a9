"""The paired bootstrap: resamples, resampled scores, ranks, :class:`BootstrapResult`."""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps

from ...errors import MetricError, Problem
from ...metrics import Metric, Target, get_metric
from ..ties import tolerant_ranks
from ._inputs import MetricLike, _as_metric, _check_indices, _prepare
from ._intervals import (
    DEFAULT_INTERVAL,
    METHOD_DESCRIPTIONS,
    Studentized,
    get_interval,
    jackknife_scores,
    studentized_spread,
)

#: a seed of :func:`numpy.random.default_rng`
Seed: TypeAlias = int | np.random.Generator | None


# -- resamples ---------------------------------------------------------------------------
def bootstrap_indices(n_cases: int, n_resamples: int = 1000, seed: Seed = 0) -> np.ndarray:
    """Indices of ``n_resamples`` bootstrap resamples of ``n_cases`` cases.

    Parameters
    ----------
    n_cases : int
    n_resamples : int
    seed : int, numpy Generator or None
        The same seed gives the same resamples (used by the benchmark to check
        the kit's scores against scikit-learn on the very same resamples).

    Returns
    -------
    ndarray of int32, shape (n_resamples, n_cases)
        Row ``b`` lists the cases drawn (with replacement) in resample ``b``.
    """
    if n_cases < 1 or n_resamples < 1:
        raise MetricError(
            f"cannot draw {n_resamples} resamples of {n_cases} cases", fix="use at least one case and one resample"
        )
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_cases, size=(n_resamples, n_cases), dtype=np.int32)


def resample_scores(
    y_true: ArrayLike,
    predictions: ArrayLike,
    metric: MetricLike,
    indices: ArrayLike,
    *,
    teams: Iterable[object] | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Score every team on every resample of the test cases.

    The inputs are checked, then scored by :meth:`Metric.resample_scores
    <kit.metrics.Metric.resample_scores>`: the metric's own fast scorer, else its
    per-case losses, else its function on every resample.

    Parameters
    ----------
    y_true : array-like
        True values; for survival an (n, 2) array of (event, time).
    predictions : array-like, shape (teams, cases) or (teams, cases, columns)
        One row per team; multi-column predictions (multiclass probabilities, survival
        risk and curves) are 3-d.
    metric : Metric or str
        A metric that takes the challenge's values (``params``) must be bound:
        ``spec.metric(name)``.
    indices : array-like of int, shape (resamples, draws)
        The cases drawn in each resample (e.g. :func:`bootstrap_indices`); row
        ``np.arange(n)`` scores the full test set.
    teams : sequence of str, optional
        Names used in error messages.
    n_jobs : int, optional
        Threads for the ``roc_auc`` scorer (default: every core).

    Returns
    -------
    ndarray, shape (teams, resamples)
        NaN where the metric is undefined on a resample.
    """
    if teams is None:
        shape = np.shape(predictions)
        teams = [f"team {i + 1}" for i in range(shape[0] if len(shape) >= 2 else 1)]
    metric, y, P, _ = _prepare(y_true, predictions, teams, metric)
    idx = _check_indices(indices, P.shape[1])
    return metric.resample_scores(y, P, idx, n_jobs)


def _observed(metric: Metric, y: Target, P: np.ndarray, n_jobs: int | None, teams: tuple[str, ...]) -> np.ndarray:
    """Full-data scores of every team; raises when the metric is undefined for one, saying why."""
    full = np.arange(P.shape[1])[None, :]
    scores = metric.resample_scores(y, P, full, n_jobs)[:, 0]
    if np.isnan(scores).any():
        undefined = np.flatnonzero(np.isnan(scores))
        names = ", ".join(repr(teams[i]) for i in undefined[:10])
        raise MetricError(
            f"{metric.name} is undefined on the full test set",
            where=f"teams {names}",
            problems=[_why_undefined(metric, y, P[i], teams[i]) for i in undefined[:10]],
            fix="check the test labels and predictions",
        )
    return scores


def _why_undefined(metric: Metric, y: Target, p: np.ndarray, team: str) -> Problem:
    """Why ``metric.func(y, p)`` gives no score: the error it raises (MetricError: its own fix)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = metric.func(y, p)
        except MetricError as exc:
            return Problem(exc.what, where=f"team {team!r}", fix=exc.fix)
        except Exception as exc:  # noqa: BLE001 - reported, not handled
            return Problem(f"{type(exc).__name__}: {exc}", where=f"team {team!r}")
    return Problem(f"the score is {value}", where=f"team {team!r}")


# -- ranks -------------------------------------------------------------------------------
def rank_scores(scores: ArrayLike, metric: MetricLike) -> np.ndarray:
    """Ranks of teams, 1 = best in the metric's direction; ties take the smallest rank.

    Scores equal up to floating-point noise are ties (a relative 1e-9, see
    :mod:`kit.leaderboard.ties`): two teams whose AUCs differ by one ulp share a rank.

    Parameters
    ----------
    scores : array-like, shape (teams,) or (teams, resamples)
        Teams along axis 0.
    metric : Metric or str

    Returns
    -------
    ndarray of int, same shape
    """
    metric = _as_metric(metric)
    return tolerant_ranks(scores, metric.greater_is_better)


def _kendall_taus(reference: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between ``reference`` and every column of ``ranks`` (NaN: constant)."""
    if len(reference) < 2:
        return np.full(ranks.shape[1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant ranking gives NaN
        return np.array([sps.kendalltau(reference, r).statistic for r in ranks.T], dtype=float)


# -- results -----------------------------------------------------------------------------
def _is_registered(metric: Metric) -> bool:
    """True for the registry's own Metric object (not a look-alike with the same name)."""
    try:
        return get_metric(metric.name) is metric
    except MetricError:
        return False


def _bound_values(metric: Metric) -> dict[str, Any] | None:
    """The values a registered metric was bound to (:meth:`Metric.bind`) to make *metric*.

    ``{}`` for the registry's own object; None for anything else (a look-alike, a metric
    bound by other means, one changed after binding), which is pickled as it is.
    """
    try:
        registered = get_metric(metric.name)
    except MetricError:
        return None
    if registered is metric:
        return {}
    func = metric.func
    if not (registered.params and not metric.params and isinstance(func, partial) and func.func is registered.func):
        return None
    values = dict(func.keywords)
    if func.args or set(values) != set(registered.params):
        return None
    if registered.per_case is None:
        if metric.per_case is not None:
            return None
    elif not (
        isinstance(metric.per_case, partial)
        and metric.per_case.func is registered.per_case
        and not metric.per_case.args
        and metric.per_case.keywords.keys() == values.keys()
        and all(metric.per_case.keywords[k] is v for k, v in values.items())
    ):
        return None
    rebound = registered.bind(**values)
    others = (f.name for f in fields(Metric) if f.name not in ("func", "per_case"))
    return values if all(getattr(rebound, name) == getattr(metric, name) for name in others) else None


class _PicklesMetricByName:
    """Results pickle a registered metric by its name (its functions are lambdas), and a
    registered metric bound to a challenge's values (:meth:`Metric.bind`) by its name and
    those values; it is looked up (and bound again) when unpickled."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        metric = state.get("metric")
        if isinstance(metric, Metric):
            values = _bound_values(metric)
            if values == {}:
                state["metric"] = metric.name
            elif values is not None:
                state["metric"] = (metric.name, values)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        metric = state.get("metric")
        if isinstance(metric, str):
            state["metric"] = get_metric(metric)
        elif isinstance(metric, tuple):
            name, values = metric
            state["metric"] = get_metric(name).bind(**values)
        self.__dict__.update(state)


@dataclass(frozen=True, eq=False)
class BootstrapResult(_PicklesMetricByName):
    """Paired bootstrap of a leaderboard.

    Attributes
    ----------
    teams : tuple of str
    metric : Metric
    observed : ndarray (teams,)
        Full-data scores.
    observed_ranks : ndarray (teams,)
        Their ranks (aggregate-then-rank).
    replicates : ndarray (teams, valid resamples)
        Scores on the valid resamples.
    ranks : ndarray (teams, valid resamples)
        Ranks within every resample.
    tau : ndarray (valid resamples,)
        Kendall's tau-b between the full-data ranking and each resample's ranking
        (NaN where a ranking is constant).
    alpha : float
        1 - confidence level of the intervals.
    n_resamples : int
        Resamples drawn; ``n_invalid`` of them were undefined and dropped.
    n_invalid : int
    seed : object
    interval : str
        The interval method (a name of :data:`INTERVALS <kit.leaderboard.stats.INTERVALS>`,
        ``"auto"`` by default: studentized for a mean-type metric, BCa for the others).
    jackknife : ndarray (teams, groups) or None
        Jackknife scores (:func:`~kit.leaderboard.stats.jackknife_scores`), the acceleration
        of the BCa interval; None when the interval method does not need them.
    studentized : Studentized or None
        Mean loss, its standard error and the resamples' t statistics, for the studentized
        interval of a mean-type metric; None when the interval method does not need them.
    n_cases : int
        Test cases scored.
    """

    teams: tuple[str, ...]
    metric: Metric
    observed: np.ndarray = field(repr=False)
    observed_ranks: np.ndarray = field(repr=False)
    replicates: np.ndarray = field(repr=False)
    ranks: np.ndarray = field(repr=False)
    tau: np.ndarray = field(repr=False)
    alpha: float = 0.05
    n_resamples: int = 0
    n_invalid: int = 0
    seed: object = None
    interval: str = DEFAULT_INTERVAL
    jackknife: np.ndarray | None = field(default=None, repr=False)
    studentized: Studentized | None = field(default=None, repr=False)
    n_cases: int = 0

    # -- tables -------------------------------------------------------------------
    def confidence_intervals(self, method: str | None = None) -> pd.DataFrame:
        """The ``1 - alpha`` interval of every team's score.

        Parameters
        ----------
        method : str, optional
            A name of :data:`INTERVALS <kit.leaderboard.stats.INTERVALS>` (default: the
            result's own ``interval``); ``"bca"`` needs the jackknife scores, ``"studentized"``
            the resamples' standard errors: computed when the bootstrap's own method needs them.

        Returns
        -------
        DataFrame indexed by team, columns ``ci_low``, ``ci_high`` and ``method``: the
        method used for that team (``"studentized"``, ``"bca"``, or ``"percentile"`` where
        the others are undefined).
        """
        how = get_interval(method or self.interval)
        low, high, used = how.compute(self)
        return pd.DataFrame({"ci_low": low, "ci_high": high, "method": used}, index=pd.Index(self.teams, name="team"))

    def interval_description(self) -> str:
        """The intervals in words, saying which teams fell back to another method."""
        used = pd.Series(self.confidence_intervals()["method"]).value_counts()
        main = str(used.index[0])
        text = METHOD_DESCRIPTIONS.get(main, main)
        others = [
            f"{METHOD_DESCRIPTIONS.get(str(m), m).split(' interval')[0]} for {k} team(s)"
            for m, k in used.iloc[1:].items()
        ]
        return text + (f" ({', '.join(others)}, where it is undefined)" if others else "")

    def rank_distribution(self) -> pd.DataFrame:
        """Fraction of resamples in which each team (row) takes each rank (column)."""
        T = len(self.teams)
        freq = np.stack([np.bincount(r - 1, minlength=T) for r in self.ranks]) / self.ranks.shape[1]
        return pd.DataFrame(
            freq, index=pd.Index(self.teams, name="team"), columns=pd.Index(np.arange(1, T + 1), name="rank")
        )

    def winner_frequency(self) -> pd.Series:
        """P(first): each team's share of the resamples' first places.

        In a resample where ``m`` teams tie for first, each of them gets ``1 / m``; the
        column therefore sums to 1 (a probability over the teams, not a count of
        resamples in which a team is among the first).
        """
        first = self.ranks == 1
        share = first / first.sum(axis=0, keepdims=True)
        return pd.Series(share.mean(axis=1), index=pd.Index(self.teams, name="team"), name="winner_frequency")

    def stability(self) -> pd.Series:
        """Kendall's tau between the full-data ranking and the resampled rankings."""
        tau = self.tau[~np.isnan(self.tau)]
        if tau.size == 0:
            values = dict(mean=np.nan, std=np.nan, q_low=np.nan, median=np.nan, q_high=np.nan)
        else:
            q = np.quantile(tau, [self.alpha / 2, 0.5, 1 - self.alpha / 2])
            values = dict(
                mean=tau.mean(), std=tau.std(ddof=1) if tau.size > 1 else 0.0, q_low=q[0], median=q[1], q_high=q[2]
            )
        return pd.Series({**values, "n": int(tau.size)}, name="kendall_tau")

    def summary(self) -> pd.DataFrame:
        """One row per team, best first: score, interval, ranks and P(first) (``winner_frequency``,
        first places shared among tied teams)."""
        ci = self.confidence_intervals()
        q = self.alpha / 2
        rank_low, rank_med, rank_high = np.quantile(self.ranks, [q, 0.5, 1 - q], axis=1, method="inverted_cdf")
        df = pd.DataFrame(
            {
                "score": self.observed,
                "ci_low": ci["ci_low"].to_numpy(),
                "ci_high": ci["ci_high"].to_numpy(),
                "rank": self.observed_ranks,
                "median_rank": rank_med.astype(int),
                "rank_ci_low": rank_low.astype(int),
                "rank_ci_high": rank_high.astype(int),
                "mean_rank": self.ranks.mean(axis=1),
                "winner_frequency": self.winner_frequency().to_numpy(),
            },
            index=pd.Index(self.teams, name="team"),
        )
        return df.iloc[np.argsort(self.observed_ranks, kind="stable")]

    def _repr_html_(self) -> str:
        st = self.stability()
        head = (
            f"<p><b>Paired bootstrap</b> of {html.escape(self.metric.name)} {self.metric.arrow} on "
            f"{self.n_cases} cases: {self.replicates.shape[1]} valid resamples of {self.n_resamples}"
            f"{f' ({self.n_invalid} undefined, dropped)' if self.n_invalid else ''}; "
            f"{100 * (1 - self.alpha):g}% {html.escape(self.interval_description())}; "
            "P(first) shares a first place among tied teams. Ranking stability "
            f"(Kendall's tau with the full-data ranking): mean {st['mean']:.3f}, "
            f"{100 * (1 - self.alpha):g}% range [{st['q_low']:.3f}, {st['q_high']:.3f}].</p>"
        )
        precision = self.metric.precision

        def score(v: object) -> str:
            return f"{v:.{precision}f}"

        fmt: dict[str, Callable[[object], str]] = {c: score for c in ("score", "ci_low", "ci_high")}
        fmt.update(mean_rank=lambda v: f"{v:.2f}", winner_frequency=lambda v: f"{v:.1%}")
        return head + self.summary().to_html(formatters=fmt, escape=True)


def paired_bootstrap(
    y_true: ArrayLike,
    predictions: ArrayLike,
    teams: Sequence[str],
    metric: MetricLike,
    *,
    n_resamples: int = 1000,
    seed: Seed = 0,
    alpha: float = 0.05,
    indices: ArrayLike | None = None,
    n_jobs: int | None = None,
    interval: str = DEFAULT_INTERVAL,
) -> BootstrapResult:
    """Paired bootstrap over test cases: the same resamples for every team.

    Parameters
    ----------
    y_true : array-like
        True values of the test cases; for survival an (n, 2) array (event, time).
    predictions : array-like, shape (teams, cases) or (teams, cases, columns)
        One row per team, cases in the order of ``y_true``; 3-d for multi-column
        predictions (multiclass probabilities; survival risk scores then survival
        probabilities at the challenge's times).
    teams : sequence of str
        Distinct team names, one per row.
    metric : Metric or str
        A metric that takes the challenge's values (``params``, e.g. survival times)
        must be bound: ``spec.metric(name)`` or ``get_metric(name).bind(times=...)``.
    n_resamples : int
        Resamples drawn when ``indices`` is not given.
    seed : int, numpy Generator or None
        Seed of the resamples (:func:`bootstrap_indices`).
    alpha : float
        The intervals cover ``1 - alpha``.
    indices : array-like of int, shape (resamples, draws), optional
        Explicit resamples (overrides ``n_resamples`` and ``seed``).
    n_jobs : int, optional
        Threads for the ``roc_auc`` scorer.
    interval : str
        The interval method, a name of :data:`INTERVALS <kit.leaderboard.stats.INTERVALS>`:
        ``"auto"`` (the default: ``"studentized"`` for a metric with a per-case loss,
        ``"bca"`` for the others), ``"studentized"``, ``"bca"`` or ``"percentile"``. What it
        needs (jackknife scores, the resamples' standard errors) is computed here.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    MetricError
        Bad inputs, a team with NaN predictions, or a metric undefined on every resample.
    """
    if not 0 < alpha < 1:
        raise MetricError(f"alpha must lie in (0, 1), got {alpha}", fix="use e.g. alpha=0.05")
    how = get_interval(interval)
    m, y, P, names = _prepare(y_true, predictions, teams, metric)
    needs = how.needs(m)
    n = P.shape[1]
    if indices is None:
        idx = bootstrap_indices(n, n_resamples, seed)
    else:
        idx, seed = _check_indices(indices, n), None
    observed = _observed(m, y, P, n_jobs, names)
    reps = m.resample_scores(y, P, idx, n_jobs)
    valid = ~np.isnan(reps).any(axis=0)
    if not valid.any():
        raise MetricError(
            f"{m.name} is undefined on every resample",
            fix="use more test cases (both classes, or every class, must be drawn; for survival, events "
            "and follow-up beyond the survival times) or more resamples",
        )
    reps = reps[:, valid]
    observed_ranks = rank_scores(observed, m)
    ranks = rank_scores(reps, m)
    tau = _kendall_taus(observed_ranks, ranks)
    return BootstrapResult(
        teams=names,
        metric=m,
        observed=observed,
        observed_ranks=observed_ranks,
        replicates=reps,
        ranks=ranks,
        tau=tau,
        alpha=alpha,
        n_resamples=int(idx.shape[0]),
        n_invalid=int((~valid).sum()),
        seed=seed,
        interval=how.name,
        jackknife=jackknife_scores(m, y, P, n_jobs) if "jackknife" in needs else None,
        studentized=studentized_spread(m, y, P, idx[valid]) if "studentized" in needs else None,
        n_cases=n,
    )
