"""Significance: Holm's correction, pairwise one-sided tests, the teams tied at the top."""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps

from ...errors import MetricError
from ...metrics import Metric
from ...metrics.resampling import team_case_losses
from ..ties import tied
from ._bootstrap import BootstrapResult, Seed, _observed, _PicklesMetricByName, paired_bootstrap, rank_scores
from ._inputs import MetricLike, _check_same_teams, _prepare

#: one-sided test methods of :func:`pairwise_significance` and :func:`statistically_tied_top`
TEST_METHODS = ("auto", "wilcoxon", "bootstrap")
#: what each method tests, for the boards' notes and the results' HTML
TEST_DESCRIPTIONS = {
    "bootstrap": "one-sided paired bootstrap z-tests of the score difference",
    "wilcoxon": "one-sided paired Wilcoxon signed-rank tests on per-case losses",
}


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's step-down adjustment of p-values (NaN entries are left out and kept).

    Parameters
    ----------
    p_values : array-like of any shape

    Returns
    -------
    ndarray of the same shape: ``p_(k) -> max_{j<=k} min(1, (m - j + 1) p_(j))``
    for the sorted p-values; reject where the adjusted p-value is ``<= alpha``.
    """
    p = np.asarray(p_values, dtype=float)
    flat = p.ravel()
    out = np.full(flat.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(flat))
    m = ok.size
    if m:
        order = ok[np.argsort(flat[ok], kind="stable")]
        stepped = (m - np.arange(m)) * flat[order]
        out[order] = np.minimum(1.0, np.maximum.accumulate(stepped))
    return out.reshape(p.shape)


def _wilcoxon_pvalues(losses: np.ndarray, i: int, others: np.ndarray) -> np.ndarray:
    """One-sided p-values of "team i has smaller losses than team j" for j in ``others``."""
    if others.size == 0:
        return np.empty(0)
    d = losses[others] - losses[i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.atleast_1d(sps.wilcoxon(d, axis=1, alternative="greater").pvalue).astype(float)
    return np.where(np.isnan(p), 1.0, p)  # identical losses: no evidence


def _bootstrap_pvalues(result: BootstrapResult, i: int, others: np.ndarray) -> np.ndarray:
    """One-sided paired bootstrap p-values of "team i scores better than team j"."""
    sign = 1.0 if result.metric.greater_is_better else -1.0
    diff = sign * (result.observed[i] - result.observed[others])
    diff = np.where(tied(result.observed[i], result.observed[others]), 0.0, diff)  # noise is no difference
    reps = sign * (result.replicates[i] - result.replicates[others])
    se = reps.std(axis=1, ddof=1) if reps.shape[1] > 1 else np.zeros(len(others))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = sps.norm.sf(diff / np.where(se > 0, se, 1.0))
    return np.where(se > 0, p, np.where(diff > 0, 0.0, 1.0))


def _resolve_method(method: str, metric: Metric) -> str:
    """``auto`` is the paired bootstrap test of the score difference, for every metric: it tests
    what the metric ranks (a difference of means for a mean-type metric such as Brier or
    RMSE, of AUCs for AUC). Wilcoxon tests a median shift of the per-case losses instead,
    which can contradict the ranking of a mean; it is used only when asked for by name."""
    if method not in TEST_METHODS:
        raise MetricError(f"unknown test method {method!r}", fix=f"use one of {', '.join(TEST_METHODS)}")
    if method == "auto":
        return "bootstrap"
    if method == "wilcoxon" and metric.per_case is None:
        raise MetricError(
            f"{metric.name} has no per-case loss for a Wilcoxon test", fix="use method='bootstrap' (or 'auto')"
        )
    return method


@dataclass(frozen=True, eq=False)
class SignificanceResult(_PicklesMetricByName):
    """Pairwise one-sided tests between teams.

    Attributes
    ----------
    teams : tuple of str
    metric : Metric
    method : str
        ``"wilcoxon"`` (per-case losses) or ``"bootstrap"`` (paired bootstrap z-test).
    alpha : float
    p_values : ndarray (teams, teams)
        ``p_values[i, j]``: one-sided p-value of "i is better than j" (NaN diagonal).
    adjusted : ndarray (teams, teams)
        Holm-adjusted over all ordered pairs.
    significant : ndarray of bool (teams, teams)
        ``adjusted <= alpha``: i beats j significantly.
    wins : ndarray (teams,)
        Number of teams each team beats significantly.
    rank : ndarray (teams,)
        Test-based rank: the most wins is rank 1, ties take the smallest rank.
    """

    teams: tuple[str, ...]
    metric: Metric
    method: str
    alpha: float
    p_values: np.ndarray = field(repr=False)
    adjusted: np.ndarray = field(repr=False)
    significant: np.ndarray = field(repr=False)
    wins: np.ndarray = field(repr=False)
    rank: np.ndarray = field(repr=False)

    def matrix(self) -> pd.DataFrame:
        """Boolean matrix, rows beat columns significantly."""
        idx = pd.Index(self.teams, name="team")
        return pd.DataFrame(self.significant, index=idx, columns=pd.Index(self.teams, name="beats"))

    def adjusted_p_values(self) -> pd.DataFrame:
        idx = pd.Index(self.teams, name="team")
        return pd.DataFrame(self.adjusted, index=idx, columns=pd.Index(self.teams, name="versus"))

    def ranking(self) -> pd.DataFrame:
        """Teams by test-based rank: ``wins`` and ``rank``."""
        df = pd.DataFrame({"wins": self.wins, "rank": self.rank}, index=pd.Index(self.teams, name="team"))
        return df.sort_values("rank", kind="stable")

    def _repr_html_(self) -> str:
        what = TEST_DESCRIPTIONS[self.method]
        head = (
            f"<p><b>Test-based ranking</b> ({html.escape(self.metric.name)}): {what}, "
            f"Holm-adjusted, alpha = {self.alpha:g}.</p>"
        )
        return head + self.ranking().to_html(escape=True)


def pairwise_significance(
    y_true: ArrayLike,
    predictions: ArrayLike,
    teams: Sequence[str],
    metric: MetricLike,
    *,
    alpha: float = 0.05,
    method: str = "auto",
    bootstrap: BootstrapResult | None = None,
    n_resamples: int = 1000,
    seed: Seed = 0,
) -> SignificanceResult:
    """One-sided paired tests between every ordered pair of teams, Holm-corrected.

    Parameters
    ----------
    y_true, predictions, teams, metric
        As for :func:`paired_bootstrap`.
    alpha : float
        Family-wise error rate over all ``T (T - 1)`` ordered pairs.
    method : {"auto", "wilcoxon", "bootstrap"}
        ``bootstrap``: ``z = d / se`` with ``d`` the full-data score difference
        and ``se`` its standard deviation over paired resamples; p = sf(z). For a
        mean-type metric (a per-case loss: Brier, log loss, accuracy, RMSE, MAE) ``d``
        is a difference of mean losses (on the score's scale), so the test agrees with
        the ranking: a team with the worse mean is never significantly better.
        ``wilcoxon``: Wilcoxon signed-rank test (``scipy.stats.wilcoxon``,
        ``alternative="greater"``, zeros dropped) on the paired per-case loss
        differences; needs a per-case loss. Identical losses give p = 1. It tests a
        shift of the median difference, not of the mean: with skewed losses it can call
        a team with a worse mean significantly better, so it is never chosen by ``auto``.
        ``auto`` (default): ``bootstrap``.
    bootstrap : BootstrapResult, optional
        Reused by the ``bootstrap`` method (computed if not given).

    Returns
    -------
    SignificanceResult

    Notes
    -----
    The Wilcoxon method runs ``T`` vectorised scipy calls on ``(T - 1) × n``
    differences: fine for tens of teams, minutes for hundreds on large test sets.
    """
    m, y, P, names = _prepare(y_true, predictions, teams, metric)
    method = _resolve_method(method, m)
    T = len(names)
    p = np.full((T, T), np.nan)
    if method == "wilcoxon":
        losses = team_case_losses(m, y, P)
        for i in range(T):
            others = np.delete(np.arange(T), i)
            p[i, others] = _wilcoxon_pvalues(losses, i, others)
    else:
        if bootstrap is None:
            bootstrap = paired_bootstrap(
                y_true, P, names, m, n_resamples=n_resamples, seed=seed, interval="percentile"
            )  # the tests need the resampled scores only
        _check_same_teams(bootstrap, names)
        for i in range(T):
            others = np.delete(np.arange(T), i)
            p[i, others] = _bootstrap_pvalues(bootstrap, i, others)
    adjusted = holm(p)
    significant = np.nan_to_num(adjusted, nan=1.0) <= alpha
    wins = significant.sum(axis=1)
    rank = sps.rankdata(-wins, method="min").astype(int)
    return SignificanceResult(
        teams=names,
        metric=m,
        method=method,
        alpha=alpha,
        p_values=p,
        adjusted=adjusted,
        significant=significant,
        wins=wins,
        rank=rank,
    )


@dataclass(frozen=True, eq=False)
class TiedTop:
    """The teams the data cannot separate from the leader.

    Attributes
    ----------
    leader : str
        The best full-data score (the first listed among exact ties).
    teams : tuple of str
        The leader and every team it does not beat significantly, best first.
    table : DataFrame
        Every team: ``score``, ``rank``, ``p_value`` and Holm ``p_adjusted`` of
        "the leader is better", and ``tied``.
    method : str
    alpha : float
    """

    leader: str
    teams: tuple[str, ...]
    table: pd.DataFrame = field(repr=False)
    method: str = "bootstrap"
    alpha: float = 0.05

    @property
    def description(self) -> str:
        """The test, in words (for notes and the HTML)."""
        return TEST_DESCRIPTIONS[self.method]

    def _repr_html_(self) -> str:
        names = ", ".join(html.escape(t) for t in self.teams)
        head = (
            f"<p><b>Statistically tied at the top</b> (leader {html.escape(self.leader)}; "
            f"{self.description}, Holm over {len(self.table) - 1} comparisons, "
            f"alpha = {self.alpha:g}): {names}</p>"
        )
        return head + self.table.to_html(escape=True)


def statistically_tied_top(
    y_true: ArrayLike,
    predictions: ArrayLike,
    teams: Sequence[str],
    metric: MetricLike,
    *,
    alpha: float = 0.05,
    method: str = "auto",
    bootstrap: BootstrapResult | None = None,
    n_resamples: int = 1000,
    seed: Seed = 0,
) -> TiedTop:
    """The teams whose difference with the leader the data cannot establish (for prizes).

    The leader (best full-data score; among teams tied within
    :mod:`kit.leaderboard.ties`'s tolerance, the first listed) is compared with every
    other team by a one-sided paired test of "the leader is better" (``method`` as in
    :func:`pairwise_significance`; by default the paired bootstrap z-test of the score
    difference, which matches the metric: a difference of means for a mean-type
    metric, of AUCs for AUC). The ``T - 1`` p-values are Holm-corrected as one
    family. A team is *tied with the leader* when the leader does not beat it
    significantly. Every such team is reported, even one ranked below a team that the
    leader does beat: a team further from the leader whose differences with it are
    noisier can be tied while a closer, steadier one is not.

    Returns
    -------
    TiedTop
    """
    m, y, P, names = _prepare(y_true, predictions, teams, metric)
    method = _resolve_method(method, m)
    T = len(names)
    if method == "bootstrap":
        if bootstrap is None:
            bootstrap = paired_bootstrap(
                y_true, P, names, m, n_resamples=n_resamples, seed=seed, interval="percentile"
            )  # the tests need the resampled scores only
        _check_same_teams(bootstrap, names)
        observed = bootstrap.observed
    else:
        observed = _observed(m, y, P, None, names)
    ranks = rank_scores(observed, m)
    leader = int(np.flatnonzero(ranks == 1)[0])
    others = np.delete(np.arange(T), leader)
    if bootstrap is not None and method == "bootstrap":
        p_others = _bootstrap_pvalues(bootstrap, leader, others)
    else:
        p_others = _wilcoxon_pvalues(team_case_losses(m, y, P), leader, others)
    p = np.full(T, np.nan)
    p[others] = p_others
    adjusted = holm(p)
    tied = np.nan_to_num(adjusted, nan=1.0) > alpha
    tied[leader] = True
    table = pd.DataFrame(
        {"score": observed, "rank": ranks, "p_value": p, "p_adjusted": adjusted, "tied": tied},
        index=pd.Index(names, name="team"),
    )
    table = table.iloc[np.argsort(ranks, kind="stable")]
    return TiedTop(
        leader=names[leader], teams=tuple(table.index[table["tied"]]), table=table, method=method, alpha=alpha
    )
