"""Benchmark: the kit's paired bootstrap (roc_auc, c_index) against loops over scikit-learn/-survival.

Synthetic binary labels and team predictions (each team's predictions are
correlated with the labels at its own strength; every fifth team rounds its
probabilities to two decimals, which creates ties). The kit's
``paired_bootstrap`` is timed on the full problem (teams × cases × resamples).
The naive alternative, one ``sklearn.metrics.roc_auc_score`` call per team and
resample, would take too long: it is timed on the first ``--naive-resamples``
resamples for every team and extrapolated per call. The kit's scores on those
very resamples are compared with scikit-learn's.

Harrell's C (``c_index``, lines ``c_index_*``): the event indicators and times of
``--survival-cases`` patients drawn from GBSG2 (``sksurv.datasets.load_gbsg2``, 686
patients; times in days, with ties), risk scores of ``--survival-teams`` teams (the
number of positive lymph nodes plus noise, of increasing weight; every fifth team rounds
its risks to one decimal, which creates ties). The kit's ``paired_bootstrap`` is timed
on the full problem; one ``sksurv.metrics.concordance_index_censored`` call per team and
resample is timed on the first ``--survival-naive-resamples`` resamples only and
EXTRAPOLATED per call to every team and resample.

Output: one ``key: value`` line per figure.

Usage::

    python benchmarks/bootstrap.py --teams 500 --cases 10000 --resamples 1000 --seed 0
    python benchmarks/bootstrap.py --metrics c_index --survival-teams 20 --survival-cases 275
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score
from sksurv.datasets import load_gbsg2
from sksurv.metrics import concordance_index_censored

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


def gbsg2_survival(n_teams: int, n_cases: int, seed: int):
    """(event, time) of ``n_cases`` GBSG2 patients and the risks (teams × cases) of teams of increasing skill."""
    X, y = load_gbsg2()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(y), size=min(n_cases, len(y)), replace=False)
    event, time_ = y["cens"][pick].astype(bool), y["time"][pick].astype(float)
    nodes = np.log1p(X["pnodes"].to_numpy(dtype=float)[pick])
    nodes = (nodes - nodes.mean()) / nodes.std()
    strength = np.linspace(0.1, 2.0, n_teams)[:, None]
    risk = strength * nodes + rng.normal(size=(n_teams, len(pick)))
    risk[::5] = np.round(risk[::5], 1)
    return event, time_, risk


def run_roc_auc(args) -> None:
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


def run_c_index(args) -> None:
    event, time_, risk = gbsg2_survival(args.survival_teams, args.survival_cases, args.seed)
    n_teams, n_cases = risk.shape
    y = np.c_[event, time_]
    teams = [f"team {i:04d}" for i in range(n_teams)]

    t0 = time.perf_counter()
    result = paired_bootstrap(y, risk, teams, "c_index", n_resamples=args.survival_resamples, seed=args.seed)
    kit_seconds = time.perf_counter() - t0

    all_idx = bootstrap_indices(n_cases, args.survival_resamples, args.seed)
    t0 = time.perf_counter()
    resample_scores(y, risk, "c_index", all_idx)  # the scores alone: no ranks, no Kendall taus
    scores_seconds = time.perf_counter() - t0

    k = min(args.survival_naive_resamples, args.survival_resamples)
    idx = all_idx[:k]  # the kit's first k resamples
    t0 = time.perf_counter()
    naive = np.array([[concordance_index_censored(event[i], time_[i], row[i])[0] for i in idx] for row in risk])
    naive_seconds = time.perf_counter() - t0
    calls_timed = naive.size
    per_call = naive_seconds / calls_timed
    calls_full = n_teams * args.survival_resamples
    naive_full = per_call * calls_full

    diff = float(np.max(np.abs(resample_scores(y, risk, "c_index", idx) - naive)))
    valid = result.replicates.shape[1]
    if valid == args.survival_resamples:
        diff = max(diff, float(np.max(np.abs(result.replicates[:, :k] - naive))))

    print(f"c_index_teams: {n_teams}")
    print(f"c_index_cases: {n_cases} (GBSG2 patients, {int(event.sum())} events)")
    print(f"c_index_resamples: {args.survival_resamples}")
    print(f"c_index_kit_paired_bootstrap_seconds: {kit_seconds:.3f}")
    print(f"c_index_kit_valid_resamples: {valid}")
    print(f"c_index_kit_resample_scores_seconds: {scores_seconds:.3f} (the scores alone, same resamples)")
    print(f"c_index_naive_calls_timed: {calls_timed} ({k} resamples x {n_teams} teams)")
    print(f"c_index_naive_seconds_timed: {naive_seconds:.3f}")
    print(f"c_index_naive_seconds_per_call: {per_call:.6f}")
    print(
        f"c_index_naive_seconds_extrapolated: {naive_full:.1f} "
        f"(EXTRAPOLATED from {calls_timed} timed calls to {calls_full} calls)"
    )
    print(f"c_index_speedup: {naive_full / kit_seconds:.1f} (extrapolated sksurv loop / kit paired_bootstrap)")
    print(
        f"c_index_speedup_scores_only: {naive_full / scores_seconds:.1f} "
        "(extrapolated sksurv loop / kit resample_scores)"
    )
    print(f"c_index_max_abs_diff_vs_sksurv: {diff:.3e} (on the {calls_timed} timed calls)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--metrics",
        default="roc_auc,c_index",
        help="comma-separated benchmarks to run: roc_auc, c_index (default both)",
    )
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
    parser.add_argument("--survival-teams", type=int, default=20)
    parser.add_argument("--survival-cases", type=int, default=275, help="GBSG2 patients drawn (at most 686)")
    parser.add_argument("--survival-resamples", type=int, default=1000)
    parser.add_argument(
        "--survival-naive-resamples",
        type=int,
        default=25,
        help="resamples scored by the sksurv loop, for every team (default 25)",
    )
    args = parser.parse_args(argv)
    chosen = {m.strip() for m in args.metrics.split(",") if m.strip()}
    unknown = chosen - {"roc_auc", "c_index"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if "roc_auc" in chosen:
        run_roc_auc(args)
    if "c_index" in chosen:
        run_c_index(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
