"""Metric registry: ``get_metric(name)``, ``get_metric_names(task=None)``, ``register``."""

from . import classification, regression, survival  # noqa: F401  (register the built-ins)
from ._base import TASKS, Metric, check_inputs, get_metric, get_metric_names, register

__all__ = ["TASKS", "Metric", "check_inputs", "get_metric", "get_metric_names", "register"]
