"""`kit watch`: hand-ins graded as they arrive, by warm kernels."""

import importlib
import shutil
import threading
import time

from kit.challenge import load_challenge
from kit.grading.watch import watch
from kit.workspace import open_ledger


def test_watch_grades_files_as_they_arrive(root, workdir, tmp_path, monkeypatch):
    ch = load_challenge("breast-cancer", root=root)
    inbox = tmp_path / "inbox"
    reports, lines, scans, turns = [], [], [], []
    stop = threading.Event()

    def scan(folder):  # the watch's own scan, counted
        found = real_scan(folder)
        scans.append(found)
        return found

    def stopping():  # asked once per turn of the watch's loop, after the turn's report
        turns.append(len(scans))
        return stop.is_set()

    watch_module = importlib.import_module("kit.grading.watch")
    real_scan = watch_module._scan
    monkeypatch.setattr(watch_module, "_scan", scan)
    t = threading.Thread(
        target=watch,
        args=("breast-cancer", inbox),
        daemon=True,
        kwargs=dict(workdir=workdir, root=root, workers=1, echo=lines.append, stop=stopping, on_report=reports.append),
    )
    t.start()
    try:
        deadline = time.monotonic() + 90

        def wait_for(condition):
            while not condition() and time.monotonic() < deadline:
                time.sleep(0.05)

        wait_for(lambda: any("watching" in line for line in lines))
        (inbox / "ann").mkdir(parents=True)
        shutil.copy(ch.starter_notebook, inbox / "ann" / "starter.ipynb")
        (inbox / "bob").mkdir()
        shutil.copy(ch.path("sample_submission"), inbox / "bob" / "baseline.csv")
        wait_for(lambda: sum(r.counts["scored"] for r in reports) >= 2)
        # the same file again is not graded twice; a new file is
        shutil.copy(ch.path("sample_submission"), inbox / "bob" / "baseline-copy.csv")
        wait_for(lambda: sum(len(r.entries) for r in reports) >= 3)
        # and nothing is taken a second time: not by the backup scan either (one more scan, and its turn)
        after = len(scans)
        wait_for(lambda: turns and turns[-1] > after)
    finally:
        stop.set()
        t.join(60)
    assert sum(r.counts["scored"] for r in reports) == 2
    assert sum(r.counts["skipped"] for r in reports) == 1  # same bytes from the same team
    with open_ledger(workdir) as led:
        runs = led.latest_runs("breast-cancer")
        assert sorted(runs["team"]) == ["ann", "bob"] and (runs["status"] == "scored").all()
