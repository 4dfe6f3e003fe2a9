"""Grading with real kernels: every shipped challenge end to end, and every bad hand-in."""

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from conftest import SHIPPED

from kit.challenge import load_challenge
from kit.demo import Variant, make_variant
from kit.errors import GradingError
from kit.grading import grade
from kit.leaderboard import leaderboard, render
from kit.workspace import open_ledger


def variant(ch, folder, team, name, **kw):
    nb = make_variant(nbformat.read(ch.starter_notebook, as_version=4), Variant(team, name, **kw))
    p = folder / team / f"{name}.ipynb"
    p.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, p)
    return p


@pytest.mark.parametrize("cid", SHIPPED)
def test_shipped_challenge_end_to_end(root, workdir, tmp_path, cid):
    from kit.prepare import prepare

    assert all(r.matches for r in prepare(cid, root=root))
    ch = load_challenge(cid, root=root)
    subs = tmp_path / "subs"
    (subs / "starter-team").mkdir(parents=True)
    shutil.copy(ch.starter_notebook, subs / "starter-team" / "starter.ipynb")
    (subs / "baseline").mkdir()
    shutil.copy(ch.path("sample_submission"), subs / "baseline" / "sample.csv")

    report = grade(cid, [subs], workdir=workdir, root=root)
    assert report.counts["scored"] == 2, repr(report)

    board = leaderboard(cid, workdir=workdir, root=root, phase="public")
    assert list(board.table["team"]) == ["starter-team", "baseline"]
    assert board.table["rank"].tolist() == [1, 2]
    private = leaderboard(cid, workdir=workdir, root=root, phase="private")
    assert set(private.table.columns) >= {"public_rank", "move", "public_score"}

    with open_ledger(workdir) as led:
        runs = led.latest_runs(cid)
        nb_run = runs[runs["kind"] == "notebook"].iloc[0]
        executed = nbformat.read(nb_run["executed_path"], as_version=4)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and "predictions_path" in injected[0].source
        check_cell = next(c for c in executed.cells if c.source.startswith("kit.check("))
        check_html = check_cell.outputs[0]["data"]["text/html"]
        assert "Format OK" in check_html and "Local validation scores" in check_html
        assert "not computed" not in check_html, "every metric is scored on the notebook's own hold-out"
        for metric in ch.spec.metrics.all:
            assert f"<td>{metric}" in check_html
        assert Path(nb_run["predictions_path"]).exists()
        per_case = pd.read_csv(nb_run["per_case_path"])
        labels = pd.read_csv(ch.path("labels"))
        assert len(per_case) == len(labels) and set(per_case["split"]) == {"public", "private"}
        preds = led.case_predictions([nb_run["run_id"]])[nb_run["run_id"]]
        assert len(preds) == len(labels)
        scores = led.scores(cid)
        assert {f"{s}.{m}" for s in ("public", "private") for m in ch.spec.metrics.all} <= set(scores.columns)
        # the stored original is the very file handed in
        assert Path(nb_run["stored_path"]).read_bytes() == (subs / "starter-team" / "starter.ipynb").read_bytes()

    # ONE run of the grading notebook scored the batch, fed through a JSON-lines manifest
    batches = list((workdir / cid / "batches").iterdir())
    assert len(batches) == 1 and (batches[0] / "grade.ipynb").exists()
    lines = [json.loads(x) for x in (batches[0] / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and lines[-1] == {"end": True}

    # the notebook saw only participant-visible data
    out = Path(nb_run["output_path"]).read_text()
    assert "train:" in out
    for fmt in ("csv", "markdown", "html"):
        assert "starter-team" in render(board, fmt)

    # idempotent: nothing is graded twice; --regrade appends a new run
    again = grade(cid, [subs], workdir=workdir, root=root)
    assert again.counts["skipped"] == 2 and again.counts["scored"] == 0
    regraded = grade(cid, [subs / "baseline"], workdir=workdir, root=root, regrade=True)
    assert regraded.counts["scored"] == 1
    with open_ledger(workdir) as led:
        assert led.query("SELECT COUNT(*) AS n FROM runs")["n"][0] == 3


def test_bad_hand_ins_are_recorded_and_never_stop_the_others(root, workdir, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    subs = tmp_path / "subs"
    (subs / "good").mkdir(parents=True)
    shutil.copy(ch.path("sample_submission"), subs / "good" / "baseline.csv")
    # an earlier, recorded submission that must not change
    first = grade("breast-cancer", [subs], workdir=workdir, root=root)
    assert first.counts["scored"] == 1
    with open_ledger(workdir) as led:
        before = {t: led.query(f"SELECT * FROM {t}") for t in ("submissions", "runs", "scores")}

    (subs / "notjson").mkdir()
    (subs / "notjson" / "nb.ipynb").write_text("{ this is not json")
    variant(ch, subs, "notag", "lost_tag", drop_parameters_tag=True)
    variant(ch, subs, "raiser", "raises", features='def make_features(df):\n    return df[["nope"]]')
    variant(ch, subs, "malformed", "bad_preds", append="predictions.iloc[5:].to_csv(predictions_path, index=False)")
    variant(ch, subs, "quitter", "exits_early", features="raise SystemExit(0)")
    (subs / "csvbad").mkdir()
    (subs / "csvbad" / "p.csv").write_text("case_id,malignant\ncase-0002,high\n")
    (subs / "empty").mkdir()
    (subs / "empty" / "e.csv").write_text("")

    report = grade("breast-cancer", [subs], workdir=workdir, root=root)
    by_team = {e.team: e for e in report.entries}
    assert by_team["good"].status == "skipped"
    assert by_team["notjson"].status == "invalid" and "not valid JSON" in by_team["notjson"].error
    assert by_team["notag"].status == "invalid" and "no cell tagged 'parameters'" in by_team["notag"].error
    assert by_team["raiser"].status == "failed" and "KeyError" in by_team["raiser"].error
    assert (
        by_team["malformed"].status == "invalid"
        and "5 of 228 test case(s) have no prediction" in by_team["malformed"].error
    )
    assert by_team["quitter"].status == "failed" and "no predictions" in by_team["quitter"].error
    assert by_team["csvbad"].status == "invalid" and "'high'" in by_team["csvbad"].error
    assert by_team["empty"].status == "invalid" and "empty" in by_team["empty"].error
    assert "csvbad/p.csv" not in by_team["csvbad"].error and "p.csv" in by_team["csvbad"].error

    with open_ledger(workdir) as led:
        runs = led.latest_runs("breast-cancer").set_index("team")
        raiser = led.query("SELECT * FROM runs WHERE submission_id=?", (int(runs.loc["raiser", "submission_id"]),))
        assert raiser.loc[0, "cell_index"] is not None and "KeyError" in raiser.loc[0, "traceback"]
        assert Path(raiser.loc[0, "executed_path"]).exists()
        for t, df in before.items():
            now = led.query(f"SELECT * FROM {t}")

            def rows(frame):  # the same values, whatever dtype pandas infers from more rows
                return [tuple(None if pd.isna(v) else v for v in r) for r in frame.itertuples(index=False)]

            assert rows(now.iloc[: len(df)]) == rows(df), f"recorded {t} rows changed"
    board = leaderboard("breast-cancer", workdir=workdir, root=root)
    assert list(board.table["team"]) == ["good"], "failed submissions are never ranked"


def test_a_stopped_grader_finishes_the_rest(root, workdir, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    from kit.grading.intake import store_bytes

    data = ch.path("sample_submission").read_bytes()
    digest, stored = store_bytes(workdir / ch.id / "store", data, ".csv")
    with open_ledger(workdir) as led:  # recorded, then the grader was killed before running it
        led.add_submission(
            challenge=ch.id,
            team="late",
            kind="predictions",
            filename="s.csv",
            sha256=digest,
            size=len(data),
            stored_path=str(stored),
        )
        assert led.pending(ch.id) == [1]
    report = grade("breast-cancer", [], workdir=workdir, root=root)
    assert report.counts["scored"] == 1
    with open_ledger(workdir) as led:
        assert led.pending(ch.id) == []


def test_a_failing_grading_notebook_loses_nothing(root, workdir, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    good = ch.grade_notebook.read_bytes()
    nb = nbformat.read(ch.grade_notebook, as_version=4)
    nb.cells[2].source = "raise RuntimeError('organiser bug')"
    nbformat.write(nb, ch.grade_notebook)
    (tmp_path / "subs" / "t").mkdir(parents=True)
    shutil.copy(ch.path("sample_submission"), tmp_path / "subs" / "t" / "s.csv")
    with pytest.raises(GradingError, match="organiser bug") as exc:
        grade("breast-cancer", [tmp_path / "subs"], workdir=workdir, root=root)
    assert "run `kit grade` again" in exc.value.fix
    with open_ledger(workdir) as led:
        assert len(led.pending(ch.id)) == 1
    ch.grade_notebook.write_bytes(good)
    assert grade("breast-cancer", [tmp_path / "subs"], workdir=workdir, root=root).counts["scored"] == 1


def test_a_streamed_manifest_is_read_line_by_line_as_it_is_written(tmp_path):
    """The grading notebook follows the grader's manifest: half-written lines wait, the end line stops it."""
    import threading
    import time

    from kit.scoring import follow_manifest

    path = tmp_path / "manifest.jsonl"
    path.write_text("")
    got, times = [], []

    def reader():
        for entry in follow_manifest(path, poll=0.005):
            got.append(entry)
            times.append(time.monotonic())

    t = threading.Thread(target=reader)
    t.start()
    with open(path, "a") as fh:
        fh.write('{"key": "1"}\n{"key": ')
        fh.flush()
        time.sleep(0.2)
        assert got == [{"key": "1"}]  # the first entry is scored while the second is being written
        written = time.monotonic()
        fh.write('"2"}\n')
        fh.flush()
        time.sleep(0.1)
        fh.write('{"end": true}\n{"key": "after the end"}\n')
    t.join(5)
    assert not t.is_alive()
    assert got == [{"key": "1"}, {"key": "2"}] and times[1] >= written


def test_the_grading_notebook_runs_by_hand(root, tmp_path):
    """An organiser opens grade.ipynb in JupyterLab and runs it: it scores the sample submission."""
    import papermill as pm

    ch = load_challenge("breast-cancer", root=root)
    out = tmp_path / "graded.ipynb"
    pm.execute_notebook(
        str(ch.grade_notebook), str(out), cwd=str(ch.grading_dir), progress_bar=False, kernel_name="python3"
    )
    text = json.dumps(nbformat.read(out, as_version=4).cells[2].outputs)
    assert "scored 1 of 1 submissions" in text


def test_submission_rules_are_enforced_at_intake_and_nothing_is_lost(root, workdir, tmp_path):
    """ONE batch, end to end (the rules themselves are tested on a ledger in test_rules.py): the hand-ins
    that break a rule are recorded as rejected, with their files kept, and the others are graded."""
    from datetime import datetime, timezone

    from kit.grading.intake import HandIn

    ch = load_challenge("breast-cancer", root=root)
    base = ch.path("sample_submission").read_text().splitlines()
    day1 = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)

    def hand_in(team, i, at=None):
        p = tmp_path / f"{team}-{i}" / team / f"s{i}.csv"
        p.parent.mkdir(parents=True)
        # distinct content each time: a new submission
        p.write_text("\n".join([base[0]] + [f"{line.split(',')[0]},{(i + 1) / 100}" for line in base[1:]]) + "\n")
        return HandIn(p, team, submitted_at=at)

    per_day = ch.spec.submissions.per_day
    hand_ins = [hand_in("t", i) for i in range(per_day + 1)]  # handed in now=day1
    hand_ins += [
        hand_in("t", 99, at="2026-03-03T09:00:00Z"),  # the next day
        hand_in("u", 1, at="2025-01-01T00:00:00Z"),  # before the challenge opens
        hand_in("u", 2, at="2100-01-01T00:00:00Z"),  # after it closed
    ]
    report = grade("breast-cancer", hand_ins=hand_ins, workdir=workdir, root=root, now=day1)
    entries = {e.filename if e.team == "t" else f"u/{e.filename}": e for e in report.entries}
    assert len(report.entries) == len(hand_ins) == len(entries)
    assert [entries[f"s{i}.csv"].status for i in range(per_day)] == ["scored"] * per_day
    last = entries[f"s{per_day}.csv"]
    assert last.status == "rejected" and f"the daily limit is {per_day}" in last.error
    assert "from 2026-03-03 00:00 UTC" in last.error
    assert entries["s99.csv"].status == "scored"
    early, late = entries["u/s1.csv"], entries["u/s2.csv"]
    assert early.status == "rejected" and "opens on 2026-01-05" in early.error
    assert late.status == "rejected" and "closed on" in late.error
    with open_ledger(workdir) as led:
        assert led.count_submissions("breast-cancer", "t") == per_day + 1  # rejected ones do not count
        runs = led.latest_runs("breast-cancer").set_index("submission_id")
        assert len(runs) == len(hand_ins) and led.pending("breast-cancer") == []  # every hand-in is recorded
        for h in hand_ins:
            e = entries[h.path.name if h.team == "t" else f"u/{h.path.name}"]
            run = runs.loc[e.submission_id]
            assert run["status"] == e.status and Path(run["stored_path"]).read_bytes() == h.path.read_bytes()
            assert Path(run["feedback_path"]).exists()
        assert runs.loc[late.submission_id, "submitted_at"].startswith("2100-01-01T00:00:00")
        assert runs.loc[last.submission_id, "submitted_at"].startswith("2026-03-02T12:00:00")
