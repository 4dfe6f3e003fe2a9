"""Multiclass metrics. Predictions are one probability per class: shape (cases, K).

True values are class codes ``0 .. K-1`` (floats, as :func:`~kit.metrics.check_inputs`
returns them), ``K = y_pred.shape[1]``. Rows are rescaled to sum to 1 exactly before
scoring (the task accepts sums within rounding of CSV files). Label metrics score the
most probable class (``argmax``; the first class on ties).

The boards' resampling never calls these functions once per team and resample; each
metric has an exact vectorised scorer (:mod:`kit.metrics.resampling`):
``multiclass_log_loss`` and ``multiclass_brier`` are means of per-case losses (one
matrix product); ``macro_roc_auc`` is the mean of ``K`` one-vs-rest weighted
Mann–Whitney AUCs (:func:`~kit.metrics.resampling.ovr_auc_scores`); the label metrics
are computed from weighted K × K confusion matrices, one matrix product for every team
and resample (:func:`~kit.metrics.resampling.class_confusion_scores`), with
scikit-learn's edge cases. A score undefined on the given cases (a class absent for
``macro_roc_auc``, a single class everywhere for ``quadratic_kappa``) raises
:class:`~kit.errors.MetricError`; on a bootstrap resample it is NaN and the resample is
dropped.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import MetricError
from ._base import Metric, register, sklearn_metric
from .resampling import (
    class_confusion_scores,
    macro_f1_formula,
    multiclass_balanced_accuracy_formula,
    ovr_auc_scores,
    quadratic_kappa_formula,
)

_EPS = np.finfo(float).eps
# scikit-learn is imported at a metric's first call (see sklearn_metric)
_ROC_AUC_SCORE = sklearn_metric("roc_auc_score")
_BALANCED_ACCURACY_SCORE = sklearn_metric("balanced_accuracy_score")
_F1_SCORE = sklearn_metric("f1_score")
_COHEN_KAPPA_SCORE = sklearn_metric("cohen_kappa_score")


def _proba(p: np.ndarray) -> np.ndarray:
    """Rows rescaled to sum to 1 (a no-op, up to rounding, on predict_proba output)."""
    p = np.asarray(p, dtype=float)
    return p / p.sum(axis=1, keepdims=True)


def _codes(y: np.ndarray) -> np.ndarray:
    return np.asarray(y).astype(int)


def _labels(p: np.ndarray) -> np.ndarray:
    """The predicted class: the most probable one."""
    return np.argmax(p, axis=1)


def _classes(p: np.ndarray) -> np.ndarray:
    return np.arange(np.shape(p)[1])


# -- per-case losses ---------------------------------------------------------------------
def _log_loss_cases(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``-log p_true``, ``p`` clipped to ``[eps, 1 - eps]`` as scikit-learn's log_loss does."""
    p_true = np.take_along_axis(_proba(p), _codes(y)[:, None], axis=1)[:, 0]
    return -np.log(np.clip(p_true, _EPS, 1 - _EPS))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(_log_loss_cases(y, p)))


def _brier_cases(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``sum_k (p_k - [y == k])^2``: from 0 (certain and right) to 2 (certain and wrong)."""
    p = _proba(p)
    onehot = _codes(y)[:, None] == _classes(p)[None, :]
    return np.sum((p - onehot) ** 2, axis=1)


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(_brier_cases(y, p)))


# -- metrics with their own resampled scorers ----------------------------------------------
def _macro_roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    k = np.shape(p)[1]
    missing = sorted(set(range(k)) - set(_codes(y).tolist()))
    if missing:
        raise MetricError(
            f"macro_roc_auc: class(es) {', '.join(map(str, missing))} absent from y_true; "
            "their one-vs-rest ROC AUC is undefined",
            fix="score cases of every class (or choose multiclass_log_loss, which needs no class balance)",
        )
    return float(_ROC_AUC_SCORE(y, _proba(p), multi_class="ovr", average="macro", labels=np.arange(k)))


def _balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(_BALANCED_ACCURACY_SCORE(_codes(y), _labels(p)))


def _macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    return float(_F1_SCORE(_codes(y), _labels(p), average="macro", labels=_classes(p), zero_division=0.0))


def _quadratic_kappa(y: np.ndarray, p: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined kappa warns; it raises below
        kappa = float(_COHEN_KAPPA_SCORE(_codes(y), _labels(p), weights="quadratic", labels=_classes(p)))
    if math.isnan(kappa):
        raise MetricError(
            "quadratic_kappa is undefined: the true and the predicted classes are one and the same class on every case",
            fix="score cases of more than one class",
        )
    return kappa


register(
    Metric(
        name="macro_roc_auc",
        func=_macro_roc_auc,
        task="multiclass",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        needs_both_classes=True,
        resampled=ovr_auc_scores(_proba),
        description="Macro average of the one-vs-rest ROC AUC of every class "
        '(scikit-learn roc_auc_score, multi_class="ovr", average="macro"); every class must be present.',
    )
)

register(
    Metric(
        name="multiclass_log_loss",
        func=_log_loss,
        task="multiclass",
        greater_is_better=False,
        lower=0.0,
        upper=math.inf,
        precision=4,
        per_case=_log_loss_cases,
        description="Cross-entropy: the mean of -log(probability of the true class) (scikit-learn log_loss).",
    )
)

register(
    Metric(
        name="multiclass_brier",
        func=_brier,
        task="multiclass",
        greater_is_better=False,
        lower=0.0,
        upper=2.0,
        precision=4,
        per_case=_brier_cases,
        case_loss_upper=2.0,
        description="Multiclass Brier score: the mean over cases of the sum over classes of "
        "(probability - 1 for the true class, 0 otherwise)², from 0 to 2 (scikit-learn brier_score_loss).",
    )
)

register(
    Metric(
        name="multiclass_balanced_accuracy",
        func=_balanced_accuracy,
        task="multiclass",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        resampled=class_confusion_scores(multiclass_balanced_accuracy_formula, _labels),
        description="Mean recall of the classes present in y_true, predicting the most probable class "
        "(scikit-learn balanced_accuracy_score).",
    )
)

register(
    Metric(
        name="macro_f1",
        func=_macro_f1,
        task="multiclass",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        resampled=class_confusion_scores(macro_f1_formula, _labels),
        description="Unweighted mean of the F1 scores of every class, predicting the most probable class "
        '(scikit-learn f1_score, average="macro"; 0 for a class never predicted nor present).',
    )
)

register(
    Metric(
        name="quadratic_kappa",
        func=_quadratic_kappa,
        task="multiclass",
        greater_is_better=True,
        lower=-1.0,
        upper=1.0,
        precision=4,
        ordinal_only=True,
        resampled=class_confusion_scores(quadratic_kappa_formula, _labels),
        description="Quadratic weighted Cohen's kappa between the true and the most probable class, "
        'for ordered classes (scikit-learn cohen_kappa_score, weights="quadratic").',
    )
)
