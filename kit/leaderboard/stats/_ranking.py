"""Ranking schemes: aggregate-then-rank, rank-then-aggregate, mean bootstrap rank, side by side."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from numpy.typing import ArrayLike

from ...errors import MetricError
from ...metrics.resampling import team_case_losses
from ..ties import tolerant_ranks
from ._bootstrap import BootstrapResult, Seed, _observed, paired_bootstrap, rank_scores
from ._inputs import MetricLike, _as_metric, _check_same_teams, _prepare
from ._significance import SignificanceResult, pairwise_significance


def aggregate_then_rank(
    y_true: ArrayLike, predictions: ArrayLike, teams: Sequence[str], metric: MetricLike
) -> pd.DataFrame:
    """Full-data score of every team and its rank (the official leaderboard order).

    Returns
    -------
    DataFrame indexed by team, columns ``score`` and ``rank``, best first.
    """
    m, y, P, names = _prepare(y_true, predictions, teams, metric)
    scores = _observed(m, y, P, None, names)
    df = pd.DataFrame({"score": scores, "rank": rank_scores(scores, m)}, index=pd.Index(names, name="team"))
    return df.sort_values("rank", kind="stable")


def rank_then_aggregate(
    y_true: ArrayLike,
    predictions: ArrayLike,
    teams: Sequence[str],
    metric: MetricLike,
) -> pd.DataFrame:
    """Rank the teams on every test case by their per-case loss, then rank their mean rank.

    challengeR's ``rankThenAggregate``: on each case the teams are ranked by their
    per-case loss (lower is better; ties, up to :mod:`kit.leaderboard.ties`'s tolerance,
    take the smallest rank), and the teams are ranked by their mean rank over the cases.
    It needs a per-case loss: a metric without one (AUC, c-index, F1) has no per-case
    value to rank; :func:`mean_bootstrap_rank` ranks such teams by their mean rank over
    bootstrap resamples instead, which is another scheme.

    Returns
    -------
    DataFrame indexed by team, columns ``mean_rank`` and ``rank``, best first.

    Raises
    ------
    MetricError
        The metric has no per-case loss.
    """
    m, y, P, names = _prepare(y_true, predictions, teams, metric)
    if m.per_case is None:
        raise MetricError(
            f"{m.name} has no per-case loss: its teams cannot be ranked case by case",
            fix="use mean_bootstrap_rank(...) (the mean rank over paired bootstrap resamples) "
            "or aggregate_then_rank(...)",
        )
    losses = team_case_losses(m, y, P)
    mean_rank = tolerant_ranks(losses, greater_is_better=False).mean(axis=1)
    df = pd.DataFrame(
        {"mean_rank": mean_rank, "rank": tolerant_ranks(mean_rank, greater_is_better=False)},
        index=pd.Index(names, name="team"),
    )
    return df.sort_values("rank", kind="stable")


def mean_bootstrap_rank(
    y_true: ArrayLike,
    predictions: ArrayLike,
    teams: Sequence[str],
    metric: MetricLike,
    *,
    bootstrap: BootstrapResult | None = None,
    n_resamples: int = 1000,
    seed: Seed = 0,
) -> pd.DataFrame:
    """Rank the teams by their mean rank over paired bootstrap resamples.

    Every resample ranks the teams by their score on it (:attr:`BootstrapResult.ranks`);
    the teams are ranked by the mean of those ranks. Defined for every metric; for a
    metric with a per-case loss, :func:`rank_then_aggregate` is challengeR's
    case-by-case scheme.

    Returns
    -------
    DataFrame indexed by team, columns ``mean_rank`` and ``rank``, best first.
    """
    m, _, P, names = _prepare(y_true, predictions, teams, metric)
    if bootstrap is None:
        bootstrap = paired_bootstrap(y_true, P, names, m, n_resamples=n_resamples, seed=seed, interval="percentile")
    _check_same_teams(bootstrap, names)
    mean_rank = bootstrap.ranks.mean(axis=1)
    df = pd.DataFrame(
        {"mean_rank": mean_rank, "rank": tolerant_ranks(mean_rank, greater_is_better=False)},
        index=pd.Index(names, name="team"),
    )
    return df.sort_values("rank", kind="stable")


def ranking_schemes(
    y_true: ArrayLike,
    predictions: ArrayLike,
    teams: Sequence[str],
    metric: MetricLike,
    *,
    bootstrap: BootstrapResult | None = None,
    significance: SignificanceResult | None = None,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    seed: Seed = 0,
) -> pd.DataFrame:
    """The rankings side by side: aggregate-then-rank, rank-then-aggregate (with a per-case
    loss only), mean bootstrap rank, test-based.

    Returns
    -------
    DataFrame indexed by team (by full-data rank), columns ``score``,
    ``aggregate_then_rank``, ``rank_then_aggregate`` (only for a metric with a per-case
    loss), ``mean_bootstrap_rank`` and ``test_based``.
    """
    m = _as_metric(metric)
    agg = aggregate_then_rank(y_true, predictions, teams, m)
    if bootstrap is None:  # both other schemes need one: draw it once
        bootstrap = paired_bootstrap(
            y_true, predictions, teams, m, n_resamples=n_resamples, seed=seed, interval="percentile"
        )
    columns = {"score": agg["score"], "aggregate_then_rank": agg["rank"]}
    if m.per_case is not None:
        columns["rank_then_aggregate"] = rank_then_aggregate(y_true, predictions, teams, m)["rank"].reindex(agg.index)
    mbr = mean_bootstrap_rank(y_true, predictions, teams, m, bootstrap=bootstrap)
    columns["mean_bootstrap_rank"] = mbr["rank"].reindex(agg.index)
    if significance is None:
        significance = pairwise_significance(y_true, predictions, teams, m, alpha=alpha, bootstrap=bootstrap)
    columns["test_based"] = significance.ranking()["rank"].reindex(agg.index)
    return pd.DataFrame(columns)
