"""Scores of a metric on many resamples of the test cases, computed fast and exactly.

A resampled scorer has the signature ``scorer(metric, y, P, indices, n_jobs)`` and
returns the scores of every team (rows of ``P``: shape teams × cases for one-column
predictions, teams × cases × columns for multi-column ones, multiclass probabilities or
survival curves) on every resample (rows of ``indices``, the cases drawn), shape
(teams, resamples), NaN where the metric is undefined on a resample. ``y`` is the true values as returned by
:func:`~kit.metrics.check_inputs`; ``n_jobs`` bounds the threads of scorers that
use them. A :class:`~kit.metrics.Metric` carries its own scorer (``resampled``),
set where the built-in metric is declared; :meth:`Metric.resample_scores` uses it.

Speed
    A resample is represented by case multiplicities ``w`` (how often each case
    was drawn). These exact computations avoid calling the metric once per team
    and resample:

    * metrics with a per-case loss (:func:`per_case_scores`):
      ``score = from_mean_loss(w @ losses / sum(w))``, one matrix product for all
      teams and resamples;
    * ``roc_auc`` (:func:`auc_scores`): the weighted Mann–Whitney statistic. Each
      team's cases of the larger class are sorted once; for a resample, a
      cumulative sum of their weights gives, for every case of the other class,
      the weight ranked below it (ties count one half); the AUC numerator is that
      count weighted by ``w``. Everything is integer arithmetic, so the AUC is exact;
    * ``balanced_accuracy``, ``f1``, ``mcc`` (:func:`confusion_scores`: weighted
      confusion counts, matrix products) and ``r2`` (:func:`r2_scores`: weighted
      sums of squares), following scikit-learn's edge cases (zero division, a
      missing class);
    * ``macro_roc_auc`` (:func:`ovr_auc_scores`): the mean over the classes of the
      one-vs-rest AUCs, each by :func:`auc_scores`; NaN on a resample without some
      class (where the metric raises);
    * ``multiclass_balanced_accuracy``, ``macro_f1``, ``quadratic_kappa``
      (:func:`class_confusion_scores`): weighted K × K confusion matrices of the
      predicted classes (argmax, first class on ties) for every team and resample,
      one matrix product of the multiplicities by the one-hot cells ``y * K + pred``,
      then scikit-learn's formulas and edge cases (a class only predicted, zero
      division, an undefined kappa);
    * ``c_index`` (:func:`harrell_scores`): Harrell's C as
      ``sum_ij w_i w_j A_ij K_ij / sum_ij w_i w_j A_ij`` over the comparable pairs
      ``A`` (scikit-survival's rules for tied times) and the concordance ``K``
      (1, 1/2 for risks within scikit-survival's ``tied_tol``, 0): per team, matrix
      products of the multiplicities with ``A * 2K``, integers, so exact; NaN
      without a comparable pair.

    Any other metric is scored by calling ``metric.func`` on the resampled arrays
    (:func:`generic_scores`); a bound metric (:meth:`Metric.bind
    <kit.metrics.Metric.bind>`) is called with its bound values. Undefined on a
    resample means ``metric.func`` raised :class:`~kit.errors.MetricError` (how the
    built-in metrics say so), ``ValueError``, ``ZeroDivisionError`` or
    ``FloatingPointError``, or returned NaN. Among the built-in metrics, the survival
    metrics with censoring weights (``uno_c_index``, ``cumulative_auc``,
    ``integrated_brier``) take this slower path: their weights come from the
    Kaplan–Meier estimate of each resample's own censoring distribution, which
    changes with ``w``: the score is no fixed weighted sum over cases or pairs.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from ..errors import MetricError

if TYPE_CHECKING:
    from ._base import Metric, ResampledScorer, Target

#: resamples processed at once by the vectorised scorers (bounds the memory)
CHUNK = 64
#: teams prepared at once by the roc_auc scorer (bounds the memory of their sort orders)
TEAM_BLOCK = 64
#: array elements held at once by the pair and confusion-matrix scorers (bounds their memory)
ELEMENT_BUDGET = 1 << 22
#: risks this close are tied in Harrell's C (scikit-survival's default ``tied_tol``)
HARRELL_TIED_TOL = 1e-8

#: ``formula(tp, fp, fn, tn) -> score`` on weighted confusion counts (arrays of one shape)
ConfusionFormula: TypeAlias = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
#: ``formula(cm) -> score`` on weighted K × K confusion matrices (..., K, K), rows the true class
ClassConfusionFormula: TypeAlias = Callable[[np.ndarray], np.ndarray]
#: what the roc_auc scorer prepares for a team: A-cases in order, ``lo``, ``hi`` (None: no ties)
_Prepared: TypeAlias = "tuple[np.ndarray, np.ndarray, np.ndarray | None]"


# -- helpers ---------------------------------------------------------------------------
def take_cases(y: Target, idx: np.ndarray) -> Target:
    """The true values of the cases ``idx`` (survival targets are an (event, time) pair)."""
    if isinstance(y, tuple):
        return (y[0][idx], y[1][idx])
    return y[idx]


def team_case_losses(metric: Metric, y: Target, P: np.ndarray) -> np.ndarray:
    """Per-case losses of every team (rows of ``P``, (teams, cases[, columns])), shape (teams, cases)."""
    per_case = metric.per_case
    if per_case is None:
        raise MetricError(
            f"metric {metric.name!r} has no per-case loss",
            fix="resample cases and recompute the metric instead of averaging losses",
        )
    return np.stack([np.asarray(per_case(y, p), dtype=float) for p in P])


def scores_from_mean_losses(metric: Metric, mean_loss: np.ndarray) -> np.ndarray:
    """``metric.from_mean_loss`` applied to an array of mean losses (element-wise)."""
    convert: Callable[[Any], Any] = metric.from_mean_loss
    try:
        scores = np.asarray(convert(mean_loss), dtype=float)
        if scores.shape == mean_loss.shape:
            return scores
    except TypeError:  # scalar functions such as math.sqrt
        pass
    return np.vectorize(convert, otypes=[float])(mean_loss)


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


def _distinct_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(unique rows, inverse)``: teams with identical per-case values get bit-identical
    weighted sums (a BLAS kernel may round two identical rows differently), so they tie."""
    unique, inverse = np.unique(values, axis=0, return_inverse=True)
    return unique, np.asarray(inverse).reshape(-1)


def _n_jobs(n_jobs: int | None, n_tasks: int) -> int:
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    return max(1, min(int(n_jobs), n_tasks))


# -- scorers: (metric, y, P, indices, n_jobs) -> scores (teams, resamples), NaN = undefined
def per_case_scores(
    metric: Metric, y: Target, P: np.ndarray, indices: np.ndarray, n_jobs: int | None = None
) -> np.ndarray:
    """Metrics with a per-case loss: one matrix product for all teams."""
    losses, inverse = _distinct_rows(team_case_losses(metric, y, P))
    out = np.empty((len(losses), indices.shape[0]))
    counts = _counts(indices, P.shape[1])
    for b0 in range(0, counts.shape[0], 4 * CHUNK):
        C = counts[b0 : b0 + 4 * CHUNK].astype(float)
        out[:, b0 : b0 + C.shape[0]] = (losses @ C.T) / C.sum(axis=1)
    return scores_from_mean_losses(metric, out)[inverse]


def generic_scores(
    metric: Metric, y: Target, P: np.ndarray, indices: np.ndarray, n_jobs: int | None = None
) -> np.ndarray:
    """Any metric: ``metric.func`` on the resampled arrays, team by team (NaN: undefined)."""
    out = np.full((P.shape[0], indices.shape[0]), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples warn; they are scored or NaN
        for b, idx in enumerate(indices):
            yb = take_cases(y, idx)
            if metric.needs_both_classes and len(np.unique(yb)) < 2:
                continue
            for t in range(P.shape[0]):
                try:
                    out[t, b] = metric.func(yb, P[t, idx])
                except (MetricError, ValueError, ZeroDivisionError, FloatingPointError):
                    pass  # undefined on this resample (e.g. no comparable pair)
    return out


def auc_scores(metric: Metric, y: Target, P: np.ndarray, indices: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
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
    positive = np.asarray(y) == 1
    pos, neg = np.flatnonzero(positive), np.flatnonzero(~positive)
    a_is_pos = len(pos) > len(neg)
    a_cases, b_cases = (pos, neg) if a_is_pos else (neg, pos)
    R, m = indices.shape
    T = P.shape[0]
    counts = _counts(indices, P.shape[1])
    pairs2 = 2 * counts[:, pos].sum(axis=1, dtype=np.int64) * counts[:, neg].sum(axis=1, dtype=np.int64)

    # lanes: 4 x 16 bits while E[lo] + E[hi] <= 2 m fits in 16 bits, else 2 x 32 bits
    lane_dtype: type[np.unsignedinteger[Any]]
    acc: type[np.signedinteger[Any]]
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

    def prepare(t: int) -> _Prepared:
        p_a = P[t, a_cases]
        order = np.argsort(p_a, kind="stable")
        sorted_a = p_a[order]
        lo = np.searchsorted(sorted_a, P[t, b_cases], side="left")
        hi = np.searchsorted(sorted_a, P[t, b_cases], side="right")
        return a_cases[order], lo, (None if np.array_equal(lo, hi) else hi)

    def run(teams: list[int], preps: list[_Prepared], g0: int) -> None:
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

    jobs = _n_jobs(n_jobs, T)
    with ThreadPoolExecutor(jobs) as pool:
        for start in range(0, T, TEAM_BLOCK):
            block = list(range(start, min(start + TEAM_BLOCK, T)))
            preps = list(pool.map(prepare, block))
            team_shares = [block[k::jobs] for k in range(jobs)]
            prep_shares = [preps[k::jobs] for k in range(jobs)]
            for g0 in range(0, n_groups, group_chunk):
                list(pool.map(run, team_shares, prep_shares, [g0] * jobs))
    below2 = below2[:, :R]
    num2 = pairs2 - below2 if a_is_pos else below2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs2 > 0, num2 / np.where(pairs2 > 0, pairs2, 1), np.nan)


def confusion_scores(formula: ConfusionFormula, threshold: float) -> ResampledScorer:
    """A scorer from weighted confusion counts of the labels ``p >= threshold``.

    ``formula(tp, fp, fn, tn)`` turns the counts (arrays of shape (resamples, teams))
    into scores; see :func:`balanced_accuracy_formula`, :func:`f1_formula`,
    :func:`mcc_formula`.
    """

    def scorer(metric: Metric, y: Target, P: np.ndarray, indices: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
        yt = (np.asarray(y) == 1).astype(float)
        yhat = P >= threshold
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

    scorer.__name__ = scorer.__qualname__ = f"confusion_scores({getattr(formula, '__name__', 'formula')})"
    return scorer


def balanced_accuracy_formula(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """scikit-learn's balanced accuracy: the mean recall over the classes present in y_true."""
    rec1 = np.where(tp + fn > 0, tp / np.where(tp + fn > 0, tp + fn, 1), np.nan)
    rec0 = np.where(tn + fp > 0, tn / np.where(tn + fp > 0, tn + fp, 1), np.nan)
    return np.nanmean(np.stack([rec0, rec1]), axis=0)


def f1_formula(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """F1 of the positive class, ``zero_division=0`` as in scikit-learn's f1_score."""
    denom = (tp + fn) + (tp + fp)  # true_sum + pred_sum
    return np.where(denom > 0, 2.0 * tp / np.where(denom > 0, denom, 1), 0.0)


def mcc_formula(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """The covariance form of scikit-learn's matthews_corrcoef, classes in order (0, 1)."""
    t0, t1, p0, p1 = tn + fp, fn + tp, tn + fn, fp + tp
    n = p0 + p1
    cov_ytyp = (tp + tn) * n - (t0 * p0 + t1 * p1)
    cov_ypyp = n**2 - (p0 * p0 + p1 * p1)
    cov_ytyt = n**2 - (t0 * t0 + t1 * t1)
    prod = cov_ypyp * cov_ytyt
    return np.where(prod == 0, 0.0, cov_ytyp / np.sqrt(np.where(prod == 0, 1, prod)))


def r2_scores(metric: Metric, y: Target, P: np.ndarray, indices: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
    """R² from weighted sums of squares, with scikit-learn's ``force_finite`` rules."""
    yv = np.asarray(y, dtype=float)
    centred = yv - yv.mean()
    sq_err, inverse = _distinct_rows((P - yv) ** 2)
    sq_err = sq_err.T  # (cases, distinct teams)
    counts = _counts(indices, P.shape[1])
    out = np.empty((sq_err.shape[1], counts.shape[0]))
    for b0 in range(0, counts.shape[0], 4 * CHUNK):
        C = counts[b0 : b0 + 4 * CHUNK].astype(float)
        w = C.sum(axis=1)
        drawn = C > 0
        constant = np.where(drawn, yv, -np.inf).max(axis=1) == np.where(drawn, yv, np.inf).min(axis=1)
        shift = (C @ centred) / w
        ss_tot = np.maximum(C @ centred**2 - w * shift**2, 0.0)
        ss_tot[constant] = 0.0
        ss_res = C @ sq_err  # (chunk, teams)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = 1.0 - ss_res / ss_tot[:, None]
        r2 = np.where(ss_res == 0, 1.0, np.where(ss_tot[:, None] == 0, 0.0, r2))
        out[:, b0 : b0 + C.shape[0]] = r2.T
    return out[inverse]


# -- multiclass ------------------------------------------------------------------------
def ovr_auc_scores(proba: Callable[[np.ndarray], np.ndarray]) -> ResampledScorer:
    """A scorer of the macro one-vs-rest ROC AUC (``macro_roc_auc``).

    ``proba(p)`` turns one team's predictions (cases, K) into the probabilities the
    metric scores (its rows rescaled to sum to 1). Class ``k`` is scored by
    :func:`auc_scores` on ``(y == k, probability of k)``; the score is the mean of the
    ``K`` AUCs, as scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")``.
    It is NaN on a resample without some class (that class's AUC has no positive, so
    the metric raises), and only there: with every class drawn, no class is alone.
    """

    def scorer(metric: Metric, y: Target, P: np.ndarray, indices: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
        Q = np.stack([proba(p) for p in P])  # (teams, cases, K)
        codes = np.asarray(y)
        aucs = np.stack(
            [
                auc_scores(metric, (codes == k).astype(float), np.ascontiguousarray(Q[:, :, k]), indices, n_jobs)
                for k in range(Q.shape[2])
            ],
            axis=-1,
        )  # (teams, resamples, K): NaN where class k is absent (or alone)
        return aucs.mean(axis=-1)

    scorer.__name__ = scorer.__qualname__ = "ovr_auc_scores"
    return scorer


def class_confusion_scores(
    formula: ClassConfusionFormula, labels: Callable[[np.ndarray], np.ndarray]
) -> ResampledScorer:
    """A scorer from the weighted K × K confusion matrices of predicted classes.

    ``labels(p)`` gives a team's predicted class codes from its predictions (cases, K)
    (the metric's own rule: the most probable class, the first one on ties). Case ``i``
    of a team falls in the cell ``y_i * K + label_i``; the confusion matrices of every
    team and resample are one matrix product, case multiplicities (resamples × cases)
    by the one-hot cells (cases × teams·K²). Integer counts in floating point, exact.
    ``formula(cm)`` turns matrices (..., K, K) (rows: true class, columns: predicted)
    into scores; see :func:`multiclass_balanced_accuracy_formula`,
    :func:`macro_f1_formula`, :func:`quadratic_kappa_formula`.
    """

    def scorer(metric: Metric, y: Target, P: np.ndarray, indices: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
        T, n, K = P.shape
        KK = K * K
        cells = np.asarray(y).astype(np.int64)[None, :] * K + np.stack([labels(p) for p in P])  # (teams, cases)
        counts = _counts(indices, n)
        R = counts.shape[0]
        out = np.empty((T, R))
        team_block = max(1, ELEMENT_BUDGET // (n * KK))
        for t0 in range(0, T, team_block):
            block = cells[t0 : t0 + team_block]
            b = block.shape[0]
            onehot = np.zeros((n, b * KK))
            onehot[np.arange(n)[:, None], np.arange(b)[None, :] * KK + block.T] = 1.0
            step = max(1, ELEMENT_BUDGET // (b * KK))
            for r0 in range(0, R, step):
                C = counts[r0 : r0 + step].astype(float)
                cm = (C @ onehot).reshape(C.shape[0], b, K, K)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[t0 : t0 + b, r0 : r0 + C.shape[0]] = formula(cm).T
        return out

    scorer.__name__ = scorer.__qualname__ = f"class_confusion_scores({getattr(formula, '__name__', 'formula')})"
    return scorer


def multiclass_balanced_accuracy_formula(cm: np.ndarray) -> np.ndarray:
    """scikit-learn's balanced_accuracy_score: the mean recall over the classes drawn in y_true
    (a class only predicted has no recall and is left out)."""
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    true = cm.sum(axis=-1)
    recall = np.where(true > 0, diag / np.where(true > 0, true, 1), np.nan)
    return np.nanmean(recall, axis=-1)


def macro_f1_formula(cm: np.ndarray) -> np.ndarray:
    """scikit-learn's ``f1_score(average="macro", labels=range(K), zero_division=0.0)``:
    the mean over every class of ``2 tp / (true + predicted)``, 0 for a class neither."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(axis=-1) + cm.sum(axis=-2)  # true_sum + pred_sum
    f1 = np.where(denom > 0, 2.0 * tp / np.where(denom > 0, denom, 1), 0.0)
    return f1.mean(axis=-1)


def quadratic_kappa_formula(cm: np.ndarray) -> np.ndarray:
    """scikit-learn's ``cohen_kappa_score(weights="quadratic", labels=range(K))``, in its own
    order of operations; NaN where undefined (the true and predicted classes one and the same)."""
    K = cm.shape[-1]
    pred_sum, true_sum = cm.sum(axis=-2), cm.sum(axis=-1)
    total = pred_sum.sum(axis=-1)
    expected = pred_sum[..., :, None] * true_sum[..., None, :] / total[..., None, None]
    k = np.arange(K, dtype=float)
    w = (k[None, :] - k[:, None]) ** 2
    flat = (*cm.shape[:-2], K * K)
    num = (w * cm).reshape(flat).sum(axis=-1)
    den = (w * expected).reshape(flat).sum(axis=-1)
    return np.where(den > 0, 1.0 - num / np.where(den > 0, den, 1), np.nan)


# -- survival --------------------------------------------------------------------------
def harrell_scores(
    metric: Metric, y: Target, P: np.ndarray, indices: np.ndarray, n_jobs: int | None = None
) -> np.ndarray:
    """Harrell's C (``c_index``) of every team on every resample, as scikit-survival's
    ``concordance_index_censored``, exactly.

    With ``w`` the case multiplicities of a resample,
    ``C = sum_ij w_i w_j A_ij K_ij / sum_ij w_i w_j A_ij``: ``A_ij = 1`` for the
    comparable pairs (``i`` an event, and ``j`` later, or censored at the same time; a
    case is never comparable with itself, so its copies are not either), ``K_ij = 1``
    when ``risk_i > risk_j``, ``1/2`` when the risks differ by at most
    :data:`HARRELL_TIED_TOL` (scikit-survival's ``tied_tol``), else 0. For every team,
    ``M = A * 2K`` (events × cases, entries 0, 1, 2) and the doubled numerators of all
    resamples are ``rowsum((W @ M.T) * W_events)``, ``W`` the multiplicities
    (resamples × cases); the denominators, from ``A``, are shared by the teams. The
    products hold integers (float32 while ``2 m < 2**24``, ``m`` draws), so they are
    exact and ``C`` is the exact ratio. NaN where no pair is comparable. The memory of
    ``M`` grows as events × cases per team; teams and resamples are taken in blocks
    (:data:`ELEMENT_BUDGET`). ``n_jobs`` is unused: the matrix products are threaded by BLAS.
    """
    event, time = y if isinstance(y, tuple) else (y[:, 0], y[:, 1])
    event = np.asarray(event, dtype=bool)
    time = np.asarray(time, dtype=float)
    risk = P[:, :, 0] if P.ndim == 3 else P
    T, n = risk.shape
    R, m = indices.shape
    out = np.full((T, R), np.nan)
    rows = np.flatnonzero(event)
    t_i = time[rows][:, None]
    A = (time[None, :] > t_i) | ((time[None, :] == t_i) & ~event[None, :])  # (events, cases)
    keep_rows, keep_cols = A.any(axis=1), A.any(axis=0)
    if not keep_rows.any():
        return out  # no comparable pair, whatever the resample
    A = A[keep_rows][:, keep_cols]
    rows, cols = rows[keep_rows], np.flatnonzero(keep_cols)
    dtype = np.float32 if 2 * m < 2**24 else np.float64
    counts = _counts(indices, n)
    W_rows = counts[:, rows].astype(np.float64)
    W_cols = counts[:, cols].astype(dtype)
    del counts
    n_e, n_c = A.shape
    step = max(1, ELEMENT_BUDGET // n_e)
    den = np.empty(R)
    At = np.ascontiguousarray(A.T, dtype=dtype)
    for r0 in range(0, R, step):
        den[r0 : r0 + step] = np.einsum("re,re->r", W_cols[r0 : r0 + step] @ At, W_rows[r0 : r0 + step])
    zero, one, two = (np.asarray(v, dtype=dtype) for v in (0, 1, 2))
    team_block = max(1, ELEMENT_BUDGET // (n_e * n_c))
    for t0 in range(0, T, team_block):
        block = risk[t0 : t0 + team_block]
        b = block.shape[0]
        r_i, r_j = block[:, rows][:, :, None], block[:, cols][:, None, :]  # (b, events, 1), (b, 1, cases)
        tie = np.abs(r_j - r_i) <= HARRELL_TIED_TOL
        M = np.where(A, np.where(tie, one, np.where(r_j < r_i, two, zero)), zero)  # (b, events, cases): 2K * A
        Mt = np.ascontiguousarray(M.transpose(2, 0, 1).reshape(n_c, b * n_e))
        step = max(1, ELEMENT_BUDGET // (b * n_e))
        for r0 in range(0, R, step):
            G = (W_cols[r0 : r0 + step] @ Mt).reshape(-1, b, n_e)
            num2 = np.einsum("rbe,re->br", G.astype(np.float64), W_rows[r0 : r0 + step])
            d = den[r0 : r0 + step]
            out[t0 : t0 + b, r0 : r0 + step] = np.where(d > 0, num2 / np.where(d > 0, 2 * d, 1), np.nan)
    return out


__all__ = [
    "CHUNK",
    "ELEMENT_BUDGET",
    "HARRELL_TIED_TOL",
    "TEAM_BLOCK",
    "ClassConfusionFormula",
    "ConfusionFormula",
    "auc_scores",
    "balanced_accuracy_formula",
    "class_confusion_scores",
    "confusion_scores",
    "f1_formula",
    "generic_scores",
    "harrell_scores",
    "macro_f1_formula",
    "mcc_formula",
    "multiclass_balanced_accuracy_formula",
    "ovr_auc_scores",
    "per_case_scores",
    "quadratic_kappa_formula",
    "r2_scores",
    "scores_from_mean_losses",
    "take_cases",
    "team_case_losses",
]
