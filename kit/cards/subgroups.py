"""Subgroup results of the top submissions: every metric of the spec, per subgroup, with intervals.

For the top teams of a (final, private) leaderboard, each metric of the challenge
is computed on the cases of every subgroup of the board's split: all cases, each
value of the sex column and each age band (found as the card's demographics find
them, :mod:`kit.cards.compute`). The test labels' case ids join the features of
``test.csv``; the predictions come from the ledger, aligned with the labels.

Each score has a paired-bootstrap percentile interval computed on the subgroup's
cases (:func:`kit.leaderboard.stats.paired_bootstrap`: the same resamples for
every team). Every subgroup reports its cases and, for the task's class column
(:meth:`kit.tasks.Task.class_columns`: a binary target, the classes of a multiclass
target, the event indicator of a survival target), the cases of each class (of a 0/1
column: the number of 1s, ``n_positive``). A subgroup that is too small to say anything
is flagged, and so is a subgroup where a class is missing: the warning names the class
and says whether the metric is undefined there (``roc_auc`` without positive cases, a
concordance index without events) or reflects the classes present only.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import KitError, MetricError
from ..metrics import Metric, get_metric
from .compute import (
    _level_key,
    _round,
    age_band,
    age_band_order,
    class_order,
    class_values,
    find_age_column,
    find_sex_column,
    is_indicator,
)

#: subgroups with fewer cases are flagged: their intervals are too wide to say anything
MIN_CASES = 30
DEFAULT_TOP = 3
COLUMNS = (
    "subgroup",
    "variable",
    "level",
    "n_cases",
    "n_positive",
    "class_counts",
    "team",
    "rank",
    "metric",
    "score",
    "ci_low",
    "ci_high",
    "subgroup_rank",
    "warning",
)


@dataclass(frozen=True)
class Subgroup:
    """A named set of cases: ``mask`` selects them among the analysed cases."""

    label: str  # "all private test cases", "sex = 1", "age 50-59"
    variable: str  # "" for all cases, else the column that defines the subgroup
    level: str
    mask: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return int(self.mask.sum())


def subgroup_columns(spec, cases: pd.DataFrame) -> tuple[str | None, str | None]:
    """The (sex, age) columns of ``cases``, each None when absent (the card's demographics use the same)."""
    candidates = cases.drop(columns=[*spec.target, spec.id_column, "split"], errors="ignore")
    return find_sex_column(list(candidates.columns)), find_age_column(candidates)


def find_subgroups(spec, cases: pd.DataFrame, *, everyone: str = "all cases") -> list[Subgroup]:
    """All cases, then one subgroup per value of the sex column and per age band (when present)."""
    sex_col, age_col = subgroup_columns(spec, cases)
    out = [Subgroup(everyone, "", "", np.ones(len(cases), dtype=bool))]
    if sex_col:
        known = cases[sex_col].notna().to_numpy()
        sex_str = cases[sex_col].astype(str).to_numpy()
        values = sorted({str(v) for v in cases[sex_col].dropna().astype(str)}, key=lambda v: _level_key((v, 0)))
        out += [Subgroup(f"{sex_col} = {v}", sex_col, v, known & (sex_str == v)) for v in values]
    if age_col:
        band = cases[age_col].map(lambda a: age_band(a) if pd.notna(a) else None)
        out += [Subgroup(f"{age_col} {b}", age_col, b, (band == b).to_numpy()) for b in age_band_order(band.dropna())]
    return out


@dataclass(frozen=True)
class Outcome:
    """The class column counted in every subgroup: its name, its value (text) for every analysed
    case, and its classes in order (:func:`kit.cards.compute.class_order`)."""

    column: str
    values: np.ndarray = field(repr=False)
    classes: tuple[str, ...]

    @property
    def indicator(self) -> bool:
        """A 0/1 column (a binary outcome, an event): its 1s are counted as ``n_positive``."""
        return is_indicator(self.classes)

    def counts(self, idx: np.ndarray) -> list[int]:
        """Cases of each class among the cases ``idx``."""
        part = self.values[idx]
        return [int((part == c).sum()) for c in self.classes]

    def missing_note(self, counts: list[int]) -> str | None:
        """'no case with malignant = 1' when a class is absent from a subgroup, else None."""
        missing = [c for c, n in zip(self.classes, counts, strict=True) if n == 0]
        if not missing:
            return None
        if len(missing) == len(self.classes):
            return "no case"
        if len(missing) == 1:
            return f"no case with {self.column} = {missing[0]}"
        return f"no case with {self.column} in {', '.join(missing)}"


# -- the computation (pure: arrays in, a table out) -------------------------------------------------
def _class_warning(metric: Metric, note: str | None, counts: list[int], score: np.ndarray) -> list[str]:
    """What a missing class does to *metric* on a subgroup: makes it undefined, or one-sided."""
    if note is None:
        return []
    if metric.needs_both_classes:
        return [f"{note}: {metric.name} needs both classes and is undefined here"]
    if not np.isfinite(score).any():
        return [f"{note}: {metric.name} is undefined here"]
    present = sum(1 for n in counts if n)
    return [f"{note}: {metric.name} reflects {'one class only' if present == 1 else 'the classes present only'}"]


def subgroup_scores(
    y_true,
    predictions,
    teams: Sequence[str],
    subgroups: Sequence[Subgroup],
    metrics: Sequence[str | Metric],
    *,
    outcome: Outcome | None = None,
    ranks: Sequence | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    min_cases: int = MIN_CASES,
) -> pd.DataFrame:
    """Every metric of every team on every subgroup, with paired-bootstrap percentile intervals.

    ``y_true``: true values of the analysed cases, as the metrics take them
    (:meth:`kit.tasks.Task.y_true`; survival: an (n, 2) array of event, time);
    ``predictions``: teams × cases, or teams × cases × columns for multi-column
    predictions (class probabilities, survival curves); ``subgroups``: masks over those
    cases; ``metrics``: names or (bound, :meth:`~kit.challenge.ChallengeSpec.metric`)
    metrics; ``outcome``: the class column counted in each subgroup (None: no count);
    ``ranks``: the teams' ranks on the board (reported as given).
    One row per (subgroup, metric, team), columns :data:`COLUMNS`. A metric that is
    undefined on a subgroup has NaN scores and says why in ``warning``.
    """
    from ..leaderboard.stats import paired_bootstrap, rank_scores

    y = np.asarray(y_true, dtype=float)
    P = np.asarray(predictions, dtype=float)
    teams = [str(t) for t in teams]
    ranks = list(ranks) if ranks is not None else [None] * len(teams)
    rows = []
    for g in subgroups:
        idx = np.flatnonzero(g.mask)
        n = len(idx)
        yg, Pg = y[idx], P[:, idx]
        counts = outcome.counts(idx) if outcome is not None else []
        note = outcome.missing_note(counts) if outcome is not None and n else None
        n_pos = counts[1] if outcome is not None and outcome.indicator else None
        class_counts = ", ".join(f"{c}: {k}" for c, k in zip(outcome.classes, counts, strict=True)) if outcome else ""
        size_warning = [f"too small to say anything: {n} case(s), fewer than {min_cases}"] if n < min_cases else []
        for name in metrics:
            metric = get_metric(name) if isinstance(name, str) else name
            notes: list[str] = []
            score = np.full(len(teams), np.nan)
            low, high = np.full(len(teams), np.nan), np.full(len(teams), np.nan)
            if n:
                try:
                    boot = paired_bootstrap(yg, Pg, teams, metric, n_resamples=n_resamples, seed=seed, alpha=alpha)
                    score = boot.observed
                    ci = boot.confidence_intervals()
                    low, high = ci["ci_low"].to_numpy(), ci["ci_high"].to_numpy()
                    if boot.n_invalid:
                        notes.append(
                            f"{boot.n_invalid} of {boot.n_resamples} resamples left {metric.name} "
                            "undefined and were dropped"
                        )
                except (MetricError, ValueError) as exc:  # scikit-learn/-survival raise ValueError
                    score = np.array([_score_or_nan(metric, yg, p) for p in Pg])
                    if note is None:
                        what = getattr(exc, "what", str(exc))
                        notes.append(f"{metric.name} is undefined or cannot be resampled here: {what}")
            warnings = size_warning + _class_warning(metric, note, counts, score) + notes
            finite = np.isfinite(score)
            sub_rank = np.full(len(teams), np.nan)
            if finite.any():
                sub_rank[finite] = rank_scores(score[finite], metric)
            for i, team in enumerate(teams):
                rows.append(
                    (
                        g.label,
                        g.variable,
                        g.level,
                        n,
                        n_pos,
                        class_counts,
                        team,
                        ranks[i],
                        metric.name,
                        _nan(score[i]),
                        _nan(low[i]),
                        _nan(high[i]),
                        None if math.isnan(sub_rank[i]) else int(sub_rank[i]),
                        "; ".join(warnings),
                    )
                )
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["n_positive"] = table["n_positive"].astype("Int64")
    table["rank"] = table["rank"].astype("Int64")
    table["subgroup_rank"] = table["subgroup_rank"].astype("Int64")
    return table


def _nan(x) -> float:
    x = float(x)
    return x if math.isfinite(x) else float("nan")


def _score_or_nan(metric: Metric, y, p) -> float:
    try:
        return float(metric(y, p))
    except (MetricError, ValueError):
        return float("nan")


# -- the result ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SubgroupResults:
    """Subgroup results of the top teams of a board (``table``: one row per subgroup, metric and team)."""

    challenge_id: str
    split: str  # the board's split: private (final) or public
    task: str  # the task's name (shown, never branched on)
    target: str  # the class column counted in each subgroup, else the first target column
    teams: tuple[tuple[int, str], ...]  # (rank, team), best first
    metrics: tuple[str, ...]
    subgroups: tuple[tuple[str, int], ...]  # (label, cases), in table order
    table: pd.DataFrame = field(repr=False)
    sex_column: str | None = None
    age_column: str | None = None
    min_cases: int = MIN_CASES
    n_resamples: int = 1000
    alpha: float = 0.05
    seed: int = 0
    #: the classes of the counted class column ``target``, in order (empty: no class column)
    classes: tuple[str, ...] = ()

    @property
    def count_header(self) -> str | None:
        """The header of the class counts of a subgroup: the 1s of a 0/1 column, else every class."""
        if not self.classes:
            return None
        return f"{self.target} = 1" if is_indicator(self.classes) else f"{self.target} classes"

    @property
    def count_is_number(self) -> bool:
        return is_indicator(self.classes)

    @property
    def present(self) -> bool:
        """True when the data have a sex or an age column (else only the overall row exists)."""
        return self.sex_column is not None or self.age_column is not None

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    @property
    def warnings(self) -> pd.DataFrame:
        """One row per subgroup and metric that has a warning."""
        w = self.table[self.table["warning"] != ""][["subgroup", "n_cases", "metric", "warning"]]
        return w.drop_duplicates(["subgroup", "metric"]).reset_index(drop=True)

    @property
    def small(self) -> list[tuple[str, int]]:
        """Subgroups with fewer than ``min_cases`` cases: (label, cases)."""
        return [(label, n) for label, n in self.subgroups if n < self.min_cases]

    # -- display strings (shared by the card renderers and the notebook view) --------------------------
    def describe(self) -> str:
        teams = ", ".join(f"{r}. {t}" for r, t in self.teams)
        return (
            f"Scores of the top {len(self.teams)} team(s) of the {self.split} leaderboard ({teams}) on the "
            f"{self.split} test cases of each subgroup, with {100 * (1 - self.alpha):g}% paired bootstrap "
            f"percentile intervals ({self.n_resamples} resamples of the subgroup's cases, seed {self.seed}). "
            f"Subgroups with fewer than {self.min_cases} cases are flagged: their intervals are too wide to "
            "say anything, and a difference between such subgroups is no evidence of a difference in "
            "performance."
        )

    def metric_table(self, metric: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        """(headers, rows) of one metric: a row per subgroup, a column per team (score [low, high])."""
        m = get_metric(metric)
        part = self.table[self.table["metric"] == metric]
        count = self.count_header
        headers = ("subgroup", "cases", *((count,) if count else ()), *(f"{r}. {t}" for r, t in self.teams), "note")
        rows = []
        for label, _ in self.subgroups:
            g = part[part["subgroup"] == label]
            first = g.iloc[0]
            cells = [label, str(int(first["n_cases"]))]
            if count:
                cells.append(str(first["n_positive"]) if self.count_is_number else str(first["class_counts"]))
            by_team = {r.team: r for r in g.itertuples(index=False)}
            for _, team in self.teams:
                r = by_team[team]
                cells.append(_interval(m, r.score, r.ci_low, r.ci_high))
            cells.append(first["warning"] or "")
            rows.append(tuple(cells))
        return headers, tuple(rows)

    def limitation(self) -> str | None:
        """One sentence on what the subgroups cannot show (for Croissant's data limitations), or None."""
        small = self.small
        w = self.warnings
        pairs = zip(w["subgroup"], w["warning"], strict=True)
        classes = sorted({str(g) for g, text in pairs if any(part.startswith("no case") for part in text.split("; "))})
        if not small and not classes:
            return None
        parts = []
        if small:
            parts.append(
                f"{len(small)} subgroup(s) of the {self.split} test set have fewer than {self.min_cases} "
                "cases (" + ", ".join(f"{label}: {n}" for label, n in small) + ")"
            )
        if classes:
            parts.append("a class is missing in " + ", ".join(classes))
        return (
            "Subgroup results of the top teams (data card, section Subgroup results): "
            + "; ".join(parts)
            + ". Results there say little about performance in these subgroups."
        )

    def to_csv(self) -> str:
        """The table as CSV, numbers at 6 significant digits, team names safe for spreadsheets."""
        t = self.table.copy()
        for c in ("score", "ci_low", "ci_high"):
            t[c] = t[c].map(_round)
        t["team"] = t["team"].astype(str).map(_csv_safe)
        buf = io.StringIO()
        t.to_csv(buf, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        return buf.getvalue()

    def __repr__(self) -> str:
        return (
            f"SubgroupResults({self.challenge_id!r}, split={self.split!r}, teams={len(self.teams)}, "
            f"subgroups={len(self.subgroups)}, metrics={list(self.metrics)}, warnings={len(self.warnings)})"
        )

    def _repr_html_(self) -> str:
        e = html.escape
        out = [f"<div class='kit-subgroups'><p>{e(self.describe())}</p>"]
        if not self.present:
            out.append("<p>The test data have no sex or age column: only the overall results are shown.</p>")
        for metric in self.metrics:
            m = get_metric(metric)
            headers, rows = self.metric_table(metric)
            out.append(
                f"<p><b>{e(metric)}</b> {e(m.arrow)}</p><table><thead><tr>"
                + "".join(f"<th>{e(h)}</th>" for h in headers)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
                + "</tbody></table>"
            )
        out.append("</div>")
        return "".join(out)


def _interval(m: Metric, score, low, high) -> str:
    if score is None or not math.isfinite(score):
        return "—"
    text = f"{score:.{m.precision}f}"
    if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
        text += f" [{low:.{m.precision}f}, {high:.{m.precision}f}]"
    return text


def _csv_safe(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# -- from a board and its ledger ---------------------------------------------------------------------
def subgroup_results(
    board,
    ledger,
    *,
    top: int = DEFAULT_TOP,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    min_cases: int = MIN_CASES,
) -> SubgroupResults:
    """Subgroup results of the teams ranked ``top`` or better on ``board`` (ties included).

    ``board``: a :class:`~kit.leaderboard.Leaderboard` (the final private board for a
    card); its split's cases are analysed. ``ledger``: the :class:`~kit.ledger.Ledger`
    holding the case predictions of the board's runs.
    """
    from ..labels import read_labels

    if top < 1:
        raise KitError(f"top must be at least 1, got {top}", fix="pass top=3 for the three best teams")
    ch = board.challenge
    spec = ch.spec
    t = board.table
    ranked = t[t["rank"].notna()]
    chosen = ranked[ranked["rank"].astype(int) <= top]
    if chosen.empty:
        raise KitError(
            "no ranked team on this board",
            where=f"{ch.id} {board.phase} leaderboard",
            fix="grade submissions first (`kit grade ...`)",
        )
    labels = read_labels(ch)
    features = pd.read_csv(ch.path("test"), dtype={spec.id_column: str})
    cases = labels.frame.merge(
        features.drop(columns=[c for c in labels.frame.columns if c != spec.id_column and c in features.columns]),
        on=spec.id_column,
        how="left",
        validate="one_to_one",
    )
    run_ids = chosen["run_id"].astype(int).tolist()
    preds = ledger.case_predictions(run_ids)
    missing = [str(team) for team, r in zip(chosen["team"], run_ids, strict=True) if r not in preds]
    if missing:
        raise KitError(
            f"the ledger has no case predictions for {', '.join(missing)}",
            fix="regrade these submissions (`kit grade ... --regrade`)",
        )
    P = np.stack([preds[r] for r in run_ids])
    if P.shape[1] != len(labels):
        raise KitError(
            "case predictions do not match the labels' length",
            fix="the labels changed since grading: regrade the submissions",
        )
    mask = labels.mask(board.phase)
    analysed = cases[mask].reset_index(drop=True)
    groups = find_subgroups(spec, analysed, everyone=f"all {board.phase} test cases")
    teams = [str(x) for x in chosen["team"]]
    ranks = [int(x) for x in chosen["rank"]]
    outcome = outcome_of(spec, labels.frame, mask)
    table = subgroup_scores(
        labels.y_true(board.phase),
        P[:, mask],
        teams,
        groups,
        [spec.metric(m) for m in spec.metrics.all],
        outcome=outcome,
        ranks=ranks,
        n_resamples=n_resamples,
        seed=seed,
        alpha=alpha,
        min_cases=min_cases,
    )
    sex, age = subgroup_columns(spec, analysed)
    return SubgroupResults(
        challenge_id=ch.id,
        split=board.phase,
        task=spec.task,
        target=outcome.column if outcome is not None else spec.target[0],
        teams=tuple(zip(ranks, teams, strict=True)),
        metrics=tuple(spec.metrics.all),
        subgroups=tuple((g.label, g.n) for g in groups),
        table=table,
        sex_column=sex,
        age_column=age,
        min_cases=min_cases,
        n_resamples=n_resamples,
        alpha=alpha,
        seed=seed,
        classes=outcome.classes if outcome is not None else (),
    )


def outcome_of(spec, labels: pd.DataFrame, mask: np.ndarray | None = None) -> Outcome | None:
    """The task's (first) class column of the labels, as counted in subgroups; None when it has none.

    The classes are those of every labelled case (so a split without a class still lists it);
    the values are those of the cases of ``mask``.
    """
    counted = spec.task_type.class_columns(spec)
    if not counted:
        return None
    column = counted[0]
    text = class_values(labels[column])
    classes = class_order(spec, column, text.dropna().unique())
    values = text.to_numpy(dtype=object)
    return Outcome(column, values if mask is None else values[mask], classes)
