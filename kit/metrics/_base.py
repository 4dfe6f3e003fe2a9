"""The metric registry: name -> :class:`Metric`.

A metric is a plain function ``func(y_true, y_pred) -> float`` computed by
scikit-learn or scikit-survival, plus declarative metadata: the task it scores,
its direction, its bounds, its display precision and, where one exists, a
per-case loss whose mean gives the score back (``from_mean_loss``). Leaderboards
read the direction from here; nobody negates scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import MetricError

TASKS = ("binary", "regression", "survival")

_REGISTRY: dict[str, Metric] = {}


@dataclass(frozen=True)
class Metric:
    name: str
    func: Callable[[np.ndarray, np.ndarray], float] = field(repr=False)
    task: str
    greater_is_better: bool
    lower: float
    upper: float
    precision: int
    description: str
    #: ``per_case(y_true, y_pred) -> losses`` (lower is better for every case)
    per_case: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    #: turns the mean of the per-case losses back into the score
    from_mean_loss: Callable[[float], float] = field(default=lambda m: m, repr=False)
    #: binary metrics that need both classes present in y_true
    needs_both_classes: bool = False

    # -- scoring ---------------------------------------------------------------
    def __call__(self, y_true, y_pred) -> float:
        y_true, y_pred = check_inputs(self, y_true, y_pred)
        return float(self.func(y_true, y_pred))

    def case_losses(self, y_true, y_pred) -> np.ndarray:
        if self.per_case is None:
            raise MetricError(
                f"metric {self.name!r} has no per-case loss",
                fix="resample cases and recompute the metric instead of averaging losses",
            )
        y_true, y_pred = check_inputs(self, y_true, y_pred)
        return np.asarray(self.per_case(y_true, y_pred), dtype=float)

    # -- direction and display -------------------------------------------------
    @property
    def best(self) -> float:
        return self.upper if self.greater_is_better else self.lower

    @property
    def worst(self) -> float:
        return self.lower if self.greater_is_better else self.upper

    def is_better(self, a: float, b: float) -> bool:
        """True when score ``a`` is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b

    def sort_key(self, value: float) -> float:
        """A key that sorts best first; missing values sort last."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.inf
        return -value if self.greater_is_better else value

    def format(self, value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        return f"{value:.{self.precision}f}"

    @property
    def arrow(self) -> str:
        return "↑" if self.greater_is_better else "↓"


def register(metric: Metric) -> Metric:
    if metric.task not in TASKS:
        raise MetricError(
            f"unknown task {metric.task!r} for metric {metric.name!r}", fix=f"use one of {', '.join(TASKS)}"
        )
    if metric.name in _REGISTRY:
        raise MetricError(f"metric {metric.name!r} is already registered")
    _REGISTRY[metric.name] = metric
    return metric


def get_metric(name: str) -> Metric:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MetricError(
            f"{name!r} is not a registered metric",
            fix=f"use one of: {', '.join(get_metric_names())} (kit.metrics.get_metric_names())",
        ) from None


def get_metric_names(task: str | None = None) -> list[str]:
    return sorted(n for n, m in _REGISTRY.items() if task is None or m.task == task)


# -- input checks --------------------------------------------------------------
def check_inputs(metric: Metric, y_true, y_pred):
    """Convert and check inputs; raise :class:`MetricError` naming the problem."""
    try:
        y_pred = np.asarray(y_pred, dtype=float)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"{metric.name}: predictions are not numeric ({exc})") from None
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred[:, 0]
    if y_pred.ndim != 1:
        raise MetricError(
            f"{metric.name}: predictions must be one value per case, got shape {y_pred.shape}",
            fix="pass a 1-d array (for binary tasks: the probability of the positive class)",
        )
    if metric.task == "survival":
        y_true = _survival_target(metric, y_true)
        n_true = len(y_true[0])
    else:
        try:
            y_true = np.asarray(y_true, dtype=float)
        except (TypeError, ValueError) as exc:
            raise MetricError(f"{metric.name}: true values are not numeric ({exc})") from None
        if y_true.ndim == 2 and y_true.shape[1] == 1:
            y_true = y_true[:, 0]
        if y_true.ndim != 1:
            raise MetricError(f"{metric.name}: true values must be one value per case, got shape {y_true.shape}")
        n_true = len(y_true)
    if n_true != len(y_pred):
        raise MetricError(
            f"{metric.name}: inconsistent numbers of cases: y_true has {n_true}, y_pred has {len(y_pred)}",
            fix="give exactly one prediction per case, in the same order as the labels",
        )
    if len(y_pred) == 0:
        raise MetricError(f"{metric.name}: no cases to score")
    if not np.all(np.isfinite(y_pred)):
        raise MetricError(
            f"{metric.name}: predictions contain NaN or infinite values", fix="replace them with finite numbers"
        )
    if metric.task == "binary":
        if not np.all(np.isin(y_true, (0.0, 1.0))):
            raise MetricError(f"{metric.name}: binary labels must be 0 or 1")
        if np.any((y_pred < 0) | (y_pred > 1)):
            raise MetricError(
                f"{metric.name}: binary predictions are probabilities and must lie in [0, 1]",
                fix="predict the probability of the positive class (predict_proba(...)[:, 1])",
            )
        if metric.needs_both_classes and len(np.unique(y_true)) < 2:
            raise MetricError(f"{metric.name}: only one class present in y_true; the score is undefined")
    elif metric.task == "regression":
        if not np.all(np.isfinite(y_true)):
            raise MetricError(f"{metric.name}: true values contain NaN or infinite values")
    return y_true, y_pred


def _survival_target(metric: Metric, y_true):
    """Survival targets: (event, time) as a structured array, a 2-column array or a pair."""
    if isinstance(y_true, np.ndarray) and y_true.dtype.names:
        names = y_true.dtype.names
        event, time = y_true[names[0]], y_true[names[1]]
    else:
        arr = np.asarray(y_true, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise MetricError(f"{metric.name}: survival targets need two columns (event, time), got shape {arr.shape}")
        event, time = arr[:, 0], arr[:, 1]
    event = np.asarray(event)
    time = np.asarray(time, dtype=float)
    if not np.all(np.isin(event.astype(float), (0.0, 1.0))):
        raise MetricError(f"{metric.name}: the event indicator must be 0/1 or boolean")
    if not np.all(np.isfinite(time)) or np.any(time < 0):
        raise MetricError(f"{metric.name}: survival times must be finite and non-negative")
    return event.astype(bool), time
