"""The starter notebook, the starter kit's README and the hidden grading notebook of a challenge.

Every challenge's kit shares one structure; what depends on the kind of target (the
baseline model, the plots, the prediction columns, the hold-out check) comes from the
challenge's task type (:meth:`kit.tasks.Task.notebook`, :meth:`~kit.tasks.Task.describe_prediction`),
never from a branch on its name. ``write_notebooks(challenge)`` writes the three files;
the output is deterministic (stable cell ids, no outputs), so they can be committed.
"""

from __future__ import annotations

import io
import json
import tokenize
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ..challenge import Challenge, load_challenge

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..challenge import ChallengeSpec

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
#: how many feature columns the starter notebook plots against the target
N_PLOTTED = 3
#: the card.yml prose a README shows for an organiser's own table: README field -> card field
CARD_PROSE = {
    "title": "dataset.name",
    "description": "dataset.summary",
    "citation": "distribution.citation",
    "licence": "distribution.licence.name",
}

#: the starter's preprocessing: organisers' tables have missing values and text columns
PREPROCESS = '''
def preprocess():
    """A fresh transformer of the feature table: numbers imputed and scaled, other columns one-hot encoded."""
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    others = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    return make_column_transformer(
        (numbers, make_column_selector(dtype_include="number")),
        (others, make_column_selector(dtype_exclude="number")),
    )
'''


# -- cells -------------------------------------------------------------------------
def _code(src: str, *tags: str) -> nbformat.NotebookNode:
    cell = new_code_cell(src.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _md(src: str) -> nbformat.NotebookNode:
    return new_markdown_cell(src.strip("\n"))


def _notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: the files do not change between runs
        cell["id"] = f"cell-{i:02d}"
    return nb


def _literal(value: str | list[str]) -> str:
    """A Python literal of a name or a list of names, in double quotes as the rest of the notebook."""
    return json.dumps(value, ensure_ascii=False)


def _parenthesised(expr: str) -> str:
    """*expr* inside one pair of parentheses (a tuple written without them is not an argument)."""
    expr = expr.strip()
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(expr).readline) if t.type == tokenize.OP]
    depth = 0
    for i, tok in enumerate(tokens):
        depth += tok.string in "([{"
        depth -= tok.string in ")]}"
        if depth == 0:  # the first bracket closes here: it wraps everything only if it is the last token
            wrapped = i == len(tokens) - 1 and tokens[0].string == "(" and expr.endswith(")")
            return expr if wrapped else f"({expr})"
    return f"({expr})"


# -- what the notebook needs from the data ------------------------------------------
def split_columns(spec: ChallengeSpec) -> list[str]:
    """The split's group column and date column, where the spec has them: a patient id or a
    date says how the cases were split, not what they are, so neither is a feature."""
    cols = [spec.split.group_column, spec.split.temporal.column if spec.split.temporal else None]
    return [c for c in dict.fromkeys(cols) if c and c != spec.id_column and c not in spec.target]


def not_features(spec: ChallengeSpec) -> list[str]:
    """Columns of the tables that are never features: the id, the targets, the split's group and date."""
    return [spec.id_column, *spec.target, *split_columns(spec)]


def _association(x: pd.Series, y: pd.Series) -> float:
    """Absolute Spearman correlation of a feature with the target (a text target: the largest
    over its values, one against the rest)."""
    import pandas as pd

    numeric = pd.to_numeric(y, errors="coerce")
    if numeric.notna().sum() == y.notna().sum():
        return abs(float(x.corr(numeric, method="spearman")))
    values = sorted(y.dropna().astype(str).unique())
    text = y.astype(str)
    return max((abs(float(x.corr((text == v).astype(float), method="spearman"))) for v in values), default=0.0)


def plotted_features(train: pd.DataFrame, spec: ChallengeSpec, n: int = N_PLOTTED) -> list[str]:
    """The up to *n* numeric feature columns most associated with the first target column
    (survival: the event) in the training table; ties keep the table's order."""
    import pandas as pd

    skip = set(not_features(spec))
    target = train[spec.target[0]]
    scores = []
    for i, col in enumerate(train.columns):
        if col in skip or not pd.api.types.is_numeric_dtype(train[col]) or pd.api.types.is_bool_dtype(train[col]):
            continue
        score = _association(train[col], target)
        if score == score:  # a constant column has no correlation (NaN)
            scores.append((-round(score, 10), i, col))
    return [col for _, _, col in sorted(scores)[:n]]


def _challenge(challenge) -> Challenge:
    return challenge if isinstance(challenge, Challenge) else load_challenge(challenge)


def _read_train(ch: Challenge) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(ch.path("train"))


def _metric_line(spec: ChallengeSpec, bold: bool = False) -> str:
    """``roc_auc`` (higher is better): what it is."""
    primary = spec.metric(spec.metrics.primary)
    direction = "higher" if primary.greater_is_better else "lower"
    name = f"**`{primary.name}`**" if bold else f"`{primary.name}`"
    return f"{name} ({direction} is better): {primary.description}"


def _holdout(spec: ChallengeSpec, stratify: str, train_columns: list[str]) -> str:
    """The hold-out split of the validation cell: by group when the challenge splits by group,
    the latest cases when it splits in time, else at random (stratified as the task says)."""
    group = spec.split.group_column
    temporal = spec.split.temporal
    if group and group in train_columns:
        return f"""
# the cases of one {group} stay on one side, as in the challenge's own split
from sklearn.model_selection import GroupShuffleSplit

splitter = GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=0)
fit_rows, val_rows = next(splitter.split(X, groups=train[{_literal(group)}]))
X_tr, X_val, y_tr, y_val = X.iloc[fit_rows], X.iloc[val_rows], y[fit_rows], y[val_rows]
"""
    if temporal is not None and temporal.column in train_columns:
        return f"""
# the latest quarter of the training cases is the hold-out, as the challenge's test set comes after them
late = (train[{_literal(temporal.column)}].rank(method="first", pct=True) > 0.75).to_numpy()
fit_rows, val_rows = np.flatnonzero(~late), np.flatnonzero(late)
X_tr, X_val, y_tr, y_val = X.iloc[fit_rows], X.iloc[val_rows], y[fit_rows], y[val_rows]
"""
    return f"X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.25, random_state=0, stratify={stratify})\n"


# -- the three files ------------------------------------------------------------------
def starter_notebook(challenge, features: list[str] | None = None) -> nbformat.NotebookNode:
    """The participants' starter notebook: explore, a scikit-learn baseline, a hold-out check,
    predictions of the test set and ``kit.check``.

    ``features``: the columns the exploration plots (default: :func:`plotted_features` of train.csv).
    """
    ch = _challenge(challenge)
    spec = ch.spec
    train = _read_train(ch)
    if features is None:
        features = plotted_features(train, spec)
    parts = spec.task_type.notebook(spec, list(features))
    dropped = split_columns(spec)
    why = (
        f"    # {', '.join(dropped)}: how the cases were split, not what they are; never a feature\n" if dropped else ""
    )
    extra = "".join(f", {_literal(c)}" for c in dropped)
    secondary = ", ".join(f"`{m}`" for m in spec.metrics.secondary) or "none"
    cells = [
        _md(f"""
# {spec.title}

{spec.description}

**Metric:** {_metric_line(spec)}
Secondary metrics: {secondary}.

This notebook runs top to bottom in a few seconds: it loads the data, explores it, trains a
scikit-learn baseline, writes predictions and checks them with `kit.check`. Hand in **this
notebook** (the grader re-runs it on its own copy of the data) or the predictions CSV: the last
cells say how.

The next cell holds the two parameters the grader sets: keep their names.
"""),
        _code(
            """
data_dir = "data"  # folder with train.csv, test.csv and sample_submission.csv
predictions_path = "predictions.csv"  # where this notebook writes its predictions
""",
            "parameters",
        ),
        _code(f"""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
{parts.imports}
import kit

ID, TARGETS = {_literal(spec.id_column)}, {_literal(list(spec.target))}
train = pd.read_csv(Path(data_dir) / "train.csv")
test = pd.read_csv(Path(data_dir) / "test.csv")

{PREPROCESS}

print(f"train: {{len(train)}} cases; test: {{len(test)}} cases; target: {{', '.join(TARGETS)}}")
train.head()
"""),
        _md("## Explore the data"),
        _code(parts.explore),
        _code(parts.plot),
        _md("## Features and model\n\nChange these two cells to try your own ideas."),
        _code(
            f'''
def make_features(df):
    """The columns the model sees: everything but the id and the target."""
{why}    return df.drop(columns=[ID, *TARGETS{extra}], errors="ignore")
''',
            "features",
        ),
        _code(parts.model, "model"),
        _md(
            "## Validate on a hold-out part of the training data\n\n"
            f"`predict` turns the model's output into the prediction columns "
            f"({', '.join(f'`{c}`' for c in spec.prediction_columns)})."
        ),
        _code(parts.predict),
        _code(f"""
{parts.target}
X = make_features(train)
{_holdout(spec, parts.stratify, list(train.columns))}model.fit(X_tr, y_tr)
p_val = predict(model, X_val)
"""),
        _md("## Train on all the training data and predict the test set"),
        _code("""
model.fit(X, y)
predictions = pd.concat([test[[ID]], predict(model, make_features(test))], axis=1)
predictions.to_csv(predictions_path, index=False)
predictions.head()
"""),
        _md("## Check the predictions before you submit"),
        _code(f"kit.check(predictions_path, data_dir, validation={_parenthesised(parts.validation)})"),
        *hand_in_cells(),
    ]
    return _notebook(cells)


def hand_in_cells() -> list[nbformat.NotebookNode]:
    """The starter notebook's last cells: how to hand in, by each of the kit's three routes."""
    return [
        _md("""
## Hand in

**Save the notebook first** (Ctrl-S): what is handed in is the file as saved on disk. Then hand
it in the way your challenge collects hand-ins:

- **A challenge server** (`kit serve`): run the next cell. `kit.submit()` hands in this
  notebook (`kit.submit(predictions_path)` hands in the predictions instead), shows a progress
  line, then your public score and the feedback here. It reads the server's address and your
  team's token from `KIT_SERVER` and `KIT_TOKEN`, or from `~/.config/challenge-kit/token`
  (readable by you alone: `chmod 600`), as the server's sign-up page shows. Never write the
  token in this notebook: it would be handed in with it. The team's page on the server takes
  hand-ins too.
- **A shared folder** (a workshop graded by `kit watch`): copy this notebook, or
  `predictions.csv`, into the folder of your team, `<shared folder>/<team name>/`; its score
  appears on the organiser's screen a few seconds later.
- **nbgrader**: submit the assignment from JupyterLab's Assignments tab (or
  `nbgrader submit`); the grade comes back as feedback.

When the grader re-runs this notebook, the next cell hands nothing in.
"""),
        _code("kit.submit()  # this notebook, as saved on disk", "hand-in"),
    ]


def grading_notebook(challenge) -> nbformat.NotebookNode:
    """The hidden grading notebook ``kit grade`` runs once per batch (organisers only)."""
    spec = _challenge(challenge).spec
    cells = [
        _md(f"""
# Hidden grading notebook: `{spec.id}`

**Organisers only.** This folder holds the test labels and the public/private split.

`kit grade` runs this notebook with papermill once per batch, from the batch's first
predictions on: it validates each prediction file of the manifest as the grader adds it,
computes every metric of the spec (`{", ".join(spec.metrics.all)}`) on the public and on the
private split, keeps the per-case losses, and writes `results_path` (JSON), which the
grader records in the ledger. Participant code never runs here: only parsed
prediction files are scored.

Opened by hand in JupyterLab, it scores the sample submission.
"""),
        _code(
            f"""
spec_path = "../../starter_kits/{spec.id}/challenge.yml"
labels_path = "labels.csv"
manifest_path = None  # JSON (a list) or JSON lines of {{"key", "predictions", "out_dir"}}; None: the sample
results_path = None  # where to write the results (JSON); None writes nothing
""",
            "parameters",
        ),
        _code("""
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
        _md("### Public split"),
        _code('results_table(results, challenge, "public").head(50)'),
        _md("### Private split (never shown to participants while the challenge is open)"),
        _code('results_table(results, challenge, "private").head(50)'),
    ]
    return _notebook(cells)


def card_prose(card: Mapping[str, Any]) -> dict[str, str]:
    """The README's fields (:data:`CARD_PROSE`) from a card.yml mapping, as far as the organiser filled it in."""
    out = {}
    for field, dotted in CARD_PROSE.items():
        value: Any = card
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value.strip():
            out[field] = " ".join(value.split())
    return out


def read_card_prose(ch: Challenge) -> dict[str, str]:
    """:func:`card_prose` of the challenge's card.yml (empty without one). The file is read as it is:
    a card still being written gives the fields it has."""
    from ..cards.schema import CARD_FILENAME, CardError
    from ..yamlfile import read_yaml

    path = ch.starter_dir / CARD_FILENAME
    if not path.exists():
        return {}
    data = read_yaml(path, error=CardError, missing=CardError(f"no {CARD_FILENAME}", where=str(path)))
    return card_prose(data) if isinstance(data, Mapping) else {}


def _data_prose(spec: ChallengeSpec, card: Mapping[str, str] | None) -> tuple[str, list[str]]:
    """The README's paragraph on the data and its source lines: a bundled dataset's own
    provenance, or the organiser's card prose (a missing field says who must write it, and where)."""
    if spec.source.dataset is not None:
        from ..datasets import load_dataset

        ds = load_dataset(spec.source.dataset)
        notes = [f"`{k}`: {v}" for k, v in ds.column_notes.items()]
        return f"{ds.title}. {ds.description}", [f"Source: {ds.citation}", f"Licence: {ds.license}", *notes]
    given = {k: str(v).strip() for k, v in (card or {}).items() if v is not None and str(v).strip()}

    def field(name: str) -> str:
        return given.get(name) or f"to be written by the organiser: {CARD_PROSE[name]} in card.yml"

    title, description = field("title"), field("description")
    return f"{title.rstrip('.')}. {description}", [f"Source: {field('citation')}", f"Licence: {field('licence')}"]


def _target_summary(train: pd.DataFrame, spec: ChallengeSpec) -> str:
    """What the training data holds of each target column, as the task summarises it."""
    task = spec.task_type
    classes, numbers = task.class_columns(spec), task.numeric_columns(spec)
    parts = []
    for col in spec.target:
        facts = [spec.positive_label] if col == spec.target[0] and spec.positive_label else []
        if col in classes:
            shares = train[col].value_counts(normalize=True, dropna=True).sort_index()
            facts.append("in the training data " + ", ".join(f"{v} ({s:.0%})" for v, s in shares.items()))
        elif col in numbers:
            facts.append(
                f"mean {train[col].mean():.1f}, standard deviation {train[col].std():.1f} in the training data"
            )
        parts.append(f"`{col}`: " + "; ".join(facts) if facts else f"`{col}`")
    return "; ".join(parts)


def starter_readme(challenge, card: Mapping[str, str] | None = None) -> str:
    """The starter kit's README: the data, the metric, how to submit, the rules.

    ``card``: for an organiser's own table (``source.file``), the prose the README shows
    (``title``, ``description``, ``citation``, ``licence``; default: :func:`read_card_prose`
    of its card.yml); a missing field is shown as still to be written, nothing more is
    claimed. A bundled dataset brings its own provenance.
    """
    ch = _challenge(challenge)
    spec = ch.spec
    if card is None and spec.source.file is not None:
        card = read_card_prose(ch)
    train = _read_train(ch)
    test = _count_test(ch)
    about, source = _data_prose(spec, card)
    skip = set(not_features(spec))
    features = [c for c in train.columns if c not in skip]
    other = [c for c in split_columns(spec) if c in train.columns]
    other_text = f"; {', '.join(f'`{c}`' for c in other)} (how the cases were split: not a feature)" if other else ""
    phases = "".join(f"\n| {p.name} | {p.start:%Y-%m-%d} | {p.end:%Y-%m-%d} |" for p in spec.phases)
    secondary = ", ".join(f"`{m}`" for m in spec.metrics.secondary) or "none"
    header = ",".join([spec.id_column, *spec.prediction_columns])
    target_word = "the targets" if len(spec.target) > 1 else "the target"
    bullets = "".join(f"\n- {line}" for line in source[:2])
    notes = "".join(f"\n- {line}" for line in source[2:])
    temporal = spec.split.temporal
    split = "The test set" + (f" (the cases with `{temporal.column}` from {temporal.cutoff} on)" if temporal else "")
    split += f" is split by `{spec.split.group_column}`" if spec.split.group_column else " is split at random"
    split += " into a public part"
    return f"""# {spec.title}

{spec.description}

## The data

{about}
{bullets}
- `data/train.csv`: {len(train)} cases with the target; `data/test.csv`: {test} cases without it;
  `data/sample_submission.csv`: the expected format with a constant prediction.
- Columns: `{spec.id_column}` (case identifier), {len(features)} features
  ({", ".join(f"`{c}`" for c in features[:8])}{", ..." if len(features) > 8 else ""}){other_text}, and {target_word}
  {_target_summary(train, spec)}.{notes}

## The metric

Teams are ranked by {_metric_line(spec, bold=True)}
Also reported: {secondary}. {split}
({spec.split.public_fraction:.0%}, shown on the leaderboard while the challenge is open) and a
private part (the final ranking after it closes). Each team is ranked by its submission with
the best public score.

## How to submit

Open `starter.ipynb` in JupyterLab: it runs top to bottom in seconds and writes a valid
submission. Hand in either

- **the notebook**: the grader re-runs it on its own copy of `data/` and sets the two variables
  of the cell tagged `parameters`, `data_dir` and `predictions_path`; keep that cell and write
  your predictions to `predictions_path`; or
- **a predictions file**: a CSV with the header `{header}` and one row per test
  case, holding {spec.task_type.describe_prediction(spec)}.

Hand it in the way your challenge collects hand-ins: with its server (`kit serve`), run
`kit.submit()` in the notebook's last cell (it finds the server and your team's token in
`KIT_SERVER` and `KIT_TOKEN` or in `~/.config/challenge-kit/token`, never in the notebook), or
use your team's page on the server; in a workshop with a shared folder, copy the file into
your team's folder; with nbgrader, submit the assignment. The notebook's last cells say more.

Check a file before handing it in, with the same checks as the grader:
`kit.check("predictions.csv", "data")` in the notebook, or `kit check {spec.id} predictions.csv`
in a shell.

Rules: at most {spec.submissions.per_day} submissions a day and {spec.submissions.total} in total;
notebooks run with limits of {spec.limits.wall_seconds:.0f} s, {spec.limits.memory_mb} MB of memory
and no network.

| phase | starts | ends |
|---|---|---|{phases}
"""


def _count_test(ch: Challenge) -> int:
    """The number of test cases."""
    import pandas as pd

    return len(pd.read_csv(ch.path("test"), usecols=[ch.spec.id_column]))


def write_notebooks(challenge, card: Mapping[str, str] | None = None) -> list[Path]:
    """Write the starter notebook, the grading notebook and the starter README of *challenge*
    (``card``: see :func:`starter_readme`)."""
    ch = _challenge(challenge)
    ch.starter_notebook.parent.mkdir(parents=True, exist_ok=True)
    ch.grade_notebook.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(starter_notebook(ch), ch.starter_notebook)
    nbformat.write(grading_notebook(ch), ch.grade_notebook)
    readme = ch.starter_dir / "README.md"
    readme.write_text(starter_readme(ch, card), encoding="utf-8")
    return [ch.starter_notebook, ch.grade_notebook, readme]
