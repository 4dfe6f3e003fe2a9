"""Write the starter notebook, the starter kit's README and the hidden grading notebook
of each shipped challenge.

The files are committed; this script is how they are made, so that every
challenge's kit shares one structure. Run: python scripts/make_notebooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from kit.challenge import load_challenge  # noqa: E402
from kit.datasets import load_dataset  # noqa: E402
from kit.metrics import get_metric  # noqa: E402

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

PLOTS = {
    "breast-cancer": ["mean_radius", "mean_concave_points", "worst_texture"],
    "diabetes": ["bmi", "ltg", "bp"],
}


def code(src, *tags):
    cell = new_code_cell(src.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def md(src):
    return new_markdown_cell(src.strip("\n"))


def _nb(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: the files do not change between runs
        cell["id"] = f"cell-{i:02d}"
    return nb


def starter(ch) -> nbformat.NotebookNode:
    s = ch.spec
    target = s.target[0]
    primary = get_metric(s.metrics.primary)
    binary = s.task == "binary"
    cols = PLOTS[s.id]
    if binary:
        explore = f'train[TARGET].value_counts().rename({{0: "benign", 1: "malignant"}}).rename_axis("{target}")'
        plot = f"""
fig, axes = plt.subplots(1, {len(cols)}, figsize=(12, 3.2))
for ax, col in zip(axes, {cols!r}):
    for label, name in [(0, "benign"), (1, "malignant")]:
        ax.hist(train.loc[train[TARGET] == label, col], bins=25, histtype="stepfilled", alpha=0.5, label=name)
    ax.set_title(col)
axes[0].legend()
fig.tight_layout()
plt.show()
"""
        model = """
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
"""
        stratify, predict = "y", "model.predict_proba({X})[:, 1]"
    else:
        explore = "train[TARGET].describe().to_frame()"
        plot = f"""
fig, axes = plt.subplots(1, {len(cols) + 1}, figsize=(14, 3.2))
axes[0].hist(train[TARGET], bins=30)
axes[0].set_title(TARGET)
for ax, col in zip(axes[1:], {cols!r}):
    ax.scatter(train[col], train[TARGET], s=8, alpha=0.6)
    ax.set_xlabel(col)
    ax.set_ylabel(TARGET)
fig.tight_layout()
plt.show()
"""
        model = """
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
"""
        stratify, predict = "None", "model.predict({X})"
    cells = [
        md(f"""
# {s.title}

{s.description}

**Metric:** `{primary.name}` ({"higher" if primary.greater_is_better else "lower"} is better): {primary.description}
Secondary metrics: {", ".join(f"`{m}`" for m in s.metrics.secondary) or "none"}.

This notebook runs top to bottom in a few seconds: it loads the data, explores it, trains a
scikit-learn baseline, writes predictions and checks them with `kit.check`. Hand in **this
notebook** (the grader re-runs it on its own copy of the data) or the predictions CSV.

The next cell holds the two parameters the grader sets: keep their names.
"""),
        code(
            """
data_dir = "data"  # folder with train.csv, test.csv and sample_submission.csv
predictions_path = "predictions.csv"  # where this notebook writes its predictions
""",
            "parameters",
        ),
        code(f'''
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import train_test_split

import kit

ID, TARGET = "{s.id_column}", "{target}"
train = pd.read_csv(Path(data_dir) / "train.csv")
test = pd.read_csv(Path(data_dir) / "test.csv")
print(f"train: {{len(train)}} cases, {{train.shape[1] - 2}} features; test: {{len(test)}} cases")
train.head()
'''),
        md("## Explore the data"),
        code(explore),
        code(plot),
        md("## Features and model\n\nChange these two cells to try your own ideas."),
        code(
            '''
def make_features(df):
    """The columns the model sees: everything but the id and the target."""
    return df.drop(columns=[ID, TARGET], errors="ignore")
''',
            "features",
        ),
        code(model, "model"),
        md("## Validate on a hold-out part of the training data"),
        code(f"""
X, y = make_features(train), train[TARGET]
X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.25, random_state=0, stratify={stratify})
model.fit(X_tr, y_tr)
p_val = {predict.format(X="X_val")}
"""),
        md("## Train on all the training data and predict the test set"),
        code(f"""
model.fit(X, y)
predictions = pd.DataFrame({{ID: test[ID], TARGET: {predict.format(X="make_features(test)")}}})
predictions.to_csv(predictions_path, index=False)
predictions.head()
"""),
        md("## Check the predictions before you submit"),
        code("kit.check(predictions_path, data_dir, validation=(y_val, p_val))"),
    ]
    return _nb(cells)


def grader(ch) -> nbformat.NotebookNode:
    s = ch.spec
    cells = [
        md(f"""
# Hidden grading notebook: `{s.id}`

**Organisers only.** This folder holds the test labels and the public/private split.

`kit grade` runs this notebook with papermill once per batch, from the batch's first
predictions on: it validates each prediction file of the manifest as the grader adds it,
computes every metric of the spec (`{", ".join(s.metrics.all)}`) on the public and on the
private split, keeps the per-case losses, and writes `results_path` (JSON), which the
grader records in the ledger. Participant code never runs here: only parsed
prediction files are scored.

Opened by hand in JupyterLab, it scores the sample submission.
"""),
        code(
            f"""
spec_path = "../../starter_kits/{s.id}/challenge.yml"
labels_path = "labels.csv"
manifest_path = None  # JSON (a list) or JSON lines of {{"key", "predictions", "out_dir"}}; None: the sample
results_path = None  # where to write the results (JSON); None writes nothing
""",
            "parameters",
        ),
        code("""
from kit.challenge import load_challenge
from kit.scoring import results_table, score_batch

challenge = load_challenge(spec_path)
challenge.verify(roles=("labels",))  # the labels are the ones the spec's sha256 names
if manifest_path is None:
    manifest = [{"key": "sample_submission", "predictions": str(challenge.path("sample_submission"))}]
else:  # `kit grade` streams it: each submission is scored as soon as its predictions exist
    manifest = manifest_path
results = score_batch(spec_path, labels_path, manifest, results_path)
print(f"scored {sum(r['status'] == 'scored' for r in results.values())} of {len(results)} submissions")
"""),
        md("### Public split"),
        code('results_table(results, challenge, "public").head(50)'),
        md("### Private split (never shown to participants while the challenge is open)"),
        code('results_table(results, challenge, "private").head(50)'),
    ]
    return _nb(cells)


def starter_readme(ch) -> str:
    s = ch.spec
    ds = load_dataset(s.source.dataset)
    train = pd.read_csv(ch.path("train"))
    test = pd.read_csv(ch.path("test"))
    primary = get_metric(s.metrics.primary)
    direction = "higher" if primary.greater_is_better else "lower"
    features = [c for c in train.columns if c not in (s.id_column, *s.target)]
    notes = "".join(f"\n- `{k}`: {v}" for k, v in ds.column_notes.items())
    if s.task == "binary":
        target = (
            f"`{s.target[0]}`: {s.positive_label or '1 = positive class'}; "
            f"{train[s.target[0]].mean():.0%} of the training cases are positive."
        )
        predict = f"the **probability** that `{s.target[0]}` is 1 (a number between 0 and 1)"
    else:
        target = (
            f"`{s.target[0]}`: mean {train[s.target[0]].mean():.1f}, standard deviation "
            f"{train[s.target[0]].std():.1f} in the training data."
        )
        predict = f"a number: your estimate of `{s.target[0]}`"
    phases = "".join(f"\n| {p.name} | {p.start:%Y-%m-%d} | {p.end:%Y-%m-%d} |" for p in s.phases)
    secondary = ", ".join(f"`{m}`" for m in s.metrics.secondary) or "none"
    return f"""# {s.title}

{s.description}

## The data

{ds.title}. {ds.description}

- Source: {ds.citation}
- Licence: {ds.license}
- `data/train.csv`: {len(train)} cases with the target; `data/test.csv`: {len(test)} cases without it;
  `data/sample_submission.csv`: the expected format with a constant prediction.
- Columns: `{s.id_column}` (case identifier), {len(features)} features
  ({", ".join(f"`{c}`" for c in features[:8])}{", ..." if len(features) > 8 else ""}), and the target
  {target}{notes}

## The metric

Teams are ranked by **`{primary.name}`** ({direction} is better): {primary.description}
Also reported: {secondary}. The test set is split at random into a public part
({s.split.public_fraction:.0%}, shown on the leaderboard while the challenge is open) and a
private part (the final ranking after it closes). Each team is ranked by its submission with
the best public score.

## How to submit

Open `starter.ipynb` in JupyterLab: it runs top to bottom in seconds and writes a valid
submission. Hand in either

- **the notebook**: the grader re-runs it on its own copy of `data/` and sets the two variables
  of the cell tagged `parameters`, `data_dir` and `predictions_path`; keep that cell and write
  your predictions to `predictions_path`; or
- **a predictions file**: a CSV with the header `{s.id_column},{s.predicted}` and one row per test
  case, where `{s.predicted}` is {predict}.

Check a file before handing it in, with the same checks as the grader:
`kit.check("predictions.csv", "data")` in the notebook, or `kit check {s.id} predictions.csv`
in a shell.

Rules: at most {s.submissions.per_day} submissions a day and {s.submissions.total} in total;
notebooks run with limits of {s.limits.wall_seconds:.0f} s, {s.limits.memory_mb} MB of memory
and no network.

| phase | starts | ends |
|---|---|---|{phases}
"""


def main():
    for cid in ("breast-cancer", "diabetes"):
        ch = load_challenge(cid, root=ROOT)
        nbformat.write(starter(ch), ch.starter_notebook)
        nbformat.write(grader(ch), ch.grade_notebook)
        (ch.starter_dir / "README.md").write_text(starter_readme(ch), encoding="utf-8")
        print("wrote", ch.starter_notebook.relative_to(ROOT), "and", ch.grade_notebook.relative_to(ROOT))


if __name__ == "__main__":
    main()
