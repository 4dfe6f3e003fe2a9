"""Everything a data card shows that can be computed: never typed by hand.

From the released files of a challenge (train, test, test labels, sample
submission) this module computes row and column counts, column types,
missingness, the target's distribution per split, subgroup counts (sex, age
bands) where such columns exist, split sizes, the sha256 of every released file,
a summary of the final leaderboard, and a few plots (:mod:`kit.cards.plots`).

What the target statistics are comes from the challenge's task type
(:class:`kit.tasks.Task`): its ``class_columns`` are counted by value per split (in
the order of the spec's ``classes`` when it has them), its ``numeric_columns`` are
summarised and binned; an event column with a time column (:func:`time_to_event`)
also gets the Kaplan-Meier estimate of each split. Nothing here branches on the
task's name.

A card has two states. While the challenge is open (``sealed=True``, what
:func:`kit.cards.build_card` computes before ``spec.closes``), nothing here uses the test
labels, nor any value of a test case but its existence: the columns, the target and the
target within each sex or age group are computed on the training cases only, the test
cases are only counted (by public and private part, and by sex and age band), and the
labels file is listed without its size or checksum. After the event the same functions
compute the full card, every split included.

Results are plain frozen dataclasses; rendering them is the job of :mod:`kit.cards.document`
and :mod:`kit.cards.renderers`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Problem
from ..privacy import AGE_NAMES, normalise_name
from .schema import CardError, Winner

#: order in which released files are listed; ``labels`` are the test labels, public after the event
RELEASE_ROLES = ("train", "test", "labels", "sample_submission")
ROLE_DESCRIPTIONS = {
    "train": "training cases: id, features and target(s)",
    "test": "test cases: id and features (targets are in the test labels file)",
    "labels": "test labels: id, target(s) and the leaderboard split (public or private) of each test case",
    "sample_submission": "the format of a predictions file, filled with a constant baseline",
}
SEX_NAMES = ("sex", "gender", "sex_at_birth", "biological_sex")
AGE_BAND = 10
HIST_BINS = 20
SIGNIFICANT = 6


def _round(x) -> float | None:
    """A float rounded to 6 significant digits (stable text in every card), or None."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return None
    if x == 0:
        return 0.0
    return round(x, SIGNIFICANT - 1 - int(math.floor(math.log10(abs(x)))))


# -- results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileStats:
    role: str
    path: str  # where the file sits in the release (relative)
    source: Path  # where it is read from
    sha256: str | None  # None: withheld (the test labels while the challenge is open)
    bytes: int | None  # None: withheld, as the checksum
    rows: int
    columns: tuple[str, ...]
    kinds: tuple[str, ...]  # column_kind of each column, as read from this file
    description: str

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def withheld(self) -> bool:
        """True for a file that is not published yet (the test labels of an open challenge)."""
        return self.sha256 is None


@dataclass(frozen=True)
class ColumnStats:
    name: str
    role: str  # id, feature, target, split
    kind: str  # integer, float, boolean, text, datetime
    count: int
    missing: int
    unique: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    q25: float | None = None
    median: float | None = None
    q75: float | None = None
    max: float | None = None
    #: value -> count, for columns with few distinct values (never for the id column)
    levels: tuple[tuple[str, int], ...] = ()

    @property
    def missing_fraction(self) -> float:
        return self.missing / self.count if self.count else 0.0


@dataclass(frozen=True)
class SplitSizes:
    train: int
    public: int
    private: int

    @property
    def test(self) -> int:
        return self.public + self.private

    @property
    def total(self) -> int:
        return self.train + self.test

    def items(self) -> list[tuple[str, int]]:
        return [("train", self.train), ("public test", self.public), ("private test", self.private)]


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    std: float | None
    min: float | None
    median: float | None
    max: float | None


@dataclass(frozen=True)
class ClassTarget:
    """A target column counted by value (:meth:`kit.tasks.Task.class_columns`: classes, events)."""

    column: str
    #: class value -> counts per split (in the splits' order), classes in order (:func:`class_order`)
    classes: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.classes)


@dataclass(frozen=True)
class NumericTarget:
    """A target column summarised as numbers (:meth:`kit.tasks.Task.numeric_columns`: values, times)."""

    column: str
    summaries: tuple[Summary, ...]  # per split, then all cases
    #: histogram over all cases: bin edges, and counts per split (train, public test, private test)
    bin_edges: tuple[float, ...] = ()
    histogram: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True)
class SurvivalCurve:
    """The Kaplan-Meier estimate of one split: event-free probability after each distinct time."""

    split: str
    times: tuple[float, ...]
    survival: tuple[float, ...]

    def at(self, t: float) -> float | None:
        """The estimate at time *t* (1 before the first time; None past the last follow-up)."""
        if not self.times:
            return None
        if t > self.times[-1]:
            return None
        i = int(np.searchsorted(np.asarray(self.times), t, side="right")) - 1
        return 1.0 if i < 0 else self.survival[i]


@dataclass(frozen=True)
class TargetStats:
    task: str
    columns: tuple[str, ...]
    splits: tuple[str, ...]  # train, public test, private test, all; only train while the challenge is open
    #: the target columns counted by value, then those summarised as numbers (from the task)
    class_targets: tuple[ClassTarget, ...] = ()
    numeric_targets: tuple[NumericTarget, ...] = ()
    positive_label: str = ""
    #: the (event, time) columns of a time-to-event target (:func:`time_to_event`), or None
    event_time: tuple[str, str] | None = None
    #: Kaplan-Meier estimate per split (train, public test, private test), with an event and a time
    curves: tuple[SurvivalCurve, ...] = ()
    #: the spec's follow-up times, at which the card tabulates the curves
    times: tuple[float, ...] = ()
    #: computed on the training cases only (the challenge is open: the test labels stay hidden)
    sealed: bool = False

    @property
    def parts(self) -> tuple[str, ...]:
        """The splits of the cases (``splits`` without ``all``): what plots stack or compare."""
        return tuple(s for s in self.splits if s != "all")

    # the first class / numeric target (every built-in task has at most one of each)
    @property
    def classes(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        return self.class_targets[0].classes if self.class_targets else ()

    @property
    def summaries(self) -> tuple[Summary, ...]:
        return self.numeric_targets[0].summaries if self.numeric_targets else ()

    @property
    def bin_edges(self) -> tuple[float, ...]:
        return self.numeric_targets[0].bin_edges if self.numeric_targets else ()

    @property
    def histogram(self) -> tuple[tuple[int, ...], ...]:
        return self.numeric_targets[0].histogram if self.numeric_targets else ()


@dataclass(frozen=True)
class Subgroups:
    """Counts by sex and age band, per split, and the target within each group.

    ``sealed``: the challenge is open: the test cases are counted as one part (``test``: their
    public or private part is not shown), the age summary and the target within each group are
    computed on the training cases only.
    """

    splits: tuple[str, ...]
    sex_column: str | None = None
    sex: tuple[tuple[str, tuple[int, ...]], ...] = ()  # value -> counts per split
    age_column: str | None = None
    age_bands: tuple[tuple[str, tuple[int, ...]], ...] = ()  # band -> counts per split
    age_summary: Summary | None = None
    pyramid: tuple[tuple[str, tuple[int, ...]], ...] = ()  # band -> counts per sex value
    #: what ``target_by_group`` gives in each group (``share malignant = 1``, ``mean progression``)
    target_measures: tuple[str, ...] = ()
    #: (group label, cases with a known target, one value per measure)
    target_by_group: tuple[tuple[str, int, tuple[float | None, ...]], ...] = ()
    sealed: bool = False

    @property
    def present(self) -> bool:
        return self.sex_column is not None or self.age_column is not None


@dataclass(frozen=True)
class Plot:
    name: str
    title: str
    alt: str
    png: bytes = field(repr=False)

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


@dataclass(frozen=True)
class LeaderRow:
    rank: int
    team: str
    score: float | None
    ci_low: float | None
    ci_high: float | None
    code_url: str | None = None
    code_licence: str | None = None


@dataclass(frozen=True)
class LeaderboardSummary:
    metric: str
    greater_is_better: bool
    precision: int
    n_teams: int
    best: float | None
    median: float | None
    top: tuple[LeaderRow, ...]
    #: teams (other than the winner) whose interval overlaps the winner's
    overlapping_winner: int | None


@dataclass(frozen=True)
class CardStats:
    files: tuple[FileStats, ...]
    columns: tuple[ColumnStats, ...]  # of the training cases only when ``sealed``
    n_cases: int
    n_features: int
    splits: SplitSizes
    target: TargetStats
    subgroups: Subgroups
    plots: tuple[Plot, ...] = ()
    #: the challenge is open: no statistic uses the test labels or a test case's values (counts only)
    sealed: bool = False

    def column(self, name: str) -> ColumnStats:
        return next(c for c in self.columns if c.name == name)

    @property
    def missing_cells(self) -> int:
        return sum(c.missing for c in self.columns)


# -- reading the released files ----------------------------------------------------------------
def release_path(challenge, role: str) -> str:
    """The path of a released file inside the open-data bundle.

    Participant files keep their place in the starter kit (``data/train.csv``);
    the hidden labels become ``test_labels.csv`` beside the test file.
    """
    spec_path = Path(getattr(challenge.spec.data, role).path)
    if role == "labels":
        return (Path(challenge.spec.data.test.path).parent / "test_labels.csv").as_posix()
    return spec_path.as_posix()


def read_release_frames(challenge) -> dict[str, pd.DataFrame]:
    """The released tables by role, read from the challenge's files (ids read as text)."""
    id_col = challenge.spec.id_column
    frames = {}
    for role in RELEASE_ROLES:
        path = challenge.path(role)
        frames[role] = pd.read_csv(path, dtype={id_col: str}, keep_default_na=True)
    return frames


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_stats(challenge, frames: Mapping[str, pd.DataFrame], *, sealed: bool = False) -> tuple[FileStats, ...]:
    """Each released file: path, size, sha256, rows and columns. ``sealed``: the test labels file is
    listed with its rows and columns only (the type of a target column is read from the training file)."""
    out = []
    for role in RELEASE_ROLES:
        source = challenge.path(role)
        f = frames[role]
        withheld = sealed and role == "labels"
        data = b"" if withheld else source.read_bytes()
        kinds = tuple(
            (column_kind(frames["train"][c]) if c in frames["train"].columns else "text")
            if withheld
            else column_kind(f[c])
            for c in f.columns
        )
        out.append(
            FileStats(
                role=role,
                path=release_path(challenge, role),
                source=source,
                sha256=None if withheld else sha256_bytes(data),
                bytes=None if withheld else len(data),
                rows=int(len(f)),
                columns=tuple(str(c) for c in f.columns),
                kinds=kinds,
                description=ROLE_DESCRIPTIONS[role],
            )
        )
    return tuple(out)


# -- columns -----------------------------------------------------------------------------------
def column_kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "text"


def cases_table(spec, frames: Mapping[str, pd.DataFrame], *, sealed: bool = False) -> pd.DataFrame:
    """One row per case: id, features, target(s) and split (train, public test, private test).

    ``sealed``: the test cases carry no target (only the split of the labels file is read).
    """
    id_col = spec.id_column
    train = frames["train"].copy()
    train["split"] = "train"
    labels = frames["labels"][[id_col, "split"]].copy() if sealed else frames["labels"].copy()
    labels["split"] = labels["split"].map({"public": "public test", "private": "private test"}).fillna(labels["split"])
    test = frames["test"].merge(labels, on=id_col, how="left", validate="one_to_one")
    cases = pd.concat([train, test], ignore_index=True)
    order = list(frames["train"].columns) + [c for c in test.columns if c not in frames["train"].columns]
    return cases[order]


def column_stats(spec, cases: pd.DataFrame) -> tuple[ColumnStats, ...]:
    """Type, missing values, numbers and (with 20 distinct values or fewer) the count of each value of every
    column of ``cases``; the card decides which counts it may show (:func:`kit.cards.document.shown_levels`)."""
    out = []
    for name in cases.columns:
        s = cases[name]
        role = (
            "id"
            if name == spec.id_column
            else "target"
            if name in spec.target
            else "split"
            if name == "split"
            else "feature"
        )
        kind = column_kind(s)
        base: dict[str, Any] = dict(
            name=str(name),
            role=role,
            kind=kind,
            count=int(len(s)),
            missing=int(s.isna().sum()),
            unique=int(s.nunique(dropna=True)),
        )
        if kind in ("integer", "float") and s.notna().any():
            q = s.quantile([0.25, 0.5, 0.75])
            base.update(
                mean=_round(s.mean()),
                std=_round(s.std()),
                min=_round(s.min()),
                q25=_round(q[0.25]),
                median=_round(q[0.5]),
                q75=_round(q[0.75]),
                max=_round(s.max()),
            )
        if role != "id" and base["unique"] <= 20:
            counts = s.dropna().astype(str).value_counts()
            base["levels"] = tuple(sorted(((str(k), int(v)) for k, v in counts.items()), key=_level_key))
        out.append(ColumnStats(**base))
    return tuple(out)


def _level_key(item):
    value = item[0]
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


# -- target, splits, subgroups -------------------------------------------------------------------
SPLITS = ("train", "public test", "private test")


def split_sizes(cases: pd.DataFrame) -> SplitSizes:
    counts = cases["split"].value_counts()
    return SplitSizes(
        train=int(counts.get("train", 0)),
        public=int(counts.get("public test", 0)),
        private=int(counts.get("private test", 0)),
    )


def _round_edge(x: float) -> float:
    """A histogram bin edge, rounded as every number (edges are finite: never None)."""
    r = _round(x)
    return float(x) if r is None else r


def _summary(values: pd.Series) -> Summary:
    v = values.dropna()
    return Summary(
        n=int(len(v)),
        mean=_round(v.mean()) if len(v) else None,
        std=_round(v.std()) if len(v) > 1 else None,
        min=_round(v.min()) if len(v) else None,
        median=_round(v.median()) if len(v) else None,
        max=_round(v.max()) if len(v) else None,
    )


def _by_split(cases: pd.DataFrame, column: str) -> list[pd.Series]:
    return [cases.loc[cases["split"] == s, column] for s in SPLITS] + [cases[column]]


def class_values(series: pd.Series) -> pd.Series:
    """A class column as text: whole numbers without a decimal point (``1.0`` is class ``1``), missing as None."""
    numbers = pd.to_numeric(series, errors="coerce")
    known = series.notna()
    if known.any() and (numbers[known].notna() & (numbers[known] == numbers[known].round())).all():
        return numbers.map(lambda v: None if pd.isna(v) else str(int(v)))
    return series.map(lambda v: None if pd.isna(v) else str(v))


def class_order(spec, column: str, observed) -> tuple[str, ...]:
    """The classes of a class column, in order.

    The spec's ``classes`` for its target (a multiclass target, in the organiser's order),
    then any other value seen; a column of 0/1 values has both (a subgroup or a split
    without positive cases still shows 0 of them); else the values seen, numbers first
    in numeric order.
    """
    seen = sorted({str(v) for v in observed if v is not None}, key=lambda v: _level_key((v, 0)))
    if spec.classes and column == spec.target[0]:
        return tuple(spec.classes) + tuple(v for v in seen if v not in spec.classes)
    if seen and set(seen) <= {"0", "1"}:
        return ("0", "1")
    return tuple(seen)


def is_indicator(classes) -> bool:
    """True for a class column of two values 0 and 1 (a binary outcome, an event): its 1s are counted."""
    return tuple(classes) == ("0", "1")


def time_to_event(spec) -> tuple[str, str] | None:
    """The (event, time) columns of a time-to-event target, or None.

    A task whose target is one column counted by value and one column of numbers (the
    event indicator and the follow-up time of a survival task); the card then adds the
    Kaplan-Meier estimate of each split.
    """
    task = spec.task_type
    counted, numeric = task.class_columns(spec), task.numeric_columns(spec)
    if len(counted) == 1 and len(numeric) == 1:
        return counted[0], numeric[0]
    return None


def _parts(cases: pd.DataFrame, values: pd.Series, splits: tuple[str, ...]) -> list[pd.Series]:
    """``values`` of each split, then of all ``cases`` when ``splits`` ends with ``all``."""
    return [values if s == "all" else values[cases["split"] == s] for s in splits]


def _class_target(spec, cases: pd.DataFrame, column: str, splits: tuple[str, ...] = (*SPLITS, "all")) -> ClassTarget:
    text = class_values(cases[column])
    parts = _parts(cases, text, splits)
    classes = class_order(spec, column, text.dropna().unique())
    return ClassTarget(column, tuple((v, tuple(int((p == v).sum()) for p in parts)) for v in classes))


def _numeric_target(cases: pd.DataFrame, column: str, splits: tuple[str, ...] = (*SPLITS, "all")) -> NumericTarget:
    values = pd.to_numeric(cases[column], errors="coerce")
    parts = _parts(cases, values, splits)
    all_values = values.dropna().to_numpy(dtype=float)
    edges = np.histogram_bin_edges(all_values, bins=HIST_BINS) if len(all_values) else np.array([])
    hist = (
        tuple(
            tuple(int(c) for c in np.histogram(p.dropna().to_numpy(dtype=float), bins=edges)[0])
            for s, p in zip(splits, parts, strict=True)
            if s != "all"
        )
        if len(edges)
        else ()
    )
    return NumericTarget(
        column,
        summaries=tuple(_summary(p) for p in parts),
        bin_edges=tuple(_round_edge(e) for e in edges),
        histogram=hist,
    )


def kaplan_meier(event: np.ndarray, time: np.ndarray, split: str) -> SurvivalCurve:
    """The Kaplan-Meier estimate of one split (scikit-survival), rounded as every number of the card."""
    known = ~(np.isnan(event) | np.isnan(time))
    if not known.any():
        return SurvivalCurve(split, (), ())
    from sksurv.nonparametric import kaplan_meier_estimator

    t, s = kaplan_meier_estimator(event[known].astype(bool), time[known])
    return SurvivalCurve(split, tuple(_round_edge(x) for x in t), tuple(_round_edge(x) for x in s))


def target_stats(spec, cases: pd.DataFrame, *, sealed: bool = False) -> TargetStats:
    """The target per split: classes counted for the task's class columns, numbers summarised for its
    numeric columns (:class:`kit.tasks.Task`), and a Kaplan-Meier estimate for an event and a time.

    ``sealed``: the training cases only (the challenge is open: the test labels stay hidden).
    """
    task = spec.task_type
    splits: tuple[str, ...] = ("train",) if sealed else (*SPLITS, "all")
    if sealed:
        cases = cases[cases["split"] == "train"]
    counted = tuple(_class_target(spec, cases, c, splits) for c in task.class_columns(spec))
    numeric = tuple(_numeric_target(cases, c, splits) for c in task.numeric_columns(spec))
    pair = time_to_event(spec)
    curves: tuple[SurvivalCurve, ...] = ()
    if pair is not None:
        event = pd.to_numeric(class_values(cases[pair[0]]), errors="coerce")
        time = pd.to_numeric(cases[pair[1]], errors="coerce")
        curves = tuple(
            kaplan_meier(
                event[cases["split"] == s].to_numpy(dtype=float), time[cases["split"] == s].to_numpy(dtype=float), s
            )
            for s in splits
            if s != "all"
        )
    return TargetStats(
        task=spec.task,
        columns=tuple(spec.target),
        splits=splits,
        class_targets=counted,
        numeric_targets=numeric,
        positive_label=spec.positive_label or "",
        event_time=pair,
        curves=curves,
        times=tuple(spec.survival_times),
        sealed=sealed,
    )


def find_sex_column(columns) -> str | None:
    return next((c for c in columns if normalise_name(c) in SEX_NAMES), None)


def find_age_column(cases: pd.DataFrame) -> str | None:
    return next(
        (c for c in cases.columns if AGE_NAMES.search(normalise_name(c)) and pd.api.types.is_numeric_dtype(cases[c])),
        None,
    )


def age_band(age: float, width: int = AGE_BAND) -> str:
    if age >= 90:
        return "90+"
    lo = int(age // width * width)
    return f"{lo}-{lo + width - 1}"


def age_band_order(bands) -> list[str]:
    """Age band labels (``50-59``, ``90+``) from youngest to oldest."""
    return sorted(set(bands), key=lambda b: (b == "90+", int(b.split("-")[0]) if b != "90+" else 0))


def target_measures(spec, cases: pd.DataFrame) -> tuple[list[str], list]:
    """What the card gives of the target within a group of cases: (labels, functions of the group's rows).

    For a class column of 0/1 values, the share of 1s; for other class columns, the share
    of each class; for a numeric column, the mean. Shares and means are over the cases whose
    value is known.
    """
    task = spec.task_type
    labels: list[str] = []
    functions: list = []
    for col in task.class_columns(spec):
        classes = class_order(spec, col, class_values(cases[col]).dropna().unique())
        shown = ("1",) if is_indicator(classes) else classes
        for v in shown:
            labels.append(f"share {col} = {v}")
            functions.append(lambda g, col=col, v=v: _share(g[col], v))
    for col in task.numeric_columns(spec):
        labels.append(f"mean {col}")
        functions.append(lambda g, col=col: _mean(g[col]))
    return labels, functions


def _share(series: pd.Series, value: str) -> float | None:
    text = class_values(series).dropna()
    return float((text == value).mean()) if len(text) else None


def _mean(series: pd.Series) -> float | None:
    values = pd.to_numeric(series, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def subgroup_stats(spec, cases: pd.DataFrame, *, sealed: bool = False) -> Subgroups:
    """Cases by sex and by age band in each split, the age summary, and the target within each group.

    ``sealed``: the test cases are counted as one part (``test``), and the age summary and the target
    within each group come from the training cases only: a group with a few test cases never lets
    one recover a test label (or a test case's age) from the card.
    """
    if sealed:
        splits: tuple[str, ...] = ("train", "test")
        split = cases["split"].where(cases["split"] == "train", "test")
    else:
        splits, split = SPLITS, cases["split"]
    known = cases[split == "train"] if sealed else cases  # the cases whose values the card may summarise
    sex_col = find_sex_column([c for c in cases.columns if c not in spec.target and c != spec.id_column])
    age_col = find_age_column(cases.drop(columns=[*spec.target, spec.id_column], errors="ignore"))
    out: dict = dict(splits=splits, sex_column=sex_col, age_column=age_col, sealed=sealed)
    groups = []
    if sex_col:
        values = sorted({str(v) for v in cases[sex_col].dropna().unique()}, key=lambda v: _level_key((v, 0)))
        sex_str = cases[sex_col].astype(str)
        out["sex"] = tuple((v, tuple(int(((split == s) & (sex_str == v)).sum()) for s in splits)) for v in values)
        groups += [(f"{sex_col} = {v}", known[sex_str[known.index] == v]) for v in values]
    if age_col:
        ages = cases[age_col]
        bands = ages.dropna().map(age_band)
        order = age_band_order(bands.unique())
        band = ages.map(lambda a: age_band(a) if pd.notna(a) else None)
        out["age_bands"] = tuple((b, tuple(int(((split == s) & (band == b)).sum()) for s in splits)) for b in order)
        out["age_summary"] = _summary(known[age_col])
        groups += [(f"{age_col} {b}", known[band[known.index] == b]) for b in order]
        if sex_col:
            values = [v for v, _ in out["sex"]]
            sex_str = cases[sex_col].astype(str)
            out["pyramid"] = tuple((b, tuple(int(((band == b) & (sex_str == v)).sum()) for v in values)) for b in order)
    measures, columns = target_measures(spec, known)
    out["target_measures"] = tuple(measures)
    first = spec.target[0]
    out["target_by_group"] = tuple(
        (label, int(g[first].notna().sum()), tuple(_round(f(g)) for f in columns)) for label, g in groups
    )
    return Subgroups(**out)


# -- leaderboard --------------------------------------------------------------------------------
LEADERBOARD_COLUMNS = ("rank", "team", "score", "ci_low", "ci_high")


def _float(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def summarise_leaderboard(
    leaderboard: pd.DataFrame, spec, winners: tuple[Winner, ...] | list[Winner] = (), *, top: int = 3
) -> LeaderboardSummary:
    """The final private ranking in a few numbers, and the winners with the licence of their code."""
    from ..metrics import get_metric

    missing = [c for c in LEADERBOARD_COLUMNS if c not in leaderboard.columns]
    if missing:
        raise CardError(
            "the leaderboard lacks columns the card needs",
            where="leaderboard",
            fix=f"pass the final private ranking with columns {', '.join(LEADERBOARD_COLUMNS)}",
            problems=[Problem("column is missing", where=c) for c in missing],
        )
    metric = get_metric(spec.metrics.primary)
    board = leaderboard.sort_values(["rank", "team"], kind="mergesort").reset_index(drop=True)
    by_team = {w.team: w for w in winners}
    teams = set(board["team"].astype(str))
    unknown = [t for t in by_team if t not in teams]
    if unknown:
        raise CardError(
            "card winners are not on the leaderboard",
            where="challenge.winners",
            problems=[
                Problem(
                    "team is not on the final leaderboard",
                    where=t,
                    fix="use the team name exactly as on the leaderboard",
                )
                for t in unknown
            ],
            fix="correct the team names in challenge.winners",
        )
    rows = []
    for r in board.itertuples(index=False):
        if int(r.rank) > top:
            break
        w = by_team.get(str(r.team))
        rows.append(
            LeaderRow(
                rank=int(r.rank),
                team=str(r.team),
                score=_float(r.score),
                ci_low=_float(r.ci_low),
                ci_high=_float(r.ci_high),
                code_url=w.code_url if w else None,
                code_licence=w.code_licence if w else None,
            )
        )
    scores = pd.to_numeric(board["score"], errors="coerce").dropna()
    overlap = None
    if len(board):
        first = board.iloc[0]
        lo, hi = _float(first["ci_low"]), _float(first["ci_high"])
        if lo is not None and hi is not None:
            others = board.iloc[1:]
            o_lo = pd.to_numeric(others["ci_low"], errors="coerce")
            o_hi = pd.to_numeric(others["ci_high"], errors="coerce")
            overlap = int(((o_hi >= lo) & (o_lo <= hi)).sum())
    return LeaderboardSummary(
        metric=metric.name,
        greater_is_better=metric.greater_is_better,
        precision=metric.precision,
        n_teams=int(board["team"].nunique()),
        best=_float(scores.iloc[0]) if len(scores) else None,
        median=_float(scores.median()) if len(scores) else None,
        top=tuple(rows),
        overlapping_winner=overlap,
    )


# -- all together -------------------------------------------------------------------------------
def compute_stats(
    challenge, frames: Mapping[str, pd.DataFrame] | None = None, *, plots: bool = True, sealed: bool = False
) -> CardStats:
    """Compute every number of the card from the challenge's released files.

    ``sealed``: the card of an open challenge (see the module docstring): statistics of the
    training cases, the test cases only counted, nothing computed from the test labels.
    """
    spec = challenge.spec
    frames = frames if frames is not None else read_release_frames(challenge)
    cases = cases_table(spec, frames, sealed=sealed)
    columns = column_stats(spec, frames["train"] if sealed else cases)
    stats = CardStats(
        files=file_stats(challenge, frames, sealed=sealed),
        columns=columns,
        n_cases=int(len(cases)),
        n_features=sum(1 for c in columns if c.role == "feature"),
        splits=split_sizes(cases),
        target=target_stats(spec, cases, sealed=sealed),
        subgroups=subgroup_stats(spec, cases, sealed=sealed),
        sealed=sealed,
    )
    if plots:
        from .plots import make_plots

        stats = replace(stats, plots=make_plots(stats))
    return stats
