"""Benchmark: the kit's paired bootstrap of roc_auc against a loop over scikit-learn.

Synthetic binary labels and team predictions (each team's predictions are
correlated with the labels at its own strength; every fifth team rounds its
probabilities to two decimals, which creates ties). The kit's
``paired_bootstrap`` is timed on the full problem (teams × cases × resamples).
The naive alternative, one ``sklearn.metrics.roc_auc_score`` call per team and
resample, would take too long: it is timed on the first ``--naive-resamples``
resamples for every team and extrapolated per call. The kit's scores on those
very resamples are compared with scikit-learn's.

Output: one ``key: value`` line per figure.

Usage::

    python benchmarks/bootstrap.py --teams 500 --cases 10000 --resamples 1000 --seed 0
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from kit.leaderboard.stats import bootstrap_indices, paired_bootstrap, resample_scores


def synthetic(n_teams: int, n_cases: int, seed: int, prevalence: float = 0.3):
    """Labels and predictions (teams × cases) of increasing skill."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n_cases) < prevalence).astype(int)
    strength = np.linspace(0.1, 2.0, n_teams)[:, None]
    logits = strength * (2 * y - 1) + rng.normal(size=(n_teams, n_cases))
    p = 1.0 / (1.0 + np.exp(-logits))
    p[::5] = np.round(p[::5], 2)
    return y, p


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--naive-resamples",
        type=int,
        default=10,
        help="resamples scored by the naive loop, for every team (default 10)",
    )
    parser.add_argument("--prevalence", type=float, default=0.3)
    args = parser.parse_args(argv)

    y, p = synthetic(args.teams, args.cases, args.seed, args.prevalence)
    teams = [f"team {i:04d}" for i in range(args.teams)]

    t0 = time.perf_counter()
    result = paired_bootstrap(y, p, teams, "roc_auc", n_resamples=args.resamples, seed=args.seed)
    kit_seconds = time.perf_counter() - t0

    k = min(args.naive_resamples, args.resamples)
    idx = bootstrap_indices(args.cases, args.resamples, args.seed)[:k]  # the kit's first k resamples
    t0 = time.perf_counter()
    naive = np.array([[roc_auc_score(y[i], row[i]) for i in idx] for row in p])
    naive_seconds = time.perf_counter() - t0
    calls_timed = naive.size
    per_call = naive_seconds / calls_timed
    calls_full = args.teams * args.resamples
    naive_full = per_call * calls_full

    kit_subset = resample_scores(y, p, "roc_auc", idx)
    diff = float(np.max(np.abs(kit_subset - naive)))
    valid = result.replicates.shape[1]
    if valid == args.resamples:  # no resample dropped: the bootstrap's own replicates line up too
        diff = max(diff, float(np.max(np.abs(result.replicates[:, :k] - naive))))

    print(f"teams: {args.teams}")
    print(f"cases: {args.cases}")
    print(f"resamples: {args.resamples}")
    print(f"seed: {args.seed}")
    print(f"kit_paired_bootstrap_seconds: {kit_seconds:.3f}")
    print(f"kit_valid_resamples: {valid}")
    print(f"naive_calls_timed: {calls_timed} ({k} resamples x {args.teams} teams)")
    print(f"naive_seconds_timed: {naive_seconds:.3f}")
    print(f"naive_seconds_per_call: {per_call:.6f}")
    print(
        f"naive_seconds_extrapolated: {naive_full:.1f} "
        f"(EXTRAPOLATED from {calls_timed} timed calls to {calls_full} calls)"
    )
    print(f"speedup: {naive_full / kit_seconds:.1f}")
    print(f"max_abs_diff_vs_sklearn: {diff:.3e} (on the {calls_timed} timed calls)")
    print(f"kendall_tau_mean: {result.stability()['mean']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
