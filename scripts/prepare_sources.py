"""Write the organiser's tables of the shipped challenges made with ``kit new``.

The German Breast Cancer Study Group 2 trial data (GBSG2: 686 women with primary node-positive
breast cancer, recurrence-free survival) ship inside scikit-survival; this script exports them
as the CSV an organiser would bring (``sources/gbsg2.csv``), with a ``tgrade`` tumour grade
(I, II, III) usable as an ordinal multiclass target. Run: python scripts/prepare_sources.py
"""

from __future__ import annotations

import io
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def gbsg2_table():
    import pandas as pd
    from sksurv.datasets import load_gbsg2

    x, y = load_gbsg2()
    frame = x.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(str)
    frame["recurrence"] = y["cens"].astype(int)  # 1: recurrence or death observed, 0: censored
    frame["days"] = y["time"].astype(float)
    return frame


def main() -> None:
    out = ROOT / "sources" / "gbsg2.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    gbsg2_table().to_csv(buf, index=False, lineterminator="\n")
    out.write_bytes(buf.getvalue().encode("utf-8"))
    print("wrote", out.relative_to(ROOT))


if __name__ == "__main__":
    main()
