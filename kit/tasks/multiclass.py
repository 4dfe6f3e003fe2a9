"""Multiclass classification, optionally ordinal (a grade, a stage): one probability per class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MetricError, Problem
from ._base import TASKS, DemoModel, NotebookParts, Task, ValueProblem
from ._shared import CLASSIFIERS, SCALED

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..challenge import ChallengeSpec
    from ..metrics import Metric

#: a row's probabilities must sum to 1 within this (CSV rounding); they are then rescaled exactly
SUM_TOLERANCE = 1e-3
PREFIX = "proba_"
_UNSAFE = set(',"\n\r\t')


def class_text(series: pd.Series) -> pd.Series:
    """Class values as text: whole numbers without a decimal point (2.0 and 2 are class "2")."""
    import pandas as pd

    numbers = pd.to_numeric(series, errors="coerce")
    whole = numbers.notna() & series.notna() & (numbers == numbers.round())
    if whole.all() or (whole | series.isna()).all():
        return numbers.map(lambda v: None if v != v else str(int(v)))
    return series.map(lambda v: None if v is None or v != v else str(v).strip())


def _sorted_classes(values: list[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


@TASKS.register
class Multiclass(Task):
    name = "multiclass"
    title = "multiclass classification"
    target_help = "one of several classes (ordinal: ordered, such as a grade or a stage)"
    hf_category = "tabular-classification"
    multi_column = True
    spec_fields = ("classes", "ordinal")

    def default_metric(self, spec: ChallengeSpec | None = None) -> str:
        return "quadratic_kappa" if spec is not None and spec.ordinal else "macro_roc_auc"

    def default_secondary(self, spec: ChallengeSpec | None = None) -> list[str]:
        extra = ["macro_roc_auc"] if spec is not None and spec.ordinal else []
        return [*extra, "multiclass_log_loss", "multiclass_brier", "multiclass_balanced_accuracy", "macro_f1"]

    def target_problems(self, frame: pd.DataFrame, target: list[str], **options: Any) -> list[Problem]:
        col = target[0]
        text = class_text(frame[col])
        counts = text.value_counts()
        if len(counts) < 2:
            return [
                Problem(
                    f"the target {col!r} has {len(counts)} class(es): nothing to predict",
                    where=f"column {col!r}",
                    fix="choose a target column with at least two classes",
                )
            ]
        problems = []
        if len(counts) > 50:
            problems.append(
                Problem(
                    f"the target {col!r} has {len(counts)} distinct values: too many for classes",
                    where=f"column {col!r}",
                    fix="use --task regression for a number, or group the values into fewer classes",
                )
            )
        unsafe = [c for c in counts.index if set(c) & _UNSAFE]
        if unsafe:
            problems.append(
                Problem(
                    f"class name(s) {unsafe[:3]} hold a comma, quote, tab or line break",
                    where=f"column {col!r}",
                    fix="recode the classes to plain names (they become the prediction columns proba_<class>)",
                )
            )
        rare = counts[counts < 3]
        if len(rare):
            problems.append(
                Problem(
                    f"class(es) {', '.join(map(repr, rare.index[:5]))} have fewer than 3 rows: "
                    "they cannot appear in train, public and private test",
                    where=f"column {col!r}",
                    fix="merge rare classes into a neighbour, or drop their rows",
                )
            )
        wanted = options.get("classes")
        if wanted:
            unknown = sorted(set(counts.index) - set(wanted))
            if unknown:
                problems.append(
                    Problem(
                        f"the table has class(es) {unknown[:5]} that --classes does not list",
                        where=f"column {col!r}",
                        fix=f"list every class in order: --classes {','.join(_sorted_classes(list(counts.index)))}",
                    )
                )
        return problems

    def check_metric_inputs(self, metric: Metric, y: Any, pred: np.ndarray) -> None:
        if pred.ndim != 2:
            raise MetricError(
                f"{metric.name}: multiclass predictions are one probability per class, got shape {pred.shape}",
                fix="pass model.predict_proba(X), a cases × classes array",
            )
        k = pred.shape[1]
        if not np.all(np.isfinite(y)) or not np.all(np.isin(y, np.arange(k))):
            raise MetricError(f"{metric.name}: multiclass labels must be class codes 0 to {k - 1}")
        if np.any((pred < 0) | (pred > 1)):
            raise MetricError(f"{metric.name}: class probabilities must lie in [0, 1]")
        sums = pred.sum(axis=1)
        off = np.abs(sums - 1) > SUM_TOLERANCE
        if off.any():
            raise MetricError(
                f"{metric.name}: class probabilities must sum to 1 on every row "
                f"(within {SUM_TOLERANCE:g}); {int(off.sum())} row(s) do not",
                fix="pass model.predict_proba(X), one probability per class",
            )
        if metric.needs_both_classes and len(np.unique(y)) < 2:
            raise MetricError(f"{metric.name}: only one class present in y_true; the score is undefined")

    def spec_problems(self, spec: ChallengeSpec) -> list[str]:
        classes = spec.classes or []
        if len(classes) < 2 or len(set(classes)) != len(classes):
            return ["a multiclass task lists its classes, at least two distinct ones (classes: [...])"]
        return []

    def spec_options(self, inferred: dict[str, Any], **given: Any) -> dict[str, Any]:
        classes, ordinal = given.pop("classes", None), given.pop("ordinal", False)
        super().spec_options(inferred, **given)
        out: dict[str, Any] = {"classes": list(classes) if classes else inferred["classes"]}
        if ordinal:
            out["ordinal"] = True
        return out

    def infer_options(self, frame: pd.DataFrame, target: list[str]) -> dict[str, Any]:
        return {"classes": _sorted_classes(class_text(frame[target[0]]).dropna().unique().tolist())}

    def encode_target(self, frame: pd.DataFrame, spec: ChallengeSpec) -> pd.DataFrame:
        return class_text(frame[spec.target[0]]).to_frame(spec.target[0])

    def y_true(self, frame: pd.DataFrame, spec: ChallengeSpec) -> Any:
        classes = list(spec.classes or [])
        codes = class_text(frame[spec.target[0]]).map({c: i for i, c in enumerate(classes)})
        return codes.to_numpy(dtype=float)

    def stratify_labels(self, frame: pd.DataFrame, spec: ChallengeSpec) -> np.ndarray | None:
        return class_text(frame[spec.target[0]]).to_numpy()

    def prediction_columns(self, spec: ChallengeSpec) -> list[str]:
        return [f"{PREFIX}{c}" for c in spec.classes or []]

    def describe_prediction(self, spec: ChallengeSpec) -> str:
        cols = ", ".join(f"`{c}`" for c in self.prediction_columns(spec))
        order = " (the classes are ordered: a grade or a stage)" if spec.ordinal else ""
        return (
            f"the **probability of each class** of `{spec.target[0]}`{order}, one column per class ({cols}), "
            "each between 0 and 1, summing to 1 on every row"
        )

    def check_predictions(self, values: np.ndarray, spec: ChallengeSpec | None) -> list[ValueProblem]:
        problems = []
        out = ((values < 0) | (values > 1)).any(axis=1)
        if out.any():
            problems.append(
                ValueProblem(
                    out, "row(s) with a probability outside [0, 1]", "write model.predict_proba(X), not labels"
                )
            )
        sums = values.sum(axis=1)
        off = ~out & (np.abs(sums - 1) > SUM_TOLERANCE)
        if off.any():
            problems.append(
                ValueProblem(
                    off,
                    f"row(s) whose class probabilities do not sum to 1 (e.g. {sums[off][0]:.4g})",
                    "write one probability per class, summing to 1 (model.predict_proba(X))",
                )
            )
        return problems

    def normalise_predictions(self, values: np.ndarray, spec: ChallengeSpec) -> np.ndarray:
        return values / values.sum(axis=1, keepdims=True)

    def constant_prediction(self, train: pd.DataFrame, spec: ChallengeSpec) -> dict[str, float]:
        text = class_text(train[spec.target[0]])
        shares = [float((text == c).mean()) for c in spec.classes or []]
        rounded = [round(s, 4) for s in shares]
        rounded[int(np.argmax(rounded))] += round(1 - sum(rounded), 4)  # the row sums to 1 exactly as text
        return {col: round(v, 4) for col, v in zip(self.prediction_columns(spec), rounded, strict=True)}

    def class_columns(self, spec: ChallengeSpec) -> list[str]:
        return [spec.target[0]]

    def case_mix(self, y_true: Any, spec: ChallengeSpec) -> str:
        classes = list(spec.classes or [])
        counts = np.bincount(np.asarray(y_true, dtype=int), minlength=len(classes))
        return ", ".join(f"{c}: {k}" for c, k in zip(classes, counts, strict=False))

    def notebook(self, spec: ChallengeSpec, features: list[str]) -> NotebookParts:
        classes = list(spec.classes or [])
        return NotebookParts(
            imports="",
            explore="train[TARGETS[0]].value_counts().sort_index().to_frame()",
            plot=f"""
CLASSES = {classes!r}
cols = {features!r}
fig, axes = plt.subplots(1, len(cols) + 1, figsize=(4 * (len(cols) + 1), 3.2))
counts = train[TARGETS[0]].astype(str).value_counts().reindex(CLASSES, fill_value=0)
axes[0].bar(counts.index, counts.to_numpy())
axes[0].set_title(TARGETS[0])
for ax, col in zip(axes[1:], cols):
    groups = [train.loc[train[TARGETS[0]].astype(str) == c, col].dropna() for c in CLASSES]
    ax.boxplot(groups)
    ax.set_xticks(range(1, len(CLASSES) + 1), CLASSES)
    ax.set_title(col)
fig.tight_layout()
plt.show()
""",
            model=f"""{SCALED}from sklearn.linear_model import LogisticRegression

model = make_pipeline(preprocess(), LogisticRegression(max_iter=2000))
""",
            target="y = train[TARGETS[0]].astype(str)",
            stratify="y",
            predict=f'''
def predict(model, X):
    """The probability of each class, one column per class: {", ".join(self.prediction_columns(spec))}."""
    proba = pd.DataFrame(model.predict_proba(X), columns=[f"{PREFIX}{{c}}" for c in model.classes_], index=X.index)
    return proba.reindex(columns=[f"{PREFIX}{{c}}" for c in {classes!r}], fill_value=0.0)
''',
            validation="(y_val, p_val)",
        )

    def demo_models(self, spec: ChallengeSpec) -> list[DemoModel]:
        return list(CLASSIFIERS)
