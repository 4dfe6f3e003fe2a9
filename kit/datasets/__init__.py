"""Loaders for the real medical datasets bundled with scikit-learn and scikit-survival.

Each loader returns a :class:`Dataset`: a DataFrame of feature and target
columns (no id column) with its provenance. Nothing is downloaded: every file
ships inside the installed packages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..registry import Registry

if TYPE_CHECKING:  # pragma: no cover - the loaders import pandas (a spec's check of the name does not)
    import pandas as pd


@dataclass(frozen=True)
class Dataset:
    name: str
    frame: pd.DataFrame
    targets: list[str]
    title: str
    citation: str
    license: str
    description: str = ""
    column_notes: dict = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [c for c in self.frame.columns if c not in self.targets]


#: loaders of the bundled datasets, by name (``source.dataset`` of a challenge spec)
DATASETS: Registry[Callable[[], Dataset]] = Registry("dataset", hint="kit.datasets.get_dataset_names()")


def register_dataset(name: str, *, replace: bool = False):
    """Decorator: register a loader (a function returning a :class:`Dataset`) as *name*."""

    def deco(fn):
        DATASETS.register(fn, name=name, replace=replace)
        return fn

    return deco


def get_dataset_names() -> list[str]:
    return DATASETS.names()


def load_dataset(name: str) -> Dataset:
    return DATASETS.get(name)()


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


@register_dataset("breast_cancer")
def breast_cancer() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.rename(columns=_snake)
    # scikit-learn codes 0 = malignant, 1 = benign; the medical question is "malignant?"
    frame["malignant"] = (bunch.target == 0).astype(int)
    return Dataset(
        name="breast_cancer",
        frame=frame,
        targets=["malignant"],
        title="Breast Cancer Wisconsin (Diagnostic)",
        citation=(
            "W.N. Street, W.H. Wolberg and O.L. Mangasarian. Nuclear feature extraction for breast "
            "tumor diagnosis. IS&T/SPIE 1993 International Symposium on Electronic Imaging, vol. 1905, "
            "pp. 861-870."
        ),
        license="CC BY 4.0 (UCI Machine Learning Repository)",
        description=(
            "569 fine needle aspirates of breast masses; 30 features computed from digitised images "
            "of the cell nuclei (mean, standard error and worst of ten measurements); diagnosis "
            "confirmed by pathology."
        ),
    )


@register_dataset("diabetes")
def diabetes() -> Dataset:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)
    frame = bunch.data.rename(columns={"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"})
    frame["sex"] = frame["sex"].astype(int)
    frame["progression"] = bunch.target.astype(float)
    return Dataset(
        name="diabetes",
        frame=frame,
        targets=["progression"],
        title="Diabetes disease progression (Efron et al.)",
        citation=(
            "B. Efron, T. Hastie, I. Johnstone and R. Tibshirani. Least Angle Regression. "
            "Annals of Statistics 32(2), 2004, pp. 407-499."
        ),
        license="Distributed with scikit-learn (BSD-3-Clause)",
        description=(
            "442 diabetes patients: age, sex, body mass index, average blood pressure and six blood "
            "serum measurements at baseline; the target is a quantitative measure of disease "
            "progression one year after baseline."
        ),
        column_notes={
            "tc": "total serum cholesterol",
            "ldl": "low-density lipoproteins",
            "hdl": "high-density lipoproteins",
            "tch": "total cholesterol / HDL",
            "ltg": "log of serum triglycerides level",
            "glu": "blood sugar level",
            "sex": "coded 1 or 2 in the source; the meaning of the codes is not documented",
        },
    )


@register_dataset("whas500")
def whas500() -> Dataset:
    import pandas as pd
    from sksurv.datasets import load_whas500

    x, y = load_whas500()
    frame = x.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype) or frame[col].dtype == object:
            frame[col] = pd.to_numeric(frame[col].astype(str))
    frame["event"] = y["fstat"].astype(int)
    frame["time"] = y["lenfol"].astype(float)
    return Dataset(
        name="whas500",
        frame=frame,
        targets=["event", "time"],
        title="Worcester Heart Attack Study (WHAS500)",
        citation=(
            "D.W. Hosmer, S. Lemeshow and S. May. Applied Survival Analysis: Regression Modeling of "
            "Time to Event Data, 2nd ed. John Wiley & Sons, 2008."
        ),
        license="Distributed with scikit-survival (GPL-3.0)",
        description=(
            "500 patients admitted with acute myocardial infarction; follow-up time (days) to death or censoring."
        ),
    )
