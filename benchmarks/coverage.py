"""Benchmark: do the board's 95% bootstrap intervals cover the true score 95% of the time?

Simulated challenges whose true (population) score is known in closed form; each
replication draws a fresh public test set, runs the board's own code
(``kit.leaderboard.stats.paired_bootstrap``, the default interval method, the board's
default number of resamples) for one team, and records whether the interval holds the
true score. The percentile interval of the same resamples is reported beside it.

Scenarios (``--sims`` replications each):

* ``roc_auc``: 120 cases, each positive with probability 1/3 (about 40 positives);
  scores binormal, negatives N(0, 1), positives N(mu, 1), ``mu = sqrt(2) Phi^-1(0.98)``,
  given as probabilities ``expit(score)``: true AUC ``Phi(mu / sqrt(2)) = 0.98``.
* ``rmse``: 100 cases, targets N(150, 50), predictions with N(0, 55) errors: true RMSE 55.
* ``brier``: 100 cases, risks ``pi ~ Beta(1, 3)``, outcomes Bernoulli(pi), calibrated
  predictions ``pi``: true Brier ``E[pi (1 - pi)] = 1/4 - 1/10 = 0.15``.

Output: a table (metric, true value, n, nominal, observed coverage with its Monte Carlo
standard error, mean width, method, checked). The default interval method's coverage
must lie in [93%, 97%] for every scenario, else the script exits with status 1 (with
4000 replications the Monte Carlo standard error of a 95% coverage is 0.35 points).

Usage::

    python benchmarks/coverage.py                 # 4000 replications per scenario, 2 processes
    python benchmarks/coverage.py --sims 500 --workers 1
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import special

from kit.defaults import DEFAULT_RESAMPLES
from kit.leaderboard.stats import DEFAULT_INTERVAL, paired_bootstrap

NOMINAL = 0.95
LOW, HIGH = 0.93, 0.97
#: the board's method, then the others it is compared with
METHODS = tuple(dict.fromkeys((DEFAULT_INTERVAL, "bca", "percentile")))
AUC_MU = math.sqrt(2) * float(special.ndtri(0.98))


@dataclass(frozen=True)
class Scenario:
    metric: str
    n: int
    true: float
    simulate: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


def _auc(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(n) < 1 / 3).astype(float)
    return y, special.expit(rng.normal(size=n) + AUC_MU * y)


def _rmse(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.normal(150, 50, n)
    return y, y + rng.normal(0, 55, n)


def _brier(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    risk = rng.beta(1, 3, n)
    return (rng.random(n) < risk).astype(float), risk


SCENARIOS = (
    Scenario("roc_auc", 120, 0.98, _auc),
    Scenario("rmse", 100, 55.0, _rmse),
    Scenario("brier", 100, 0.25 - 0.1, _brier),
)


@dataclass
class Chunk:
    """Per method: covered (0/1) and width of every replication, and the methods the kit used."""

    covered: dict[str, np.ndarray]
    width: dict[str, np.ndarray]
    used: dict[str, set[str]]


def run_chunk(which: int, sims: range, resamples: int) -> Chunk:
    """Replications ``sims`` of scenario ``which``."""
    sc = SCENARIOS[which]
    covered = {m: np.zeros(len(sims)) for m in METHODS}
    width = {m: np.zeros(len(sims)) for m in METHODS}
    used: dict[str, set[str]] = {m: set() for m in METHODS}
    for k, i in enumerate(sims):
        y, p = sc.simulate(np.random.default_rng([which, i]), sc.n)
        res = paired_bootstrap(y, p[None, :], ["team"], sc.metric, n_resamples=resamples, seed=i, n_jobs=1)
        for m in METHODS:
            ci = res.confidence_intervals(m).iloc[0]
            covered[m][k] = ci["ci_low"] <= sc.true <= ci["ci_high"]
            width[m][k] = ci["ci_high"] - ci["ci_low"]
            used[m].add(str(ci["method"]))
    return Chunk(covered, width, used)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=4000, help="replications per scenario")
    ap.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples")
    ap.add_argument("--workers", type=int, default=2, help="processes")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    step = max(1, math.ceil(args.sims / (4 * args.workers)))
    jobs = [(s, range(a, min(a + step, args.sims))) for s in range(len(SCENARIOS)) for a in range(0, args.sims, step)]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        parts = list(pool.map(run_chunk, *zip(*jobs, strict=True), [args.resamples] * len(jobs)))
    rows, failed = [], []
    for s, sc in enumerate(SCENARIOS):
        mine = [p for (which, _), p in zip(jobs, parts, strict=True) if which == s]
        for m in METHODS:
            cov = np.concatenate([p.covered[m] for p in mine])
            wid = np.concatenate([p.width[m] for p in mine])
            how = sorted(set().union(*(p.used[m] for p in mine)))
            checked = m == DEFAULT_INTERVAL
            rate = cov.mean()
            se = math.sqrt(rate * (1 - rate) / len(cov))
            if checked and not LOW <= rate <= HIGH:
                failed.append(f"{sc.metric} ({m}): {rate:.1%}")
            rows.append(
                [
                    sc.metric,
                    f"{sc.true:g}",
                    str(sc.n),
                    f"{NOMINAL:.0%}",
                    f"{rate:.1%} ± {se:.1%}",
                    f"{wid.mean():.4g}",
                    f"{m} ({', '.join(how)})" if how != [m] else m,
                    "yes" if checked else "no",
                ]
            )
    header = ["metric", "true value", "n", "nominal", "observed coverage", "mean width", "method", "checked"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(
        f"{args.sims} replications per scenario, {args.resamples} resamples each, "
        f"{time.perf_counter() - start:.0f} s on {args.workers} process(es); "
        f"checked: the board's interval ({DEFAULT_INTERVAL}) must cover {LOW:.0%}-{HIGH:.0%}"
    )
    if failed:
        print("coverage outside the range: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
