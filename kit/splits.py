"""Splitting a challenge's cases into train, public test and private test.

Three rules, each reproducible from the spec's seed:

- **random** (the default): scikit-learn's ``train_test_split``, stratified on the task's
  labels where the task allows (:meth:`kit.tasks.Task.stratify_labels`);
- **grouped** (``split.group_column``: a patient with several visits, images or lesions):
  no group appears in two of train / public test / private test. The groups are dealt into
  folds of similar label mix (stratified on each group's most frequent label where the task
  allows) and the test set is made of whole folds (:func:`_grouped`);
- **temporal** (``split.temporal``): every test row is at or after the cut-off, every train
  row before it. With a group column, rows after the cut-off of a group already seen in
  training are left out (a test of new patients only), and counted in :class:`SplitResult`.

The public/private division of the test set follows the same rule (grouped when there are
groups; stratified where possible).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataIntegrityError

#: folds a grouped split deals the groups into (the test share is a whole number of folds)
GROUP_FOLDS = 20
#: the fewest cases (or groups) each of train, public test and private test must hold
MIN_PER_PART = 2


@dataclass
class SplitResult:
    """Row positions of each part, and what the split did."""

    train: np.ndarray
    public: np.ndarray
    private: np.ndarray
    method: str
    dropped: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))  # temporal + groups: left out

    def summary(self) -> dict:
        return {
            "method": self.method,
            "train": int(len(self.train)),
            "public": int(len(self.public)),
            "private": int(len(self.private)),
            "left_out": int(len(self.dropped)),
        }


def _too_few(what: str, fix: str) -> DataIntegrityError:
    return DataIntegrityError(what, where="split", fix=fix)


def _can_stratify(labels: np.ndarray | None, n_parts: int) -> bool:
    if labels is None:
        return False
    _, counts = np.unique(labels.astype(str), return_counts=True)
    return len(counts) > 1 and counts.min() >= n_parts


def _grouped(
    positions: np.ndarray, groups: np.ndarray, labels: np.ndarray | None, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, taken): whole groups, about *share* of the rows taken, stratified on the labels.

    The groups are dealt into :data:`GROUP_FOLDS` folds like cards: sorted by their most
    frequent label (their stratum), in a seeded random order within a stratum, and dealt in
    turn, so that every fold gets its share of every stratum; the taken part is whole folds.
    scikit-learn's ``StratifiedGroupKFold`` does the same with a greedy search over the
    folds for every group; it took 150 s on 33,000 patients, this takes milliseconds.
    """
    uniq, codes = np.unique(groups[positions].astype(str), return_inverse=True)
    if len(uniq) < 2 * MIN_PER_PART:
        raise _too_few(
            f"only {len(uniq)} group(s) to split; each part needs at least {MIN_PER_PART}",
            "use a table with more patients (groups), or no group column",
        )
    k = min(GROUP_FOLDS, len(uniq))
    n_take = min(k - 1, max(1, round(share * k)))
    if labels is not None:
        _, label_codes = np.unique(labels[positions].astype(str), return_inverse=True)
        counts = np.zeros((len(uniq), label_codes.max() + 1), dtype=np.int64)
        np.add.at(counts, (codes, label_codes), 1)
        stratum = counts.argmax(axis=1)  # each group's most frequent label (ties: the first)
    else:
        stratum = np.zeros(len(uniq), dtype=int)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.permutation(len(uniq)), stratum))
    fold = np.empty(len(uniq), dtype=int)
    fold[order] = np.arange(len(uniq)) % k
    # which folds are taken is random too (fold 0 always holds the first group of each stratum)
    taken_folds = rng.permutation(k)[:n_take]
    taken_rows = np.isin(fold[codes], taken_folds)
    return positions[~taken_rows], positions[taken_rows]


def _random(positions: np.ndarray, labels: np.ndarray | None, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    strat = labels[positions] if labels is not None and _can_stratify(labels[positions], 2) else None
    kept, taken = train_test_split(positions, test_size=share, random_state=seed, stratify=strat)
    return np.asarray(kept), np.asarray(taken)


def _cutoff_mask(values: pd.Series, cutoff: str, column: str) -> np.ndarray:
    """Rows at or after the cut-off, comparing as dates, or as numbers when the column is numeric."""
    if pd.api.types.is_numeric_dtype(values):
        try:
            return (values >= float(cutoff)).to_numpy()
        except ValueError:
            raise DataIntegrityError(
                f"the temporal column {column!r} is numeric but the cut-off {cutoff!r} is not a number",
                where="split.temporal.cutoff",
                fix="give a number as the cut-off",
            ) from None
    dates = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = dates.isna() & values.notna()
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        raise DataIntegrityError(
            f"{int(bad.sum())} value(s) of the temporal column {column!r} are not dates, such as "
            f"{values[bad].iloc[0]!r}",
            where=f"column {column!r}, data row(s) {', '.join(str(r + 1) for r in rows[:5])}",
            fix="write dates as YYYY-MM-DD, or drop those rows",
        )
    if values.isna().any():
        rows = np.flatnonzero(values.isna().to_numpy())
        raise DataIntegrityError(
            f"{int(values.isna().sum())} row(s) have no {column!r}: they cannot be placed before or after the cut-off",
            where=f"column {column!r}, data row(s) {', '.join(str(r + 1) for r in rows[:5])}",
            fix="fill in the dates or drop those rows",
        )
    try:
        cut = pd.Timestamp(cutoff)
    except ValueError:
        raise DataIntegrityError(
            f"the cut-off {cutoff!r} is not a date", where="split.temporal.cutoff", fix="write it as YYYY-MM-DD"
        ) from None
    if dates.dt.tz is not None and cut.tz is None:
        cut = cut.tz_localize(dates.dt.tz)
    return (dates >= cut).to_numpy()


def split_cases(
    frame: pd.DataFrame,
    *,
    test_fraction: float,
    public_fraction: float,
    seed: int,
    labels: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    temporal: tuple[str, str] | None = None,
    temporal_values: pd.Series | None = None,
) -> SplitResult:
    """Split the rows of *frame* (positions 0..n-1) into train, public and private test.

    Parameters
    ----------
    labels : array, optional
        Labels to stratify on (None: no stratification).
    groups : array, optional
        The group (patient) of every row: no group is in two parts.
    temporal : (column, cut-off), optional
        Test rows are at or after the cut-off, train rows before.
    temporal_values : Series, optional
        The values of the temporal column when *frame* no longer holds it (it may be used
        for the split and left out of the released files).
    """
    n = len(frame)
    positions = np.arange(n)
    dropped = np.array([], dtype=int)
    if temporal is not None:
        column, cutoff = temporal
        values = frame[column] if temporal_values is None else temporal_values.reset_index(drop=True)
        after = _cutoff_mask(values, cutoff, column)
        train, test = positions[~after], positions[after]
        if groups is not None:
            seen = np.isin(groups[test], groups[train])
            dropped, test = test[seen], test[~seen]
        method = "temporal" + (" (new groups only in test)" if groups is not None else "")
        if len(train) < MIN_PER_PART or len(test) < 2 * MIN_PER_PART:
            raise _too_few(
                f"the cut-off {cutoff!r} leaves {len(train)} training and {len(test)} test row(s)",
                f"choose a cut-off of {column!r} with rows on both sides (at least {MIN_PER_PART} before "
                f"and {2 * MIN_PER_PART} after)",
            )
    elif groups is not None:
        train, test = _grouped(positions, groups, labels, test_fraction, seed)
        method = "grouped"
    else:
        if n < 3 * MIN_PER_PART:
            raise _too_few(
                f"{n} row(s) cannot make train, public test and private test",
                f"use a table of at least {3 * MIN_PER_PART} rows (a challenge needs far more)",
            )
        train, test = _random(positions, labels, test_fraction, seed)
        method = "random"
    if groups is not None:
        private, public = _grouped(test, groups, labels, public_fraction, seed + 1)
    else:
        if len(test) < 2 * MIN_PER_PART:
            raise _too_few(
                f"the test set has {len(test)} row(s): too few for a public and a private part",
                "raise test_fraction or use a larger table",
            )
        from sklearn.model_selection import train_test_split

        strat = labels[test] if labels is not None and _can_stratify(labels[test], 2) else None
        public, private = train_test_split(test, train_size=public_fraction, random_state=seed + 1, stratify=strat)
    for name, part in (("train", train), ("public test", public), ("private test", private)):
        if len(part) < MIN_PER_PART:
            raise _too_few(
                f"the {name} part would hold {len(part)} row(s)",
                "use a larger table, or change test_fraction / public_fraction",
            )
    return SplitResult(
        train=np.sort(train), public=np.sort(public), private=np.sort(private), method=method, dropped=dropped
    )
