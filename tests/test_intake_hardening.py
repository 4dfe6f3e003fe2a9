"""Intake against hostile folders: team names are identities, no link is followed, nothing is
skipped without a ledger row, hand-in times come from the files, and the work folder keeps
what is hidden out of reach (issue 12, parts 3 and 4)."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import sqlite3
import stat
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kit.challenge import load_challenge
from kit.grading import grade
from kit.grading.intake import (
    MIB,
    HandIn,
    IntakeRefusal,
    TeamNames,
    check_team,
    hand_in_time,
    read_hand_in,
    take_in,
    team_keys,
)
from kit.grading.recording import Recorder
from kit.grading.report import GradeReport
from kit.grading.sources import collect_hand_ins
from kit.ledger import Ledger, RefusalRecord
from kit.metrics import get_metric
from kit.workspace import Workspace, open_ledger

NFD_CAFE = unicodedata.normalize("NFD", "café")


def csv_copy(ch, folder: Path, name: str = "baseline.csv", shift: int = 0) -> Path:
    """The sample submission (its scores moved by ``shift`` hundredths: new bytes) in *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ch.path("sample_submission").read_text().splitlines()
    if shift:
        lines = [lines[0]] + [f"{line.split(',')[0]},{(shift % 90 + 5) / 100}" for line in lines[1:]]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


# -- team names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["alice", "café", "Équipe Δ", "東京 team", "O'Brien & co.", "équipe-1", "فريق", "team 2"],
)
def test_team_names_of_any_script_are_taken_as_spelled(name):
    assert check_team(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (" honest-csv ", "begins or ends with a space"),
        (NFD_CAFE, "decomposed Unicode form"),
        ("..evil", "begins with a dot"),
        ("a\x1b[2Jb", "do not show (\\x1b)"),
        ("ab\u202ecd", "RIGHT-TO-LEFT OVERRIDE"),
        ("x\u200by", "ZERO WIDTH SPACE"),
        ("\u3164", "HANGUL FILLER"),
        ("bad\udcffbytes", "undecodable byte"),
        ("p\u0430ypal", "CYRILLIC SMALL LETTER A"),
        ("", "empty"),
        ("x" * 101, "at most 100"),
    ],
)
def test_team_names_that_hide_or_imitate_are_refused(name, why):
    with pytest.raises(IntakeRefusal) as info:
        check_team(name, where="subs/x")
    assert why in info.value.what and info.value.kind == "team-name"
    assert "\x1b" not in str(info.value) and "\u202e" not in str(info.value)  # escaped, never raw


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("alice", "Alice"),
        ("alice", "ALICE"),
        ("team", "ｔｅａｍ"),  # fullwidth (NFKC)
        ("alice", "\u0430lice"),  # a Cyrillic "а"
        ("Ivan", "lvan"),  # "I" and "l" look alike; so do "rn" and "m"
        ("modern", "rnodern"),
        ("team0", "teamO"),
        ("honest csv", "honest  csv"),
        ("honest csv", "honest\u00a0csv"),
    ],
)
def test_lookalike_names_share_a_key(a, b):
    assert team_keys(a) & team_keys(b)


@pytest.mark.parametrize(
    ("a", "b"), [("alice", "alicia"), ("team-1", "team-2"), ("café", "cafe"), ("ann", "anna"), ("ivan", "lvan")]
)
def test_different_names_do_not(a, b):
    assert not team_keys(a) & team_keys(b)


def test_a_new_spelling_of_a_team_clashes_and_two_in_one_batch_both_do():
    names = TeamNames(["honest-csv", "café", "Alice", "alice"])  # an older ledger may hold both
    clashes = names.clashes(["alice", "Alice", "HONEST-CSV", "newcomer", "Bob", "bob", "c\u0430fé"])
    assert set(clashes) == {"HONEST-CSV", "Bob", "bob", "c\u0430fé"}
    assert clashes["HONEST-CSV"] == ["honest-csv"] and clashes["c\u0430fé"] == ["café"]
    assert clashes["Bob"] == ["bob"] and clashes["bob"] == ["Bob"]


# -- the folder source follows no link ----------------------------------------------------------
def test_the_folder_source_follows_no_link_and_hands_on_what_it_will_not_take(root, tmp_path):
    subs = tmp_path / "subs"
    ch = load_challenge("breast-cancer", root=root)
    csv_copy(ch, subs / "good")
    csv_copy(ch, subs / "good" / "nested", "deep.csv", shift=1)
    csv_copy(ch, subs / "good" / ".ipynb_checkpoints", "baseline-checkpoint.csv")  # Jupyter's autosave
    csv_copy(ch, subs / "good", ".sneaky.csv", shift=2)
    csv_copy(ch, subs / "good" / ".hidden", "inside.csv", shift=3)
    (subs / "good" / "notes.txt").write_text("not a hand-in")
    csv_copy(ch, subs / "..evil", shift=4)
    (subs / "evil").symlink_to(root / "grading" / "breast-cancer", target_is_directory=True)
    (subs / "linker").mkdir()
    (subs / "linker" / "labels.csv").symlink_to(root / "grading" / "breast-cancer" / "labels.csv")
    (subs / "linker" / "sub").symlink_to(root / "grading", target_is_directory=True)
    os.mkfifo(subs / "linker" / "pipe.csv")

    got = {h.where: h for h in collect_hand_ins([subs])}
    refused = {where: h.refused["kind"] for where, h in got.items() if h.refused}
    assert refused == {
        "evil": "link",
        "good/.sneaky.csv": "hidden",
        "good/.hidden/inside.csv": "hidden",
        "linker/labels.csv": "link",
        "linker/sub": "link",
        "linker/pipe.csv": "not-regular",
    }
    taken = {where: h.team for where, h in got.items() if not h.refused}
    assert taken == {"good/baseline.csv": "good", "good/nested/deep.csv": "good", "..evil/baseline.csv": "..evil"}
    assert all(h.root == subs for h in got.values())
    grading = (root / "grading").resolve()
    assert not any(Path(os.path.realpath(h.path)).is_relative_to(grading) for h in got.values() if not h.refused)


def test_a_link_swapped_in_after_the_scan_is_not_followed(root, tmp_path):
    """The scan saw a real team folder; by the time it is read, the folder is a link to the grading folder."""
    subs = tmp_path / "subs"
    (subs / "team").mkdir(parents=True)
    (subs / "team" / "labels.csv").write_text("x")
    [h] = collect_hand_ins([subs])
    shutil.rmtree(subs / "team")
    (subs / "team").symlink_to(root / "grading" / "breast-cancer", target_is_directory=True)
    with pytest.raises(IntakeRefusal) as info:
        read_hand_in(h.path, 10 * MIB, root=h.root, where=h.where)
    assert info.value.kind == "link" and "'team' on its way is a symbolic link" in info.value.what


def test_an_oversize_file_is_refused_in_mib_before_it_is_read(tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.truncate(200 * MIB)  # sparse: 200 MiB that take no disk
    with pytest.raises(IntakeRefusal) as info:
        read_hand_in(big, 50 * MIB)
    assert info.value.kind == "too-large"
    assert "the challenge's limit of 50 MiB (limits.file_size_mb): 200.0 MiB" in info.value.what
    assert " MB" not in info.value.what


# -- refusals in the ledger -----------------------------------------------------------------
def test_hostile_hand_ins_get_a_ledger_row_and_feedback_never_a_merge(root, workdir, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    first = tmp_path / "first"
    csv_copy(ch, first / "honest-csv")
    csv_copy(ch, first / "café", shift=1)
    assert grade("breast-cancer", [first], workdir=workdir, root=root).counts["scored"] == 2
    labels_sha = hashlib.sha256((root / "grading" / "breast-cancer" / "labels.csv").read_bytes()).hexdigest()

    subs = tmp_path / "subs"
    csv_copy(ch, subs / " honest-csv ", shift=2)  # another spelling of a team of the ledger
    csv_copy(ch, subs / NFD_CAFE, shift=3)
    csv_copy(ch, subs / "HONEST-CSV", shift=4)
    csv_copy(ch, subs / "..evil", shift=5)  # a hidden folder: skipped without a word before
    csv_copy(ch, subs / "bad\x1b[31mname", shift=6)
    csv_copy(ch, subs / "Bob", shift=7)  # two spellings of one new name in one batch
    csv_copy(ch, subs / "bob", shift=8)
    (subs / "evil").symlink_to(root / "grading" / "breast-cancer", target_is_directory=True)
    (subs / "large").mkdir()
    with open(subs / "large" / "big.csv", "wb") as f:
        f.truncate(200 * MIB)

    report = grade("breast-cancer", [subs], workdir=workdir, root=root)
    assert report.counts["refused"] == len(report.entries) == 9, repr(report)
    assert all("refused at intake: refusal #" in e.error for e in report.entries)
    assert all("\x1b" not in e.team + e.error for e in report.entries)
    with open_ledger(workdir) as led:
        refusals = led.refusals("breast-cancer")
        assert sorted(led.team_names("breast-cancer")) == ["café", "honest-csv"]  # nothing merged, nothing new
        assert len(led.latest_runs("breast-cancer")) == 2
        stored = led.query("SELECT sha256 FROM submissions")["sha256"].tolist()
    by_path = {row.path: row for row in refusals.itertuples()}
    assert set(by_path) == {
        " honest-csv /baseline.csv",
        f"{NFD_CAFE}/baseline.csv",
        "HONEST-CSV/baseline.csv",
        "..evil/baseline.csv",
        "bad\\x1b[31mname/baseline.csv",
        "Bob/baseline.csv",
        "bob/baseline.csv",
        "evil",
        "large/big.csv",
    }
    assert by_path["evil"].kind == "link" and "links are not followed" in by_path["evil"].reason
    assert by_path["large/big.csv"].kind == "too-large" and "50 MiB" in by_path["large/big.csv"].reason
    assert by_path["..evil/baseline.csv"].kind == "team-name"
    assert "it looks like the team 'honest-csv'" in by_path[" honest-csv /baseline.csv"].reason
    assert "it looks like the team 'café'" in by_path[f"{NFD_CAFE}/baseline.csv"].reason
    upper = by_path["HONEST-CSV/baseline.csv"]
    assert upper.kind == "team-clash" and "another spelling of the team 'honest-csv'" in upper.reason
    assert upper.stored_path and Path(upper.stored_path).exists()  # a readable hand-in is kept, not lost
    assert by_path["Bob/baseline.csv"].kind == by_path["bob/baseline.csv"].kind == "team-clash"
    assert by_path["bad\\x1b[31mname/baseline.csv"].team == "bad\\x1b[31mname"
    for row in refusals.itertuples():
        feedback = Path(row.feedback_path).read_text()
        assert "not taken in" in feedback and "\x1b" not in feedback
        assert row.submitted_at is not None
    assert labels_sha not in stored and labels_sha not in set(refusals["sha256"].dropna())
    store = workdir / "breast-cancer" / "store"
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() != labels_sha for p in store.iterdir())

    again = grade("breast-cancer", [subs], workdir=workdir, root=root)
    assert again.counts["refused"] == 9
    with open_ledger(workdir) as led:
        assert len(led.refusals("breast-cancer")) == 9  # the same refusal is recorded once


def test_refusals_are_append_only_and_old_ledgers_open_owner_only(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)  # a ledger of the previous schema: no refusals table, mode 0644
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);INSERT INTO meta VALUES ('schema_version', '1');"
    )
    db.close()
    path.chmod(0o644)
    with Ledger(path) as led:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        record = RefusalRecord("c", "t", "f.csv", "t/f.csv", "link", "a link", fingerprint="abc")
        assert led.add_refusal(record) == (1, True)
        assert led.add_refusal(record) == (1, False)
        for stmt in ("UPDATE refusals SET reason = 'x'", "DELETE FROM refusals"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                led._db.execute(stmt)
        assert {p.name for p in tmp_path.iterdir()} == {"old.sqlite", "old.sqlite-wal", "old.sqlite-shm"}
        for p in tmp_path.iterdir():  # SQLite gives its -wal and -shm files the ledger's mode
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    with Ledger(tmp_path / "new.sqlite"):
        pass
    assert stat.S_IMODE((tmp_path / "new.sqlite").stat().st_mode) == 0o600


# -- hand-in times ----------------------------------------------------------------------------
def test_hand_in_time_is_the_files_mtime_capped_by_intake_and_floored_by_the_last_look(root, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    received = datetime(2026, 3, 2, 21, 56, 8, 360000, tzinfo=timezone.utc)
    written = datetime(2026, 3, 2, 21, 56, 2, 680000, tzinfo=timezone.utc)

    def at(name, mtime, **kw):
        p = csv_copy(ch, tmp_path / name, shift=len(name))
        os.utime(p, ns=(int(mtime.timestamp() * 1e9),) * 2)
        return p, HandIn(p, name, received_at=received.isoformat(), **kw)

    _, late = at("late", written)  # noticed late, under load: the file's own time counts
    _, future = at("future", received + timedelta(hours=3))  # a clock ahead: capped by intake
    floor = received - timedelta(seconds=1)
    _, backdated = at("backdated", datetime(2026, 1, 6, tzinfo=timezone.utc), not_before=floor.isoformat())
    _, vouched = at("vouched", written, submitted_at="2026-03-01T00:00:00Z")  # nbgrader's timestamp
    assert hand_in_time(late, written, received) == written
    assert hand_in_time(future, received + timedelta(hours=3), received) == received
    assert hand_in_time(backdated, datetime(2026, 1, 6, tzinfo=timezone.utc), received) == floor
    assert hand_in_time(vouched, written, received) == datetime(2026, 3, 1, tzinfo=timezone.utc)

    # through intake, into the ledger (no kernel: take_in only records)
    ws = Workspace(tmp_path / "work")
    with ws.open_ledger() as led:
        recorder = Recorder(ch, led, ws, GradeReport(challenge=ch))
        queue = take_in(ch, led, ws, [late, future, backdated, vouched], recorder, now=received + timedelta(days=1))
        assert len(queue) == 4
        times = {q.team: led.submission(q.submission_id)["submitted_at"] for q in queue}
    assert times == {
        "late": "2026-03-02T21:56:02.680000+00:00",
        "future": "2026-03-02T21:56:08.360000+00:00",
        "backdated": "2026-03-02T21:56:07.360000+00:00",
        "vouched": "2026-03-01T00:00:00.000000+00:00",
    }


def test_the_watch_floors_a_new_file_at_its_previous_look(tmp_path):
    from kit.grading.watch import _Arrivals

    inbox = tmp_path / "inbox"
    (inbox / "ann").mkdir(parents=True)
    (inbox / "ann" / "old.csv").write_text("a")
    arrivals = _Arrivals(inbox.resolve(), interval=0.05)
    try:
        first = arrivals.take(timeout=1)
        assert list(first.values())[0][1] is None  # there before the watch: since when, unknown
        time.sleep(0.05)
        (inbox / "ann" / "new.csv").write_text("b")
        deadline = time.monotonic() + 10
        got: dict = {}
        while not got and time.monotonic() < deadline:
            got = arrivals.take(timeout=0.2)
    finally:
        arrivals.close()
    [(path, (noticed, floor))] = got.items()
    written = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    assert path.name == "new.csv" and floor is not None and floor <= written <= noticed


# -- nothing hidden within reach ------------------------------------------------------------------
def test_the_work_folder_is_owner_only_and_run_folders_hold_nothing_hidden(root, workdir, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    subs = tmp_path / "subs"
    (subs / "nb").mkdir(parents=True)
    shutil.copy(ch.starter_notebook, subs / "nb" / "starter.ipynb")
    csv_copy(ch, subs / "csv", shift=11)
    (subs / "broken").mkdir()
    (subs / "broken" / "nb.ipynb").write_text("{ not json")
    (subs / "evil").symlink_to(root / "grading" / "breast-cancer", target_is_directory=True)
    report = grade("breast-cancer", [subs], workdir=workdir, root=root)
    assert report.counts["scored"] == 2 and report.counts["invalid"] == 1, repr(report)

    with open_ledger(workdir) as led:
        runs = led.latest_runs("breast-cancer").set_index("team")
        scores = led.scores("breast-cancer")
    metric = get_metric(ch.spec.metrics.primary)
    open_dirs = {workdir, workdir / ch.id, workdir / ch.id / "scratch"}  # the sandboxes go through these
    seen = 0
    for folder, dirs, files in os.walk(workdir):
        for d in dirs:
            p = Path(folder) / d
            if p not in open_dirs:
                assert stat.S_IMODE(p.lstat().st_mode) == 0o700, p
        for f in files:
            p = Path(folder) / f
            assert stat.S_IMODE(p.lstat().st_mode) == 0o600, p
            seen += 1
    assert seen > 15

    for team in ("nb", "csv"):
        run = runs.loc[team]
        run_dir = Path(run["feedback_path"]).parent
        per_case = Path(run["per_case_path"])
        assert per_case.exists() and not per_case.is_relative_to(run_dir)  # hidden, not beside the feedback
        assert per_case.parent.parent.parent.name == "scoring"
        for p in run_dir.iterdir():
            assert p.name not in ("per_case.csv", "scores.json"), p
            if p.suffix == ".csv":
                with open(p, newline="") as fh:
                    assert "split" not in next(csv.reader(fh)), p
        feedback = Path(run["feedback_path"]).read_text()
        public, private = scores.loc[run["submission_id"], [f"public.{metric.name}", f"private.{metric.name}"]]
        assert metric.format(public) in feedback
        if metric.format(private) != metric.format(public):
            assert metric.format(private) not in feedback
    batch_files = [p for p in (workdir / ch.id / "batches").rglob("*") if p.is_file()]
    assert {p.name for p in batch_files} >= {"grade.ipynb", "manifest.jsonl", "results.json"}


def test_a_name_the_ledger_holds_stays_its_teams_and_its_lookalikes_are_refused(root, tmp_path):
    """An older version took 'team-α' (a Greek alpha among Latin letters): it stays that team's;
    'team-a', which looks like it, is refused, with a row and the file kept."""
    ch = load_challenge("breast-cancer", root=root)
    ws = Workspace(tmp_path / "work")
    now = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    with ws.open_ledger() as led:
        led.add_submission(
            challenge=ch.id,
            team="team-α",
            kind="predictions",
            filename="old.csv",
            sha256="0" * 64,
            size=1,
            stored_path="/nowhere",
        )
        recorder = Recorder(ch, led, ws, GradeReport(challenge=ch))
        old = HandIn(csv_copy(ch, tmp_path / "a", shift=1), "team-α")
        new = HandIn(csv_copy(ch, tmp_path / "b", shift=2), "team-a")
        queue = take_in(ch, led, ws, [old, new], recorder, now=now)
        assert [q.team for q in queue] == ["team-α"]
        [row] = led.refusals(ch.id).itertuples()
    assert row.team == "team-a" and row.kind == "team-clash" and "another spelling of the team 'team-α'" in row.reason
    assert Path(row.stored_path).read_bytes() == new.path.read_bytes()
    assert row.path == "baseline.csv"  # no folder of the grader's in what a team may read


def test_a_work_folder_of_an_earlier_version_is_sealed_once(root, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    ws = Workspace(tmp_path / "work")
    old_run = ws.runs_dir(ch.id) / "1" / "20260101T000000000000Z"
    old_run.mkdir(parents=True)
    for name in ("per_case.csv", "scores.json", "feedback.html"):
        (old_run / name).write_text("x")
        (old_run / name).chmod(0o644)
    for d in (ws.runs_dir(ch.id), old_run.parent, old_run):
        d.chmod(0o755)
    with ws.open_ledger() as led:
        Recorder(ch, led, ws, GradeReport(challenge=ch))
    assert stat.S_IMODE(ws.runs_dir(ch.id).stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) in (0o600, 0o700) for p in ws.runs_dir(ch.id).rglob("*"))
    assert {stat.S_IMODE(ws.challenge_dir(ch.id).joinpath(n).stat().st_mode) for n in ("store", "batches")} == {0o700}
