"""Generic tests over every registered metric (as scikit-learn's metrics/tests/test_common.py)."""

import math

import numpy as np
import pytest

from kit.errors import MetricError
from kit.metrics import TASKS, get_metric, get_metric_names

ALL = get_metric_names()
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
}


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
    else:
        time = rng.exponential(100, n) + 1
        event = (rng.random(n) < 0.7).astype(float)
        y = np.c_[event, time]
        perfect = -time  # higher risk = earlier event
        worst = time
        noisy = -time + rng.normal(0, 60, n)
    return y, perfect, worst, noisy


def test_required_metrics_are_registered():
    assert REQUIRED <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_metadata(name):
    m = get_metric(name)
    assert m.task in TASKS
    assert m.lower < m.upper
    assert isinstance(m.precision, int) and 0 <= m.precision <= 8
    assert m.description


@pytest.mark.parametrize("name", ALL)
def test_perfect_worst_noisy_and_direction(name):
    m = get_metric(name)
    y, perfect, worst, noisy = data(m.task)
    s_perfect, s_worst, s_noisy = m(y, perfect), m(y, worst), m(y, noisy)
    for s in (s_perfect, s_worst, s_noisy):
        assert m.lower - 1e-12 <= s <= m.upper + 1e-12
    if math.isfinite(m.best):
        assert s_perfect == pytest.approx(m.best, abs=1e-9)
    assert m.is_better(s_perfect, s_noisy) or s_perfect == pytest.approx(s_noisy)
    assert m.is_better(s_noisy, s_worst)
    assert m.sort_key(s_perfect) <= m.sort_key(s_noisy) <= m.sort_key(s_worst)
    if math.isfinite(m.worst) and name in ("roc_auc", "accuracy", "f1", "mcc", "balanced_accuracy", "brier", "c_index"):
        assert s_worst == pytest.approx(m.worst, abs=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_per_case_losses_give_the_score_back(name):
    m = get_metric(name)
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
    m = get_metric(name)
    y, _, _, noisy = data(m.task)
    with pytest.raises(MetricError, match="inconsistent numbers of cases: y_true has 60, y_pred has 59"):
        m(y, noisy[:-1])
    with pytest.raises(MetricError, match="one value per case"):
        m(y, np.c_[noisy, noisy])
    bad = noisy.copy()
    bad[3] = np.nan
    with pytest.raises(MetricError, match="NaN or infinite"):
        m(y, bad)
    with pytest.raises(MetricError):
        m(y, ["a"] * len(noisy))


@pytest.mark.parametrize("name", get_metric_names("binary"))
def test_binary_rejects_labels_outside_probabilities(name):
    m = get_metric(name)
    y, _, _, noisy = data("binary")
    with pytest.raises(MetricError, match=r"\[0, 1\]"):
        m(y, noisy * 3)


def test_auc_with_one_class_is_an_error():
    with pytest.raises(MetricError, match="only one class"):
        get_metric("roc_auc")(np.ones(5), np.linspace(0, 1, 5))


def test_unknown_metric_names_the_choices():
    with pytest.raises(MetricError, match="is not a registered metric") as exc:
        get_metric("auc")
    assert "roc_auc" in exc.value.fix


def test_c_index_matches_lifelines_definition():
    # Harrell's C on a hand-worked case: 3 comparable pairs, 2 concordant
    y = np.array([[1, 2.0], [1, 4.0], [0, 6.0]])
    risk = np.array([3.0, 1.0, 2.0])
    # pairs (0,1): t0<t1, risk0>risk1 concordant; (0,2): concordant; (1,2): risk1<risk2 discordant
    assert get_metric("c_index")(y, risk) == pytest.approx(2 / 3)
