"""Every kind of bad prediction file gets a specific message: what, where (line), fix."""

import pytest

from kit.errors import SubmissionError
from kit.submission import read_predictions

IDS = [f"case-{i:04d}" for i in range(1, 8)]


def write(tmp_path, text, name="p.csv", mode="w"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def read(path, task="binary", **kw):
    return read_predictions(path, id_column="case_id", prediction_column="malignant", expected_ids=IDS, task=task, **kw)


def good_rows(values=None):
    values = values or [0.1, 0.9, 0.5, 0.2, 0.7, 0.3, 0.6]
    return "case_id,malignant\n" + "".join(f"{i},{v}\n" for i, v in zip(IDS, values, strict=False))


def problems(tmp_path, text, **kw):
    with pytest.raises(SubmissionError) as exc:
        read(write(tmp_path, text), **kw)
    return exc.value


def test_good_file_is_returned_in_expected_order(tmp_path):
    lines = good_rows().splitlines()
    text = "\n".join([lines[0], *reversed(lines[1:])]) + "\n"
    df = read(write(tmp_path, text))
    assert list(df["case_id"]) == IDS
    assert df["malignant"].tolist() == [0.1, 0.9, 0.5, 0.2, 0.7, 0.3, 0.6]


def test_bom_and_spaces_are_tolerated(tmp_path):
    text = "\ufeffcase_id, malignant\n" + "".join(f"{i}, 0.5\n" for i in IDS)
    assert len(read(write(tmp_path, text))) == 7


def test_empty_file(tmp_path):
    e = problems(tmp_path, "")
    assert e.what == "the predictions file is empty" and "header" in e.fix and e.where == "p.csv"


def test_header_only(tmp_path):
    assert "header but no rows" in problems(tmp_path, "case_id,malignant\n").what


def test_missing_and_unknown_columns(tmp_path):
    e = problems(tmp_path, "case_id,prob,extra\n" + "".join(f"{i},0.5,1\n" for i in IDS))
    text = str(e)
    assert "required column 'malignant' is missing" in text
    assert "unexpected column(s) 'prob', 'extra'" in text
    assert "case_id,malignant" in text


def test_case_sensitive_hint_and_index_column(tmp_path):
    e = problems(tmp_path, ",case_id,Malignant\n" + "".join(f"{n},{i},0.5\n" for n, i in enumerate(IDS)))
    text = str(e)
    assert "found 'Malignant'" in text
    assert "index=False" in text


def test_duplicate_column(tmp_path):
    assert "appear more than once" in str(problems(tmp_path, "case_id,malignant,malignant\n"))


def test_missing_duplicate_and_unknown_ids(tmp_path):
    text = "case_id,malignant\n" + "".join(f"{i},0.5\n" for i in IDS[:5]) + f"{IDS[0]},0.5\ncase-9999,0.5\n"
    e = problems(tmp_path, text)
    by = {p.what.split(":")[0]: p for p in e.problems}
    assert by["1 duplicate id(s)"].where == "line 7"
    assert by["1 id(s) are not test cases"].where == "line 8"
    assert "2 of 7 test case(s) have no prediction" in str(e) and "'case-0006', 'case-0007'" in str(e)


def test_nan_inf_text_and_empty_values_with_line_numbers(tmp_path):
    e = problems(tmp_path, good_rows(["nan", "inf", "high", "", 0.5, "-inf", "0.3%"]))
    text = str(e)
    assert "1 malignant value(s) are NaN" in text and "line 2" in text
    assert "2 malignant value(s) are infinite" in text and "lines 3, 7" in text
    assert "2 malignant value(s) are not numbers: 'high', '0.3%'" in text and "lines 4, 8" in text
    assert "1 empty malignant value(s)" in text and "line 5" in text


def test_probabilities_out_of_range(tmp_path):
    e = problems(tmp_path, good_rows([0, 1, 1, 0, 2, 0, -1]))
    assert "2 probability(ies) outside [0, 1]" in str(e) and "predict_proba" in str(e)
    # regression accepts any finite number
    df = read(write(tmp_path, good_rows([0, 1, 1, 0, 200, 0, -1]), name="r.csv"), task="regression")
    assert df["malignant"].max() == 200


def test_ragged_rows(tmp_path):
    e = problems(tmp_path, "case_id,malignant\ncase-0001,0.5,7,8\ncase-0002,0.5\ncase-0003\n")
    assert e.what == "2 row(s) do not have 2 fields like the header"
    assert e.problems[0].where == "lines 2, 4"


def test_binary_and_non_utf8(tmp_path):
    assert "binary" in problems(tmp_path, b"\x00\x01\x02PK").what
    assert "UTF-8" in problems(tmp_path, b"case_id,malignant\n\xff\xfe,0.5\n").what


def test_too_large(tmp_path):
    assert "over the" in problems(tmp_path, good_rows(), max_bytes=20).what


def test_many_problems_are_summarised(tmp_path):
    text = "case_id,malignant\n" + "".join(f"{i},x\n" for i in IDS)
    e = problems(tmp_path, text)
    assert "lines 2, 3, 4, 5, 6 and 2 more" in str(e)


def test_not_found_and_folder(tmp_path):
    with pytest.raises(SubmissionError, match="does not exist"):
        read(tmp_path / "nope.csv")
    with pytest.raises(SubmissionError, match="not a regular file"):
        read(tmp_path)


def test_errors_pickle(tmp_path):
    import pickle

    e = problems(tmp_path, good_rows(["x"] * 7))
    e2 = pickle.loads(pickle.dumps(e))
    assert str(e2) == str(e) and e2.problems == e.problems


def test_semicolons_and_decimal_commas_are_one_problem_with_the_fix(tmp_path):
    text = "case_id;malignant\n" + "".join(f"{i};0,{n + 1}\n" for n, i in enumerate(IDS))
    e = problems(tmp_path, text)
    assert not e.problems and e.where == "p.csv"
    assert e.what.startswith("the file uses ';' as separator and ',' as decimal mark")
    assert "df.to_csv(path, index=False)" in e.fix


def test_semicolons_with_decimal_points_and_a_saved_index(tmp_path):
    text = ";case_id;malignant\n" + "".join(f"{n};{i};0.5\n" for n, i in enumerate(IDS))
    e = problems(tmp_path, text)
    assert e.what.startswith("the file uses ';' as separator:") and "decimal mark (0,83)" not in e.what


def test_a_comma_in_a_column_name_is_not_taken_for_a_separator(tmp_path):
    text = 'case_id,"mal;ignant"\n' + "".join(f"{i},0.5\n" for i in IDS)
    assert "required column 'malignant' is missing" in str(problems(tmp_path, text))


def test_quoted_decimal_commas_get_the_decimal_point_fix(tmp_path):
    e = problems(tmp_path, good_rows(['"0,5"'] * 7))
    (p,) = e.problems
    assert "not numbers: '0,5'" in p.what and p.fix.startswith("write numbers with a decimal point: 0.83, not 0,83")


def test_a_saved_index_is_one_problem_not_an_unexpected_column(tmp_path):
    e = problems(tmp_path, ",case_id,malignant\n" + "".join(f"{n},{i},0.5\n" for n, i in enumerate(IDS)))
    (p,) = e.problems
    assert p.where == "line 1, column 1" and "DataFrame's index" in p.what and "index=False" in p.fix
