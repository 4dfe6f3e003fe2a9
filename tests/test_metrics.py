"""Generic tests over every registered metric (as scikit-learn's metrics/tests/test_common.py)."""

import math
from dataclasses import replace

import numpy as np
import pytest

from kit.errors import KitError, MetricError
from kit.metrics import METRICS, Metric, check_inputs, get_metric, get_metric_names, register, task_names

ALL = get_metric_names()
#: the survival times the metrics taking ``times`` are bound to (inside the follow-up of ``data``)
TIMES = (40.0, 80.0, 120.0)
K = 3  # classes of the multiclass data
REQUIRED = {
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "mcc",
    "rmse",
    "mae",
    "r2",
    "c_index",
    "macro_roc_auc",
    "multiclass_log_loss",
    "multiclass_brier",
    "multiclass_balanced_accuracy",
    "macro_f1",
    "quadratic_kappa",
    "uno_c_index",
    "cumulative_auc",
    "integrated_brier",
}


def bound(name):
    """The registered metric, bound to :data:`TIMES` when it takes the challenge's times."""
    return get_metric(name).bind(times=TIMES)


def data(task, n=60, seed=0):
    rng = np.random.default_rng(seed)
    if task == "binary":
        y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)]
        perfect = y.copy()
        worst = 1 - y
        noisy = np.clip(0.5 * y + 0.5 * rng.random(n), 0, 1)
    elif task == "regression":
        y = rng.normal(100, 20, n)
        perfect = y.copy()
        worst = y[::-1] * 3 - 200
        noisy = y + rng.normal(0, 10, n)
    elif task == "multiclass":
        y = (np.arange(n) % K).astype(float)
        onehot = np.eye(K)[y.astype(int)]
        perfect = onehot
        worst = np.eye(K)[(y.astype(int) + 1) % K]
        noisy = onehot + 1.5 * rng.random((n, K))
        noisy /= noisy.sum(axis=1, keepdims=True)
    else:  # survival: the risk score (higher = earlier event), then S(t) at TIMES
        time = rng.exponential(100, n) + 1
        event = (rng.random(n) < 0.7).astype(float)
        y = np.c_[event, time]
        alive = (time[:, None] > np.array(TIMES)).astype(float)
        perfect = np.c_[-time, alive]
        worst = np.c_[time, 1 - alive]
        noisy = np.c_[-time + rng.normal(0, 60, n), np.clip(0.2 + 0.6 * alive + rng.normal(0, 0.2, alive.shape), 0, 1)]
    return y, perfect, worst, noisy


def test_required_metrics_are_registered():
    assert REQUIRED <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_metadata(name):
    m = get_metric(name)
    assert m.task in task_names()
    assert m.lower < m.upper
    assert isinstance(m.precision, int) and 0 <= m.precision <= 8
    assert m.description


@pytest.mark.parametrize("name", ALL)
def test_perfect_worst_noisy_and_direction(name):
    m = bound(name)
    y, perfect, worst, noisy = data(m.task)
    s_perfect, s_worst, s_noisy = m(y, perfect), m(y, worst), m(y, noisy)
    for s in (s_perfect, s_worst, s_noisy):
        assert m.lower - 1e-12 <= s <= m.upper + 1e-12
    if math.isfinite(m.best):
        assert s_perfect == pytest.approx(m.best, abs=1e-9)
    assert m.is_better(s_perfect, s_noisy) or s_perfect == pytest.approx(s_noisy)
    assert m.is_better(s_noisy, s_worst)
    assert m.sort_key(s_perfect) <= m.sort_key(s_noisy) <= m.sort_key(s_worst)
    exact_worst = ("roc_auc", "accuracy", "f1", "mcc", "balanced_accuracy", "brier", "c_index", "uno_c_index")
    exact_worst += ("cumulative_auc", "multiclass_brier", "multiclass_balanced_accuracy", "macro_f1")
    if math.isfinite(m.worst) and name in exact_worst:
        assert s_worst == pytest.approx(m.worst, abs=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_per_case_losses_give_the_score_back(name):
    m = bound(name)
    y, _, _, noisy = data(m.task, seed=3)
    if m.per_case is None:
        with pytest.raises(MetricError, match="no per-case loss"):
            m.case_losses(y, noisy)
        return
    losses = m.case_losses(y, noisy)
    assert losses.shape == (len(noisy),)
    assert np.all(losses >= 0)
    assert m.from_mean_loss(losses.mean()) == pytest.approx(m(y, noisy), rel=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_bad_shapes_and_values(name):
    m = bound(name)
    y, _, _, noisy = data(m.task)
    with pytest.raises(MetricError, match="inconsistent numbers of cases: y_true has 60, y_pred has 59"):
        m(y, noisy[:-1])
    with pytest.raises(MetricError, match="one value per case"):  # a second column, or a third axis
        m(y, np.c_[noisy, noisy] if noisy.ndim == 1 else np.stack([noisy, noisy], axis=2))
    bad = noisy.copy()
    bad[3] = np.nan
    with pytest.raises(MetricError, match="NaN or infinite"):
        m(y, bad)
    with pytest.raises(MetricError):
        m(y, ["a"] * len(noisy))


@pytest.mark.parametrize("name", get_metric_names("binary"))
def test_binary_rejects_labels_outside_probabilities(name):
    m = bound(name)
    y, _, _, noisy = data("binary")
    with pytest.raises(MetricError, match=r"\[0, 1\]"):
        m(y, noisy * 3)


def test_auc_with_one_class_is_an_error():
    with pytest.raises(MetricError, match="only one class"):
        get_metric("roc_auc")(np.ones(5), np.linspace(0, 1, 5))


@pytest.mark.parametrize("name", ALL)
def test_resampled_scores_on_the_full_test_set_are_the_score(name):
    """Whichever scorer a metric carries, the identity resample gives metric(y, p) for every team."""
    m = bound(name)
    y, perfect, worst, noisy = data(m.task, seed=5)
    P = np.stack([perfect, worst, noisy])
    if m.task == "regression":
        P = P - 1.0  # no perfect score: r2 and rmse are exercised away from their edge cases
    y_checked, _ = check_inputs(m, y, P[0])
    n = P.shape[1]
    scores = m.resample_scores(y_checked, P, np.vstack([np.arange(n), np.arange(n)[::-1]]))
    assert scores.shape == (3, 2)
    want = [m(y, p) for p in P]
    np.testing.assert_allclose(scores[:, 0], want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores[:, 1], want, rtol=1e-10, atol=1e-12)  # the order of the draws is irrelevant


def test_unknown_metric_names_the_choices():
    with pytest.raises(MetricError, match="is not a registered metric") as exc:
        get_metric("auc")
    assert exc.value.what == "'auc' is not a registered metric"
    assert exc.value.fix == f"use one of: {', '.join(ALL)} (kit.metrics.get_metric_names())"
    assert exc.value.fix.startswith("use one of: accuracy, average_precision, ")
    assert isinstance(exc.value, KitError)


def test_metrics_are_kept_in_a_registry():
    assert METRICS.kind == "metric" and METRICS.group == "challenge_kit.metrics"
    assert METRICS.names() == ALL and all(METRICS.get(n) is get_metric(n) for n in ALL)
    regression = get_metric_names("regression")
    assert {"mae", "r2", "rmse"} <= set(regression) and regression == sorted(regression)
    assert all(get_metric(n).task == "regression" for n in regression) and "roc_auc" not in regression
    assert get_metric_names("no such task") == []


def _user_metric(name="user_metric", **changes):
    m = Metric(
        name=name,
        func=lambda y, p: float(np.mean(np.abs(p - y))),
        task="regression",
        greater_is_better=False,
        lower=0.0,
        upper=math.inf,
        precision=3,
        description="mean absolute error, registered by a user",
    )
    return replace(m, **changes)


def test_registering_a_taken_name_raises_unless_replace():
    first, second = _user_metric(), _user_metric(precision=5)
    assert register(first) is first
    try:
        assert get_metric("user_metric") is first and "user_metric" in get_metric_names("regression")
        with pytest.raises(MetricError, match="'user_metric' is already registered") as exc:
            register(second)
        assert "replace=True" in exc.value.fix
        assert get_metric("user_metric") is first  # nothing overwritten silently
        assert register(second, replace=True) is second
        assert get_metric("user_metric") is second
    finally:
        METRICS.unregister("user_metric")
    assert "user_metric" not in get_metric_names()
    with pytest.raises(MetricError, match="already registered"):
        register(_user_metric(name="rmse"))  # a built-in is not overwritten either
    assert get_metric("rmse").description.startswith("Root mean squared error")


def test_registering_an_unknown_task_or_a_non_metric_raises():
    with pytest.raises(MetricError, match="unknown task 'ranking' for metric 'user_metric'") as exc:
        register(_user_metric(task="ranking"))
    assert "binary" in exc.value.fix
    with pytest.raises(MetricError, match="must be a kit.metrics.Metric"):
        METRICS.register(lambda y, p: 0.0, name="user_metric")
    assert "user_metric" not in get_metric_names()


def test_c_index_matches_lifelines_definition():
    # Harrell's C on a hand-worked case: 3 comparable pairs, 2 concordant
    y = np.array([[1, 2.0], [1, 4.0], [0, 6.0]])
    risk = np.array([3.0, 1.0, 2.0])
    # pairs (0,1): t0<t1, risk0>risk1 concordant; (0,2): concordant; (1,2): risk1<risk2 discordant
    assert get_metric("c_index")(y, risk) == pytest.approx(2 / 3)


def test_c_index_takes_the_risk_column_of_survival_curves():
    y, _, _, noisy = data("survival", seed=4)
    c = get_metric("c_index")
    assert c(y, noisy) == c(y, noisy[:, 0]) == c(y, np.c_[noisy[:, 0], np.zeros((len(y), 5))])
