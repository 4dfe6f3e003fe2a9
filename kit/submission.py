"""Reading and validating prediction files.

Prediction files are untrusted. :func:`read_predictions` parses a CSV as text
(never as pickles or anything executable), checks the header, the ids and the
values, and raises one :class:`~kit.errors.SubmissionError` that lists every
problem with its line number and the fix. On success it returns the
predictions as floats, in the order of the expected ids.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import Problem, SubmissionError

if TYPE_CHECKING:  # pragma: no cover
    from .challenge import ChallengeSpec

MAX_LISTED = 5  # rows named per problem before "and N more"
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: field separators other than the comma, as messages name them (spreadsheets export CSV with
#: ';' where the decimal mark is a comma: French and most European locales)
OTHER_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}
#: the names pandas gives its index when it writes it (to_csv) and reads it back (read_csv)
INDEX_NAMES = ("", "Unnamed: 0")
_DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+(?:[eE][-+]?\d+)?")
#: lines looked at for decimal commas
_SNIFFED_LINES = 50
SAVE_FIX = "save it with df.to_csv(path, index=False)"


def _line_numbers(nums: Sequence[int]) -> str:
    """'lines 3, 7, 9, 10, 11 and 12 more' from line numbers of the file (the header is line 1)."""
    rows = [int(n) for n in nums]
    shown = ", ".join(str(r) for r in rows[:MAX_LISTED])
    more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    word = "line" if len(rows) == 1 else "lines"
    return f"{word} {shown}{more}"


def _values(values: Sequence[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:MAX_LISTED])
    return shown + (f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else "")


def _other_separator(text: str) -> tuple[str, bool] | None:
    """A separator other than the comma in the header line (and no comma), and whether the
    numbers of the first lines have a decimal comma; None for a comma-separated file."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    if "," in header:
        return None
    for sep in OTHER_SEPARATORS:
        if sep in header:
            fields = (f.strip().strip('"') for line in lines[1:_SNIFFED_LINES] for f in line.split(sep))
            return sep, any(_DECIMAL_COMMA.fullmatch(f) for f in fields)
    return None


def read_predictions(
    path,
    *,
    id_column: str,
    prediction_column: str | Sequence[str],
    expected_ids: Sequence[str],
    task: str = "binary",
    spec: ChallengeSpec | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    name: str | None = None,
) -> pd.DataFrame:
    """Parse and check a predictions CSV; return ``[id_column, *prediction columns]`` in expected order.

    ``prediction_column`` is the column, or the columns in order, besides the id (a
    multiclass task: one probability per class). The values are checked as numbers, then
    by the :class:`~kit.tasks.Task` named *task* (ranges, sums). ``name`` is how the file
    is called in messages (the name the participant gave it).
    """
    from .tasks import get_task

    path = Path(path)
    where = name or path.name
    columns = [prediction_column] if isinstance(prediction_column, str) else list(prediction_column)
    example = ",".join([id_column, *columns])
    fix_header = f"the first line must be exactly: {example}"

    def fail(what, problems=(), fix=""):
        raise SubmissionError(what, where=where, problems=problems, fix=fix)

    if not path.exists():
        fail(
            "the predictions file does not exist",
            fix="write your predictions to the predictions_path the notebook was given",
        )
    if not path.is_file():
        fail("the predictions path is not a regular file", fix="write a CSV file, not a folder or link")
    size = path.stat().st_size
    if size == 0:
        fail("the predictions file is empty", fix=f"write a header line ({example}) and one row per test case")
    if size > max_bytes:
        fail(
            f"the predictions file is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:.0f} MiB limit",
            fix="write one row per test case and nothing else",
        )
    raw = path.read_bytes()
    if b"\x00" in raw:
        fail(
            "the predictions file is binary, not a CSV text file",
            fix="save predictions with DataFrame.to_csv(path, index=False)",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"the predictions file is not UTF-8 text (byte {exc.start})", fix="save it as UTF-8")
    if not text.strip():
        fail(
            "the predictions file has only blank lines",
            fix=f"write a header line ({example}) and one row per test case",
        )

    other = _other_separator(text)
    if other is not None:  # a spreadsheet's export in another locale: say so, not three column errors
        sep, decimal_comma = other
        mark = " and ',' as decimal mark (0,83)" if decimal_comma else ""
        fail(
            f"the file uses {OTHER_SEPARATORS[sep]} as separator{mark}: predictions files are comma-separated, "
            "with a point in numbers (0.83)",
            fix=f"{SAVE_FIX}, which writes commas and points whatever the computer's language; from a "
            "spreadsheet, export CSV with ',' as separator and '.' as decimal mark",
        )

    # header, read with the csv module so duplicate names are seen before pandas renames them
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        fail(f"the header line cannot be parsed as CSV ({exc})", fix=fix_header)
    problems: list[Problem] = []
    saved_index = header[0] in INDEX_NAMES and header[0] not in (id_column, *columns)
    if saved_index:
        problems.append(
            Problem(
                f"the first column has no name ({header[0]!r}): it is the DataFrame's index, saved with the "
                "predictions",
                where="line 1, column 1",
                fix=SAVE_FIX,
            )
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.append(Problem(f"column(s) {_values(dupes)} appear more than once", where="line 1", fix=fix_header))
    for col in (id_column, *columns):
        if col not in header:
            near = [h for h in header if h.lower() == col.lower()]
            hint = f" (found {near[0]!r}: names are case-sensitive)" if near else ""
            problems.append(Problem(f"required column {col!r} is missing{hint}", where="line 1", fix=fix_header))
    extra = [h for h in header[1 if saved_index else 0 :] if h not in (id_column, *columns)]
    if extra:
        problems.append(
            Problem(
                f"unexpected column(s) {_values(extra)}",
                where="line 1",
                fix=f"keep only the columns {', '.join([id_column, *columns])}",
            )
        )
    if problems:
        fail(f"{len(problems)} problem(s) with the columns", problems)

    rows: list[list[str]] = []
    lines: list[int] = []
    ragged: list[int] = []
    try:
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue  # blank line
            if len(row) != len(header):
                ragged.append(reader.line_num)
            else:
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        fail(
            f"the file cannot be parsed as CSV at line {reader.line_num}: {exc}",
            fix="save the file with DataFrame.to_csv(path, index=False)",
        )
    if ragged:
        fail(
            f"{len(ragged)} row(s) do not have {len(header)} fields like the header",
            [Problem("wrong number of fields", where=_line_numbers(ragged))],
            fix="every line needs the same number of comma-separated fields as the header",
        )
    if not rows:
        fail("the predictions file has a header but no rows", fix="write one row per test case")
    df = pd.DataFrame(rows, columns=header)
    line_no = np.asarray(lines)

    def at(idx) -> str:
        return _line_numbers(line_no[np.asarray(idx, dtype=int)])

    ids = df[id_column].str.strip()

    # ids
    empty_id = np.flatnonzero((ids == "").to_numpy())
    if len(empty_id):
        problems.append(
            Problem(
                f"{len(empty_id)} row(s) have no {id_column}",
                where=at(empty_id),
                fix=f"give every row the {id_column} of a test case",
            )
        )
    dup_mask = ids.duplicated(keep="first") & (ids != "")
    if dup_mask.any():
        bad = np.flatnonzero(dup_mask.to_numpy())
        problems.append(
            Problem(
                f"{len(bad)} duplicate id(s): {_values(ids[dup_mask].unique().tolist())}",
                where=at(bad),
                fix="give exactly one row per test case",
            )
        )
    expected = pd.Index(expected_ids)
    unknown_mask = ~ids.isin(expected) & (ids != "")
    if unknown_mask.any():
        bad = np.flatnonzero(unknown_mask.to_numpy())
        problems.append(
            Problem(
                f"{len(bad)} id(s) are not test cases: {_values(ids[unknown_mask].tolist())}",
                where=at(bad),
                fix=f"use only the {id_column} values of test.csv",
            )
        )
    missing = expected[~expected.isin(ids)]
    if len(missing):
        problems.append(
            Problem(
                f"{len(missing)} of {len(expected)} test case(s) have no prediction: {_values(missing.tolist())}",
                where=where,
                fix="predict every row of test.csv (see sample_submission.csv)",
            )
        )

    # values, column by column, then the task's checks of the whole rows
    matrix = np.empty((len(df), len(columns)), dtype=float)
    for j, col in enumerate(columns):
        problems += _number_problems(df[col].str.strip(), col, at)
        matrix[:, j] = pd.to_numeric(df[col].str.strip(), errors="coerce").to_numpy(dtype=float)
    if not problems:
        for vp in get_task(task).check_predictions(matrix, spec):
            bad = np.flatnonzero(vp.rows)
            shown = [",".join(df.iloc[i][columns]) for i in bad[:MAX_LISTED]]
            problems.append(Problem(f"{len(bad)} {vp.what}: {_values(shown)}", where=at(bad), fix=vp.fix))
    if problems:
        fail(f"{len(problems)} problem(s) in the predictions", problems)

    out = pd.DataFrame(matrix, columns=columns)
    out.insert(0, id_column, ids.to_numpy())
    return out.set_index(id_column).loc[list(expected)].reset_index()


def _number_problems(raw_vals: pd.Series, col: str, at) -> list[Problem]:
    """Empty, non-numeric, NaN and infinite values of one prediction column."""
    problems = []
    numbers = pd.to_numeric(raw_vals, errors="coerce")
    blank = (raw_vals == "").to_numpy()
    lowered = raw_vals.str.lower()
    nan_text = lowered.isin(["nan", "na", "n/a", "null", "none", "-nan"]).to_numpy()
    text_mask = numbers.isna().to_numpy() & ~blank & ~nan_text
    if blank.any():
        bad = np.flatnonzero(blank)
        problems.append(Problem(f"{len(bad)} empty {col} value(s)", where=at(bad), fix="write a number for every case"))
    if text_mask.any():
        bad = np.flatnonzero(text_mask)
        texts = raw_vals.iloc[bad].tolist()
        comma = any(_DECIMAL_COMMA.fullmatch(t) for t in texts)
        problems.append(
            Problem(
                f"{len(bad)} {col} value(s) are not numbers: {_values(texts)}",
                where=at(bad),
                fix="write numbers with a decimal point: 0.83, not 0,83 (" + SAVE_FIX + ")"
                if comma
                else "write plain numbers such as 0.83 (no quotes, units or percent signs)",
            )
        )
    nan_rows = np.flatnonzero(nan_text | (numbers.isna().to_numpy() & ~blank & ~text_mask))
    if len(nan_rows):
        problems.append(
            Problem(
                f"{len(nan_rows)} {col} value(s) are NaN",
                where=at(nan_rows),
                fix="replace missing predictions with a number (e.g. the training mean)",
            )
        )
    inf_rows = np.flatnonzero(np.isinf(numbers.to_numpy(dtype=float)))
    if len(inf_rows):
        problems.append(
            Problem(f"{len(inf_rows)} {col} value(s) are infinite", where=at(inf_rows), fix="write finite numbers")
        )
    return problems


def read_for_challenge(path, challenge, expected_ids=None) -> pd.DataFrame:
    """:func:`read_predictions` with the columns, task and size limit of a challenge."""
    spec = challenge.spec
    if expected_ids is None:
        expected_ids = read_ids(challenge.path("test"), spec.id_column)
    return read_predictions(
        path,
        id_column=spec.id_column,
        prediction_column=spec.prediction_columns,
        expected_ids=expected_ids,
        task=spec.task,
        spec=spec,
        max_bytes=spec.limits.file_size_mb * 1024 * 1024,
    )


def read_ids(csv_path, id_column: str) -> list[str]:
    return pd.read_csv(csv_path, usecols=[id_column], dtype=str)[id_column].str.strip().tolist()
