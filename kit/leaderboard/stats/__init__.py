"""Leaderboard statistics: paired bootstrap, ranking schemes, significance, the Ladder.

A pure numpy/scipy library: it never reads the ledger. Every function takes the
true values of the test cases, the predictions of every team as one array (teams ×
cases, in the same case order as ``y_true``; teams × cases × columns for multi-column
predictions: multiclass probabilities, survival risk scores with survival curves), the
team names and a :class:`~kit.metrics.Metric` (or its registered name; a metric taking
the challenge's values, such as survival times, bound by ``spec.metric(name)``).

The package is split along its seams: ``_inputs`` (input checks,
:func:`exclude_incomplete`), ``_bootstrap`` (resamples, resampled scores, ranks,
the paired bootstrap), ``_intervals`` (the interval methods, a registry, and the
jackknife), ``_ranking`` (ranking schemes), ``_significance`` (tests, Holm, the tied
top) and ``_ladder`` (the Ladder's rules, a registry); every public name is imported here.

What is computed, and the choices made
--------------------------------------
Paired bootstrap (:func:`paired_bootstrap`)
    Test cases are resampled with replacement; *every team is scored on the same
    resampled cases* (the resamples are paired), so the ranking of each resample
    is meaningful. It yields a confidence interval of each team's score, the
    distribution of each team's rank (rank 1 is the best, whatever the metric
    direction), P(first), and the stability of the ranking: Kendall's tau-b between
    the full-data ranking and the ranking of every resample.
    A resample on which the metric is undefined (e.g. a single class for
    ``roc_auc``, a survival time beyond the follow-up of the resampled cases) is
    dropped for every team and counted in ``n_invalid``.

Intervals (:data:`INTERVALS`)
    ``auto`` by default, chosen for coverage by the metric's kind: for a mean-type metric
    (a per-case loss: Brier, log loss, accuracy, RMSE, MAE) the symmetric studentized
    bootstrap (bootstrap-t) of the mean loss, turned into the score; for the others
    (AUC, c-index, F1, R², ...) Efron's BCa interval, its acceleration from a (grouped,
    beyond :data:`JACKKNIFE_GROUPS` cases) jackknife; the percentile interval for a
    team where those are undefined (said in the ``method`` column of
    :meth:`BootstrapResult.confidence_intervals`). ``studentized``, ``bca`` and
    ``percentile`` by name. ``benchmarks/coverage.py`` measures the coverage of each on
    simulated challenges with known true scores (the percentile interval of an AUC of
    0.98 with 40 positives covers 89%).

Ties (:mod:`kit.leaderboard.ties`)
    Scores within a relative 1e-9 (absolute 1e-12 near zero) are ties, everywhere a
    ranking is made: they share the smallest rank, in the full data and in every
    resample. Float noise (two AUCs one ulp apart) never separates teams.

P(first) (:meth:`BootstrapResult.winner_frequency`)
    Each team's share of the resamples' first places: when ``m`` teams tie for first
    in a resample, each gets ``1 / m``; the column sums to 1.

Speed
    The metric scores every team on every resample itself
    (:meth:`Metric.resample_scores <kit.metrics.Metric.resample_scores>`): a
    metric with a per-case loss in one matrix product over the case
    multiplicities of the resamples; ``roc_auc`` and ``macro_roc_auc`` (exact
    weighted Mann–Whitney statistics), ``balanced_accuracy``, ``f1``, ``mcc``, ``r2``,
    the multiclass label metrics (weighted confusion matrices) and ``c_index``
    (weighted comparable pairs) with their own exact vectorised scorers, declared
    with the metric; any other metric (``uno_c_index``, ``cumulative_auc``,
    ``integrated_brier``, whose censoring weights depend on each resample) by calling
    ``metric.func`` on the resampled arrays. The maths is described in
    :mod:`kit.metrics.resampling`. The jackknife of the BCa interval scores the
    kept cases the same way.

Ranking schemes (:func:`ranking_schemes`)
    *aggregate-then-rank*: rank of the full-data score (the official leaderboard).
    *rank-then-aggregate* (:func:`rank_then_aggregate`): following challengeR,
    teams are ranked on every test case by their per-case loss and the mean rank
    is ranked; only for a metric with a per-case loss.
    *mean bootstrap rank* (:func:`mean_bootstrap_rank`): the mean of the ranks over the
    paired bootstrap resamples, for every metric (AUC, c-index, ... have no per-case
    value to rank).
    *test-based* (:func:`pairwise_significance`): the number of teams a team beats
    significantly.

Significance (:func:`pairwise_significance`, :func:`statistically_tied_top`)
    By default (``method="auto"``), for every metric: a one-sided paired bootstrap
    test of the score difference, ``z = d / se`` where ``d`` is the full-data
    score difference and ``se`` the standard deviation of the difference over the
    paired resamples (normal approximation). It tests what the metric ranks: for a
    mean-type metric (Brier, log loss, accuracy, RMSE, MAE) a difference of mean
    losses, so a team with the worse mean is never "significantly better". The
    Wilcoxon signed-rank test on per-case losses (``method="wilcoxon"``) tests a median
    shift instead and is used only when asked for by name. A Wilcoxon test on the
    bootstrap replicates is *not* used: replicates are not independent observations,
    so its p-value would shrink with the arbitrary number of resamples; and the
    percentile p-value ``#{d_b <= 0} / R`` cannot go below ``1 / R``, so it could
    never survive a Holm correction over many pairs. P-values are corrected with
    Holm's step-down method (:func:`holm`).

Missing values
    A team whose predictions contain NaN or infinite values is never dropped
    silently: the functions raise :class:`~kit.errors.MetricError` naming every
    such team. Call :func:`exclude_incomplete` to leave them out explicitly (it
    reports whom it left out).

The Ladder (:func:`ladder`, :data:`LADDERS`)
    Blum & Hardt (ICML 2015): the parameter-free rule (Algorithm 2) and the rule with
    a fixed step ``eta`` (Algorithm 1), on per-case losses brought into [0, 1].
"""

from ...metrics.resampling import CHUNK, TEAM_BLOCK
from ._bootstrap import BootstrapResult, Seed, bootstrap_indices, paired_bootstrap, rank_scores, resample_scores
from ._inputs import MetricLike, exclude_incomplete
from ._intervals import (
    DEFAULT_INTERVAL,
    INTERVALS,
    JACKKNIFE_GROUPS,
    IntervalMethod,
    get_interval,
    jackknife_groups,
    jackknife_scores,
)
from ._ladder import DEFAULT_LADDER, LADDERS, LadderResult, LadderRule, ladder
from ._ranking import aggregate_then_rank, mean_bootstrap_rank, rank_then_aggregate, ranking_schemes
from ._significance import (
    TEST_DESCRIPTIONS,
    TEST_METHODS,
    SignificanceResult,
    TiedTop,
    holm,
    pairwise_significance,
    statistically_tied_top,
)

__all__ = [
    "CHUNK",
    "DEFAULT_INTERVAL",
    "DEFAULT_LADDER",
    "INTERVALS",
    "JACKKNIFE_GROUPS",
    "LADDERS",
    "TEAM_BLOCK",
    "TEST_DESCRIPTIONS",
    "TEST_METHODS",
    "BootstrapResult",
    "IntervalMethod",
    "LadderResult",
    "LadderRule",
    "MetricLike",
    "Seed",
    "SignificanceResult",
    "TiedTop",
    "aggregate_then_rank",
    "bootstrap_indices",
    "exclude_incomplete",
    "get_interval",
    "holm",
    "jackknife_groups",
    "jackknife_scores",
    "ladder",
    "mean_bootstrap_rank",
    "paired_bootstrap",
    "pairwise_significance",
    "rank_scores",
    "rank_then_aggregate",
    "ranking_schemes",
    "resample_scores",
    "statistically_tied_top",
]
