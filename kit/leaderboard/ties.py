"""Ranks in which scores equal up to floating-point noise are ties.

Two submissions whose predictions are ordered the same way have the same AUC, yet
scikit-learn may compute them one ulp apart; a mean of per-case losses summed in another
order differs in its last bits. Ranking on the raw floats would put such teams ranks
apart and show them "moving" between the public and the private board. Every ranking
of the kit (the boards, the bootstrap's resampled rankings, P(first), the tied top)
therefore takes scores as equal when

    |a - b| <= max(TIE_RTOL * max(|a|, |b|), TIE_ATOL),

that is a relative 1e-9 (nine significant digits, far below any displayed precision),
and an absolute 1e-12 near zero. Scores are sorted best first, and a score tied with the
one just above it joins its group (so a chain of such near-equal scores is one group);
every team of a group takes the group's best rank ("min" ranking: 1, 1, 3).

Only numpy is imported here: the board's ranking (``kit leaderboard``) does not pay for
scipy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: scores within this relative difference are ties
TIE_RTOL = 1e-9
#: and within this absolute difference (scores near zero)
TIE_ATOL = 1e-12


def tied(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Element-wise: are the scores *a* and *b* equal up to the tolerance?"""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= np.maximum(TIE_RTOL * scale, TIE_ATOL)
    return (close & np.isfinite(scale)) | (a == b)  # an infinite score ties only with itself


def tolerant_ranks(scores: ArrayLike, greater_is_better: bool) -> np.ndarray:
    """Ranks along axis 0, 1 = best in the given direction, near-equal scores tied ("min").

    Parameters
    ----------
    scores : array-like, shape (teams,) or (teams, columns)
        Teams along axis 0 (each column, e.g. a bootstrap resample, is ranked on its own).
        NaN is ranked last, and NaNs tie with one another.
    greater_is_better : bool

    Returns
    -------
    ndarray of int, the same shape
    """
    s = np.asarray(scores, dtype=float)
    if s.size == 0:
        return np.zeros(s.shape, dtype=int)
    flat = s.reshape(s.shape[0], -1) if s.ndim else s.reshape(1, 1)
    key = -flat if greater_is_better else flat
    key = np.where(np.isnan(key), np.inf, key)  # NaN last
    order = np.argsort(key, axis=0, kind="stable")
    ordered = np.take_along_axis(key, order, axis=0)
    nan_sorted = np.take_along_axis(np.isnan(flat), order, axis=0)
    same = tied(ordered[1:], ordered[:-1]) | (nan_sorted[1:] & nan_sorted[:-1])
    starts = np.vstack([np.ones((1, flat.shape[1]), dtype=bool), ~same])
    position = np.arange(flat.shape[0])[:, None]
    first_of_group = np.maximum.accumulate(np.where(starts, position, 0), axis=0)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, first_of_group + 1, axis=0)
    return ranks.reshape(s.shape).astype(int)
