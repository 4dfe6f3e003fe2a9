"""What a task type is: the one place that knows what "binary", "multiclass", ... mean.

A :class:`Task` owns, for its kind of target:

- the target columns it needs and their checks on an organiser's table (:meth:`Task.target_problems`);
- the prediction columns participants write and their value checks (:meth:`Task.prediction_columns`,
  :meth:`Task.check_predictions`);
- the true values a metric is given (:meth:`Task.y_true`);
- the constant baseline of the sample submission (:meth:`Task.constant_prediction`);
- how to stratify a split (:meth:`Task.stratify_labels`);
- the metrics it allows and its default (:meth:`Task.metric_names`, :attr:`Task.default_metric`);
- the starter notebook's baseline, plots and hold-out check (:meth:`Task.notebook`);
- the demo's simulated class (:meth:`Task.demo_models`);
- what the data card summarises of the target (:meth:`Task.class_columns`, :meth:`Task.numeric_columns`).

Nothing else in the package branches on the task's name: adding a task type is one module
registered in :data:`TASKS` (plug-ins: entry-point group ``challenge_kit.tasks``) plus its tests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import KitError, MetricError, Problem, SpecError
from ..registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..challenge import ChallengeSpec
    from ..metrics import Metric


@dataclass(frozen=True)
class ValueProblem:
    """Rows of a prediction file whose values a task refuses, with what is wrong and the fix."""

    rows: Any  # boolean mask over the rows of the file (a numpy array)
    what: str
    fix: str


@dataclass(frozen=True)
class NotebookParts:
    """The task's cells of the starter notebook (sources, without the markdown around them).

    The notebook's shared cells define ``ID``, ``TARGETS`` (the target columns), ``train``,
    ``test``, ``make_features(df)`` and ``predictions_path``; these parts use them.
    """

    imports: str  # extra imports of the setup cell
    explore: str  # a table of the target
    plot: str  # a matplotlib figure of the target and a few features
    model: str  # defines ``model`` (tagged "model": the demo's variants replace it)
    target: str  # defines ``y`` from ``train`` (what ``model.fit`` takes)
    stratify: str  # the ``stratify=`` argument of the hold-out split ("None" or an expression of ``y``)
    predict: str  # a function ``predict(model, X) -> DataFrame`` of the prediction columns
    validation: (
        str  # the ``validation=`` argument of ``kit.check`` (an expression of y_val and the hold-out predictions)
    )


@dataclass(frozen=True)
class DemoModel:
    """One team of the demo's simulated class: a replacement of the starter's ``model`` cell."""

    team: str
    name: str
    model: str


@dataclass(frozen=True)
class Task(ABC):
    """A task type. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    title: ClassVar[str]  # "binary classification"
    #: number of target columns (survival: 2, the event indicator and the time)
    n_targets: ClassVar[int] = 1
    #: what the target columns are, for messages ("the 0/1 outcome")
    target_help: ClassVar[str] = "the target column"
    #: Hugging Face ``task_categories`` value of the data card
    hf_category: ClassVar[str] = "tabular-classification"
    #: predictions may be several columns per case (class probabilities; a risk and a curve)
    multi_column: ClassVar[bool] = False
    #: the optional spec fields this task type uses (``classes``, ``ordinal``, ``survival``)
    spec_fields: ClassVar[tuple[str, ...]] = ()

    # -- metrics ---------------------------------------------------------------
    def metric_names(self, spec: ChallengeSpec | None = None) -> list[str]:
        """The registered metrics that score this task (for *spec*: those its options allow)."""
        from ..metrics import get_metric, get_metric_names

        names = get_metric_names(self.name)
        if spec is not None:
            names = [n for n in names if not get_metric(n).ordinal_only or spec.ordinal]
        return names

    @abstractmethod
    def default_metric(self, spec: ChallengeSpec | None = None) -> str: ...

    def default_secondary(self, spec: ChallengeSpec | None = None) -> list[str]:
        return []

    # -- targets ---------------------------------------------------------------
    def target_problems(self, frame: pd.DataFrame, target: list[str], **options: Any) -> list[Problem]:
        """Problems of the target column(s) of an organiser's table (empty: usable)."""
        return []

    def infer_options(self, frame: pd.DataFrame, target: list[str]) -> dict[str, Any]:
        """Spec fields this task derives from the table (e.g. the classes of a multiclass target)."""
        return {}

    def encode_target(self, frame: pd.DataFrame, spec: ChallengeSpec) -> pd.DataFrame:
        """The target columns as they are written to train.csv and labels.csv."""
        return frame[list(spec.target)]

    def y_true(self, frame: pd.DataFrame, spec: ChallengeSpec) -> Any:
        """The true values a metric of this task is given, from a frame holding the target columns."""
        return frame[spec.target[0]].to_numpy(dtype=float)

    def metric_target(self, metric: Metric, y_true: Any) -> Any:
        """True values as this task's metrics take them, checked (raises :class:`MetricError`)."""
        try:
            values = np.asarray(y_true, dtype=float)
        except (TypeError, ValueError) as exc:
            raise MetricError(f"{metric.name}: true values are not numeric ({exc})") from None
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise MetricError(f"{metric.name}: true values must be one value per case, got shape {values.shape}")
        return values

    def check_metric_inputs(self, metric: Metric, y: Any, pred: np.ndarray) -> None:
        """This task's checks of finite inputs of a metric (ranges, labels); raises :class:`MetricError`.

        The default checks nothing more than :func:`kit.metrics.check_inputs` (shapes, finiteness).
        """
        return None

    def spec_problems(self, spec: ChallengeSpec) -> list[str]:
        """What is wrong with the task's own fields of a spec (empty: coherent)."""
        return []

    def spec_options(self, inferred: dict[str, Any], **given: Any) -> dict[str, Any]:
        """The spec fields of this task from the options given (``kit new``) or else inferred from the table."""
        unknown = sorted(k for k, v in given.items() if v)
        if unknown:
            raise SpecError(
                f"{', '.join('--' + k for k in unknown)} do(es) not apply to {self.name} tasks",
                where="--task",
                fix="drop them, or choose the task they apply to",
            )
        return {}

    def stratify_labels(self, frame: pd.DataFrame, spec: ChallengeSpec) -> np.ndarray | None:
        """Labels to stratify a split on (None: do not stratify)."""
        return None

    # -- predictions -----------------------------------------------------------
    def prediction_columns(self, spec: ChallengeSpec) -> list[str]:
        """The columns of a prediction file besides the id, in order."""
        return [spec.prediction_column or spec.target[0]]

    @abstractmethod
    def describe_prediction(self, spec: ChallengeSpec) -> str:
        """What each prediction column holds, for the README and messages."""
        ...

    def check_predictions(self, values: np.ndarray, spec: ChallengeSpec | None) -> list[ValueProblem]:
        """Range checks of finite predictions, shape (rows, columns) (empty: valid)."""
        return []

    def normalise_predictions(self, values: np.ndarray, spec: ChallengeSpec) -> np.ndarray:
        """Checked predictions as the metrics take them: (cases,) for one column, else (cases, columns)."""
        return values[:, 0] if values.shape[1] == 1 else values

    @abstractmethod
    def constant_prediction(self, train: pd.DataFrame, spec: ChallengeSpec) -> dict[str, float]:
        """The sample submission's constant baseline, learnt from the training table."""
        ...

    # -- the starter notebook and the demo -------------------------------------
    @abstractmethod
    def notebook(self, spec: ChallengeSpec, features: list[str]) -> NotebookParts: ...

    @abstractmethod
    def demo_models(self, spec: ChallengeSpec) -> list[DemoModel]: ...

    # -- the data card ---------------------------------------------------------
    def class_columns(self, spec: ChallengeSpec) -> list[str]:
        """Target columns the data card counts by value (classes, events)."""
        return []

    def numeric_columns(self, spec: ChallengeSpec) -> list[str]:
        """Target columns the data card summarises as numbers (values, times)."""
        return []

    # -- the board ---------------------------------------------------------------
    def case_mix(self, y_true: Any, spec: ChallengeSpec) -> str:
        """What the board says of the cases its statistics rest on, beside their number
        ("43 positive", "12 events", "I: 40, II: 30"); "" when the count says it all."""
        return ""


def _checked(obj: object) -> Task:
    task = obj() if isinstance(obj, type) else obj
    if not isinstance(task, Task):
        raise KitError(
            f"a task type must be a kit.tasks.Task, got {type(obj).__name__}",
            fix="subclass kit.tasks.Task and register the class or an instance",
        )
    return task


#: every task type, by name (plug-ins: entry-point group ``challenge_kit.tasks``)
TASKS: Registry[Task] = Registry("task", coerce=_checked, hint="kit.tasks.get_task_names()")


def get_task(name: str) -> Task:
    """The task type registered as *name*; raises naming the choices."""
    return TASKS.get(name)


def get_task_names() -> list[str]:
    return TASKS.names()


def task_of(spec: ChallengeSpec) -> Task:
    return TASKS.get(spec.task)
