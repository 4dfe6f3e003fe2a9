"""Ranking schemes: aggregate-then-rank, rank-then-aggregate, and the three side by side."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps

from ...metrics.resampling import team_case_losses
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
    *,
    bootstrap: BootstrapResult | None = None,
    n_resamples: int = 1000,
    seed: Seed = 0,
) -> pd.DataFrame:
    """Rank the teams on every test case, then rank their mean rank (challengeR).

    With a per-case loss, teams are ranked on every case by that loss (ties take
    the smallest rank), as challengeR's ``rankThenAggregate`` does. A metric
    without a per-case loss has no per-case value: the teams are ranked on every
    paired bootstrap resample instead (``bootstrap``, computed if not given).

    Returns
    -------
    DataFrame indexed by team, columns ``mean_rank`` and ``rank``, best first;
    ``df.attrs["basis"]`` says which ranks were averaged.
    """
    m, y, P, names = _prepare(y_true, predictions, teams, metric)
    if m.per_case is not None:
        losses = team_case_losses(m, y, P)
        mean_rank = sps.rankdata(losses, method="min", axis=0).mean(axis=1)
        basis = "test cases"
    else:
        if bootstrap is None:
            bootstrap = paired_bootstrap(y_true, P, names, m, n_resamples=n_resamples, seed=seed)
        _check_same_teams(bootstrap, names)
        mean_rank = bootstrap.ranks.mean(axis=1)
        basis = "bootstrap resamples"
    df = pd.DataFrame(
        {"mean_rank": mean_rank, "rank": sps.rankdata(mean_rank, method="min").astype(int)},
        index=pd.Index(names, name="team"),
    )
    df.attrs["basis"] = basis
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
    """The three rankings side by side: aggregate-then-rank, rank-then-aggregate, test-based.

    Returns
    -------
    DataFrame indexed by team (by full-data rank), columns ``score``,
    ``aggregate_then_rank``, ``rank_then_aggregate``, ``test_based``.
    """
    m = _as_metric(metric)
    agg = aggregate_then_rank(y_true, predictions, teams, m)
    if bootstrap is None and m.per_case is None:  # both other schemes need one: draw it once
        bootstrap = paired_bootstrap(y_true, predictions, teams, m, n_resamples=n_resamples, seed=seed)
    rta = rank_then_aggregate(y_true, predictions, teams, m, bootstrap=bootstrap, n_resamples=n_resamples, seed=seed)
    if significance is None:
        significance = pairwise_significance(
            y_true, predictions, teams, m, alpha=alpha, bootstrap=bootstrap, n_resamples=n_resamples, seed=seed
        )
    test = significance.ranking()
    return pd.DataFrame(
        {
            "score": agg["score"],
            "aggregate_then_rank": agg["rank"],
            "rank_then_aggregate": rta["rank"].reindex(agg.index),
            "test_based": test["rank"].reindex(agg.index),
        }
    )
