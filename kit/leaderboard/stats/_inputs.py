"""Checks of the inputs shared by every statistic, and :func:`exclude_incomplete`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

from ...errors import MetricError, Problem
from ...metrics import Metric, Target, check_inputs, get_metric

if TYPE_CHECKING:
    from ._bootstrap import BootstrapResult

#: a :class:`~kit.metrics.Metric` or its registered name
MetricLike: TypeAlias = Metric | str


def _as_metric(metric: MetricLike) -> Metric:
    return get_metric(metric) if isinstance(metric, str) else metric


def _prepare(
    y_true: ArrayLike, predictions: ArrayLike, teams: Iterable[object], metric: MetricLike
) -> tuple[Metric, Target, np.ndarray, tuple[str, ...]]:
    """Check and convert the inputs; return ``(metric, y, P, teams)``.

    ``P`` is (teams, cases) for one-column predictions, (teams, cases, columns) for
    multi-column ones; every team's predictions are checked as the metric takes them
    (:func:`~kit.metrics.check_inputs`), and a team it refuses is named.
    """
    metric = _as_metric(metric)
    try:
        P = np.asarray(predictions, dtype=float)
    except (TypeError, ValueError) as exc:
        raise MetricError(
            f"{metric.name}: predictions are not numeric ({exc})", fix="pass a float array of shape (teams, cases)"
        ) from None
    if P.ndim == 1:
        P = P[None, :]
    if P.ndim == 3 and P.shape[2] == 1:  # one column: as the metrics take it
        P = P[:, :, 0]
    if P.ndim not in (2, 3) or P.shape[0] == 0:
        raise MetricError(
            f"{metric.name}: predictions must be a 2-d array (teams × cases), or 3-d (teams × cases × columns) "
            f"for multi-column predictions, got shape {P.shape}",
            fix="stack one row of predictions per team, cases in the order of y_true",
        )
    names = tuple(str(t) for t in teams)
    if len(names) != P.shape[0]:
        raise MetricError(
            f"{len(names)} team names for {P.shape[0]} rows of predictions",
            fix="give exactly one name per row of predictions",
        )
    if len(set(names)) != len(names):
        dup = sorted(t for t, k in Counter(names).items() if k > 1)
        raise MetricError(
            f"team names are not unique: {', '.join(map(repr, dup))}",
            fix="give every row of predictions a distinct name",
        )
    bad = ~np.isfinite(P.reshape(P.shape[0], -1)).all(axis=1)
    if bad.any():
        problems = [
            Problem(
                f"{int((~np.isfinite(P[i])).sum())} of {P[i].size} predictions are NaN or infinite",
                where=f"team {names[i]!r}",
            )
            for i in np.flatnonzero(bad)
        ]
        raise MetricError(
            f"{int(bad.sum())} team(s) have missing or infinite predictions; their scores are undefined",
            where="predictions",
            problems=problems,
            fix="fix their predictions, or leave them out explicitly with "
            "kit.leaderboard.stats.exclude_incomplete(predictions, teams)",
        )
    y = _check_every_team(metric, y_true, P, names)  # the task's checks (ranges, sums) on every team
    return metric, y, P, names


def _check_every_team(metric: Metric, y_true: ArrayLike, P: np.ndarray, names: tuple[str, ...]) -> Target:
    """``check_inputs`` on every team's predictions; the checked true values."""
    y: Target | None = None
    refused: dict[int, MetricError] = {}
    for i in range(P.shape[0]):
        try:
            y, _ = check_inputs(metric, y_true, P[i])
        except MetricError as exc:
            refused[i] = exc
    if refused:
        first = next(iter(refused.values()))
        if len(refused) == P.shape[0] and len({exc.what for exc in refused.values()}) == 1:
            raise first  # the same for every team: the labels, the metric, or every team's predictions
        listed = ", ".join(repr(names[i]) for i in list(refused)[:10])
        raise MetricError(
            f"{metric.name}: the predictions of {len(refused)} team(s) cannot be scored",
            where=f"teams {listed}",
            problems=[Problem(exc.what, where=f"team {names[i]!r}", fix=exc.fix) for i, exc in refused.items()],
            fix="fix their predictions, or leave those teams out",
        )
    assert y is not None
    return y


def exclude_incomplete(
    predictions: ArrayLike, teams: Iterable[object]
) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Leave out the teams whose predictions contain NaN or infinite values.

    Parameters
    ----------
    predictions : array-like, shape (teams, cases) or (teams, cases, columns)
    teams : sequence of str

    Returns
    -------
    predictions : ndarray
        The rows of the complete teams.
    teams : tuple of str
        Their names.
    excluded : tuple of str
        The names left out, to be reported next to the leaderboard.
    """
    P = np.asarray(predictions, dtype=float)
    if P.ndim == 1:
        P = P[None, :]
    names = tuple(str(t) for t in teams)
    if len(names) != P.shape[0]:
        raise MetricError(
            f"{len(names)} team names for {P.shape[0]} rows of predictions",
            fix="give exactly one name per row of predictions",
        )
    keep = np.isfinite(P.reshape(P.shape[0], -1)).all(axis=1)
    return (
        P[keep],
        tuple(t for t, k in zip(names, keep, strict=True) if k),
        tuple(t for t, k in zip(names, keep, strict=True) if not k),
    )


def _check_indices(indices: ArrayLike, n: int) -> np.ndarray:
    """Resample indices as a 2-d integer array (resamples × draws) of cases in ``[0, n)``."""
    idx = np.asarray(indices)
    if idx.ndim == 1:
        idx = idx[None, :]
    if idx.ndim != 2 or idx.shape[1] == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise MetricError(
            f"resample indices must be a 2-d integer array (resamples × draws), got {idx.dtype} of shape {idx.shape}",
            fix="pass e.g. bootstrap_indices(n_cases, 1000)",
        )
    if idx.min() < 0 or idx.max() >= n:
        raise MetricError(
            f"resample indices must lie in [0, {n - 1}]", where="indices", fix="index the cases of y_true"
        )
    return idx


def _check_same_teams(result: BootstrapResult, teams: tuple[str, ...]) -> None:
    if tuple(result.teams) != tuple(teams):
        raise MetricError(
            "the bootstrap result was computed for other teams",
            fix="pass the BootstrapResult of these very predictions and teams",
        )
