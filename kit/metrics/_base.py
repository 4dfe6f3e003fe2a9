"""The metric registry: name -> :class:`Metric`.

A metric is a plain function ``func(y_true, y_pred) -> float`` computed by
scikit-learn or scikit-survival, plus declarative metadata: the task it scores,
its direction, its bounds, its display precision, where one exists a per-case
loss whose mean gives the score back (``from_mean_loss``) and, where one exists,
its own fast scorer of many resamples (``resampled``, see
:mod:`kit.metrics.resampling`). Leaderboards read the direction from here; nobody
negates scores.

Metrics are kept in :data:`METRICS`, a :class:`~kit.registry.Registry`: a name
taken already is refused unless ``replace=True``, and plug-ins register theirs
through the entry-point group ``challenge_kit.metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

from ..errors import MetricError
from ..registry import Registry
from .resampling import generic_scores, per_case_scores


def task_names() -> list[str]:
    """The registered task types (:mod:`kit.tasks`): the tasks a metric may score."""
    from ..tasks import get_task_names

    return get_task_names()


#: checked true values: one array, or the (event, time) pair of a survival target
Target: TypeAlias = np.ndarray | tuple[np.ndarray, np.ndarray]
#: ``scorer(metric, y, P, indices, n_jobs) -> scores`` of every team (rows of ``P``) on
#: every resample (rows of ``indices``), shape (teams, resamples), NaN where undefined
ResampledScorer: TypeAlias = Callable[["Metric", Target, np.ndarray, np.ndarray, int | None], np.ndarray]


def _identity(mean_loss: float) -> float:
    return mean_loss


@dataclass(frozen=True)
class Metric:
    """A metric: its function and what the leaderboards need to know about it.

    Attributes
    ----------
    name : str
        Registry name.
    func : callable
        ``func(y_true, y_pred) -> float`` on checked inputs (:func:`check_inputs`).
    task : str
        The task type it scores (a name of :mod:`kit.tasks`).
    greater_is_better : bool
        The direction: leaderboards sort by :meth:`sort_key`, nobody negates scores.
    lower, upper : float
        Bounds of the score.
    precision : int
        Decimals shown.
    description : str
    per_case : callable, optional
        ``per_case(y_true, y_pred) -> losses``, one per case, lower is better; their
        mean turned by ``from_mean_loss`` gives the score back.
    from_mean_loss : callable
        Turns the mean of the per-case losses back into the score (default: identity).
    case_loss_upper : float
        The largest value the per-case loss can take (``inf``: unbounded, e.g. a squared
        error). The Ladder (:func:`kit.leaderboard.stats.ladder`) divides the losses by it,
        so that they lie in [0, 1] as Blum & Hardt's guarantee assumes.
    needs_both_classes : bool
        Binary metrics undefined when ``y_true`` holds a single class.
    resampled : callable, optional
        The metric's own fast scorer of many resamples (:data:`ResampledScorer`), used
        by :meth:`resample_scores`; see :mod:`kit.metrics.resampling`.
    """

    name: str
    func: Callable[[Any, np.ndarray], float] = field(repr=False)
    task: str
    greater_is_better: bool
    lower: float
    upper: float
    precision: int
    description: str
    #: ``per_case(y_true, y_pred) -> losses`` (lower is better for every case)
    per_case: Callable[[Any, np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    #: turns the mean of the per-case losses back into the score
    from_mean_loss: Callable[[float], float] = field(default=_identity, repr=False)
    #: the largest per-case loss (``inf``: unbounded); every per-case loss is at least 0
    case_loss_upper: float = math.inf
    #: binary metrics that need both classes present in y_true
    needs_both_classes: bool = False
    #: the metric's own scorer of many resamples (None: per-case losses or ``func``)
    resampled: ResampledScorer | None = field(default=None, repr=False)
    #: multiclass metrics meaningful only for ordered classes (quadratic weighted kappa)
    ordinal_only: bool = False
    #: survival metrics that need the predicted survival probabilities at the spec's times
    needs_survival_curve: bool = False
    #: the challenge's values ``func`` (and ``per_case``) take as keyword arguments, bound by
    #: :meth:`bind` (``ChallengeSpec.metric(name)``): e.g. ``("times",)`` for survival metrics
    params: tuple[str, ...] = ()

    def bind(self, **values: Any) -> Metric:
        """This metric with its :attr:`params` fixed to *values* (itself when it takes none)."""
        if not self.params:
            return self
        missing = [p for p in self.params if p not in values]
        if missing:
            raise MetricError(f"metric {self.name!r} needs {', '.join(missing)}", fix="pass them to bind()")
        kw = {p: values[p] for p in self.params}
        return replace(
            self,
            func=partial(self.func, **kw),
            per_case=partial(self.per_case, **kw) if self.per_case is not None else None,
            params=(),
        )

    # -- scoring ---------------------------------------------------------------
    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike) -> float:
        y, p = check_inputs(self, y_true, y_pred)
        return float(self.func(y, p))

    def case_losses(self, y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
        """Per-case losses (lower is better); raises :class:`MetricError` without a per-case loss."""
        if self.per_case is None:
            raise MetricError(
                f"metric {self.name!r} has no per-case loss",
                fix="resample cases and recompute the metric instead of averaging losses",
            )
        y, p = check_inputs(self, y_true, y_pred)
        return np.asarray(self.per_case(y, p), dtype=float)

    def resample_scores(self, y: Target, P: np.ndarray, indices: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
        """Scores of every team on every resample of the test cases.

        The metric's own scorer (``resampled``) when it has one; else, with a
        per-case loss, one matrix product over the case multiplicities
        (:func:`~kit.metrics.resampling.per_case_scores`); else ``func`` on every
        resample, team by team (:func:`~kit.metrics.resampling.generic_scores`).
        The inputs are taken as checked: call
        :func:`kit.leaderboard.stats.resample_scores` to have them checked.

        Parameters
        ----------
        y : ndarray or (event, time) pair
            True values as returned by :func:`check_inputs`.
        P : ndarray, shape (teams, cases)
            Finite predictions, one row per team, cases in the order of ``y``.
        indices : ndarray of int, shape (resamples, draws)
            The cases drawn in each resample, in ``[0, cases)``.
        n_jobs : int, optional
            Threads, for the scorers that use them (``roc_auc``; default: every core).

        Returns
        -------
        ndarray, shape (teams, resamples)
            NaN where the metric is undefined on a resample.
        """
        if self.resampled is not None:
            scorer: ResampledScorer = self.resampled
        elif self.per_case is not None:
            scorer = per_case_scores
        else:
            scorer = generic_scores
        return scorer(self, y, P, indices, n_jobs)

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

    def sort_key(self, value: float | None) -> float:
        """A key that sorts best first; missing values sort last."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.inf
        return -value if self.greater_is_better else value

    def format(self, value: float | None) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        return f"{value:.{self.precision}f}"

    @property
    def arrow(self) -> str:
        return "↑" if self.greater_is_better else "↓"


def sklearn_metric(name: str) -> Callable[..., float]:
    """``sklearn.metrics.<name>``, imported at its first call.

    Reading a metric's name, direction or precision (the grader's own process, the CLI)
    then costs nothing; importing scikit-learn costs a second, paid only where scores are
    computed (the trusted grading kernel, the boards' statistics).
    """

    def call(*args: Any, **kwargs: Any) -> float:
        from sklearn import metrics

        return getattr(metrics, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"sklearn.metrics.{name}, imported when first called."
    return call


# -- the registry --------------------------------------------------------------
def _checked(metric: object) -> Metric:
    """What the registry keeps: a :class:`Metric` of a known task (plug-ins included)."""
    if not isinstance(metric, Metric):
        raise MetricError(
            f"a metric must be a kit.metrics.Metric, got {type(metric).__name__}",
            where=repr(metric),
            fix="register kit.metrics.Metric(name=..., func=..., task=..., ...)",
        )
    if metric.task not in task_names():
        raise MetricError(
            f"unknown task {metric.task!r} for metric {metric.name!r}", fix=f"use one of {', '.join(task_names())}"
        )
    return metric


#: every metric, by name (plug-ins: entry-point group ``challenge_kit.metrics``)
METRICS: Registry[Metric] = Registry(
    "metric", error=MetricError, coerce=_checked, hint="kit.metrics.get_metric_names()"
)


def register(metric: Metric, *, replace: bool = False) -> Metric:
    """Add *metric* under its name; a name taken already raises unless ``replace=True``.

    Raises
    ------
    MetricError
        Not a :class:`Metric`, an unknown task, or a name taken already.
    """
    return METRICS.register(metric, replace=replace)


def get_metric(name: str) -> Metric:
    """The metric registered as *name*; raises :class:`MetricError` naming the choices."""
    return METRICS.get(name)


def get_metric_names(task: str | None = None) -> list[str]:
    """The registered names, sorted; only those of *task* when given."""
    if task is None:
        return METRICS.names()
    return [name for name, metric in METRICS.items() if metric.task == task]


# -- input checks --------------------------------------------------------------
def check_inputs(metric: Metric, y_true: ArrayLike, y_pred: ArrayLike) -> tuple[Target, np.ndarray]:
    """Convert and check inputs; raise :class:`MetricError` naming the problem.

    Returns
    -------
    y_true : ndarray, or (event, time) for survival
    y_pred : ndarray of float, shape (cases,), or (cases, columns) for multi-column tasks
        (multiclass: one probability per class; survival: the risk score, then the survival
        probabilities at the challenge's times)
    """
    if metric.params:
        raise MetricError(
            f"metric {metric.name!r} takes the challenge's {', '.join(metric.params)}, and they are not bound",
            fix=f"use spec.metric({metric.name!r}), or kit.metrics.get_metric({metric.name!r}).bind("
            + ", ".join(f"{p}=..." for p in metric.params)
            + ")",
        )
    from ..tasks import get_task

    task = get_task(metric.task)
    try:
        pred = np.asarray(y_pred, dtype=float)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"{metric.name}: predictions are not numeric ({exc})") from None
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if pred.ndim not in (1, 2) or (pred.ndim == 2 and not task.multi_column):
        raise MetricError(
            f"{metric.name}: predictions must be one value per case (a row of values for multi-column tasks), "
            f"got shape {pred.shape}",
            fix="pass a 1-d array (binary tasks: the probability of the positive class; multiclass: "
            "a cases × classes array of probabilities)",
        )
    y: Target = task.metric_target(metric, y_true)
    n_true = len(y[0]) if isinstance(y, tuple) else len(y)
    if n_true != len(pred):
        raise MetricError(
            f"{metric.name}: inconsistent numbers of cases: y_true has {n_true}, y_pred has {len(pred)}",
            fix="give exactly one prediction per case, in the same order as the labels",
        )
    if len(pred) == 0:
        raise MetricError(f"{metric.name}: no cases to score")
    if not np.all(np.isfinite(pred)):
        raise MetricError(
            f"{metric.name}: predictions contain NaN or infinite values", fix="replace them with finite numbers"
        )
    task.check_metric_inputs(metric, y, pred)
    return y, pred


def survival_target(metric: Metric, y_true: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
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
