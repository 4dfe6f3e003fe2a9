"""Survival metrics. Predictions are risk scores: higher means earlier event."""

from __future__ import annotations

from ._base import Metric, register


def _c_index(y, risk):
    from sksurv.metrics import concordance_index_censored  # imported when used: it is slow to import

    event, time = y
    return concordance_index_censored(event, time, risk)[0]


register(
    Metric(
        name="c_index",
        func=_c_index,
        task="survival",
        greater_is_better=True,
        lower=0.0,
        upper=1.0,
        precision=4,
        description="Harrell's concordance index of risk scores (scikit-survival concordance_index_censored).",
    )
)
