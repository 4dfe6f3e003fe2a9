"""Regression: a numeric target; participants predict a number."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MetricError, Problem
from ._base import TASKS, DemoModel, NotebookParts, Task
from ._shared import REGRESSORS, SCALED

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..challenge import ChallengeSpec
    from ..metrics import Metric


@TASKS.register
class Regression(Task):
    name = "regression"
    title = "regression"
    target_help = "a number"
    hf_category = "tabular-regression"

    def default_metric(self, spec: ChallengeSpec | None = None) -> str:
        return "rmse"

    def default_secondary(self, spec: ChallengeSpec | None = None) -> list[str]:
        return ["mae", "r2"]

    def target_problems(self, frame: pd.DataFrame, target: list[str], **options: Any) -> list[Problem]:
        import pandas as pd

        col = target[0]
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna()
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())
            return [
                Problem(
                    f"a regression target must be numeric; {col!r} holds text such as "
                    f"{frame[col][bad].iloc[0]!r} ({int(bad.sum())} row(s))",
                    where=f"column {col!r}, data row(s) {', '.join(str(r + 1) for r in rows[:5])}",
                    fix="clean the column to plain numbers, or use --task binary / multiclass for categories",
                )
            ]
        if values.dropna().nunique() < 2:
            return [
                Problem(
                    f"the target {col!r} has a single value: nothing to predict",
                    where=f"column {col!r}",
                    fix="choose a target column that varies",
                )
            ]
        return []

    def check_metric_inputs(self, metric: Metric, y: Any, pred: np.ndarray) -> None:
        if not np.all(np.isfinite(y)):
            raise MetricError(f"{metric.name}: true values contain NaN or infinite values")

    def encode_target(self, frame: pd.DataFrame, spec: ChallengeSpec) -> pd.DataFrame:
        return frame[[spec.target[0]]].astype(float)

    def describe_prediction(self, spec: ChallengeSpec) -> str:
        return f"a number: your estimate of `{spec.target[0]}`"

    def constant_prediction(self, train: pd.DataFrame, spec: ChallengeSpec) -> dict[str, float]:
        return {self.prediction_columns(spec)[0]: round(float(train[spec.target[0]].mean()), 2)}

    def numeric_columns(self, spec: ChallengeSpec) -> list[str]:
        return [spec.target[0]]

    def notebook(self, spec: ChallengeSpec, features: list[str]) -> NotebookParts:
        col = self.prediction_columns(spec)[0]
        return NotebookParts(
            imports="",
            explore="train[TARGETS[0]].describe().to_frame()",
            plot=f"""
cols = {features!r}
fig, axes = plt.subplots(1, len(cols) + 1, figsize=(4 * (len(cols) + 1), 3.2))
axes[0].hist(train[TARGETS[0]].dropna(), bins=30)
axes[0].set_title(TARGETS[0])
for ax, col in zip(axes[1:], cols):
    ax.scatter(train[col], train[TARGETS[0]], s=8, alpha=0.6)
    ax.set_xlabel(col)
    ax.set_ylabel(TARGETS[0])
fig.tight_layout()
plt.show()
""",
            model=f"""{SCALED}from sklearn.linear_model import Ridge

model = make_pipeline(preprocess(), Ridge(alpha=1.0))
""",
            target="y = train[TARGETS[0]]",
            stratify="None",
            predict=f'''
def predict(model, X):
    """The predicted {spec.target[0]}, one row per case."""
    return pd.DataFrame({{"{col}": model.predict(X)}}, index=X.index)
''',
            validation='(y_val, p_val["' + col + '"])',
        )

    def demo_models(self, spec: ChallengeSpec) -> list[DemoModel]:
        return list(REGRESSORS)
