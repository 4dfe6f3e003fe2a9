"""Leaderboard statistics: paired bootstrap, ranking schemes, significance, the Ladder.

A pure numpy/scipy library: it never reads the ledger. Every function takes the
true values of the test cases, the predictions of every team as one 2-d array
(teams × cases, in the same case order as ``y_true``), the team names and a
:class:`~kit.metrics.Metric` (or its registered name).

What is computed, and the choices made
--------------------------------------
Paired bootstrap (:func:`paired_bootstrap`)
    Test cases are resampled with replacement; *every team is scored on the same
    resampled cases* (the resamples are paired), so the ranking of each resample
    is meaningful. It yields a percentile confidence interval of each team's
    score, the distribution of each team's rank (rank 1 is the best, whatever the
    metric direction; ties take the smallest rank), how often each team wins, and
    the stability of the ranking: Kendall's tau-b between the full-data ranking
    and the ranking of every resample.
    A resample on which the metric is undefined (e.g. a single class for
    ``roc_auc``) is dropped for every team and counted in ``n_invalid``.

Speed
    A resample is represented by case multiplicities ``w`` (how often each case
    was drawn). Three exact computations avoid calling the metric once per team
    and resample:

    * metrics with a per-case loss: ``score = from_mean_loss(w @ losses / sum(w))``,
      one matrix product for all teams and resamples;
    * ``roc_auc``: the weighted Mann–Whitney statistic. Each team's cases of the
      smaller class are sorted once; for a resample, a cumulative sum of their
      weights gives, for every case of the other class, the weight ranked below
      it (ties count one half); the AUC numerator is that count weighted by ``w``.
      Everything is integer arithmetic, so the AUC is exact;
    * ``balanced_accuracy``, ``f1``, ``mcc`` (weighted confusion counts, matrix
      products) and ``r2`` (weighted sums of squares), following scikit-learn's
      edge cases (zero division, a missing class).

    Any other metric is scored by calling ``metric.func`` on the resampled arrays.

Ranking schemes (:func:`ranking_schemes`)
    *aggregate-then-rank*: rank of the full-data score (the official leaderboard).
    *rank-then-aggregate* (:func:`rank_then_aggregate`): following challengeR,
    teams are ranked on every test case by their per-case loss and the mean rank
    is ranked; for a metric without per-case loss (AUC, c-index, ...) there is no
    per-case value, so the teams are ranked on every bootstrap resample instead.
    *test-based* (:func:`pairwise_significance`): the number of teams a team beats
    significantly.

Significance (:func:`pairwise_significance`, :func:`statistically_tied_top`)
    With a per-case loss: one-sided paired Wilcoxon signed-rank tests on the
    per-case losses (``scipy.stats.wilcoxon``, zeros dropped). Without one: a
    one-sided paired bootstrap test, ``z = d / se`` where ``d`` is the full-data
    score difference and ``se`` the standard deviation of the difference over the
    paired resamples (normal approximation). A Wilcoxon test on the bootstrap
    replicates is *not* used: replicates are not independent observations, so its
    p-value would shrink with the arbitrary number of resamples; and the
    percentile p-value ``#{d_b <= 0} / R`` cannot go below ``1 / R``, so it could
    never survive a Holm correction over many pairs. P-values are corrected with
    Holm's step-down method (:func:`holm`).

Missing values
    A team whose predictions contain NaN or infinite values is never dropped
    silently: the functions raise :class:`~kit.errors.MetricError` naming every
    such team. Call :func:`exclude_incomplete` to leave them out explicitly (it
    reports whom it left out).

The Ladder (:func:`ladder`)
    The parameter-free Ladder of Blum & Hardt (ICML 2015, Algorithm 2).
"""

from __future__ import annotations

import html
import math
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Union

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..errors import MetricError, Problem
from ..metrics import Metric, check_inputs, get_metric
from ..metrics.classification import THRESHOLD

MetricLike = Union[Metric, str]

#: resamples processed at once by the vectorised scorers (bounds the memory)
CHUNK = 64
#: teams prepared at once by the roc_auc scorer (bounds the memory of their sort orders)
TEAM_BLOCK = 64
#: one-sided test methods of :func:`pairwise_significance`
TEST_METHODS = ("auto", "wilcoxon", "bootstrap")


# =============================================================================
# inputs
# =============================================================================
def _as_metric(metric: MetricLike) -> Metric:
    return get_metric(metric) if isinstance(metric, str) else metric


def _registered(metric: Metric) -> bool:
    """True for the registry's own Metric object (not a look-alike with the same name)."""
    try:
        return get_metric(metric.name) is metric
    except MetricError:
        return False


def _prepare(y_true, predictions, teams, metric: MetricLike):
    """Check and convert the inputs; return ``(metric, y, P, teams)``."""
    metric = _as_metric(metric)
    try:
        P = np.asarray(predictions, dtype=float)
    except (TypeError, ValueError) as exc:
        raise MetricError(
            f"{metric.name}: predictions are not numeric ({exc})", fix="pass a float array of shape (teams, cases)"
        ) from None
    if P.ndim == 1:
        P = P[None, :]
    if P.ndim != 2 or P.shape[0] == 0:
        raise MetricError(
            f"{metric.name}: predictions must be a 2-d array (teams × cases), got shape {P.shape}",
            fix="stack one row of predictions per team, cases in the order of y_true",
        )
    teams = tuple(str(t) for t in teams)
    if len(teams) != P.shape[0]:
        raise MetricError(
            f"{len(teams)} team names for {P.shape[0]} rows of predictions",
            fix="give exactly one name per row of predictions",
        )
    if len(set(teams)) != len(teams):
        dup = sorted(t for t, k in Counter(teams).items() if k > 1)
        raise MetricError(
            f"team names are not unique: {', '.join(map(repr, dup))}",
            fix="give every row of predictions a distinct name",
        )
    bad = ~np.isfinite(P).all(axis=1)
    if bad.any():
        problems = [
            Problem(
                f"{int((~np.isfinite(P[i])).sum())} of {P.shape[1]} predictions are NaN or infinite",
                where=f"team {teams[i]!r}",
            )
            for i in np.flatnonzero(bad)
        ]
        raise MetricError(
            f"{int(bad.sum())} team(s) have missing or infinite predictions; their scores are undefined",
            where="predictions",
            problems=problems,
            fix="fix their predictions, or leave them out explicitly with "
            "kit.leaderboard.stats.exclude_incomplete(predictions, teams)",
        )
    if metric.task == "binary":
        out = ((P < 0) | (P > 1)).any(axis=1)
        if out.any():
            names = ", ".join(repr(teams[i]) for i in np.flatnonzero(out)[:10])
            raise MetricError(
                f"{metric.name}: binary predictions must be probabilities in [0, 1]",
                where=f"teams {names}",
                fix="predict the probability of the positive class",
            )
    y, _ = check_inputs(metric, y_true, P[0])
    return metric, y, P, teams


def exclude_incomplete(predictions, teams):
    """Leave out the teams whose predictions contain NaN or infinite values.

    Parameters
    ----------
    predictions : array-like, shape (teams, cases)
    teams : sequence of str

    Returns
    -------
    predictions : ndarray
        The rows of the complete teams.
    teams : tuple of str
        Their names.
    excluded : tuple of str
        The names left out, to be reported next to the leaderboard.
    """
    P = np.asarray(predictions, dtype=float)
    if P.ndim == 1:
        P = P[None, :]
    teams = tuple(str(t) for t in teams)
    if len(teams) != P.shape[0]:
        raise MetricError(
            f"{len(teams)} team names for {P.shape[0]} rows of predictions",
            fix="give exactly one name per row of predictions",
        )
    keep = np.isfinite(P).all(axis=1)
    return (
        P[keep],
        tuple(t for t, k in zip(teams, keep, strict=True) if k),
        tuple(t for t, k in zip(teams, keep, strict=True) if not k),
    )


def _case_losses(metric: Metric, y, P: np.ndarray) -> np.ndarray:
    """Per-case losses of every team, shape (teams, cases)."""
    return np.stack([np.asarray(metric.per_case(y, p), dtype=float) for p in P])


def _take(y, idx):
    """The true values of the cases ``idx`` (survival targets are a pair)."""
    if isinstance(y, tuple):
        return tuple(part[idx] for part in y)
    return y[idx]


# =============================================================================
# resamples
# =============================================================================
def bootstrap_indices(n_cases: int, n_resamples: int = 1000, seed=0) -> np.ndarray:
    """Indices of ``n_resamples`` bootstrap resamples of ``n_cases`` cases.

    Parameters
    ----------
    n_cases : int
    n_resamples : int
    seed : int, numpy Generator or None
        The same seed gives the same resamples (used by the benchmark to check
        the kit's scores against scikit-learn on the very same resamples).

    Returns
    -------
    ndarray of int32, shape (n_resamples, n_cases)
        Row ``b`` lists the cases drawn (with replacement) in resample ``b``.
    """
    if n_cases < 1 or n_resamples < 1:
        raise MetricError(
            f"cannot draw {n_resamples} resamples of {n_cases} cases", fix="use at least one case and one resample"
        )
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_cases, size=(n_resamples, n_cases), dtype=np.int32)


def _check_indices(indices, n: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim == 1:
        idx = idx[None, :]
    if idx.ndim != 2 or idx.shape[1] == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise MetricError(
            f"resample indices must be a 2-d integer array (resamples × draws), got {idx.dtype} of shape {idx.shape}",
            fix="pass e.g. bootstrap_indices(n_cases, 1000)",
        )
    if idx.min() < 0 or idx.max() >= n:
        raise MetricError(
            f"resample indices must lie in [0, {n - 1}]", where="indices", fix="index the cases of y_true"
        )
    return idx


def _counts(indices: np.ndarray, n: int) -> np.ndarray:
    """Case multiplicities of every resample, shape (resamples, n), smallest uint dtype."""
    R, m = indices.shape
    out = np.empty((R, n), dtype=np.int32 if m > 65535 else np.uint16)
    step = max(1, 2_000_000 // max(m, 1))
    for b0 in range(0, R, step):
        chunk = indices[b0 : b0 + step].astype(np.int64)
        offsets = np.arange(chunk.shape[0], dtype=np.int64)[:, None] * n
        out[b0 : b0 + step] = np.bincount((chunk + offsets).ravel(), minlength=chunk.shape[0] * n).reshape(-1, n)
    return out.astype(np.uint8) if out.max(initial=0) <= 255 else out


# =============================================================================
# scorers: (metric, y, P, indices, n_jobs) -> scores (teams, resamples), NaN = undefined
# =============================================================================
def _distinct_rows(values: np.ndarray):
    """``(unique rows, inverse)``: teams with identical per-case values get bit-identical
    weighted sums (a BLAS kernel may round two identical rows differently), so they tie."""
    unique, inverse = np.unique(values, axis=0, return_inverse=True)
    return unique, np.asarray(inverse).reshape(-1)


def _per_case_scores(metric, y, P, indices, n_jobs):
    """Metrics with a per-case loss: one matrix product for all teams."""
    losses, inverse = _distinct_rows(_case_losses(metric, y, P))
    out = np.empty((len(losses), indices.shape[0]))
    counts = _counts(indices, P.shape[1])
    for b0 in range(0, counts.shape[0], 4 * CHUNK):
        C = counts[b0 : b0 + 4 * CHUNK].astype(float)
        out[:, b0 : b0 + C.shape[0]] = (losses @ C.T) / C.sum(axis=1)
    return _from_mean_loss(metric, out)[inverse]


def _from_mean_loss(metric, mean_loss):
    try:
        scores = np.asarray(metric.from_mean_loss(mean_loss), dtype=float)
        if scores.shape == mean_loss.shape:
            return scores
    except TypeError:  # scalar functions such as math.sqrt
        pass
    return np.vectorize(metric.from_mean_loss, otypes=[float])(mean_loss)


def _auc_scores(metric, y, P, indices, n_jobs):
    """ROC AUC of every team on every resample: the weighted Mann–Whitney statistic.

    With ``w`` the case multiplicities of a resample,
    ``AUC = sum_{i pos} w_i * B_i / (W_pos * W_neg)`` where ``B_i`` is the weight of
    the negatives ranked below case ``i`` (ties count one half). For each team:

    1. the cases of the larger class ("A") are sorted by prediction once, and
       ``searchsorted`` gives, for each case ``j`` of the other class ("B"), the
       number of A-cases strictly below it (``lo``) and at or below it (``hi``);
    2. per resample, the cumulative sum ``E`` of the A-weights in that order gives
       ``2 * (weight below + half the ties) = E[lo_j] + E[hi_j]``;
    3. the sum over B of ``w_j * (E[lo_j] + E[hi_j])`` is the doubled numerator
       (B = positives) or the doubled discordant weight (B = negatives).

    All of it is integer arithmetic, so the AUC is an exact ratio. Speed: the
    counts of several resamples are packed in the 16-bit (or 32-bit) lanes of one
    uint64, so the gathers and the cumulative sum handle ``lanes`` resamples per
    element (a lane never overflows: it holds at most twice the number of draws);
    the lanes are unpacked for the final weighted sum, over the smaller class.
    Resamples are processed in chunks that stay in cache while every team of a
    block of teams uses them; the teams of a block are split between threads
    (numpy releases the GIL in these loops).
    """
    y = np.asarray(y) == 1
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    a_is_pos = len(pos) > len(neg)
    a_cases, b_cases = (pos, neg) if a_is_pos else (neg, pos)
    R, m = indices.shape
    T = P.shape[0]
    counts = _counts(indices, P.shape[1])
    pairs2 = 2 * counts[:, pos].sum(axis=1, dtype=np.int64) * counts[:, neg].sum(axis=1, dtype=np.int64)

    # lanes: 4 x 16 bits while E[lo] + E[hi] <= 2 m fits in 16 bits, else 2 x 32 bits
    lanes, lane_dtype, acc = (4, np.uint16, np.int32) if 2 * m < 2**16 else (2, np.uint32, np.int64)
    n_groups = -(-R // lanes)
    padded = np.zeros((n_groups * lanes, counts.shape[1]), dtype=counts.dtype)
    padded[:R] = counts
    packed = np.zeros((n_groups, counts.shape[1]), dtype=np.uint64)
    for lane in range(lanes):
        packed |= padded[lane::lanes].astype(np.uint64) << np.uint64(lane * 64 // lanes)
    w_b = np.ascontiguousarray(padded[:, b_cases])
    del padded, counts
    group_chunk = max(1, CHUNK // lanes)
    below2 = np.empty((T, n_groups * lanes), dtype=np.int64)

    def prepare(t):
        p_a = P[t, a_cases]
        order = np.argsort(p_a, kind="stable")
        sorted_a = p_a[order]
        lo = np.searchsorted(sorted_a, P[t, b_cases], side="left")
        hi = np.searchsorted(sorted_a, P[t, b_cases], side="right")
        return a_cases[order], lo, (None if np.array_equal(lo, hi) else hi)

    def run(teams, preps, g0):
        Wg = packed[g0 : g0 + group_chunk]
        gc = Wg.shape[0]
        rows = slice(g0 * lanes, (g0 + gc) * lanes)
        E = np.zeros((gc, len(a_cases) + 1), dtype=np.uint64)
        for t, (cols, lo, hi) in zip(teams, preps, strict=True):
            np.cumsum(np.take(Wg, cols, axis=1), axis=1, out=E[:, 1:])
            G = np.take(E, lo, axis=1)
            if hi is None:
                G <<= np.uint64(1)
            else:
                G += np.take(E, hi, axis=1)
            lanes_view = G.view(lane_dtype).reshape(gc, len(b_cases), lanes)
            if sys.byteorder == "big":
                lanes_view = lanes_view[..., ::-1]
            unpacked = np.ascontiguousarray(lanes_view.transpose(0, 2, 1)).reshape(gc * lanes, -1)
            below2[t, rows] = np.einsum("bk,bk->b", w_b[rows], unpacked, dtype=acc)

    n_jobs = _n_jobs(n_jobs, T)
    with ThreadPoolExecutor(n_jobs) as pool:
        for start in range(0, T, TEAM_BLOCK):
            block = list(range(start, min(start + TEAM_BLOCK, T)))
            preps = list(pool.map(prepare, block))
            shares = [(block[k::n_jobs], preps[k::n_jobs]) for k in range(n_jobs)]
            for g0 in range(0, n_groups, group_chunk):
                list(pool.map(lambda share: run(share[0], share[1], g0), shares))
    below2 = below2[:, :R]
    num2 = pairs2 - below2 if a_is_pos else below2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs2 > 0, num2 / np.where(pairs2 > 0, pairs2, 1), np.nan)


def _n_jobs(n_jobs, n_tasks):
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    return max(1, min(int(n_jobs), n_tasks))


def _confusion_scores(formula):
    """A scorer from weighted confusion counts at the kit's threshold ``p >= 0.5``."""

    def scorer(metric, y, P, indices, n_jobs):
        yt = (np.asarray(y) == 1).astype(float)
        yhat = P >= THRESHOLD
        tp_cases = (yhat * yt).T  # (cases, teams)
        fp_cases = (yhat * (1.0 - yt)).T
        counts = _counts(indices, P.shape[1])
        out = np.empty((P.shape[0], counts.shape[0]))
        for b0 in range(0, counts.shape[0], 4 * CHUNK):
            C = counts[b0 : b0 + 4 * CHUNK].astype(float)
            tp, fp = C @ tp_cases, C @ fp_cases
            npos, nneg = (C @ yt)[:, None], (C @ (1.0 - yt))[:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, b0 : b0 + C.shape[0]] = formula(tp, fp, npos - tp, nneg - fp).T
        return out

    return scorer


def _balanced_accuracy(tp, fp, fn, tn):
    # scikit-learn: mean recall over the classes present in y_true
    rec1 = np.where(tp + fn > 0, tp / np.where(tp + fn > 0, tp + fn, 1), np.nan)
    rec0 = np.where(tn + fp > 0, tn / np.where(tn + fp > 0, tn + fp, 1), np.nan)
    return np.nanmean(np.stack([rec0, rec1]), axis=0)


def _f1(tp, fp, fn, tn):
    denom = (tp + fn) + (tp + fp)  # true_sum + pred_sum, zero_division=0
    return np.where(denom > 0, 2.0 * tp / np.where(denom > 0, denom, 1), 0.0)


def _mcc(tp, fp, fn, tn):
    # the covariance form of scikit-learn's matthews_corrcoef, classes in order (0, 1)
    t0, t1, p0, p1 = tn + fp, fn + tp, tn + fn, fp + tp
    n = p0 + p1
    cov_ytyp = (tp + tn) * n - (t0 * p0 + t1 * p1)
    cov_ypyp = n**2 - (p0 * p0 + p1 * p1)
    cov_ytyt = n**2 - (t0 * t0 + t1 * t1)
    prod = cov_ypyp * cov_ytyt
    return np.where(prod == 0, 0.0, cov_ytyp / np.sqrt(np.where(prod == 0, 1, prod)))


def _r2_scores(metric, y, P, indices, n_jobs):
    """R² from weighted sums of squares, with scikit-learn's ``force_finite`` rules."""
    y = np.asarray(y, dtype=float)
    centred = y - y.mean()
    sq_err, inverse = _distinct_rows((P - y) ** 2)
    sq_err = sq_err.T  # (cases, distinct teams)
    counts = _counts(indices, P.shape[1])
    out = np.empty((sq_err.shape[1], counts.shape[0]))
    for b0 in range(0, counts.shape[0], 4 * CHUNK):
        C = counts[b0 : b0 + 4 * CHUNK].astype(float)
        w = C.sum(axis=1)
        drawn = C > 0
        constant = np.where(drawn, y, -np.inf).max(axis=1) == np.where(drawn, y, np.inf).min(axis=1)
        shift = (C @ centred) / w
        ss_tot = np.maximum(C @ centred**2 - w * shift**2, 0.0)
        ss_tot[constant] = 0.0
        ss_res = C @ sq_err  # (chunk, teams)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = 1.0 - ss_res / ss_tot[:, None]
        r2 = np.where(ss_res == 0, 1.0, np.where(ss_tot[:, None] == 0, 0.0, r2))
        out[:, b0 : b0 + C.shape[0]] = r2.T
    return out[inverse]


def _generic_scores(metric, y, P, indices, n_jobs):
    """Any metric: ``metric.func`` on the resampled arrays, team by team."""
    out = np.full((P.shape[0], indices.shape[0]), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples warn; they are scored or NaN
        for b, idx in enumerate(indices):
            yb = _take(y, idx)
            if metric.needs_both_classes and len(np.unique(yb)) < 2:
                continue
            for t in range(P.shape[0]):
                try:
                    out[t, b] = metric.func(yb, P[t, idx])
                except (ValueError, ZeroDivisionError, FloatingPointError):
                    pass  # undefined on this resample (e.g. no comparable pair)
    return out


#: exact vectorised scorers of registered metrics, keyed by metric name
_SCORERS: dict[str, Callable] = {
    "roc_auc": _auc_scores,
    "balanced_accuracy": _confusion_scores(_balanced_accuracy),
    "f1": _confusion_scores(_f1),
    "mcc": _confusion_scores(_mcc),
    "r2": _r2_scores,
}


def _scorer(metric: Metric) -> Callable:
    if metric.name in _SCORERS and _registered(metric):  # a look-alike falls back to its func
        return _SCORERS[metric.name]
    if metric.per_case is not None:
        return _per_case_scores
    return _generic_scores


def resample_scores(y_true, predictions, metric: MetricLike, indices, *, teams=None, n_jobs=None) -> np.ndarray:
    """Score every team on every resample of the test cases.

    Parameters
    ----------
    y_true : array-like
        True values; for survival an (n, 2) array of (event, time).
    predictions : array-like, shape (teams, cases)
    metric : Metric or str
    indices : array-like of int, shape (resamples, draws)
        The cases drawn in each resample (e.g. :func:`bootstrap_indices`); row
        ``np.arange(n)`` scores the full test set.
    teams : sequence of str, optional
        Names used in error messages.
    n_jobs : int, optional
        Threads for the ``roc_auc`` scorer (default: every core).

    Returns
    -------
    ndarray, shape (teams, resamples)
        NaN where the metric is undefined on a resample.
    """
    if teams is None:
        shape = np.shape(predictions)
        teams = [f"team {i + 1}" for i in range(shape[0] if len(shape) == 2 else 1)]
    metric, y, P, teams = _prepare(y_true, predictions, teams, metric)
    indices = _check_indices(indices, P.shape[1])
    return _scorer(metric)(metric, y, P, indices, n_jobs)


def _observed(metric, y, P, n_jobs, teams):
    full = np.arange(P.shape[1])[None, :]
    scores = _scorer(metric)(metric, y, P, full, n_jobs)[:, 0]
    if np.isnan(scores).any():
        names = ", ".join(repr(teams[i]) for i in np.flatnonzero(np.isnan(scores))[:10])
        raise MetricError(
            f"{metric.name} is undefined on the full test set",
            where=f"teams {names}",
            fix="check the test labels and predictions",
        )
    return scores


# =============================================================================
# ranks
# =============================================================================
def rank_scores(scores, metric: MetricLike) -> np.ndarray:
    """Ranks of teams, 1 = best in the metric's direction; ties take the smallest rank.

    Parameters
    ----------
    scores : array-like, shape (teams,) or (teams, resamples)
        Teams along axis 0.
    metric : Metric or str

    Returns
    -------
    ndarray of int, same shape
    """
    metric = _as_metric(metric)
    s = np.asarray(scores, dtype=float)
    key = -s if metric.greater_is_better else s
    return sps.rankdata(key, method="min", axis=0).astype(int)


# =============================================================================
# paired bootstrap
# =============================================================================
class _PicklesMetricByName:
    """Results pickle a registered metric by its name (its functions are lambdas)."""

    def __getstate__(self):
        state = dict(self.__dict__)
        metric = state.get("metric")
        if isinstance(metric, Metric) and _registered(metric):
            state["metric"] = metric.name
        return state

    def __setstate__(self, state):
        if isinstance(state.get("metric"), str):
            state["metric"] = get_metric(state["metric"])
        self.__dict__.update(state)


@dataclass(frozen=True, eq=False)
class BootstrapResult(_PicklesMetricByName):
    """Paired bootstrap of a leaderboard.

    Attributes
    ----------
    teams : tuple of str
    metric : Metric
    observed : ndarray (teams,)
        Full-data scores.
    observed_ranks : ndarray (teams,)
        Their ranks (aggregate-then-rank).
    replicates : ndarray (teams, valid resamples)
        Scores on the valid resamples.
    ranks : ndarray (teams, valid resamples)
        Ranks within every resample.
    tau : ndarray (valid resamples,)
        Kendall's tau-b between the full-data ranking and each resample's ranking
        (NaN where a ranking is constant).
    alpha : float
        1 - confidence level of the intervals.
    n_resamples : int
        Resamples drawn; ``n_invalid`` of them were undefined and dropped.
    n_invalid : int
    seed : object
    """

    teams: tuple
    metric: Metric
    observed: np.ndarray = field(repr=False)
    observed_ranks: np.ndarray = field(repr=False)
    replicates: np.ndarray = field(repr=False)
    ranks: np.ndarray = field(repr=False)
    tau: np.ndarray = field(repr=False)
    alpha: float = 0.05
    n_resamples: int = 0
    n_invalid: int = 0
    seed: object = None

    # -- tables -------------------------------------------------------------------
    def confidence_intervals(self) -> pd.DataFrame:
        """Percentile interval of every team's score, columns ``ci_low``, ``ci_high``."""
        low, high = np.quantile(self.replicates, [self.alpha / 2, 1 - self.alpha / 2], axis=1)
        return pd.DataFrame({"ci_low": low, "ci_high": high}, index=pd.Index(self.teams, name="team"))

    def rank_distribution(self) -> pd.DataFrame:
        """Fraction of resamples in which each team (row) takes each rank (column)."""
        T = len(self.teams)
        freq = np.stack([np.bincount(r - 1, minlength=T) for r in self.ranks]) / self.ranks.shape[1]
        return pd.DataFrame(
            freq, index=pd.Index(self.teams, name="team"), columns=pd.Index(np.arange(1, T + 1), name="rank")
        )

    def winner_frequency(self) -> pd.Series:
        """Fraction of resamples in which each team ranks first (ties count for all)."""
        return pd.Series(
            (self.ranks == 1).mean(axis=1), index=pd.Index(self.teams, name="team"), name="winner_frequency"
        )

    def stability(self) -> pd.Series:
        """Kendall's tau between the full-data ranking and the resampled rankings."""
        tau = self.tau[~np.isnan(self.tau)]
        if tau.size == 0:
            values = dict(mean=np.nan, std=np.nan, q_low=np.nan, median=np.nan, q_high=np.nan)
        else:
            q = np.quantile(tau, [self.alpha / 2, 0.5, 1 - self.alpha / 2])
            values = dict(
                mean=tau.mean(), std=tau.std(ddof=1) if tau.size > 1 else 0.0, q_low=q[0], median=q[1], q_high=q[2]
            )
        return pd.Series({**values, "n": int(tau.size)}, name="kendall_tau")

    def summary(self) -> pd.DataFrame:
        """One row per team, best first: score, interval, ranks and winner frequency."""
        ci = self.confidence_intervals()
        q = self.alpha / 2
        rank_low, rank_med, rank_high = np.quantile(self.ranks, [q, 0.5, 1 - q], axis=1, method="inverted_cdf")
        df = pd.DataFrame(
            {
                "score": self.observed,
                "ci_low": ci["ci_low"].to_numpy(),
                "ci_high": ci["ci_high"].to_numpy(),
                "rank": self.observed_ranks,
                "median_rank": rank_med.astype(int),
                "rank_ci_low": rank_low.astype(int),
                "rank_ci_high": rank_high.astype(int),
                "mean_rank": self.ranks.mean(axis=1),
                "winner_frequency": self.winner_frequency().to_numpy(),
            },
            index=pd.Index(self.teams, name="team"),
        )
        return df.iloc[np.argsort(self.observed_ranks, kind="stable")]

    def _repr_html_(self) -> str:
        st = self.stability()
        head = (
            f"<p><b>Paired bootstrap</b> of {html.escape(self.metric.name)} {self.metric.arrow}: "
            f"{self.replicates.shape[1]} valid resamples of {self.n_resamples}"
            f"{f' ({self.n_invalid} undefined, dropped)' if self.n_invalid else ''}; "
            f"{100 * (1 - self.alpha):g}% percentile intervals. Ranking stability "
            f"(Kendall's tau with the full-data ranking): mean {st['mean']:.3f}, "
            f"{100 * (1 - self.alpha):g}% range [{st['q_low']:.3f}, {st['q_high']:.3f}].</p>"
        )
        p = self.metric.precision
        fmt = {c: (lambda v, p=p: f"{v:.{p}f}") for c in ("score", "ci_low", "ci_high")}
        fmt.update(mean_rank=lambda v: f"{v:.2f}", winner_frequency=lambda v: f"{v:.1%}")
        return head + self.summary().to_html(formatters=fmt, escape=True)


def paired_bootstrap(
    y_true,
    predictions,
    teams: Sequence[str],
    metric: MetricLike,
    *,
    n_resamples: int = 1000,
    seed=0,
    alpha: float = 0.05,
    indices=None,
    n_jobs: int | None = None,
) -> BootstrapResult:
    """Paired bootstrap over test cases: the same resamples for every team.

    Parameters
    ----------
    y_true : array-like
        True values of the test cases; for survival an (n, 2) array (event, time).
    predictions : array-like, shape (teams, cases)
        One row per team, cases in the order of ``y_true``.
    teams : sequence of str
        Distinct team names, one per row.
    metric : Metric or str
    n_resamples : int
        Resamples drawn when ``indices`` is not given.
    seed : int, numpy Generator or None
        Seed of the resamples (:func:`bootstrap_indices`).
    alpha : float
        The intervals cover ``1 - alpha``.
    indices : array-like of int, shape (resamples, draws), optional
        Explicit resamples (overrides ``n_resamples`` and ``seed``).
    n_jobs : int, optional
        Threads for the ``roc_auc`` scorer.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    MetricError
        Bad inputs, a team with NaN predictions, or a metric undefined on every resample.
    """
    if not 0 < alpha < 1:
        raise MetricError(f"alpha must lie in (0, 1), got {alpha}", fix="use e.g. alpha=0.05")
    metric, y, P, teams = _prepare(y_true, predictions, teams, metric)
    n = P.shape[1]
    if indices is None:
        indices = bootstrap_indices(n, n_resamples, seed)
    else:
        indices, seed = _check_indices(indices, n), None
    scorer = _scorer(metric)
    observed = _observed(metric, y, P, n_jobs, teams)
    reps = scorer(metric, y, P, indices, n_jobs)
    valid = ~np.isnan(reps).any(axis=0)
    if not valid.any():
        raise MetricError(
            f"{metric.name} is undefined on every resample",
            fix="use more test cases (both classes must be drawn) or more resamples",
        )
    reps = reps[:, valid]
    observed_ranks = rank_scores(observed, metric)
    ranks = rank_scores(reps, metric)
    tau = _kendall_taus(observed_ranks, ranks)
    return BootstrapResult(
        teams=teams,
        metric=metric,
        observed=observed,
        observed_ranks=observed_ranks,
        replicates=reps,
        ranks=ranks,
        tau=tau,
        alpha=alpha,
        n_resamples=int(indices.shape[0]),
        n_invalid=int((~valid).sum()),
        seed=seed,
    )


def _kendall_taus(reference: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    if len(reference) < 2:
        return np.full(ranks.shape[1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant ranking gives NaN
        return np.array([sps.kendalltau(reference, r).statistic for r in ranks.T], dtype=float)


# =============================================================================
# ranking schemes
# =============================================================================
def aggregate_then_rank(y_true, predictions, teams, metric: MetricLike) -> pd.DataFrame:
    """Full-data score of every team and its rank (the official leaderboard order).

    Returns
    -------
    DataFrame indexed by team, columns ``score`` and ``rank``, best first.
    """
    metric, y, P, teams = _prepare(y_true, predictions, teams, metric)
    scores = _observed(metric, y, P, None, teams)
    df = pd.DataFrame({"score": scores, "rank": rank_scores(scores, metric)}, index=pd.Index(teams, name="team"))
    return df.sort_values("rank", kind="stable")


def rank_then_aggregate(
    y_true,
    predictions,
    teams,
    metric: MetricLike,
    *,
    bootstrap: BootstrapResult | None = None,
    n_resamples: int = 1000,
    seed=0,
) -> pd.DataFrame:
    """Rank the teams on every test case, then rank their mean rank (challengeR).

    With a per-case loss, teams are ranked on every case by that loss (ties take
    the smallest rank), as challengeR's ``rankThenAggregate`` does. A metric
    without a per-case loss has no per-case value: the teams are ranked on every
    paired bootstrap resample instead (``bootstrap``, computed if not given).

    Returns
    -------
    DataFrame indexed by team, columns ``mean_rank`` and ``rank``, best first;
    ``df.attrs["basis"]`` says which ranks were averaged.
    """
    metric, y, P, teams = _prepare(y_true, predictions, teams, metric)
    if metric.per_case is not None:
        losses = _case_losses(metric, y, P)
        mean_rank = sps.rankdata(losses, method="min", axis=0).mean(axis=1)
        basis = "test cases"
    else:
        if bootstrap is None:
            bootstrap = paired_bootstrap(y_true, P, teams, metric, n_resamples=n_resamples, seed=seed)
        _check_same_teams(bootstrap, teams)
        mean_rank = bootstrap.ranks.mean(axis=1)
        basis = "bootstrap resamples"
    df = pd.DataFrame(
        {"mean_rank": mean_rank, "rank": sps.rankdata(mean_rank, method="min").astype(int)},
        index=pd.Index(teams, name="team"),
    )
    df.attrs["basis"] = basis
    return df.sort_values("rank", kind="stable")


def _check_same_teams(result, teams):
    if tuple(result.teams) != tuple(teams):
        raise MetricError(
            "the bootstrap result was computed for other teams",
            fix="pass the BootstrapResult of these very predictions and teams",
        )


# =============================================================================
# significance
# =============================================================================
def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of p-values (NaN entries are left out and kept).

    Parameters
    ----------
    p_values : array-like of any shape

    Returns
    -------
    ndarray of the same shape: ``p_(k) -> max_{j<=k} min(1, (m - j + 1) p_(j))``
    for the sorted p-values; reject where the adjusted p-value is ``<= alpha``.
    """
    p = np.asarray(p_values, dtype=float)
    flat = p.ravel()
    out = np.full(flat.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(flat))
    m = ok.size
    if m:
        order = ok[np.argsort(flat[ok], kind="stable")]
        stepped = (m - np.arange(m)) * flat[order]
        out[order] = np.minimum(1.0, np.maximum.accumulate(stepped))
    return out.reshape(p.shape)


def _wilcoxon_pvalues(losses: np.ndarray, i: int, others: np.ndarray) -> np.ndarray:
    """One-sided p-values of "team i has smaller losses than team j" for j in ``others``."""
    if others.size == 0:
        return np.empty(0)
    d = losses[others] - losses[i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.atleast_1d(sps.wilcoxon(d, axis=1, alternative="greater").pvalue).astype(float)
    return np.where(np.isnan(p), 1.0, p)  # identical losses: no evidence


def _bootstrap_pvalues(result: BootstrapResult, i: int, others: np.ndarray) -> np.ndarray:
    """One-sided paired bootstrap p-values of "team i scores better than team j"."""
    sign = 1.0 if result.metric.greater_is_better else -1.0
    diff = sign * (result.observed[i] - result.observed[others])
    reps = sign * (result.replicates[i] - result.replicates[others])
    se = reps.std(axis=1, ddof=1) if reps.shape[1] > 1 else np.zeros(len(others))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = sps.norm.sf(diff / np.where(se > 0, se, 1.0))
    return np.where(se > 0, p, np.where(diff > 0, 0.0, 1.0))


def _resolve_method(method: str, metric: Metric) -> str:
    if method not in TEST_METHODS:
        raise MetricError(f"unknown test method {method!r}", fix=f"use one of {', '.join(TEST_METHODS)}")
    if method == "auto":
        return "wilcoxon" if metric.per_case is not None else "bootstrap"
    if method == "wilcoxon" and metric.per_case is None:
        raise MetricError(
            f"{metric.name} has no per-case loss for a Wilcoxon test", fix="use method='bootstrap' (or 'auto')"
        )
    return method


@dataclass(frozen=True, eq=False)
class SignificanceResult(_PicklesMetricByName):
    """Pairwise one-sided tests between teams.

    Attributes
    ----------
    teams : tuple of str
    metric : Metric
    method : str
        ``"wilcoxon"`` (per-case losses) or ``"bootstrap"`` (paired bootstrap z-test).
    alpha : float
    p_values : ndarray (teams, teams)
        ``p_values[i, j]``: one-sided p-value of "i is better than j" (NaN diagonal).
    adjusted : ndarray (teams, teams)
        Holm-adjusted over all ordered pairs.
    significant : ndarray of bool (teams, teams)
        ``adjusted <= alpha``: i beats j significantly.
    wins : ndarray (teams,)
        Number of teams each team beats significantly.
    rank : ndarray (teams,)
        Test-based rank: the most wins is rank 1, ties take the smallest rank.
    """

    teams: tuple
    metric: Metric
    method: str
    alpha: float
    p_values: np.ndarray = field(repr=False)
    adjusted: np.ndarray = field(repr=False)
    significant: np.ndarray = field(repr=False)
    wins: np.ndarray = field(repr=False)
    rank: np.ndarray = field(repr=False)

    def matrix(self) -> pd.DataFrame:
        """Boolean matrix, rows beat columns significantly."""
        idx = pd.Index(self.teams, name="team")
        return pd.DataFrame(self.significant, index=idx, columns=pd.Index(self.teams, name="beats"))

    def adjusted_p_values(self) -> pd.DataFrame:
        idx = pd.Index(self.teams, name="team")
        return pd.DataFrame(self.adjusted, index=idx, columns=pd.Index(self.teams, name="versus"))

    def ranking(self) -> pd.DataFrame:
        """Teams by test-based rank: ``wins`` and ``rank``."""
        df = pd.DataFrame({"wins": self.wins, "rank": self.rank}, index=pd.Index(self.teams, name="team"))
        return df.sort_values("rank", kind="stable")

    def _repr_html_(self) -> str:
        what = (
            "one-sided paired Wilcoxon signed-rank tests on per-case losses"
            if self.method == "wilcoxon"
            else "one-sided paired bootstrap z-tests"
        )
        head = (
            f"<p><b>Test-based ranking</b> ({html.escape(self.metric.name)}): {what}, "
            f"Holm-adjusted, alpha = {self.alpha:g}.</p>"
        )
        return head + self.ranking().to_html(escape=True)


def pairwise_significance(
    y_true,
    predictions,
    teams,
    metric: MetricLike,
    *,
    alpha: float = 0.05,
    method: str = "auto",
    bootstrap: BootstrapResult | None = None,
    n_resamples: int = 1000,
    seed=0,
) -> SignificanceResult:
    """One-sided paired tests between every ordered pair of teams, Holm-corrected.

    Parameters
    ----------
    y_true, predictions, teams, metric
        As for :func:`paired_bootstrap`.
    alpha : float
        Family-wise error rate over all ``T (T - 1)`` ordered pairs.
    method : {"auto", "wilcoxon", "bootstrap"}
        ``wilcoxon``: Wilcoxon signed-rank test (``scipy.stats.wilcoxon``,
        ``alternative="greater"``, zeros dropped) on the paired per-case loss
        differences; needs a per-case loss. Identical losses give p = 1.
        ``bootstrap``: ``z = d / se`` with ``d`` the full-data score difference
        and ``se`` its standard deviation over paired resamples; p = sf(z).
        ``auto``: ``wilcoxon`` when the metric has a per-case loss.
    bootstrap : BootstrapResult, optional
        Reused by the ``bootstrap`` method (computed if not given).

    Returns
    -------
    SignificanceResult

    Notes
    -----
    The Wilcoxon method runs ``T`` vectorised scipy calls on ``(T - 1) × n``
    differences: fine for tens of teams, minutes for hundreds on large test sets.
    """
    metric, y, P, teams = _prepare(y_true, predictions, teams, metric)
    method = _resolve_method(method, metric)
    T = len(teams)
    p = np.full((T, T), np.nan)
    if method == "wilcoxon":
        losses = _case_losses(metric, y, P)
        for i in range(T):
            others = np.delete(np.arange(T), i)
            p[i, others] = _wilcoxon_pvalues(losses, i, others)
    else:
        if bootstrap is None:
            bootstrap = paired_bootstrap(y_true, P, teams, metric, n_resamples=n_resamples, seed=seed)
        _check_same_teams(bootstrap, teams)
        for i in range(T):
            others = np.delete(np.arange(T), i)
            p[i, others] = _bootstrap_pvalues(bootstrap, i, others)
    adjusted = holm(p)
    significant = np.nan_to_num(adjusted, nan=1.0) <= alpha
    wins = significant.sum(axis=1)
    rank = sps.rankdata(-wins, method="min").astype(int)
    return SignificanceResult(
        teams=teams,
        metric=metric,
        method=method,
        alpha=alpha,
        p_values=p,
        adjusted=adjusted,
        significant=significant,
        wins=wins,
        rank=rank,
    )


@dataclass(frozen=True, eq=False)
class TiedTop:
    """The teams the data cannot separate from the leader.

    Attributes
    ----------
    leader : str
        The best full-data score (the first listed among exact ties).
    teams : tuple of str
        The leader and every team it does not beat significantly, best first.
    table : DataFrame
        Every team: ``score``, ``rank``, ``p_value`` and Holm ``p_adjusted`` of
        "the leader is better", and ``tied``.
    method : str
    alpha : float
    """

    leader: str
    teams: tuple
    table: pd.DataFrame = field(repr=False)
    method: str = "wilcoxon"
    alpha: float = 0.05

    def _repr_html_(self) -> str:
        names = ", ".join(html.escape(t) for t in self.teams)
        head = (
            f"<p><b>Statistically tied at the top</b> (leader {html.escape(self.leader)}; "
            f"{self.method} one-sided tests, Holm over {len(self.table) - 1} comparisons, "
            f"alpha = {self.alpha:g}): {names}</p>"
        )
        return head + self.table.to_html(escape=True)


def statistically_tied_top(
    y_true,
    predictions,
    teams,
    metric: MetricLike,
    *,
    alpha: float = 0.05,
    method: str = "auto",
    bootstrap: BootstrapResult | None = None,
    n_resamples: int = 1000,
    seed=0,
) -> TiedTop:
    """The teams whose difference with the leader the data cannot establish (for prizes).

    The leader (best full-data score) is compared with every other team by a
    one-sided paired test of "the leader is better" (``method`` as in
    :func:`pairwise_significance`: Wilcoxon on per-case losses when the metric
    has them, else the paired bootstrap z-test). The ``T - 1`` p-values are
    Holm-corrected as one family. A team is *tied with the leader* when the
    leader does not beat it significantly; every such team is reported, even one
    ranked below a team that the leader does beat.

    Returns
    -------
    TiedTop
    """
    metric, y, P, teams = _prepare(y_true, predictions, teams, metric)
    method = _resolve_method(method, metric)
    T = len(teams)
    if method == "bootstrap":
        if bootstrap is None:
            bootstrap = paired_bootstrap(y_true, P, teams, metric, n_resamples=n_resamples, seed=seed)
        _check_same_teams(bootstrap, teams)
        observed = bootstrap.observed
    else:
        observed = _observed(metric, y, P, None, teams)
    ranks = rank_scores(observed, metric)
    leader = int(np.flatnonzero(ranks == 1)[0])
    others = np.delete(np.arange(T), leader)
    if method == "wilcoxon":
        losses = _case_losses(metric, y, P)
        p_others = _wilcoxon_pvalues(losses, leader, others)
    else:
        p_others = _bootstrap_pvalues(bootstrap, leader, others)
    p = np.full(T, np.nan)
    p[others] = p_others
    adjusted = holm(p)
    tied = np.nan_to_num(adjusted, nan=1.0) > alpha
    tied[leader] = True
    table = pd.DataFrame(
        {"score": observed, "rank": ranks, "p_value": p, "p_adjusted": adjusted, "tied": tied},
        index=pd.Index(teams, name="team"),
    )
    table = table.iloc[np.argsort(ranks, kind="stable")]
    return TiedTop(
        leader=teams[leader], teams=tuple(table.index[table["tied"]]), table=table, method=method, alpha=alpha
    )


def ranking_schemes(
    y_true,
    predictions,
    teams,
    metric: MetricLike,
    *,
    bootstrap: BootstrapResult | None = None,
    significance: SignificanceResult | None = None,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    seed=0,
) -> pd.DataFrame:
    """The three rankings side by side: aggregate-then-rank, rank-then-aggregate, test-based.

    Returns
    -------
    DataFrame indexed by team (by full-data rank), columns ``score``,
    ``aggregate_then_rank``, ``rank_then_aggregate``, ``test_based``.
    """
    metric = _as_metric(metric)
    agg = aggregate_then_rank(y_true, predictions, teams, metric)
    if bootstrap is None and metric.per_case is None:  # both other schemes need one: draw it once
        bootstrap = paired_bootstrap(y_true, predictions, teams, metric, n_resamples=n_resamples, seed=seed)
    rta = rank_then_aggregate(
        y_true, predictions, teams, metric, bootstrap=bootstrap, n_resamples=n_resamples, seed=seed
    )
    if significance is None:
        significance = pairwise_significance(
            y_true, predictions, teams, metric, alpha=alpha, bootstrap=bootstrap, n_resamples=n_resamples, seed=seed
        )
    test = significance.ranking()
    return pd.DataFrame(
        {
            "score": agg["score"],
            "aggregate_then_rank": agg["rank"],
            "rank_then_aggregate": rta["rank"].reindex(agg.index),
            "test_based": test["rank"].reindex(agg.index),
        }
    )


# =============================================================================
# the Ladder
# =============================================================================
@dataclass(frozen=True, eq=False)
class LadderResult:
    """The Ladder leaderboard of one team's chronological submissions.

    Attributes
    ----------
    raw : ndarray (submissions,)
        The public score of each submission.
    released : ndarray (submissions,)
        The score the Ladder shows after each submission.
    improved : ndarray of bool (submissions,)
        The submission beat the reference by more than one standard error and
        became the new reference.
    threshold : ndarray (submissions,)
        The standard error ``s / sqrt(n)`` it had to beat, in loss units (inf for
        the first submission).
    """

    raw: np.ndarray
    released: np.ndarray
    improved: np.ndarray
    threshold: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"raw": self.raw, "released": self.released, "improved": self.improved, "threshold": self.threshold},
            index=pd.RangeIndex(1, len(self.raw) + 1, name="submission"),
        )

    def _repr_html_(self) -> str:
        return "<p><b>Ladder leaderboard</b> (Blum &amp; Hardt 2015)</p>" + self.to_frame().to_html()


def ladder(losses, metric: MetricLike | None = None, *, round_released: bool = True) -> LadderResult:
    """The parameter-free Ladder (Blum & Hardt, ICML 2015, Algorithm 2).

    With ``R_0 = inf`` and ``l_best`` the per-case losses of the last released
    submission: submission ``t`` with losses ``l_t`` and mean loss ``R(f_t)`` is
    released when ``R(f_t) < R_{t-1} - s / sqrt(n)``, where ``s`` is the sample
    standard deviation (``ddof=1``, as in the authors' Ladder.jl) of the paired
    differences ``l_t - l_best``; the released value is ``R(f_t)`` rounded to the
    nearest multiple of ``1 / n``. Otherwise ``R_t = R_{t-1}`` and the reference
    stays. The first submission is always released.

    Parameters
    ----------
    losses : array-like, shape (submissions, cases)
        Per-case losses (lower is better) of one team's submissions in
        chronological order, e.g. ``metric.case_losses(y_public, predictions)``.
    metric : Metric or str, optional
        When given (it must have a per-case loss), ``raw`` and ``released`` are
        turned into scores with ``metric.from_mean_loss``; otherwise they are mean
        losses.
    round_released : bool
        Round released losses to the ``1 / n`` grid as in the paper.

    Returns
    -------
    LadderResult
    """
    L = np.asarray(losses, dtype=float)
    if L.ndim == 1:
        L = L[None, :]
    if L.ndim != 2 or L.shape[0] == 0 or L.shape[1] < 2:
        raise MetricError(
            f"the Ladder needs per-case losses of shape (submissions, cases >= 2), got {L.shape}",
            fix="pass one row of per-case losses per submission, in chronological order",
        )
    if not np.isfinite(L).all():
        bad = np.flatnonzero(~np.isfinite(L).all(axis=1)) + 1
        raise MetricError(
            "per-case losses contain NaN or infinite values",
            where=f"submissions {', '.join(map(str, bad[:10]))}",
            fix="score complete predictions only",
        )
    if metric is not None:
        metric = _as_metric(metric)
        if metric.per_case is None:
            raise MetricError(
                f"{metric.name} has no per-case loss; the Ladder is defined on mean losses",
                fix="use a metric with a per-case loss (e.g. log_loss, brier, accuracy)",
            )
    k, n = L.shape
    mean = L.mean(axis=1)
    released = np.empty(k)
    improved = np.zeros(k, dtype=bool)
    threshold = np.empty(k)
    current, best = math.inf, None
    for t in range(k):
        s = L[t].std(ddof=1) if best is None else (L[t] - L[best]).std(ddof=1)
        threshold[t] = math.inf if best is None else s / math.sqrt(n)
        if mean[t] < current - s / math.sqrt(n):
            current = round(mean[t] * n) / n if round_released else mean[t]
            best = t
            improved[t] = True
        released[t] = current
    if metric is not None:
        mean, released = _from_mean_loss(metric, mean), _from_mean_loss(metric, released)
    return LadderResult(raw=mean, released=released, improved=improved, threshold=threshold)
