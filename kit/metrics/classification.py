"""Binary classification metrics. Predictions are probabilities of the positive class."""

from __future__ import annotations

import math

import numpy as np

from ._base import Metric, register, sklearn_metric
from .resampling import auc_scores, balanced_accuracy_formula, confusion_scores, f1_formula, mcc_formula

THRESHOLD = 0.5
_EPS = np.finfo(float).eps
# scikit-learn is imported at a metric's first call (see sklearn_metric)
_LOG_LOSS = sklearn_metric("log_loss")
_ACCURACY_SCORE = sklearn_metric("accuracy_score")
_BALANCED_ACCURACY_SCORE = sklearn_metric("balanced_accuracy_score")
_F1_SCORE = sklearn_metric("f1_score")
_MATTHEWS_CORRCOEF = sklearn_metric("matthews_corrcoef")


def _labels(p: np.ndarray) -> np.ndarray:
    return (np.asarray(p) >= THRESHOLD).astype(int)


def _log_loss_cases(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


register(
    Metric(
        name="roc_auc",
        func=sklearn_metric("roc_auc_score"),
        task="binary",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        needs_both_classes=True,
        resampled=auc_scores,
        description="Area under the ROC curve (scikit-learn roc_auc_score).",
    )
)

register(
    Metric(
        name="average_precision",
        func=sklearn_metric("average_precision_score"),
        task="binary",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        needs_both_classes=True,
        description="Average precision, the area under the precision-recall curve (scikit-learn).",
    )
)

register(
    Metric(
        name="log_loss",
        func=lambda y, p: _LOG_LOSS(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1]),
        task="binary",
        greater_is_better=False,
        lower=0.0,
        upper=math.inf,
        precision=4,
        per_case=_log_loss_cases,
        description="Binary cross-entropy of the predicted probabilities (scikit-learn log_loss).",
    )
)

register(
    Metric(
        name="brier",
        func=sklearn_metric("brier_score_loss"),
        task="binary",
        greater_is_better=False,
        lower=0.0,
        upper=1.0,
        precision=4,
        per_case=lambda y, p: (p - y) ** 2,
        case_loss_upper=1.0,
        description="Brier score: mean squared error of the probabilities (scikit-learn brier_score_loss).",
    )
)

register(
    Metric(
        name="accuracy",
        func=lambda y, p: _ACCURACY_SCORE(y, _labels(p)),
        task="binary",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        per_case=lambda y, p: (_labels(p) != y).astype(float),
        from_mean_loss=lambda m: 1.0 - m,
        case_loss_upper=1.0,
        description=f"Accuracy of the labels p >= {THRESHOLD} (scikit-learn accuracy_score).",
    )
)

register(
    Metric(
        name="balanced_accuracy",
        func=lambda y, p: _BALANCED_ACCURACY_SCORE(y, _labels(p)),
        task="binary",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        resampled=confusion_scores(balanced_accuracy_formula, THRESHOLD),
        description=f"Mean of sensitivity and specificity at p >= {THRESHOLD} (scikit-learn).",
    )
)

register(
    Metric(
        name="f1",
        func=lambda y, p: _F1_SCORE(y, _labels(p), zero_division=0.0),
        task="binary",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        resampled=confusion_scores(f1_formula, THRESHOLD),
        description=f"F1 score of the positive class at p >= {THRESHOLD} (scikit-learn f1_score).",
    )
)

register(
    Metric(
        name="mcc",
        func=lambda y, p: _MATTHEWS_CORRCOEF(y, _labels(p)),
        task="binary",
        greater_is_better=True,
        lower=-1.0,
        upper=1.0,
        precision=4,
        resampled=confusion_scores(mcc_formula, THRESHOLD),
        description=f"Matthews correlation coefficient at p >= {THRESHOLD} (scikit-learn).",
    )
)
