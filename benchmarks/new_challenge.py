"""Time and memory of ``kit new`` on a large organiser's table, beside the script an organiser
would otherwise write by hand.

Writes a table of N rows (default 100,000; several visits per patient, numeric and text
columns, a binary outcome) as CSV, then runs, each as a whole process, alternately:

  (a) ``kit new big --data table.csv --target outcome --group patient --force``: the command
      an organiser runs (read, check every column, grouped and stratified split, privacy
      gate, four files, spec, card template, starter and grading notebooks);
  (b) a hand-written pandas + scikit-learn script doing only the split: read the CSV,
      ``GroupShuffleSplit`` train/test and public/private, write train, test and labels.

    python benchmarks/new_challenge.py [--rows 100000] [--runs 3]

Figures: the wall time of every run, the median of each, their ratio, and the peak memory
(max RSS, from ``wait4``) of every run. Target: ``kit new`` under 10 s and under 1 GB on
100,000 rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = Path(sys.executable).with_name("kit")

BASELINE = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from sklearn.model_selection import GroupShuffleSplit

    table, out = sys.argv[1], sys.argv[2]
    df = pd.read_csv(table)
    gss = GroupShuffleSplit(n_splits=1, test_size=0.4, random_state=0)
    tr, te = next(gss.split(df, groups=df["patient"]))
    test = df.iloc[te]
    pub, _ = next(GroupShuffleSplit(n_splits=1, train_size=0.5, random_state=1).split(test, groups=test["patient"]))
    split = pd.Series("private", index=test.index)
    split.iloc[pub] = "public"
    df.iloc[tr].to_csv(f"{out}/train.csv", index=False)
    test.drop(columns=["outcome"]).to_csv(f"{out}/test.csv", index=False)
    test[["outcome"]].assign(split=split).to_csv(f"{out}/labels.csv")
    """
)


def make_table(path: Path, rows: int, seed: int = 0) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    patients = rng.integers(0, rows // 3, size=rows)
    risk = rng.normal(size=rows // 3 + 1)[patients]
    frame = pd.DataFrame(
        {
            "patient": [f"P{p:07d}" for p in patients],
            "age": rng.integers(18, 90, size=rows),
            "sex": rng.choice(["F", "M"], size=rows),
            "site": rng.choice(["Lyon", "Lille", "Nantes", "Brest", "Paris"], size=rows),
            **{f"lab_{i}": np.round(risk * (i % 3) + rng.normal(size=rows), 3) for i in range(12)},
            "outcome": (risk + rng.normal(size=rows) > 0.5).astype(int),
        }
    )
    frame.to_csv(path, index=False)


def run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB of the process and its children) of one whole command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.decode()}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kit-bench-new-") as tmp:
        root = Path(tmp)
        (root / "starter_kits").mkdir()
        (root / "grading").mkdir()
        (root / "out").mkdir()
        table = root / "table.csv"
        make_table(table, args.rows)
        size = table.stat().st_size / 2**20
        print(f"table: {args.rows} rows, {size:.1f} MiB, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        kit_cmd = [str(KIT), "--root", str(root), "new", "big", "--data", str(table)]
        kit_cmd += ["--target", "outcome", "--group", "patient", "--force", "--seed", "1"]
        base_cmd = [sys.executable, "-c", BASELINE, str(table), str(root / "out")]
        kit_runs, base_runs = [], []
        for i in range(args.runs):
            kit_runs.append(run(kit_cmd, root))
            base_runs.append(run(base_cmd, root))
            print(
                f"run {i + 1}: kit new {kit_runs[-1][0]:.2f} s, {kit_runs[-1][1]:.0f} MiB; "
                f"hand-written split {base_runs[-1][0]:.2f} s, {base_runs[-1][1]:.0f} MiB"
            )
        k = statistics.median(w for w, _ in kit_runs)
        b = statistics.median(w for w, _ in base_runs)
        peak = max(m for _, m in kit_runs)
        print(f"kit new: median {k:.2f} s (target < 10 s), peak {peak:.0f} MiB (target < 1024 MiB)")
        print(f"hand-written split only: median {b:.2f} s; kit new / hand-written = {k / b:.2f}x")


if __name__ == "__main__":
    main()
