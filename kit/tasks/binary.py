"""Binary classification: a 0/1 outcome; participants predict the probability of 1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MetricError, Problem
from ._base import TASKS, DemoModel, NotebookParts, Task, ValueProblem
from ._shared import CLASSIFIERS, SCALED, distinct_values

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..challenge import ChallengeSpec
    from ..metrics import Metric


@TASKS.register
class Binary(Task):
    name = "binary"
    title = "binary classification"
    target_help = "a 0/1 outcome (1 = the positive class)"
    hf_category = "tabular-classification"

    def default_metric(self, spec: ChallengeSpec | None = None) -> str:
        return "roc_auc"

    def default_secondary(self, spec: ChallengeSpec | None = None) -> list[str]:
        return ["average_precision", "log_loss", "brier", "balanced_accuracy"]

    def target_problems(self, frame: pd.DataFrame, target: list[str], **options: Any) -> list[Problem]:
        col = target[0]
        values = distinct_values(frame[col])
        if set(values) <= {"0", "1", "0.0", "1.0", "True", "False", "true", "false"} and len(values) == 2:
            return []
        if len(values) < 2:
            return [
                Problem(
                    f"the target {col!r} has one value only ({', '.join(values) or 'none'}): nothing to predict",
                    where=f"column {col!r}",
                    fix="choose a target column with both outcomes, 0 and 1",
                )
            ]
        return [
            Problem(
                f"a binary target must be 0/1; {col!r} holds {', '.join(values[:5])}"
                + (f" and {len(values) - 5} more" if len(values) > 5 else ""),
                where=f"column {col!r}",
                fix=(
                    "recode it as 0/1 (1 = the positive class)"
                    if len(values) == 2
                    else "use --task multiclass for more than two classes, or --task regression for a number"
                ),
            )
        ]

    def encode_target(self, frame: pd.DataFrame, spec: ChallengeSpec) -> pd.DataFrame:
        col = spec.target[0]
        values = frame[col].map(lambda v: {"true": 1, "false": 0}.get(str(v).lower(), v))
        return values.astype(float).astype(int).to_frame(col)

    def check_metric_inputs(self, metric: Metric, y: Any, pred: np.ndarray) -> None:
        if not np.all(np.isin(y, (0.0, 1.0))):
            raise MetricError(f"{metric.name}: binary labels must be 0 or 1")
        if np.any((pred < 0) | (pred > 1)):
            raise MetricError(
                f"{metric.name}: binary predictions are probabilities and must lie in [0, 1]",
                fix="predict the probability of the positive class (predict_proba(...)[:, 1])",
            )
        if metric.needs_both_classes and len(np.unique(y)) < 2:
            raise MetricError(f"{metric.name}: only one class present in y_true; the score is undefined")

    def stratify_labels(self, frame: pd.DataFrame, spec: ChallengeSpec) -> np.ndarray | None:
        return frame[spec.target[0]].to_numpy()

    def describe_prediction(self, spec: ChallengeSpec) -> str:
        return f"the **probability** that `{spec.target[0]}` is 1 (a number between 0 and 1)"

    def check_predictions(self, values: np.ndarray, spec: ChallengeSpec | None) -> list[ValueProblem]:
        out = (values < 0) | (values > 1)
        if not out.any():
            return []
        return [
            ValueProblem(
                out.any(axis=1),
                "probability(ies) outside [0, 1]",
                "predict the probability of the positive class (predict_proba(X)[:, 1]), not a label or a score",
            )
        ]

    def constant_prediction(self, train: pd.DataFrame, spec: ChallengeSpec) -> dict[str, float]:
        return {self.prediction_columns(spec)[0]: round(float(train[spec.target[0]].mean()), 4)}

    def class_columns(self, spec: ChallengeSpec) -> list[str]:
        return [spec.target[0]]

    def case_mix(self, y_true: Any, spec: ChallengeSpec) -> str:
        return f"{int(np.sum(np.asarray(y_true) == 1))} positive"

    def notebook(self, spec: ChallengeSpec, features: list[str]) -> NotebookParts:
        col = self.prediction_columns(spec)[0]
        return NotebookParts(
            imports="",
            explore="train[TARGETS[0]].value_counts().to_frame()",
            plot=f"""
cols = {features!r}
fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3.2), squeeze=False)
for ax, col in zip(axes[0], cols):
    for label in (0, 1):
        ax.hist(train.loc[train[TARGETS[0]] == label, col].dropna(), bins=25, histtype="stepfilled", alpha=0.5,
                label=f"{{TARGETS[0]}} = {{label}}")
    ax.set_title(col)
axes[0][0].legend()
fig.tight_layout()
plt.show()
""",
            model=f"""{SCALED}from sklearn.linear_model import LogisticRegression

model = make_pipeline(preprocess(), LogisticRegression(max_iter=1000))
""",
            target="y = train[TARGETS[0]]",
            stratify="y",
            predict=f'''
def predict(model, X):
    """The probability that {spec.target[0]} is 1, one row per case."""
    return pd.DataFrame({{"{col}": model.predict_proba(X)[:, 1]}}, index=X.index)
''',
            validation='(y_val, p_val["' + col + '"])',
        )

    def demo_models(self, spec: ChallengeSpec) -> list[DemoModel]:
        return list(CLASSIFIERS)
