"""Leaderboard statistics against independent references.

References: scikit-learn metrics on explicitly resampled arrays, scipy.stats
(wilcoxon, kendalltau, rankdata), and small cases worked out by hand.
"""

from __future__ import annotations

import math
import pickle
import warnings
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from kit.errors import KitError, MetricError
from kit.leaderboard import stats
from kit.metrics import METRICS, Metric, check_inputs, get_metric, get_metric_names, register
from kit.metrics import resampling as rs


# -- data --------------------------------------------------------------------------
def binary_problem(n=60, teams=5, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(float)
    skill = np.linspace(0.1, 0.6, teams)[:, None]
    P = np.clip(0.5 + skill * (y - 0.5) * 2 * rng.random((teams, n)) + rng.normal(0, 0.2, (teams, n)), 0, 1)
    P[1] = np.round(P[1], 1)  # ties within a team, and between classes
    P[2] = 0.5  # a constant team: every case tied
    return y, P, [f"t{i}" for i in range(teams)]


def regression_problem(n=50, teams=4, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    P = y + rng.normal(0, np.linspace(0.2, 2, teams)[:, None], (teams, n))
    P[3] = y  # a perfect team
    return y, P, [f"r{i}" for i in range(teams)]


def survival_problem(n=40, teams=3, seed=2):
    rng = np.random.default_rng(seed)
    time = rng.exponential(size=n)
    event = rng.random(n) < 0.7
    P = -time + rng.normal(0, np.linspace(0.1, 2, teams)[:, None], (teams, n))
    return np.column_stack([event, time]), P, [f"s{i}" for i in range(teams)]


#: survival times of the curves of survival_curve_problem, bound to the metrics that take them
TIMES = (0.3, 0.7, 1.2)


def survival_curve_problem(n=60, teams=3, seed=2):
    """Risk scores and survival probabilities at TIMES: predictions (teams, cases, 1 + times)."""
    rng = np.random.default_rng(seed)
    time = rng.exponential(size=n) + 0.05
    event = rng.random(n) < 0.7
    noise = np.linspace(0.1, 2, teams)[:, None]
    risk = -time + rng.normal(0, noise, (teams, n))
    alive = (time[:, None] > np.array(TIMES)).astype(float)
    curves = np.clip(0.2 + 0.6 * alive + rng.normal(0, 0.15 * noise[:, :, None], (teams, n, len(TIMES))), 0, 1)
    return (
        np.column_stack([event, time]),
        np.concatenate([risk[:, :, None], curves], axis=2),
        [f"c{i}" for i in range(teams)],
    )


def multiclass_problem(n=60, teams=4, k=3, seed=3):
    """Class codes 0..k-1 and predict_proba-like rows: predictions (teams, cases, k)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n).astype(float)
    skill = np.linspace(0.2, 2.0, teams)[:, None, None]
    P = np.eye(k)[y.astype(int)][None] * skill + rng.random((teams, n, k))
    P /= P.sum(axis=2, keepdims=True)
    return y, P, [f"m{i}" for i in range(teams)]


def problem_for(metric):
    if metric.task == "survival" and metric.name != "c_index":
        return survival_curve_problem()
    problems = {"binary": binary_problem, "regression": regression_problem, "multiclass": multiclass_problem}
    return problems.get(metric.task, survival_problem)()


def reference_scores(metric, y, P, indices):
    """metric.func on the resampled arrays; NaN where it is undefined (an exception, or a
    single class for a metric registered with ``needs_both_classes``)."""
    y_checked, _ = check_inputs(metric, y, P[0])
    out = np.full((len(P), len(indices)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b, idx in enumerate(indices):
            yb = tuple(part[idx] for part in y_checked) if isinstance(y_checked, tuple) else y_checked[idx]
            if metric.needs_both_classes and len(np.unique(yb)) < 2:
                continue
            for t, p in enumerate(P):
                try:
                    out[t, b] = metric.func(yb, p[idx])
                except (ValueError, MetricError):
                    pass
    return out


# -- resampled scores ----------------------------------------------------------------
def test_fast_auc_matches_sklearn_on_resamples_with_ties():
    y, P, teams = binary_problem(n=80, teams=6)
    P[3] = np.round(P[3], 2)
    idx = stats.bootstrap_indices(len(y), 40, seed=7)
    fast = stats.resample_scores(y, P, "roc_auc", idx, teams=teams)
    for b in range(len(idx)):
        for t in range(len(P)):
            assert fast[t, b] == pytest.approx(roc_auc_score(y[idx[b]], P[t, idx[b]]), abs=1e-12)


def test_fast_auc_other_draw_counts_single_class_and_wide_lanes():
    y, P, _ = binary_problem(n=30, teams=3)
    rng = np.random.default_rng(3)
    negatives = np.flatnonzero(y == 0)
    idx = np.vstack([rng.integers(0, 30, 30) for _ in range(5)])
    short = rng.integers(0, 30, (3, 12))  # fewer draws than cases
    single = rng.choice(negatives, (1, 30))  # one class only: undefined
    wide = rng.integers(0, 30, (2, 40_000))  # 2m >= 2**16: 32-bit lanes
    for indices in (idx, short, single, wide):
        fast = stats.resample_scores(y, P, "roc_auc", indices)
        for b, row in enumerate(indices):
            for t in range(len(P)):
                if len(np.unique(y[row])) < 2:
                    assert np.isnan(fast[t, b])
                else:
                    assert fast[t, b] == pytest.approx(roc_auc_score(y[row], P[t, row]), abs=1e-12)


def test_auc_is_the_same_with_one_or_several_threads():
    y, P, _ = binary_problem(n=100, teams=7)
    idx = stats.bootstrap_indices(100, 30, seed=1)
    one = stats.resample_scores(y, P, "roc_auc", idx, n_jobs=1)
    two = stats.resample_scores(y, P, "roc_auc", idx, n_jobs=2)
    assert np.array_equal(one, two)


@pytest.mark.parametrize("name", get_metric_names())
def test_every_metric_resamples_like_its_own_function(name):
    """Each metric's own scorer (per-case losses, AUC, confusion counts, R², or the loop over
    metric.func) equals metric.func on explicitly resampled arrays, through stats and directly."""
    metric = get_metric(name).bind(times=TIMES)
    y, P, teams = problem_for(metric)
    n = P.shape[1]
    rng = np.random.default_rng(11)
    idx = [rng.integers(0, n, n) for _ in range(12)] + [np.arange(n)]
    if metric.task == "binary":  # degenerate resamples: a single class, a single case
        idx += [np.repeat(np.flatnonzero(y == 0), 2)[:n], np.full(n, np.flatnonzero(y == 1)[0])]
    idx = np.vstack(idx)
    got = stats.resample_scores(y, P, metric, idx, teams=teams)
    want = reference_scores(metric, y, P, idx)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-10, atol=1e-12)
    y_checked, _ = check_inputs(metric, y, P[0])
    direct = metric.resample_scores(y_checked, np.asarray(P, dtype=float), idx)
    np.testing.assert_array_equal(direct, got)
    if metric.resampled is not None or metric.per_case is not None:  # the fast path agrees with the loop too
        loop = rs.generic_scores(metric, y_checked, np.asarray(P, dtype=float), idx)
        assert np.array_equal(np.isnan(got), np.isnan(loop))
        np.testing.assert_allclose(got[~np.isnan(got)], loop[~np.isnan(loop)], rtol=1e-10, atol=1e-12)


def test_resample_scores_picks_the_metrics_own_scorer():
    """Own scorer first, then the per-case matrix product, then the loop over metric.func."""
    calls = []

    def own(metric, y, P, indices, n_jobs):
        calls.append(n_jobs)
        return np.zeros((len(P), len(indices)))

    y, P, _ = binary_problem()
    idx = stats.bootstrap_indices(len(y), 4, seed=0)
    for name in ("brier", "average_precision"):
        base = get_metric(name)
        out = replace(base, resampled=own).resample_scores(y, P, idx, n_jobs=3)
        assert calls.pop() == 3 and out.shape == (len(P), 4) and not out.any()
    brier = get_metric("brier")
    assert brier.resampled is None and brier.per_case is not None
    np.testing.assert_array_equal(brier.resample_scores(y, P, idx), rs.per_case_scores(brier, y, P, idx))
    ap = get_metric("average_precision")
    assert ap.resampled is None and ap.per_case is None
    np.testing.assert_array_equal(ap.resample_scores(y, P, idx), rs.generic_scores(ap, y, P, idx))
    assert get_metric("roc_auc").resampled is rs.auc_scores and get_metric("r2").resampled is rs.r2_scores


def test_a_metric_carries_its_own_scorer_whatever_its_name():
    base = get_metric("f1")
    y, P, _ = binary_problem()
    idx = stats.bootstrap_indices(len(y), 5, seed=0)
    naive = np.stack([[P[t, i].mean() for i in idx] for t in range(len(P))])
    # a look-alike (same name, other function) without a scorer is scored with its own function
    custom = replace(base, func=lambda y, p: float(np.mean(p)), resampled=None)
    np.testing.assert_allclose(stats.resample_scores(y, P, custom, idx), naive)
    # one made from scratch under a built-in's name, too
    scratch = Metric(
        name="f1",
        func=lambda y, p: float(np.mean(p)),
        task="binary",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        description="mean prediction",
    )
    np.testing.assert_allclose(stats.resample_scores(y, P, scratch, idx), naive)
    # and one that keeps the built-in's scorer keeps scoring F1 on resamples
    kept = replace(base, description="F1 again")
    np.testing.assert_array_equal(stats.resample_scores(y, P, kept, idx), stats.resample_scores(y, P, "f1", idx))


# -- metrics registered by a user ---------------------------------------------------------
def _counting(func, calls):
    def wrapped(y, p):
        calls.append(1)
        return func(y, p)

    return wrapped


@pytest.fixture
def user_metrics():
    """Two binary metrics that are not built in: one with a per-case loss, one without."""
    calls = {"user_abs_error": [], "user_gap": []}
    with_loss = Metric(
        name="user_abs_error",
        func=_counting(lambda y, p: float(np.mean(np.abs(p - y))), calls["user_abs_error"]),
        task="binary",
        greater_is_better=False,
        lower=0.0,
        upper=1.0,
        precision=3,
        per_case=lambda y, p: np.abs(p - y),
        description="mean absolute error of the probabilities",
    )
    without_loss = Metric(  # mean prediction of the positives minus that of the negatives
        name="user_gap",
        func=_counting(lambda y, p: float(p[y == 1].mean() - p[y == 0].mean()), calls["user_gap"]),
        task="binary",
        greater_is_better=True,
        lower=-1.0,
        upper=1.0,
        precision=3,
        needs_both_classes=True,
        description="discrimination slope",
    )
    register(with_loss)
    register(without_loss)
    try:
        yield with_loss, without_loss, calls
    finally:
        METRICS.unregister("user_abs_error")
        METRICS.unregister("user_gap")


def test_user_metrics_are_bootstrapped_like_their_functions(user_metrics):
    with_loss, without_loss, calls = user_metrics
    assert {"user_abs_error", "user_gap"} <= set(get_metric_names("binary"))
    y, P, teams = binary_problem(n=50, teams=4, seed=3)
    idx = stats.bootstrap_indices(len(y), 25, seed=4)
    idx[0] = np.flatnonzero(y == 0)[0]  # a single case: user_gap is undefined there
    for metric in (with_loss, without_loss):
        res = stats.paired_bootstrap(y, P, teams, metric.name, indices=idx)
        assert res.metric is get_metric(metric.name)
        want = reference_scores(metric, y, P, idx)
        valid = ~np.isnan(want).any(axis=0)
        assert res.n_invalid == int((~valid).sum())
        np.testing.assert_allclose(res.replicates, want[:, valid], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.observed, [metric.func(y, p) for p in P], rtol=1e-12)
        np.testing.assert_array_equal(res.ranks, stats.rank_scores(want[:, valid], metric))
        again = pickle.loads(pickle.dumps(res))  # a registered metric pickles by name
        assert again.metric is get_metric(metric.name)
    assert res.n_invalid == 1  # user_gap on the single case
    # the per-case loss is averaged (one matrix product), the other metric's function is called
    calls["user_abs_error"].clear()
    calls["user_gap"].clear()
    stats.paired_bootstrap(y, P, teams, "user_abs_error", indices=idx)
    stats.paired_bootstrap(y, P, teams, "user_gap", indices=idx)
    assert calls["user_abs_error"] == []
    # full data, the resamples with both classes, and the leave-one-out jackknife of the BCa interval
    assert len(calls["user_gap"]) == len(P) * (1 + len(idx) - 1 + len(y))
    for name in ("user_abs_error", "user_gap"):  # the test of the score difference, whatever the metric
        assert stats.pairwise_significance(y, P, teams, name, n_resamples=20).method == "bootstrap"
    assert stats.pairwise_significance(y, P, teams, "user_abs_error", method="wilcoxon").method == "wilcoxon"


# -- paired bootstrap: a case worked out by hand ----------------------------------------
HAND_Y = np.array([0, 0, 0, 1, 1, 1], dtype=float)
HAND_P = np.array(
    [
        [0.1, 0.2, 0.3, 0.9, 0.8, 0.4],  # A: wrong on case 5
        [0.6, 0.7, 0.3, 0.9, 0.8, 0.7],  # B: wrong on cases 0 and 1
        [0.1, 0.2, 0.3, 0.2, 0.8, 0.7],  # C: wrong on case 3
    ]
)
HAND_TEAMS = ["A", "B", "C"]
HAND_IDX = np.array([[0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5]])


def test_bootstrap_by_hand_accuracy():
    res = stats.paired_bootstrap(HAND_Y, HAND_P, HAND_TEAMS, "accuracy", indices=HAND_IDX)
    np.testing.assert_allclose(res.observed, [5 / 6, 4 / 6, 5 / 6])
    np.testing.assert_array_equal(res.observed_ranks, [1, 3, 1])
    np.testing.assert_allclose(res.replicates, [[5 / 6, 1, 4 / 6], [4 / 6, 1 / 3, 1], [5 / 6, 1, 4 / 6]])
    np.testing.assert_array_equal(res.ranks, [[1, 1, 2], [3, 3, 1], [1, 1, 2]])
    # A and C tie for first in resamples 1 and 2 (half a first place each), B is first in resample 3
    assert res.winner_frequency().to_dict() == pytest.approx({"A": 1 / 3, "B": 1 / 3, "C": 1 / 3})
    # tau-b with the full-data ranking [1, 3, 1]: identical, identical, then both untied pairs discordant
    np.testing.assert_allclose(res.tau, [1.0, 1.0, -1.0])
    assert res.stability()["mean"] == pytest.approx(1 / 3)
    # percentile interval, linear interpolation: sorted A = [4/6, 5/6, 1]
    ci = res.confidence_intervals("percentile").loc["A"]
    assert ci["ci_low"] == pytest.approx(4 / 6 + 0.05 * (1 / 6))
    assert ci["ci_high"] == pytest.approx(5 / 6 + 0.95 * (1 / 6))
    dist = res.rank_distribution()
    assert dist.loc["B"].tolist() == pytest.approx([1 / 3, 0, 2 / 3])
    assert res.n_resamples == 3 and res.n_invalid == 0 and res.seed is None


def test_bootstrap_direction_lower_is_better():
    res = stats.paired_bootstrap(HAND_Y, HAND_P, HAND_TEAMS, "brier", indices=HAND_IDX)
    brier = ((HAND_P - HAND_Y) ** 2).mean(axis=1)
    np.testing.assert_allclose(res.observed, brier)
    np.testing.assert_array_equal(res.observed_ranks, sps.rankdata(brier, method="min"))
    for b, row in enumerate(HAND_IDX):
        rep = ((HAND_P[:, row] - HAND_Y[row]) ** 2).mean(axis=1)
        np.testing.assert_allclose(res.replicates[:, b], rep)
        np.testing.assert_array_equal(res.ranks[:, b], sps.rankdata(rep, method="min"))


def test_bootstrap_ranks_and_stability_against_sklearn_and_scipy():
    y, P, teams = binary_problem(n=120, teams=6, seed=5)
    res = stats.paired_bootstrap(y, P, teams, "roc_auc", n_resamples=60, seed=3)
    idx = stats.bootstrap_indices(len(y), 60, seed=3)
    reps = np.array([[roc_auc_score(y[i], p[i]) for i in idx] for p in P])
    assert res.n_invalid == 0
    np.testing.assert_allclose(res.replicates, reps, atol=1e-12)
    np.testing.assert_allclose(res.observed, [roc_auc_score(y, p) for p in P], atol=1e-12)
    ranks = sps.rankdata(-np.round(reps, 12), method="min", axis=0)
    np.testing.assert_array_equal(res.ranks, ranks)
    taus = [sps.kendalltau(res.observed_ranks, ranks[:, b]).statistic for b in range(60)]
    np.testing.assert_allclose(res.tau, taus)
    lo, hi = np.quantile(reps, [0.025, 0.975], axis=1)
    ci = res.confidence_intervals("percentile")
    np.testing.assert_allclose(ci["ci_low"], lo, atol=1e-12)
    np.testing.assert_allclose(ci["ci_high"], hi, atol=1e-12)


@pytest.mark.parametrize("name", ["log_loss", "rmse", "r2", "roc_auc", "f1", "c_index"])
def test_bootstrap_is_paired_reproducible_and_copies_tie(name):
    metric = get_metric(name)
    y, P, teams = problem_for(metric)
    P = np.vstack([P, np.tile(P[0], (6, 1)) + np.arange(6)[:, None] * 1e-3, P[0]])  # then an exact copy
    if metric.task == "binary":
        P = np.clip(P, 0, 1)
    teams = teams + [f"x{i}" for i in range(6)] + ["copy"]
    a = stats.paired_bootstrap(y, P, teams, name, n_resamples=30, seed=9)
    b = stats.paired_bootstrap(y, P, teams, name, n_resamples=30, seed=9)
    np.testing.assert_array_equal(a.replicates, b.replicates)
    np.testing.assert_array_equal(a.replicates[0], a.replicates[-1])  # same cases for every team
    np.testing.assert_array_equal(a.ranks[0], a.ranks[-1])  # and exact ties: the same min rank
    assert a.observed_ranks[0] == a.observed_ranks[-1]


def test_undefined_resamples_are_dropped_for_every_team():
    y = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    idx = np.array([[0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 2, 2], [0, 3, 3, 4, 4, 5]])
    res = stats.paired_bootstrap(y, HAND_P, HAND_TEAMS, "roc_auc", indices=idx)
    assert res.n_invalid == 1 and res.replicates.shape == (3, 2)
    with pytest.raises(MetricError, match="undefined on every resample"):
        stats.paired_bootstrap(y, HAND_P, HAND_TEAMS, "roc_auc", indices=idx[1:2])


def test_survival_bootstrap_uses_the_metric_function():
    y, P, teams = survival_problem()
    res = stats.paired_bootstrap(y, P, teams, "c_index", n_resamples=20, seed=0)
    assert res.replicates.shape[0] == 3 and res.observed[0] > res.observed[2]


def test_result_tables_and_html():
    teams = ["<b>bold</b>", "B", "C"]
    res = stats.paired_bootstrap(HAND_Y, HAND_P, teams, "accuracy", n_resamples=30, seed=0)
    summary = res.summary()
    assert list(summary["rank"]) == sorted(summary["rank"])
    np.testing.assert_allclose(res.rank_distribution().sum(axis=1), 1.0)
    html = res._repr_html_()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    again = pickle.loads(pickle.dumps(res))
    assert again.metric is get_metric("accuracy")  # pickled by name: its functions are lambdas
    np.testing.assert_array_equal(again.replicates, res.replicates)


# -- inputs and missing values ------------------------------------------------------------
def test_nan_predictions_raise_naming_the_team():
    P = HAND_P.copy()
    P[1, 2] = np.nan
    with pytest.raises(MetricError) as err:
        stats.paired_bootstrap(HAND_Y, P, HAND_TEAMS, "accuracy", n_resamples=5)
    assert isinstance(err.value, KitError)
    assert "team 'B'" in str(err.value) and "exclude_incomplete" in err.value.fix
    assert len(err.value.problems) == 1


def test_exclude_incomplete_is_explicit():
    P = HAND_P.copy()
    P[1, 2] = np.nan
    kept, teams, excluded = stats.exclude_incomplete(P, HAND_TEAMS)
    assert teams == ("A", "C") and excluded == ("B",)
    res = stats.paired_bootstrap(HAND_Y, kept, teams, "accuracy", indices=HAND_IDX)
    assert res.teams == ("A", "C")


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(teams=["A", "A", "C"]), "not unique"),
        (dict(teams=["A", "B"]), "2 team names for 3 rows"),
        (dict(indices=np.array([[0, 1, 6]])), r"indices must lie in \[0, 5\]"),
        (dict(predictions=HAND_P * 2), "probabilities"),
        (dict(alpha=1.5), "alpha"),
    ],
)
def test_bad_inputs_raise_kit_errors(bad, match):
    args = dict(y_true=HAND_Y, predictions=HAND_P, teams=HAND_TEAMS, metric="accuracy", indices=HAND_IDX)
    args.update(bad)
    with pytest.raises(KitError, match=match):
        stats.paired_bootstrap(**args)


# -- ranking schemes -------------------------------------------------------------------------
def test_rank_then_aggregate_per_case_by_hand():
    # brier losses per case; ranks per case (min for ties), mean over cases, rank of the mean
    res = stats.rank_then_aggregate(HAND_Y, HAND_P, HAND_TEAMS, "brier")
    losses = (HAND_P - HAND_Y) ** 2
    mean_rank = []
    for t in range(3):
        ranks = [1 + sum(losses[u, c] < losses[t, c] for u in range(3)) for c in range(6)]
        mean_rank.append(np.mean(ranks))
    assert res["mean_rank"].reindex(HAND_TEAMS).tolist() == pytest.approx(mean_rank)
    assert res["rank"].reindex(HAND_TEAMS).tolist() == list(sps.rankdata(mean_rank, method="min"))


def test_rank_then_aggregate_needs_a_per_case_loss_and_mean_bootstrap_rank_is_its_own_scheme():
    y, P, teams = binary_problem()
    with pytest.raises(MetricError, match="no per-case loss") as err:
        stats.rank_then_aggregate(y, P, teams, "roc_auc")
    assert "mean_bootstrap_rank" in err.value.fix
    boot = stats.paired_bootstrap(y, P, teams, "roc_auc", n_resamples=40, seed=1)
    res = stats.mean_bootstrap_rank(y, P, teams, "roc_auc", bootstrap=boot)
    # independent: sklearn's AUC on the very resamples, ranked by scipy (AUCs rounded: float noise ties)
    idx = stats.bootstrap_indices(len(y), 40, seed=1)
    reps = np.array([[roc_auc_score(y[i], p[i]) for i in idx] for p in P])
    mean_rank = sps.rankdata(-np.round(reps, 12), method="min", axis=0).mean(axis=1)
    np.testing.assert_allclose(res["mean_rank"].reindex(teams), mean_rank)
    assert res["rank"].reindex(teams).tolist() == list(sps.rankdata(mean_rank, method="min"))


@pytest.mark.parametrize("name", ["brier", "roc_auc"])
def test_ranking_schemes_side_by_side(name):
    y, P, teams = binary_problem(n=200, teams=4)
    table = stats.ranking_schemes(y, P, teams, name, n_resamples=50)
    per_case = ["rank_then_aggregate"] if get_metric(name).per_case is not None else []
    want = ["score", "aggregate_then_rank", *per_case, "mean_bootstrap_rank", "test_based"]
    assert list(table.columns) == want
    assert table["aggregate_then_rank"].tolist() == sorted(table["aggregate_then_rank"])
    assert set(table.index) == set(teams) and table.notna().all().all()


# -- significance ------------------------------------------------------------------------------
def test_holm_textbook_example():
    # four hypotheses, p = 0.01, 0.04, 0.03, 0.005 (Holm 1979 / Wikipedia example):
    # sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04) = 0.06
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert (stats.holm([0.01, 0.04, 0.03, 0.005]) <= 0.05).tolist() == [True, False, False, True]


def test_holm_keeps_shape_nan_and_caps_at_one():
    p = np.array([[np.nan, 0.2], [0.6, np.nan]])
    np.testing.assert_allclose(stats.holm(p), [[np.nan, 0.4], [0.6, np.nan]])
    np.testing.assert_allclose(stats.holm([0.5, 0.9, 0.7]), [1.0, 1.0, 1.0])


def test_wilcoxon_significance_matches_scipy():
    y, P, teams = binary_problem(n=150, teams=4, seed=4)
    P = np.vstack([P, P[0]])
    teams = teams + ["copy of t0"]
    res = stats.pairwise_significance(y, P, teams, "log_loss", method="wilcoxon")
    assert res.method == "wilcoxon"
    metric = get_metric("log_loss")
    L = np.stack([metric.case_losses(y, p) for p in P])
    for i in range(len(P)):
        for j in range(len(P)):
            if i == j:
                assert np.isnan(res.p_values[i, j])
            elif np.all(L[i] == L[j]):
                assert res.p_values[i, j] == 1.0  # identical losses: no evidence
            else:
                want = sps.wilcoxon(L[j] - L[i], alternative="greater").pvalue
                assert res.p_values[i, j] == pytest.approx(want, rel=1e-10)
    np.testing.assert_allclose(res.adjusted, stats.holm(res.p_values))
    np.testing.assert_array_equal(res.significant, np.nan_to_num(res.adjusted, nan=1) <= 0.05)
    np.testing.assert_array_equal(res.wins, res.significant.sum(axis=1))
    np.testing.assert_array_equal(res.rank, sps.rankdata(-res.wins, method="min"))
    assert res.matrix().shape == (5, 5) and "Holm" in res._repr_html_()


def test_bootstrap_significance_is_a_paired_z_test():
    y, P, teams = binary_problem(n=200, teams=4, seed=6)
    boot = stats.paired_bootstrap(y, P, teams, "roc_auc", n_resamples=100, seed=2)
    res = stats.pairwise_significance(y, P, teams, "roc_auc", bootstrap=boot)
    assert res.method == "bootstrap"
    for i in range(4):
        for j in range(4):
            if i != j:
                d = boot.observed[i] - boot.observed[j]
                se = np.std(boot.replicates[i] - boot.replicates[j], ddof=1)
                assert res.p_values[i, j] == pytest.approx(sps.norm.sf(d / se), rel=1e-9, abs=1e-300)
    with pytest.raises(MetricError, match="no per-case loss"):
        stats.pairwise_significance(y, P, teams, "roc_auc", method="wilcoxon")


def test_statistically_tied_top():
    rng = np.random.default_rng(8)
    n = 400
    y = (rng.random(n) < 0.5).astype(float)
    good = np.clip(y * 0.8 + 0.1 + rng.normal(0, 0.05, n), 0, 1)
    twin = good.copy()  # the leader's predictions shuffled within each class: same score
    for label in (0, 1):
        cases = np.flatnonzero(y == label)
        twin[cases] = good[rng.permutation(cases)]
    weak = np.clip(0.5 + (y - 0.5) * 0.2 + rng.normal(0, 0.2, n), 0, 1)
    P, teams = np.vstack([weak, good, twin]), ["weak", "good", "twin"]
    tied = stats.statistically_tied_top(y, P, teams, "brier", n_resamples=500, seed=0)
    assert tied.method == "bootstrap"  # the test of the mean difference, for a mean-type metric
    assert tied.leader == "good" and set(tied.teams) == {"good", "twin"}  # a tie: the first listed leads
    assert not tied.table.loc["weak", "tied"]
    # independent: the paired bootstrap z-test of the mean Brier difference, numpy on the same resamples
    idx = stats.bootstrap_indices(n, 500, seed=0)
    L = (P - y) ** 2
    d = L[0].mean() - L[1].mean()
    reps = L[0][idx].mean(axis=1) - L[1][idx].mean(axis=1)
    assert tied.table.loc["weak", "p_value"] == pytest.approx(sps.norm.sf(d / reps.std(ddof=1)), rel=1e-9)
    by_wilcoxon = stats.statistically_tied_top(y, P, teams, "brier", method="wilcoxon")
    p_weak = sps.wilcoxon(L[0] - L[1], alternative="greater").pvalue
    assert by_wilcoxon.table.loc["weak", "p_value"] == pytest.approx(p_weak, rel=1e-10)
    by_boot = stats.statistically_tied_top(y, P, teams, "roc_auc", n_resamples=200, seed=0)
    assert by_boot.method == "bootstrap" and set(by_boot.teams) >= {by_boot.leader}
    assert "weak" not in by_boot.teams
    assert "Statistically tied" in tied._repr_html_() and "bootstrap" in tied._repr_html_()


def test_a_worse_mean_is_never_significantly_better_by_default():
    """Brier: a team confidently right on most cases (tiny median loss) but badly wrong on a few has
    the worse mean. Wilcoxon, a test of the median, calls it significantly better than the leader;
    the default test, of the mean difference, does not, and agrees with the ranking."""
    rng = np.random.default_rng(3)
    n = 300
    y = (rng.random(n) < 0.5).astype(float)
    leader = np.clip(np.where(y == 1, 0.8, 0.2) + rng.normal(0, 0.05, n), 0, 1)
    bold = np.where(y == 1, 1 - 1e-14, 1e-14)  # per-case loss about 1e-28 ...
    wrong = rng.choice(n, 40, replace=False)
    bold[wrong] = 1 - y[wrong]  # ... and 1 on 40 cases
    P, teams = np.vstack([leader, bold]), ["leader", "bold"]
    L = (P - y) ** 2
    assert L[1].mean() > L[0].mean() and np.median(L[1]) < np.median(L[0])
    wil = stats.pairwise_significance(y, P, teams, "brier", method="wilcoxon")
    assert wil.significant[1, 0], "Wilcoxon calls the worse mean significantly better"
    auto = stats.pairwise_significance(y, P, teams, "brier", n_resamples=400, seed=1)
    assert auto.method == "bootstrap" and not auto.significant[1, 0] and auto.p_values[1, 0] > 0.5
    assert stats.paired_bootstrap(y, P, teams, "brier", n_resamples=50).observed_ranks.tolist() == [1, 2]


def test_bootstrap_test_of_a_mean_matches_numpy_on_the_same_resamples():
    y, P, teams = regression_problem(n=80)
    res = stats.pairwise_significance(y, P, teams, "mae", n_resamples=300, seed=4)
    idx = stats.bootstrap_indices(len(y), 300, seed=4)
    A = np.abs(P - y)
    for i in range(len(P)):
        for j in range(len(P)):
            if i != j:
                d = A[j].mean() - A[i].mean()
                reps = A[j][idx].mean(axis=1) - A[i][idx].mean(axis=1)
                want = sps.norm.sf(d / reps.std(ddof=1))
                assert res.p_values[i, j] == pytest.approx(want, rel=1e-9, abs=1e-300)


# -- the Ladder ---------------------------------------------------------------------------------
def test_ladder_by_hand_zero_one_losses():
    L = np.array(
        [
            [1, 1, 0, 0],  # R = 0.50: first submission, released
            [1, 0, 0, 0],  # R = 0.25; d = [0,-1,0,0], s = 0.5, s/2 = 0.25: 0.25 < 0.25 fails, keep 0.5
            [0, 0, 0, 0],  # R = 0.00; d = [-1,-1,0,0] vs the first, s = 0.5774: 0 < 0.5 - 0.2887, released
            [0, 0, 0, 1],  # R = 0.25 > 0: keep 0
        ],
        dtype=float,
    )
    res = stats.ladder(L)
    np.testing.assert_allclose(res.raw, [0.5, 0.25, 0.0, 0.25])
    np.testing.assert_allclose(res.released, [0.5, 0.5, 0.0, 0.0])
    assert res.improved.tolist() == [True, False, True, False]
    assert res.shown.tolist() == [0, 0, 2, 2]  # the submission whose score is shown
    np.testing.assert_allclose(res.threshold, [math.inf, 0.25, math.sqrt(1 / 3) / 2, 0.25])
    assert res.method == "parameter-free" and res.loss_scale == 1.0


def test_ladder_rounds_to_one_over_n_and_converts_scores():
    L = np.array(
        [
            [0.3, 0.2, 0.1, 0.2],  # mean 0.2 -> released on the 1/4 grid: 0.25
            [0.0, 0.0, 0.0, 0.1],
        ]
    )  # mean 0.025; d = [-.3,-.2,-.1,-.1], s/2 = 0.0479: released, 0.0
    res = stats.ladder(L)
    np.testing.assert_allclose(res.released, [0.25, 0.0])
    np.testing.assert_allclose(stats.ladder(L, round_released=False).released, [0.2, 0.025])
    acc = stats.ladder(np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=float), "accuracy")
    np.testing.assert_allclose(acc.raw, [0.75, 1.0])
    np.testing.assert_allclose(acc.released, [0.75, 0.75])  # d = [-1,0,0,0]: 0 < 0.25 - 0.25 fails
    assert acc.shown.tolist() == [0, 0]
    assert list(acc.to_frame().columns) == ["raw", "released", "improved", "threshold", "shown"]


def test_fixed_step_ladder_by_hand():
    """Algorithm 1 of Blum & Hardt: released when better by eta, rounded to a multiple of eta."""
    means = [0.5, 0.45, 0.33, 0.25, 0.12]
    L = np.repeat(np.array(means)[:, None], 10, axis=1)  # ten cases, each with the submission's mean loss
    res = stats.ladder(L, method="fixed", eta=0.1)
    # 0.5 released (first); 0.45 > 0.5 - 0.1 kept; 0.33 < 0.4 released as 0.3; 0.25 > 0.2 kept; 0.12 < 0.2 -> 0.1
    np.testing.assert_allclose(res.released, [0.5, 0.5, 0.3, 0.3, 0.1])
    assert res.improved.tolist() == [True, False, True, False, True]
    assert res.shown.tolist() == [0, 0, 2, 2, 4]
    np.testing.assert_allclose(res.threshold, [math.inf, 0.1, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(stats.ladder(L, method="fixed", eta=0.1, round_released=False).released[-1], 0.12)
    assert stats.LADDERS.names() == ["fixed", "parameter-free"] and res.method == "fixed" and res.eta == 0.1


def test_ladder_losses_are_brought_into_zero_one():
    rng = np.random.default_rng(0)
    # a bounded loss is divided by its bound: multiclass Brier (0..2) rounds on the grid 2/n in loss units
    L = rng.random((3, 8)) * 2
    res = stats.ladder(L, "multiclass_brier", round_released=False)
    assert res.loss_scale == 2.0
    rounded = stats.ladder(L, "multiclass_brier")
    np.testing.assert_allclose(rounded.released * 8 / 2, np.round(rounded.released * 8 / 2), atol=1e-12)
    np.testing.assert_array_equal(res.improved, stats.ladder(L / 2, round_released=False).improved)
    # an unbounded loss needs a scale (the board: the constant baseline's mean loss), and is refused without
    sq = (rng.normal(0, 50, (3, 40))) ** 2
    with pytest.raises(MetricError, match="unbounded") as err:
        stats.ladder(sq, "rmse")
    assert "loss_scale" in err.value.fix
    base = 2500.0
    res = stats.ladder(sq, "rmse", loss_scale=base, method="fixed", eta=0.05)
    released_mse = res.released**2
    # released mean squared errors are multiples of eta * scale, the margin is eta * scale in MSE units
    np.testing.assert_allclose(released_mse / (0.05 * base), np.round(released_mse / (0.05 * base)), atol=1e-9)
    np.testing.assert_allclose(res.threshold[1:], 0.05 * base)
    np.testing.assert_allclose(res.raw, np.sqrt(sq.mean(axis=1)))
    # raw losses outside [0, 1] without a metric or a scale are refused
    with pytest.raises(MetricError, match=r"\[0, 1\]"):
        stats.ladder(sq)


def test_ladder_rejects_bad_inputs():
    with pytest.raises(MetricError, match="no per-case loss"):
        stats.ladder(np.zeros((2, 4)), "roc_auc")
    with pytest.raises(MetricError, match="NaN"):
        stats.ladder(np.array([[0.1, np.nan, 0.2]]))
    with pytest.raises(MetricError, match="cases >= 2"):
        stats.ladder(np.zeros((2, 1)))
    with pytest.raises(MetricError, match="needs a positive step eta"):
        stats.ladder(np.zeros((2, 4)), method="fixed")
    with pytest.raises(MetricError, match="takes no step eta"):
        stats.ladder(np.zeros((2, 4)), eta=0.1)
    with pytest.raises(MetricError, match="'steep' is not a registered ladder") as err:
        stats.ladder(np.zeros((2, 4)), method="steep")
    assert "parameter-free" in err.value.fix and "fixed" in err.value.fix
    with pytest.raises(MetricError, match="positive number"):
        stats.ladder(np.zeros((2, 4)), "brier", loss_scale=0.0)


@pytest.mark.parametrize("name", [n for n in get_metric_names() if get_metric(n).per_case is not None])
def test_every_per_case_loss_lies_within_its_declared_bound(name):
    """The Ladder divides by ``case_loss_upper``: no loss may exceed it, even for extreme predictions."""
    metric = get_metric(name).bind(times=TIMES)
    y, P, _ = problem_for(metric)
    extreme = [np.asarray(P, dtype=float)]
    if metric.task == "binary":
        extreme += [np.zeros_like(P), np.ones_like(P), 1 - y[None, :] + 0 * P]
    if metric.task == "multiclass":
        wrong = np.eye(P.shape[2])[(y.astype(int) + 1) % P.shape[2]]
        extreme.append(np.broadcast_to(wrong, P.shape))
    for Q in extreme:
        losses = np.stack([metric.case_losses(y, q) for q in Q])
        assert losses.min() >= 0 and losses.max() <= metric.case_loss_upper


# -- ties -----------------------------------------------------------------------------------------
def test_scores_one_ulp_apart_are_ties_everywhere():
    from kit.leaderboard.ties import TIE_RTOL, tolerant_ranks

    a = 0.9951
    scores = np.array([a, np.nextafter(a, 0), 0.97, np.nextafter(a, 1), np.nan, 0.97 * (1 + TIE_RTOL / 2)])
    ranks = tolerant_ranks(scores, greater_is_better=True)
    assert ranks.tolist() == [1, 1, 4, 1, 6, 4]
    # independent: scipy's min ranking of the scores rounded to 9 significant digits (NaN last)
    rounded = np.where(np.isnan(scores), -np.inf, np.round(scores, 9))
    assert ranks.tolist() == sps.rankdata(-rounded, method="min").astype(int).tolist()
    assert tolerant_ranks(np.array([1.0, 1.0 + 1e-6, 0.5]), greater_is_better=False).tolist() == [2, 3, 1]
    assert tolerant_ranks(np.array([0.0, 1e-13, 2e-12]), greater_is_better=False).tolist() == [1, 1, 3]
    two_d = np.array([[0.5, 0.2], [np.nextafter(0.5, 1), 0.3]])
    assert tolerant_ranks(two_d, greater_is_better=True).tolist() == [[1, 2], [1, 1]]
    assert tolerant_ranks(np.array([]), greater_is_better=True).shape == (0,)


def test_teams_with_the_same_ordering_tie_on_every_resample_and_share_p_first():
    y, P, teams = binary_problem(n=90, teams=4, seed=2)
    same_order = 0.5 * P[0] + 0.1  # a monotone transform: the same AUC on every resample
    P = np.vstack([P, same_order])
    teams = teams + ["same order as t0"]
    res = stats.paired_bootstrap(y, P, teams, "roc_auc", n_resamples=200, seed=0)
    np.testing.assert_array_equal(res.ranks[0], res.ranks[-1])
    freq = res.winner_frequency()
    assert freq.sum() == pytest.approx(1.0)  # a probability over the teams
    assert freq.iloc[0] == pytest.approx(freq.iloc[-1])
    # independent: first places shared among the teams tied first (scipy ranks of rounded AUCs)
    idx = stats.bootstrap_indices(len(y), 200, seed=0)
    reps = np.array([[roc_auc_score(y[i], p[i]) for i in idx] for p in P])
    first = sps.rankdata(-np.round(reps, 12), method="min", axis=0) == 1
    np.testing.assert_allclose(freq.to_numpy(), (first / first.sum(axis=0)).mean(axis=1))


# -- intervals ------------------------------------------------------------------------------------
def test_bca_matches_scipy_on_the_same_resamples():
    """scipy.stats.bootstrap(method="BCa") given the kit's resampled AUCs (bootstrap_result) computes
    its own jackknife with scikit-learn's roc_auc_score: the same intervals."""
    from types import SimpleNamespace

    y, P, teams = binary_problem(n=70, teams=4, seed=6)
    res = stats.paired_bootstrap(y, P, teams, "roc_auc", n_resamples=400, seed=2, alpha=0.1)
    assert res.interval == "auto" and res.jackknife.shape == (4, 70)
    ci = res.confidence_intervals()
    assert set(ci["method"]) == {"bca"}
    # the constant team (AUC 0.5 on every resample): a point interval (scipy's acceleration is 0/0)
    assert ci["ci_low"].iloc[2] == ci["ci_high"].iloc[2] == 0.5
    for t, p in enumerate(P):
        if t == 2:
            continue

        def auc(i, axis=-1, p=p):  # rounded: scipy counts exact ties, the kit ties within 1e-9
            i = np.atleast_2d(i)
            return np.round([roc_auc_score(y[row], p[row]) for row in i], 12).reshape(np.shape(i)[:-1])

        ref = sps.bootstrap(
            (np.arange(len(y)),),
            auc,
            n_resamples=0,
            bootstrap_result=SimpleNamespace(bootstrap_distribution=np.round(res.replicates[t], 12)),
            confidence_level=0.9,
            method="BCa",
        )
        assert ci["ci_low"].iloc[t] == pytest.approx(ref.confidence_interval.low[0], abs=1e-10)
        assert ci["ci_high"].iloc[t] == pytest.approx(ref.confidence_interval.high[0], abs=1e-10)


def test_grouped_jackknife_beyond_the_limit_leaves_groups_out():
    y, P, teams = binary_problem(n=60, teams=3, seed=1)
    P = P[:2]
    metric = get_metric("roc_auc")
    groups = stats.jackknife_groups(60, 7)
    assert len(groups) == 7 and sorted(np.concatenate(groups).tolist()) == list(range(60))
    assert {len(g) for g in groups} == {8, 9}
    J = stats.jackknife_scores(metric, y, P, groups=7)
    for g, out in enumerate(groups):
        keep = np.setdiff1d(np.arange(60), out)
        for t in range(2):
            assert J[t, g] == pytest.approx(roc_auc_score(y[keep], P[t, keep]), abs=1e-12)
    assert [len(g) for g in stats.jackknife_groups(5, 7)] == [1] * 5  # leave-one-out up to the limit
    # a mean-type metric: the mean of the kept per-case losses, then the score (RMSE: its square root)
    yr, Pr, _ = regression_problem(n=60)
    J = stats.jackknife_scores(get_metric("rmse"), yr, Pr, groups=7)
    for g, out in enumerate(groups):
        keep = np.setdiff1d(np.arange(60), out)
        np.testing.assert_allclose(J[:, g], np.sqrt(((Pr[:, keep] - yr[keep]) ** 2).mean(axis=1)), rtol=1e-12)


@pytest.mark.parametrize("name", ["brier", "rmse", "accuracy"])
def test_studentized_interval_of_a_mean_type_metric_by_numpy(name):
    """The symmetric bootstrap-t of the mean loss, then the score: against numpy on the resampled arrays."""
    metric = get_metric(name)
    y, P, teams = problem_for(metric)
    res = stats.paired_bootstrap(y, P, teams, name, n_resamples=300, seed=5)
    ci = res.confidence_intervals()
    idx = stats.bootstrap_indices(len(y), 300, seed=5)
    for t, p in enumerate(P):
        losses = metric.case_losses(y, p)
        m, s = losses.mean(), losses.std(ddof=1) / math.sqrt(len(y))
        if s == 0:  # a perfect team: a point interval
            assert ci["ci_low"].iloc[t] == ci["ci_high"].iloc[t] == metric(y, p)
            continue
        resampled = losses[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            tb = (resampled.mean(axis=1) - m) / (resampled.std(axis=1, ddof=1) / math.sqrt(len(y)))
            q = np.quantile(np.abs(tb), 0.95)
        if not np.isfinite(q):  # more than 5% of the resamples without spread (few errors): BCa
            assert ci["method"].iloc[t] == "bca"
            continue
        ends = sorted(metric.from_mean_loss(v) for v in np.clip([m - q * s, m + q * s], 0, metric.case_loss_upper))
        assert ci["method"].iloc[t] == "studentized"
        assert [ci["ci_low"].iloc[t], ci["ci_high"].iloc[t]] == pytest.approx(ends, rel=1e-9, abs=1e-12)


def test_interval_methods_by_name_and_fallbacks():
    y, P, teams = regression_problem()
    assert stats.INTERVALS.names() == ["auto", "bca", "percentile", "studentized"]
    res = stats.paired_bootstrap(y, P, teams, "rmse", n_resamples=100, seed=0, interval="percentile")
    assert res.jackknife is None and res.studentized is None
    with pytest.raises(MetricError, match="jackknife"):
        res.confidence_intervals("bca")
    with pytest.raises(MetricError, match="'wide' is not a registered bootstrap interval"):
        stats.paired_bootstrap(y, P, teams, "rmse", n_resamples=10, interval="wide")
    with pytest.raises(MetricError, match="no per-case loss"):
        stats.paired_bootstrap(y, P, teams, "r2", n_resamples=10, interval="studentized")
    # the score of every resample lies below the full-data one: BCa's z0 is infinite, percentile is used
    distinct = Metric(
        name="distinct_share",
        func=lambda y, p: len(np.unique(p)) / len(p),
        task="regression",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=3,
        description="share of distinct predictions",
    )
    res = stats.paired_bootstrap(y, P[:3], teams[:3], distinct, n_resamples=100, seed=0)
    ci = res.confidence_intervals()
    assert set(ci["method"]) == {"percentile"} and "percentile" in res.interval_description()
    pct = res.confidence_intervals("percentile")
    np.testing.assert_array_equal(ci["ci_low"], pct["ci_low"])
    # a 0/1 loss with a handful of errors: too many resamples without error for the t statistic: BCa
    yb = np.zeros(100)
    yb[:50] = 1
    pb = yb.copy()
    pb[:2] = 0.0  # two errors
    often = yb.copy()
    often[:30] = 0.0  # thirty errors
    acc = stats.paired_bootstrap(yb, np.vstack([pb, often]), ["two errors", "thirty"], "accuracy", n_resamples=200)
    assert acc.confidence_intervals()["method"].tolist() == ["bca", "studentized"]
