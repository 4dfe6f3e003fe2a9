"""Regression metrics."""

from __future__ import annotations

import math

import numpy as np

from ._base import Metric, register, sklearn_metric
from .resampling import r2_scores

register(
    Metric(
        name="rmse",
        func=sklearn_metric("root_mean_squared_error"),
        task="regression",
        greater_is_better=False,
        lower=0.0,
        upper=math.inf,
        precision=3,
        per_case=lambda y, p: (p - y) ** 2,
        from_mean_loss=math.sqrt,
        description="Root mean squared error (scikit-learn root_mean_squared_error).",
    )
)

register(
    Metric(
        name="mae",
        func=sklearn_metric("mean_absolute_error"),
        task="regression",
        greater_is_better=False,
        lower=0.0,
        upper=math.inf,
        precision=3,
        per_case=lambda y, p: np.abs(p - y),
        description="Mean absolute error (scikit-learn mean_absolute_error).",
    )
)

register(
    Metric(
        name="r2",
        func=sklearn_metric("r2_score"),
        task="regression",
        greater_is_better=True,
        lower=-math.inf,
        upper=1.0,
        precision=4,
        resampled=r2_scores,
        description="Coefficient of determination R² (scikit-learn r2_score).",
    )
)
