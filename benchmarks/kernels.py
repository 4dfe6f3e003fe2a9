"""Benchmark: seconds per notebook, sequential papermill against the kit's sandboxed warm runner.

The workload is a *light* notebook, the kind a starter kit produces: read the
breast-cancer CSVs with pandas, fit a scikit-learn LogisticRegression, write the
predictions CSV. Three ways of running a batch of them are timed:

``papermill``
    a sequential loop of ``papermill.execute_notebook`` with a fresh kernel each time and
    no sandbox: what ``nbgrader autograde`` amounts to (FIELD-NOTES: ≈2.2 s/notebook).
``kit-cold``
    :func:`kit.execution.runner.run_notebook`, bubblewrap sandbox, fresh kernel each time.
``kit-warm``
    the same with a :class:`kit.execution.warm.WarmKernelPool` (kernels forked from a
    zygote into per-submission sandboxes, started ahead of need), ``--workers`` runs at
    a time.

Also measured: the latency of one hand-in when a pre-warmed kernel is waiting (from
the call to ``run_notebook`` to its result). Every run is checked (status ok, a
predictions file with one row per test case).

Output: one ``key: value`` line per figure.

Usage::

    python benchmarks/kernels.py --notebooks 40 --baseline 8 --workers 2 --pool 3
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit.challenge import Limits  # noqa: E402
from kit.execution.runner import run_notebook  # noqa: E402
from kit.execution.warm import WarmKernelPool  # noqa: E402

DATA = ROOT / "starter_kits" / "breast-cancer" / "data"
LIGHT = """\
import pandas as pd
from sklearn.linear_model import LogisticRegression

train = pd.read_csv(f"{data_dir}/train.csv")
test = pd.read_csv(f"{data_dir}/test.csv")
features = [c for c in train.columns if c not in ("case_id", "malignant")]
model = LogisticRegression(max_iter=5000).fit(train[features], train["malignant"])
pd.DataFrame({"case_id": test["case_id"],
              "malignant": model.predict_proba(test[features])[:, 1]}).to_csv(predictions_path, index=False)
"""


def light_notebook(path: Path) -> Path:
    nb = new_notebook()
    params = new_code_cell('data_dir = "data"\npredictions_path = "predictions.csv"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(LIGHT)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def check(predictions: Path, n_test: int) -> None:
    rows = predictions.read_text().strip().splitlines()
    if len(rows) != n_test + 1:
        raise SystemExit(f"bad predictions file {predictions}: {len(rows)} lines")


def bench_papermill(nb: Path, tmp: Path, n: int, n_test: int) -> float:
    import papermill

    t0 = time.perf_counter()
    for i in range(n):
        out = tmp / f"pm-{i}"
        out.mkdir()
        papermill.execute_notebook(
            str(nb),
            str(out / "executed.ipynb"),
            kernel_name="python3",
            parameters={"data_dir": str(DATA), "predictions_path": str(out / "p.csv")},
            progress_bar=False,
        )
        check(out / "p.csv", n_test)
    return (time.perf_counter() - t0) / n


def kit_run(nb: Path, tmp: Path, tag: str, limits: Limits, pool=None, n_test: int = 0):
    work = tmp / f"{tag}-work"
    res = run_notebook(
        nb,
        tmp / f"{tag}.ipynb",
        work_dir=work,
        data_dir=DATA,
        parameters={"data_dir": str(DATA), "predictions_path": str(work / "p.csv")},
        limits=limits,
        pool=pool,
    )
    if res.status != "ok":
        raise SystemExit(f"run {tag} failed: {res.reason}\n{res.traceback}")
    check(work / "p.csv", n_test)
    return res


def bench_kit_cold(nb: Path, tmp: Path, n: int, limits: Limits, n_test: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        kit_run(nb, tmp, f"cold-{i}", limits, n_test=n_test)
    return (time.perf_counter() - t0) / n


def wait_full(pool: WarmKernelPool, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with pool._cond:
            if len(pool._ready) >= pool.size:
                return
        time.sleep(0.05)
    raise SystemExit("the warm pool did not fill up")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebooks", type=int, default=40, help="batch size for the kit runs")
    ap.add_argument("--baseline", type=int, default=8, help="notebooks in the sequential papermill loop (0 to skip)")
    ap.add_argument("--cold", type=int, default=4, help="notebooks for kit-cold (0 to skip)")
    ap.add_argument("--workers", type=int, default=2, help="concurrent kit-warm runs")
    ap.add_argument("--pool", type=int, default=3, help="warm kernels kept ready")
    ap.add_argument("--latency-runs", type=int, default=5)
    args = ap.parse_args(argv)

    limits = Limits()
    n_test = len((DATA / "test.csv").read_text().strip().splitlines()) - 1
    tmp = Path(tempfile.mkdtemp(prefix="kit-bench-"))
    try:
        nb = light_notebook(tmp / "light.ipynb")
        print(f"cores: {os.cpu_count()}")
        per_pm = None
        if args.baseline:
            per_pm = bench_papermill(nb, tmp, args.baseline, n_test)
            print(f"papermill_sequential_s_per_notebook: {per_pm:.3f}  (n={args.baseline})")
        if args.cold:
            per_cold = bench_kit_cold(nb, tmp, args.cold, limits, n_test)
            print(f"kit_cold_sandbox_s_per_notebook: {per_cold:.3f}  (n={args.cold})")

        with WarmKernelPool(data_dir=DATA, limits=limits, size=args.pool) as pool:
            wait_full(pool)
            # latency of one hand-in with a pre-warmed kernel waiting
            lat = []
            for i in range(args.latency_runs):
                wait_full(pool)
                t0 = time.perf_counter()
                kit_run(nb, tmp, f"lat-{i}", limits, pool, n_test)
                lat.append(time.perf_counter() - t0)
            print(
                f"kit_warm_latency_s_median: {statistics.median(lat):.3f}  "
                f"(min {min(lat):.3f}, max {max(lat):.3f}, n={len(lat)})"
            )
            wait_full(pool)
            # throughput over a batch
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.workers) as ex:
                results = list(
                    ex.map(lambda i: kit_run(nb, tmp, f"warm-{i}", limits, pool, n_test), range(args.notebooks))
                )
            per_warm = (time.perf_counter() - t0) / args.notebooks
            print(
                f"kit_warm_sandbox_s_per_notebook: {per_warm:.3f}  "
                f"(n={args.notebooks}, workers={args.workers}, pool={args.pool})"
            )
            print(f"kit_warm_run_seconds_median: {statistics.median(r.duration for r in results):.3f}")
            print(f"kit_warm_kernel_ready_seconds_median: {statistics.median(pool.stats['ready_seconds']):.3f}")
            print(
                f"zygote_import_seconds: {pool.zygote.hello['seconds']:.2f}  "
                f"(threads after imports: {pool.zygote.hello['threads']})"
            )
            cpu = [r.kernel_cpu_seconds for r in results if r.kernel_cpu_seconds is not None]
            if cpu:
                print(f"kit_warm_kernel_cpu_seconds_median: {statistics.median(cpu):.3f}")
        if per_pm:
            print(f"speedup_warm_vs_papermill: {per_pm / per_warm:.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
