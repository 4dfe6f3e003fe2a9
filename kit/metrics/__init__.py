"""Metric registry: ``get_metric(name)``, ``get_metric_names(task=None)``, ``register``.

Every metric is a :class:`Metric` kept in :data:`METRICS` (a :class:`kit.registry.Registry`);
each carries its direction, bounds, precision, per-case loss and fast resampled scorer
(:mod:`kit.metrics.resampling`).
"""

from . import classification, multiclass, regression, survival  # noqa: F401  (register the built-ins)
from ._base import (
    METRICS,
    Metric,
    ResampledScorer,
    Target,
    check_inputs,
    get_metric,
    get_metric_names,
    register,
    task_names,
)

__all__ = [
    "METRICS",
    "Metric",
    "ResampledScorer",
    "Target",
    "check_inputs",
    "get_metric",
    "get_metric_names",
    "register",
    "task_names",
]
