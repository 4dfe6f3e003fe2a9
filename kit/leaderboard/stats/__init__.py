"""Leaderboard statistics: paired bootstrap, ranking schemes, significance, the Ladder.

A pure numpy/scipy library: it never reads the ledger. Every function takes the
true values of the test cases, the predictions of every team as one array (teams ×
cases, in the same case order as ``y_true``; teams × cases × columns for multi-column
predictions: multiclass probabilities, survival risk scores with survival curves), the
team names and a :class:`~kit.metrics.Metric` (or its registered name; a metric taking
the challenge's values, such as survival times, bound by ``spec.metric(name)``).

The package is split along its seams: ``_inputs`` (input checks,
:func:`exclude_incomplete`), ``_bootstrap`` (resamples, resampled scores, ranks,
the paired bootstrap), ``_ranking`` (ranking schemes), ``_significance`` (tests,
Holm, the tied top) and ``_ladder``; every public name is imported here.

What is computed, and the choices made
--------------------------------------
Paired bootstrap (:func:`paired_bootstrap`)
    Test cases are resampled with replacement; *every team is scored on the same
    resampled cases* (the resamples are paired), so the ranking of each resample
    is meaningful. It yields a percentile confidence interval of each team's
    score, the distribution of each team's rank (rank 1 is the best, whatever the
    metric direction; ties take the smallest rank), how often each team wins, and
    the stability of the ranking: Kendall's tau-b between the full-data ranking
    and the ranking of every resample.
    A resample on which the metric is undefined (e.g. a single class for
    ``roc_auc``, a survival time beyond the follow-up of the resampled cases) is
    dropped for every team and counted in ``n_invalid``.

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
    :mod:`kit.metrics.resampling`.

Ranking schemes (:func:`ranking_schemes`)
    *aggregate-then-rank*: rank of the full-data score (the official leaderboard).
    *rank-then-aggregate* (:func:`rank_then_aggregate`): following challengeR,
    teams are ranked on every test case by their per-case loss and the mean rank
    is ranked; for a metric without per-case loss (AUC, c-index, ...) there is no
    per-case value, so the teams are ranked on every bootstrap resample instead.
    *test-based* (:func:`pairwise_significance`): the number of teams a team beats
    significantly.

Significance (:func:`pairwise_significance`, :func:`statistically_tied_top`)
    With a per-case loss: one-sided paired Wilcoxon signed-rank tests on the
    per-case losses (``scipy.stats.wilcoxon``, zeros dropped). Without one: a
    one-sided paired bootstrap test, ``z = d / se`` where ``d`` is the full-data
    score difference and ``se`` the standard deviation of the difference over the
    paired resamples (normal approximation). A Wilcoxon test on the bootstrap
    replicates is *not* used: replicates are not independent observations, so its
    p-value would shrink with the arbitrary number of resamples; and the
    percentile p-value ``#{d_b <= 0} / R`` cannot go below ``1 / R``, so it could
    never survive a Holm correction over many pairs. P-values are corrected with
    Holm's step-down method (:func:`holm`).

Missing values
    A team whose predictions contain NaN or infinite values is never dropped
    silently: the functions raise :class:`~kit.errors.MetricError` naming every
    such team. Call :func:`exclude_incomplete` to leave them out explicitly (it
    reports whom it left out).

The Ladder (:func:`ladder`)
    The parameter-free Ladder of Blum & Hardt (ICML 2015, Algorithm 2).
"""

from ...metrics.resampling import CHUNK, TEAM_BLOCK
from ._bootstrap import BootstrapResult, Seed, bootstrap_indices, paired_bootstrap, rank_scores, resample_scores
from ._inputs import MetricLike, exclude_incomplete
from ._ladder import LadderResult, ladder
from ._ranking import aggregate_then_rank, rank_then_aggregate, ranking_schemes
from ._significance import (
    TEST_METHODS,
    SignificanceResult,
    TiedTop,
    holm,
    pairwise_significance,
    statistically_tied_top,
)

__all__ = [
    "CHUNK",
    "TEAM_BLOCK",
    "TEST_METHODS",
    "BootstrapResult",
    "LadderResult",
    "MetricLike",
    "Seed",
    "SignificanceResult",
    "TiedTop",
    "aggregate_then_rank",
    "bootstrap_indices",
    "exclude_incomplete",
    "holm",
    "ladder",
    "paired_bootstrap",
    "pairwise_significance",
    "rank_scores",
    "rank_then_aggregate",
    "ranking_schemes",
    "resample_scores",
    "statistically_tied_top",
]
