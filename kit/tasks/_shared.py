"""Pieces the task types share: the demo's model variants and helpers on target columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import DemoModel

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: imports of every ``model`` cell: ``preprocess()`` is defined by the starter's setup cell
SCALED = "from sklearn.pipeline import make_pipeline\n"


def distinct_values(series: pd.Series) -> list[str]:
    """The distinct non-missing values of a column, as text, sorted."""
    return sorted({str(v) for v in series.dropna().unique()})


def _model(team: str, name: str, imports: str, expr: str) -> DemoModel:
    return DemoModel(team, name, f"{SCALED}{imports}\n\nmodel = make_pipeline(preprocess(), {expr})\n")


#: the demo's class on a classification task (binary or multiclass): scikit-learn classifiers
CLASSIFIERS = (
    _model("Bayes Bunch", "naive_bayes", "from sklearn.naive_bayes import GaussianNB", "GaussianNB()"),
    _model(
        "Cohort Crew",
        "random_forest",
        "from sklearn.ensemble import RandomForestClassifier",
        "RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1)",
    ),
    _model(
        "Dendrites",
        "decision_tree",
        "from sklearn.tree import DecisionTreeClassifier",
        "DecisionTreeClassifier(max_depth=3, random_state=0)",
    ),
    _model(
        "Fibroblast Five",
        "hist_gradient_boosting",
        "from sklearn.ensemble import HistGradientBoostingClassifier",
        "HistGradientBoostingClassifier(max_iter=100, random_state=0)",
    ),
    _model(
        "Gini Gang",
        "extra_trees",
        "from sklearn.ensemble import ExtraTreesClassifier",
        "ExtraTreesClassifier(n_estimators=200, min_samples_leaf=2, random_state=0, n_jobs=1)",
    ),
    _model(
        "Histology Heroes",
        "knn",
        "from sklearn.neighbors import KNeighborsClassifier",
        "KNeighborsClassifier(n_neighbors=15)",
    ),
    _model(
        "Jupyter Jedi",
        "strong_regularisation",
        "from sklearn.linear_model import LogisticRegression",
        "LogisticRegression(C=0.05, max_iter=1000)",
    ),
)

#: the demo's class on a regression task: scikit-learn regressors
REGRESSORS = (
    _model("Bayes Bunch", "bayesian_ridge", "from sklearn.linear_model import BayesianRidge", "BayesianRidge()"),
    _model(
        "Cohort Crew",
        "random_forest",
        "from sklearn.ensemble import RandomForestRegressor",
        "RandomForestRegressor(n_estimators=200, min_samples_leaf=5, random_state=0, n_jobs=1)",
    ),
    _model(
        "Dendrites",
        "decision_tree",
        "from sklearn.tree import DecisionTreeRegressor",
        "DecisionTreeRegressor(max_depth=3, random_state=0)",
    ),
    _model(
        "Fibroblast Five",
        "hist_gradient_boosting",
        "from sklearn.ensemble import HistGradientBoostingRegressor",
        "HistGradientBoostingRegressor(max_depth=3, learning_rate=0.05, random_state=0)",
    ),
    _model(
        "Histology Heroes",
        "knn",
        "from sklearn.neighbors import KNeighborsRegressor",
        "KNeighborsRegressor(n_neighbors=15)",
    ),
    _model("Imaging Insight", "svr", "from sklearn.svm import SVR", "SVR(C=100.0)"),
    _model(
        "Mitosis Masters",
        "huber",
        "from sklearn.linear_model import HuberRegressor",
        "HuberRegressor(max_iter=1000)",
    ),
)
