"""Time to event (survival): an event indicator and a follow-up time, with censoring.

Participants predict a **risk score** (higher: earlier event) in the column ``risk`` and,
when a metric of the challenge needs it (the integrated Brier score), the **probability of
being event-free** at each time of the spec's ``survival.times``, in columns ``surv_<time>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MetricError, Problem
from ._base import TASKS, DemoModel, NotebookParts, Task, ValueProblem

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..challenge import ChallengeSpec
    from ..metrics import Metric

RISK = "risk"
_EVENT_TEXT = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "true": 1, "false": 0}


def time_column(t: float) -> str:
    """The prediction column of the survival probability at time *t* (``surv_365``)."""
    return f"surv_{t:g}"


def _events(series: pd.Series) -> pd.Series:
    return series.map(lambda v: _EVENT_TEXT.get(str(v).strip().lower()))


def nice_times(event: np.ndarray, time: np.ndarray) -> list[float]:
    """The 25th, 50th and 75th percentiles of the event times, to two significant digits."""
    times = time[event.astype(bool)] if event.any() else time
    out: list[float] = []
    for q in (25, 50, 75):
        v = float(np.percentile(times, q))
        digits = 1 - int(np.floor(np.log10(abs(v)))) if v > 0 else 0
        r = float(round(v, digits))
        if r > 0 and r not in out:
            out.append(r)
    return out


def _model(team: str, name: str, imports: str, expr: str) -> DemoModel:
    return DemoModel(
        team,
        name,
        f"from sklearn.pipeline import make_pipeline\n{imports}\n\nmodel = make_pipeline(preprocess(), {expr})\n",
    )


SURVIVAL_MODELS = (
    _model(
        "Cohort Crew",
        "random_survival_forest",
        "from sksurv.ensemble import RandomSurvivalForest",
        "RandomSurvivalForest(n_estimators=60, min_samples_leaf=15, random_state=0, n_jobs=1)",
    ),
    _model(
        "Dendrites",
        "survival_tree",
        "from sksurv.tree import SurvivalTree",
        "SurvivalTree(max_depth=3, min_samples_leaf=20, random_state=0)",
    ),
    _model(
        "Epidemiology Eagles",
        "gradient_boosting",
        "from sksurv.ensemble import GradientBoostingSurvivalAnalysis",
        "GradientBoostingSurvivalAnalysis(n_estimators=100, max_depth=2, learning_rate=0.05, random_state=0)",
    ),
    _model(
        "Gini Gang",
        "extra_survival_trees",
        "from sksurv.ensemble import ExtraSurvivalTrees",
        "ExtraSurvivalTrees(n_estimators=60, min_samples_leaf=15, random_state=0, n_jobs=1)",
    ),
    _model(
        "Jupyter Jedi",
        "coxnet",
        "from sksurv.linear_model import CoxnetSurvivalAnalysis",
        "CoxnetSurvivalAnalysis(l1_ratio=0.5, alphas=[0.05], fit_baseline_model=True)",
    ),
    _model(
        "Kaplan Kids",
        "strong_ridge_cox",
        "from sksurv.linear_model import CoxPHSurvivalAnalysis",
        "CoxPHSurvivalAnalysis(alpha=10.0)",
    ),
    _model(
        "Mitosis Masters",
        "componentwise_boosting",
        "from sksurv.ensemble import ComponentwiseGradientBoostingSurvivalAnalysis",
        "ComponentwiseGradientBoostingSurvivalAnalysis(n_estimators=100, random_state=0)",
    ),
)


@TASKS.register
class Survival(Task):
    name = "survival"
    title = "survival analysis (time to event)"
    n_targets = 2
    target_help = "two columns: the event indicator (1 = event, 0 = censored) and the follow-up time"
    hf_category = "tabular-regression"
    multi_column = True
    spec_fields = ("survival",)

    def default_metric(self, spec: ChallengeSpec | None = None) -> str:
        return "c_index"

    def default_secondary(self, spec: ChallengeSpec | None = None) -> list[str]:
        return ["uno_c_index", "cumulative_auc", "integrated_brier"]

    def target_problems(self, frame: pd.DataFrame, target: list[str], **options: Any) -> list[Problem]:
        import pandas as pd

        if len(target) != 2:
            return [
                Problem(
                    f"a survival target is two columns, the event and the time; got {len(target)}",
                    where="--target",
                    fix="pass --target EVENT,TIME (for example --target cens,time)",
                )
            ]
        ev_col, t_col = target
        problems = []
        events = _events(frame[ev_col])
        bad = events.isna()
        if bad.any():
            problems.append(
                Problem(
                    f"the event indicator {ev_col!r} must be 0/1 (or true/false); it holds "
                    f"{frame[ev_col][bad].astype(str).unique()[:3].tolist()}",
                    where=f"column {ev_col!r}, data row(s) {', '.join(str(i + 1) for i in np.flatnonzero(bad)[:5])}",
                    fix="recode it: 1 = the event happened, 0 = censored; or check the --target order (EVENT,TIME)",
                )
            )
        elif events.sum() == 0:
            problems.append(
                Problem(
                    f"the event indicator {ev_col!r} has no event: every case is censored",
                    where=f"column {ev_col!r}",
                    fix="check the coding (1 = event) or choose another outcome",
                )
            )
        times = pd.to_numeric(frame[t_col], errors="coerce")
        tbad = times.isna() | (times < 0)
        if tbad.any():
            problems.append(
                Problem(
                    f"the time {t_col!r} must be a non-negative number on every row ({int(tbad.sum())} row(s) are not)",
                    where=f"column {t_col!r}, data row(s) {', '.join(str(i + 1) for i in np.flatnonzero(tbad)[:5])}",
                    fix="fill or drop rows without a follow-up time",
                )
            )
        return problems

    def metric_target(self, metric: Metric, y_true: Any) -> Any:
        from ..metrics._base import survival_target

        return survival_target(metric, y_true)

    def check_metric_inputs(self, metric: Metric, y: Any, pred: np.ndarray) -> None:
        if pred.ndim == 2 and np.any((pred[:, 1:] < 0) | (pred[:, 1:] > 1)):
            raise MetricError(
                f"{metric.name}: survival probabilities (columns after the risk score) must lie in [0, 1]",
                fix="predict the probability of being event-free at each time (predict_survival_function)",
            )
        if metric.needs_survival_curve and pred.ndim != 2:
            raise MetricError(
                f"{metric.name} needs the predicted survival probabilities at the challenge's times, "
                "got risk scores only",
                fix="pass a cases × (1 + times) array: the risk score, then S(t) at each time",
            )

    def spec_problems(self, spec: ChallengeSpec) -> list[str]:
        from ..metrics import get_metric

        if not spec.survival_times and any("times" in get_metric(m).params for m in spec.metrics.all):
            return ["a time-dependent survival metric needs the follow-up times: set survival: {times: [...]}"]
        return []

    def spec_options(self, inferred: dict[str, Any], **given: Any) -> dict[str, Any]:
        times = given.pop("times", None)
        super().spec_options(inferred, **given)
        return {"survival": {"times": [float(t) for t in times]}} if times else dict(inferred)

    def infer_options(self, frame: pd.DataFrame, target: list[str]) -> dict[str, Any]:
        import pandas as pd

        event = _events(frame[target[0]]).to_numpy(dtype=float)
        time = pd.to_numeric(frame[target[1]], errors="coerce").to_numpy(dtype=float)
        return {"survival": {"times": nice_times(event, time)}}

    def encode_target(self, frame: pd.DataFrame, spec: ChallengeSpec) -> pd.DataFrame:
        import pandas as pd

        ev, t = spec.target
        return pd.DataFrame({ev: _events(frame[ev]).astype(int), t: pd.to_numeric(frame[t]).astype(float)})

    def y_true(self, frame: pd.DataFrame, spec: ChallengeSpec) -> Any:
        return frame[list(spec.target)].to_numpy(dtype=float)

    def stratify_labels(self, frame: pd.DataFrame, spec: ChallengeSpec) -> np.ndarray | None:
        return _events(frame[spec.target[0]]).to_numpy()

    def needs_curve(self, spec: ChallengeSpec) -> bool:
        from ..metrics import get_metric

        return any(get_metric(m).needs_survival_curve for m in spec.metrics.all)

    def prediction_columns(self, spec: ChallengeSpec) -> list[str]:
        first = spec.prediction_column or RISK
        if not self.needs_curve(spec):
            return [first]
        return [first, *(time_column(t) for t in spec.survival_times)]

    def describe_prediction(self, spec: ChallengeSpec) -> str:
        cols = self.prediction_columns(spec)
        text = f"a **risk score** in `{cols[0]}` (any number; higher means an earlier {spec.target[0]})"
        if len(cols) > 1:
            text += (
                ", and the **probability of being event-free** at each time of the challenge in "
                + ", ".join(f"`{c}`" for c in cols[1:])
                + " (between 0 and 1, not increasing with time)"
            )
        return text

    def check_predictions(self, values: np.ndarray, spec: ChallengeSpec | None) -> list[ValueProblem]:
        if values.shape[1] == 1:
            return []
        surv = values[:, 1:]
        problems = []
        out = ((surv < 0) | (surv > 1)).any(axis=1)
        if out.any():
            problems.append(
                ValueProblem(
                    out, "row(s) with a survival probability outside [0, 1]", "write probabilities of being event-free"
                )
            )
        rising = ~out & (np.diff(surv, axis=1) > 1e-9).any(axis=1)
        if rising.any():
            problems.append(
                ValueProblem(
                    rising,
                    "row(s) whose survival probability increases with time",
                    "a survival curve never rises: S(t) at a later time must be at most S(t) at an earlier one",
                )
            )
        return problems

    def constant_prediction(self, train: pd.DataFrame, spec: ChallengeSpec) -> dict[str, float]:
        cols = self.prediction_columns(spec)
        out = {cols[0]: 0.0}
        if len(cols) > 1:
            from sksurv.nonparametric import kaplan_meier_estimator

            ev, t = spec.target
            x, s = kaplan_meier_estimator(train[ev].astype(bool).to_numpy(), train[t].to_numpy(dtype=float))
            for col, when in zip(cols[1:], spec.survival_times, strict=True):
                i = np.searchsorted(x, when, side="right") - 1
                out[col] = round(float(s[i]) if i >= 0 else 1.0, 4)
        return out

    def class_columns(self, spec: ChallengeSpec) -> list[str]:
        return [spec.target[0]]

    def numeric_columns(self, spec: ChallengeSpec) -> list[str]:
        return [spec.target[1]]

    def case_mix(self, y_true: Any, spec: ChallengeSpec) -> str:
        return f"{int(np.sum(np.asarray(y_true)[:, 0] == 1))} events"

    def notebook(self, spec: ChallengeSpec, features: list[str]) -> NotebookParts:
        cols = self.prediction_columns(spec)
        times = list(spec.survival_times)
        split_col = features[0] if features else None
        by_feature = (
            f"""
median = train[{split_col!r}].median()
for name, part in [(f"{split_col} <= {{median:g}}", train[train[{split_col!r}] <= median]),
                   (f"{split_col} > {{median:g}}", train[train[{split_col!r}] > median])]:
    t, s = kaplan_meier_estimator(part[EVENT].astype(bool), part[TIME])
    axes[1].step(t, s, where="post", label=name)
axes[1].set_title("Kaplan-Meier by {split_col}")
axes[1].legend()
"""
            if split_col
            else ""
        )
        curve = (
            f"""
    curves = np.vstack([fn({times!r}) for fn in model.predict_survival_function(X)])
    for j, col in enumerate({cols[1:]!r}):
        out[col] = curves[:, j]"""
            if len(cols) > 1
            else ""
        )
        return NotebookParts(
            imports="from sksurv.nonparametric import kaplan_meier_estimator\nfrom sksurv.util import Surv\n",
            explore=(
                "EVENT, TIME = TARGETS\n"
                'pd.Series({"cases": len(train), "events": int(train[EVENT].sum()), '
                '"censored": int((train[EVENT] == 0).sum()),\n'
                '           "median follow-up": train[TIME].median()}).to_frame("train")'
            ),
            plot=f"""
fig, axes = plt.subplots(1, {2 if split_col else 1}, figsize=({10 if split_col else 5}, 3.4), squeeze=False)
axes = axes[0]
t, s = kaplan_meier_estimator(train[EVENT].astype(bool), train[TIME])
axes[0].step(t, s, where="post")
axes[0].set_ylim(0, 1)
axes[0].set_xlabel(TIME)
axes[0].set_ylabel("event-free probability")
axes[0].set_title("Kaplan-Meier, all training cases")
{by_feature}fig.tight_layout()
plt.show()
""",
            model="""from sklearn.pipeline import make_pipeline
from sksurv.linear_model import CoxPHSurvivalAnalysis

model = make_pipeline(preprocess(), CoxPHSurvivalAnalysis(alpha=0.1))
""",
            target="y = Surv.from_arrays(event=train[EVENT].astype(bool), time=train[TIME])",
            stratify='y["event"]',
            predict=f'''
def predict(model, X):
    """A risk score (higher: earlier event){" and the event-free probability at each time" if len(cols) > 1 else ""}."""
    out = pd.DataFrame({{"{cols[0]}": model.predict(X)}}, index=X.index){curve}
    return out
''',
            validation=('pd.DataFrame({EVENT: y_val["event"].astype(int), TIME: y_val["time"]}), p_val'),
        )

    def demo_models(self, spec: ChallengeSpec) -> list[DemoModel]:
        return list(SURVIVAL_MODELS)
