"""`kit.check` as a participant meets it: a spreadsheet's export, a saved index, hard labels,
a forgotten argument. Each gets one message with its fix, never a traceback of the kit."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

import kit
from kit.checker import _scores_more_than_labels
from kit.errors import ChallengeNotFound, KitError
from kit.metrics import get_metric, get_metric_names

DATA = REPO / "starter_kits" / "breast-cancer" / "data"
#: the classification metrics that score the predicted labels only (p >= 0.5, or the most probable class)
LABEL_METRICS = {
    "accuracy",
    "balanced_accuracy",
    "f1",
    "mcc",
    "macro_f1",
    "multiclass_balanced_accuracy",
    "quadratic_kappa",
}


@pytest.fixture
def sample():
    return pd.read_csv(DATA / "sample_submission.csv")


def test_a_french_spreadsheet_export_gets_one_message_naming_separator_and_decimal_comma(tmp_path, sample):
    path = tmp_path / "predictions.csv"
    sample.assign(malignant=np.linspace(0.1, 0.9, len(sample))).to_csv(path, sep=";", decimal=",", index=False)
    report = kit.check(path, DATA)
    assert not report.ok and len(report.problems) == 1
    (p,) = report.problems
    assert "';' as separator" in p.what and "',' as decimal mark" in p.what
    assert "df.to_csv(path, index=False)" in p.fix and "'.' as decimal mark" in p.fix


@pytest.mark.parametrize("sep, named", [(";", "';' as separator"), ("\t", "tabs as separator")])
def test_other_separators_with_a_decimal_point_name_the_separator_only(tmp_path, sample, sep, named):
    path = tmp_path / "predictions.csv"
    sample.to_csv(path, sep=sep, index=False)
    (p,) = kit.check(path, DATA).problems
    assert named in p.what and "decimal" not in p.what


def test_a_saved_index_is_named_as_such(tmp_path, sample):
    path = tmp_path / "predictions.csv"
    sample.to_csv(path)  # index=True: a first column without a name
    (p,) = kit.check(path, DATA).problems
    assert "the first column has no name ('')" in p.what and "index" in p.what
    assert p.where == "line 1, column 1" and p.fix == "save it with df.to_csv(path, index=False)"
    resaved = tmp_path / "resaved.csv"
    pd.read_csv(path).to_csv(resaved, index=False)  # read back and saved again: 'Unnamed: 0'
    (p,) = kit.check(resaved, DATA).problems
    assert "'Unnamed: 0'" in p.what and "index=False" in p.fix


def test_hard_labels_pass_with_a_warning_naming_the_metrics_that_lose_information(tmp_path, sample):
    path = tmp_path / "predictions.csv"
    sample.assign(malignant=np.arange(len(sample)) % 2).to_csv(path, index=False)
    report = kit.check(path, DATA)
    assert report.ok and len(report.warnings) == 1
    warning = report.warnings[0]
    assert "every prediction is 0 or 1" in warning and "roc_auc (the primary metric)" in warning
    assert "log_loss" in warning and "model.predict_proba" in warning
    assert "accuracy" not in warning.replace("balanced_accuracy", "")  # labels lose nothing there
    assert "warning: every prediction is 0 or 1" in repr(report) and "Warning" in report._repr_html_()
    # probabilities: no warning
    sample.to_csv(path, index=False)
    assert kit.check(path, DATA).warnings == []


def test_zeros_and_ones_of_a_regression_are_numbers_not_labels(tmp_path):
    data = REPO / "starter_kits" / "diabetes" / "data"
    sample = pd.read_csv(data / "sample_submission.csv")
    path = tmp_path / "predictions.csv"
    sample.assign(progression=np.arange(len(sample)) % 2).to_csv(path, index=False)
    report = kit.check(path, data)
    assert report.ok and report.warnings == []


@pytest.mark.parametrize(
    "name, n_columns",
    [(n, 1) for n in get_metric_names("binary")] + [(n, 3) for n in get_metric_names("multiclass")],
)
def test_the_probe_tells_label_metrics_from_metrics_of_the_probabilities(name, n_columns):
    assert _scores_more_than_labels(get_metric(name), n_columns) == (name not in LABEL_METRICS)


def test_survival_metrics_are_not_asked():
    metric = get_metric("c_index")
    assert _scores_more_than_labels(metric, 3) is False


def test_without_data_dir_a_short_error_with_the_fix():
    with pytest.raises(ChallengeNotFound) as exc:
        kit.check("predictions.csv")
    lines = exc.value._render_traceback_()
    assert lines == [
        "ChallengeNotFound: kit.check needs to know the challenge",
        "Fix: pass data_dir= (the folder of train.csv) or challenge='ID'",
    ]


def test_the_kit_folder_instead_of_its_data_folder_is_named_not_a_pandas_traceback(tmp_path, sample):
    path = tmp_path / "predictions.csv"
    sample.to_csv(path, index=False)
    with pytest.raises(ChallengeNotFound, match="no test.csv in") as exc:
        kit.check(path, DATA.parent)  # the starter kit's folder: its spec is there, test.csv is in data/
    assert "the folder of train.csv and test.csv" in exc.value.fix


def test_a_cause_that_is_not_a_kit_error_is_named_in_one_line():
    try:
        try:
            raise ValueError("bad value")
        except ValueError as cause:
            raise KitError("it failed", where="here", fix="do this") from cause
    except KitError as exc:
        assert exc._render_traceback_() == [
            "KitError: here: it failed",
            "Fix: do this",
            "(caused by ValueError: bad value)",
        ]


def test_ipython_shows_a_kit_error_without_traceback(tmp_path):
    """What a notebook shows: IPython's own display of the exception (ipykernel uses the same)."""
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_cell('import kit\\nkit.check(\"predictions.csv\")')\n"
        "shell.run_cell('1 / 0')\n"  # a bug keeps its traceback
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    out = r.stdout + r.stderr
    kit_part, bug_part = out.split("ZeroDivisionError", 1)
    assert "ChallengeNotFound: kit.check needs to know the challenge" in kit_part
    assert "Fix: pass data_dir=" in kit_part
    assert "Traceback" not in kit_part and "checker.py" not in kit_part
    assert "Traceback" in bug_part
