"""The submission rules (the challenge's dates, each team's daily and total quotas) and intake,
on a real SQLite ledger, without kernels. One end-to-end batch is in test_grading.py."""

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import REPO

from kit.challenge import load_challenge
from kit.grading.intake import HandIn, take_in
from kit.grading.recording import Recorder
from kit.grading.report import GradeReport
from kit.grading.rules import parse_time, rule_violation
from kit.ledger import Ledger, RunRecord, utcnow
from kit.workspace import Workspace

DAY1 = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
_CONTENTS = itertools.count(1)  # each recorded hand-in has bytes of its own


@pytest.fixture
def spec():
    """The shipped breast-cancer rules: open 2026-01-05 to 2027-07-07, 5 a day, 50 in all."""
    s = load_challenge("breast-cancer", root=REPO).spec
    assert (s.submissions.per_day, s.submissions.total) == (5, 50)
    return s


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as led:
        yield led


def record(ledger, spec, team, at, status=None):
    """A hand-in of *team* at *at*, with a run of *status* (None: not graded yet)."""
    n = next(_CONTENTS)
    sid, created = ledger.add_submission(
        challenge=spec.id,
        team=team,
        kind="predictions",
        filename=f"s{n}.csv",
        sha256=f"{n:064x}",
        size=1,
        stored_path=f"/nowhere/s{n}.csv",
        submitted_at=at.isoformat(timespec="microseconds"),
    )
    assert created
    if status is not None:
        ledger.add_run(RunRecord(sid, status, "intake" if status == "rejected" else "score", utcnow()))
    return sid


def test_hand_ins_are_taken_from_the_first_moment_of_the_challenge_to_its_close(spec, ledger):
    opens, closes = spec.opens, spec.closes
    assert (opens, closes) == (
        datetime(2026, 1, 5, tzinfo=timezone.utc),
        datetime(2027, 7, 7, tzinfo=timezone.utc),
    )
    early = rule_violation(spec, ledger, "t", opens - timedelta(microseconds=1))
    assert early["kind"] == "rejected" and early["what"] == "the challenge opens on 2026-01-05 00:00 UTC"
    assert "once the challenge is open" in early["fix"]
    assert rule_violation(spec, ledger, "t", opens) is None
    assert rule_violation(spec, ledger, "t", closes - timedelta(microseconds=1)) is None
    for late in (closes, datetime(2100, 1, 1, tzinfo=timezone.utc)):
        v = rule_violation(spec, ledger, "t", late)
        assert v["kind"] == "rejected" and v["what"].startswith("the challenge closed on 2027-07-07 00:00 UTC")
        assert "late hand-ins are kept but not graded" in v["what"]
    # the dates come first: a team over its quota is told that the challenge is closed
    for _ in range(spec.submissions.per_day):
        record(ledger, spec, "t", closes - timedelta(hours=1), "scored")
    assert "closed on" in rule_violation(spec, ledger, "t", closes)["what"]
    assert "daily limit" in rule_violation(spec, ledger, "t", closes - timedelta(minutes=1))["what"]


def test_the_daily_quota_counts_a_teams_hand_ins_of_that_utc_day_but_not_rejected_ones(spec, ledger):
    per_day = spec.submissions.per_day
    for i in range(per_day):
        assert rule_violation(spec, ledger, "t", DAY1) is None, f"hand-in {i + 1} of {per_day}"
        # graded or still waiting to be: both count
        record(ledger, spec, "t", DAY1 - timedelta(hours=i), "scored" if i % 2 else None)
    v = rule_violation(spec, ledger, "t", DAY1)
    assert v["kind"] == "rejected"
    assert v["what"] == "team 't' has made 5 submissions on 2026-03-02 (UTC), the daily limit is 5"
    assert v["fix"] == "hand it in again from 2026-03-03 00:00 UTC"
    # rejected hand-ins do not count; failed ones do
    record(ledger, spec, "t", DAY1, "rejected")
    assert ledger.count_submissions(spec.id, "t", day="2026-03-02") == per_day
    assert rule_violation(spec, ledger, "t", datetime(2026, 3, 2, 23, 59, 59, tzinfo=timezone.utc)) is not None
    # the next UTC day starts afresh, whatever the hour of the hand-in's own time zone
    assert rule_violation(spec, ledger, "t", datetime(2026, 3, 3, tzinfo=timezone.utc)) is None
    assert rule_violation(spec, ledger, "t", parse_time("2026-03-02T20:00:00-05:00")) is None  # 01:00 UTC on the 3rd
    assert rule_violation(spec, ledger, "t", parse_time("2026-03-03T00:30:00+01:00")) is not None  # 23:30 UTC
    # quotas are per team and per challenge
    assert rule_violation(spec, ledger, "other team", DAY1) is None
    assert ledger.count_submissions("diabetes", "t") == 0
    record(ledger, spec, "u", DAY1, "failed")
    assert ledger.count_submissions(spec.id, "u", day="2026-03-02") == 1


def test_the_total_quota_holds_on_any_day(spec, ledger):
    total, per_day = spec.submissions.total, spec.submissions.per_day
    for day in range(total // per_day - 1):
        for _ in range(per_day):
            record(ledger, spec, "t", DAY1 + timedelta(days=day), "scored")
    record(ledger, spec, "t", DAY1 + timedelta(days=30), "rejected")  # does not count
    later = DAY1 + timedelta(days=40)
    for _ in range(per_day - 1):
        record(ledger, spec, "t", later, "scored")
    assert ledger.count_submissions(spec.id, "t") == total - 1
    assert rule_violation(spec, ledger, "t", later) is None  # the last one, and the day's 5th
    record(ledger, spec, "t", later, "scored")
    for at in (later, later + timedelta(days=1)):  # a fresh day does not help
        v = rule_violation(spec, ledger, "t", at)
        assert v["kind"] == "rejected" and v["what"] == "team 't' has used all 50 submissions of the challenge"
        assert "final submissions" in v["fix"]
    assert rule_violation(spec, ledger, "another team", later) is None


def distinct_csv(folder: Path, base: list[str], i: int) -> Path:
    """The sample submission with predictions of its own (new bytes: a new submission)."""
    p = folder / f"s{i}.csv"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join([base[0]] + [f"{line.split(',')[0]},{(i + 1) / 100}" for line in base[1:]]) + "\n")
    return p


def test_intake_records_a_rejected_hand_in_keeps_its_file_and_never_queues_it(root, workdir, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    base = ch.path("sample_submission").read_text().splitlines()
    per_day = ch.spec.submissions.per_day
    files = [distinct_csv(tmp_path / "t", base, i) for i in range(per_day + 1)]
    ws = Workspace(workdir)

    def intake(hand_ins, **kw):
        report = GradeReport(challenge=ch, workdir=str(workdir))
        queue = take_in(ch, led, ws, hand_ins, Recorder(ch, led, ws, report), now=DAY1, **kw)
        return queue, report.entries

    with ws.open_ledger() as led:
        queue, entries = intake([HandIn(p, "t") for p in files])
        assert [q.filename for q in queue] == [p.name for p in files[:per_day]]
        assert [q.data for q in queue] == [p.read_bytes() for p in files[:per_day]]
        (rejected,) = entries
        assert (rejected.status, rejected.stage, rejected.filename) == ("rejected", "intake", files[-1].name)
        assert "the daily limit is 5" in rejected.error and "from 2026-03-03 00:00 UTC" in rejected.error
        # nothing is lost: the rejected file is stored and recorded, with a run and feedback that say why
        sub = led.submission(rejected.submission_id)
        assert Path(sub["stored_path"]).read_bytes() == files[-1].read_bytes()
        assert sub["submitted_at"].startswith("2026-03-02T12:00:00")
        runs = led.latest_runs(ch.id).set_index("submission_id")
        assert runs.loc[rejected.submission_id, "status"] == "rejected"
        assert "daily limit" in Path(runs.loc[rejected.submission_id, "feedback_path"]).read_text()
        assert led.pending(ch.id) == [q.submission_id for q in queue]  # the accepted wait to be graded
        assert led.count_submissions(ch.id, "t") == per_day

        # the same file again, even with --regrade, is skipped: it is never graded
        queue, entries = intake([HandIn(files[-1], "t")], regrade=True)
        assert queue == [] and [(e.status, e.submission_id) for e in entries] == [("skipped", rejected.submission_id)]
        # a hand-in that carries its own time is judged at that time
        queue, entries = intake([HandIn(files[-1], "t2", submitted_at="2025-01-01T00:00:00Z")])
        assert queue == [] and entries[0].status == "rejected" and "opens on 2026-01-05" in entries[0].error
        assert len(led.latest_runs(ch.id)) == per_day + 2
