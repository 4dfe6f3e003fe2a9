"""Survival metrics, computed by scikit-survival.

True values are the (event, time) pair returned by :func:`~kit.metrics.check_inputs`.
Predictions are either 1-d risk scores (higher means an earlier event), or a 2-d array
whose column 0 is the risk score and columns ``1..m`` the predicted probabilities of
being event-free, S(t), at the challenge's times ``t_1..t_m`` (``spec.survival.times``).
Metrics that use those times declare ``params=("times",)``: they are bound to the
challenge's times by ``ChallengeSpec.metric(name)`` (:meth:`Metric.bind
<kit.metrics.Metric.bind>`); an unbound one is refused by ``check_inputs``.

Censoring
    ``uno_c_index``, ``cumulative_auc`` and ``integrated_brier`` weight cases by the
    inverse probability of remaining uncensored (IPCW). The censoring distribution is
    the Kaplan–Meier estimate *of the scored cases themselves* (``survival_train`` is
    ``survival_test`` in scikit-survival's terms): the test set, or a bootstrap
    resample of it; no training data is needed.

Resampling
    ``c_index`` has an exact vectorised scorer of many resamples
    (:func:`~kit.metrics.resampling.harrell_scores`: Harrell's C from the case
    multiplicities, matrix products over the comparable pairs). ``uno_c_index``,
    ``cumulative_auc`` and ``integrated_brier`` are on the slower path: scikit-survival
    is called on every resample for every team
    (:func:`~kit.metrics.resampling.generic_scores`), because their IPCW weights depend
    on each resample's own censoring distribution (its Kaplan–Meier estimate is
    recomputed from the resampled cases), so they are not a fixed function of the cases
    that case multiplicities could weight.

Undefined scores
    A score undefined on the given cases (every case censored, no comparable pair, a
    time outside the follow-up ``[min time, max time[`` of the scored cases, ...)
    raises :class:`~kit.errors.MetricError` saying why. Within the boards' resampling
    the score of such a resample is NaN: the resample is dropped for every team and
    counted as invalid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import MetricError
from ._base import Metric, register
from .resampling import harrell_scores

#: the fix of a time outside the follow-up of the scored cases
_TIMES_FIX = (
    "choose survival.times inside the follow-up of the test cases (e.g. percentiles of the event times); "
    "on a bootstrap resample such a score is NaN and the resample is dropped"
)


def _risk(pred: np.ndarray) -> np.ndarray:
    """The risk scores: the predictions, or their column 0."""
    return pred[:, 0] if pred.ndim == 2 else pred


def _structured(y: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The structured (event, time) array scikit-survival takes."""
    from sksurv.util import Surv  # imported when used: it is slow to import

    event, time = y
    return Surv.from_arrays(np.asarray(event, dtype=bool), np.asarray(time, dtype=float))


def _sksurv(name: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, its scikit-survival ValueError turned into a :class:`MetricError`."""
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            return compute()
    except (ValueError, ZeroDivisionError, FloatingPointError) as exc:
        raise MetricError(f"{name} is undefined on these cases: {exc}", fix="score more cases, with events") from None


def _finite(name: str, value: Any, why: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise MetricError(f"{name} is undefined on these cases: {why}", fix="score more cases, with events")
    return value


def _times(name: str, times: Sequence[float], time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted times, their order)``: at least one, distinct, within the follow-up of the cases."""
    t = np.asarray(times, dtype=float).reshape(-1)
    if t.size == 0:
        raise MetricError(
            f"{name} needs the challenge's survival times; none were given",
            fix="set survival.times in challenge.yaml and bind them (spec.metric(name) or metric.bind(times=[...]))",
        )
    if len(np.unique(t)) != t.size or not np.all(np.isfinite(t)):
        raise MetricError(f"{name}: the survival times must be distinct finite numbers, got {t.tolist()}")
    order = np.argsort(t, kind="stable")
    t = t[order]
    if t[0] < time.min() or t[-1] >= time.max():
        raise MetricError(
            f"{name}: the times {t.tolist()} must lie within the follow-up of the scored cases, "
            f"[{time.min():g}, {time.max():g}[",
            fix=_TIMES_FIX,
        )
    return t, order


def _survival_columns(name: str, pred: np.ndarray, n_times: int) -> np.ndarray:
    """The predicted survival probabilities, columns ``1..m`` of the predictions."""
    if pred.ndim != 2 or pred.shape[1] != 1 + n_times:
        raise MetricError(
            f"{name} needs a risk score and the survival probability at each of the {n_times} time(s): "
            f"predictions of shape (cases, {1 + n_times}), got {pred.shape}",
            fix="predict columns risk, surv_<t> for every time t of the challenge",
        )
    return pred[:, 1:]


# -- the metrics ---------------------------------------------------------------------------
def _c_index(y: tuple[np.ndarray, np.ndarray], pred: np.ndarray) -> float:
    from sksurv.metrics import concordance_index_censored  # imported when used: it is slow to import

    event, time = y
    c = _sksurv("c_index", lambda: concordance_index_censored(event, time, _risk(pred))[0])
    return _finite("c_index", c, "no comparable pair")  # events with nothing later: 0 / 0


def _uno_c_index(y: tuple[np.ndarray, np.ndarray], pred: np.ndarray, *, times: Sequence[float] = ()) -> float:
    """Uno's C truncated at ``tau = max(times)`` (no truncation without times).

    Resampled on the slower path (called per team and resample): its IPCW weights
    depend on each resample's censoring distribution.
    """
    from sksurv.metrics import concordance_index_ipcw

    surv = _structured(y)
    tau = float(max(times)) if len(times) else None
    c = _sksurv("uno_c_index", lambda: concordance_index_ipcw(surv, surv, _risk(pred), tau=tau)[0])
    return _finite("uno_c_index", c, "no comparable pair before the truncation time")


def _cumulative_auc(y: tuple[np.ndarray, np.ndarray], pred: np.ndarray, *, times: Sequence[float] = ()) -> float:
    """The cumulative/dynamic AUC averaged over ``times``.

    Resampled on the slower path (called per team and resample): its IPCW weights
    depend on each resample's censoring distribution.
    """
    from sksurv.metrics import cumulative_dynamic_auc

    t, _ = _times("cumulative_auc", times, y[1])
    surv = _structured(y)
    _, mean_auc = _sksurv("cumulative_auc", lambda: cumulative_dynamic_auc(surv, surv, _risk(pred), t))
    return _finite("cumulative_auc", mean_auc, "no event before, or no case beyond, one of the times")


def _integrated_brier(y: tuple[np.ndarray, np.ndarray], pred: np.ndarray, *, times: Sequence[float] = ()) -> float:
    """The integrated Brier score over ``times`` (the Brier score at a single time).

    Resampled on the slower path (called per team and resample): its IPCW weights
    depend on each resample's censoring distribution.
    """
    from sksurv.metrics import brier_score, integrated_brier_score

    t, order = _times("integrated_brier", times, y[1])
    curve = _survival_columns("integrated_brier", pred, len(t))[:, order]
    surv = _structured(y)
    if len(t) == 1:  # nothing to integrate: the Brier score at that time
        value = _sksurv("integrated_brier", lambda: brier_score(surv, surv, curve, t)[1][0])
    else:
        value = _sksurv("integrated_brier", lambda: integrated_brier_score(surv, surv, curve, t))
    return _finite("integrated_brier", value, "the censoring distribution is zero at one of the times")


_IPCW = (
    "Censoring weights: the Kaplan-Meier estimate of censoring among the scored cases themselves. "
    "Bootstrap resamples recompute it with scikit-survival for every team (slower than c_index): "
    "the weights depend on each resample's own censoring distribution."
)

register(
    Metric(
        name="c_index",
        func=_c_index,
        task="survival",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        resampled=harrell_scores,
        description="Harrell's concordance index of risk scores (scikit-survival concordance_index_censored).",
    )
)

register(
    Metric(
        name="uno_c_index",
        func=_uno_c_index,
        task="survival",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        params=("times",),
        description="Uno's concordance index of risk scores, truncated at the last survival time of the challenge "
        f"(scikit-survival concordance_index_ipcw). {_IPCW}",
    )
)

register(
    Metric(
        name="cumulative_auc",
        func=_cumulative_auc,
        task="survival",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        params=("times",),
        description="Cumulative/dynamic AUC of risk scores at the survival times of the challenge, averaged "
        f"weighted by the Kaplan-Meier drop in survival (scikit-survival cumulative_dynamic_auc, mean_auc). {_IPCW}",
    )
)

register(
    Metric(
        name="integrated_brier",
        func=_integrated_brier,
        task="survival",
        greater_is_better=False,
        lower=0.0,
        upper=1.0,
        precision=4,
        needs_survival_curve=True,
        params=("times",),
        description="Integrated Brier score of the predicted survival probabilities over the survival times of "
        "the challenge (scikit-survival integrated_brier_score; the Brier score itself for a single time). "
        f"{_IPCW}",
    )
)
