"""`kit watch`: hand-ins graded as they arrive, by warm kernels."""

import shutil
import threading
import time

from kit.challenge import load_challenge
from kit.grading.watch import watch
from kit.workspace import open_ledger


def test_watch_grades_files_as_they_arrive(root, workdir, tmp_path):
    ch = load_challenge("breast-cancer", root=root)
    inbox = tmp_path / "inbox"
    reports, lines = [], []
    stop = threading.Event()
    t = threading.Thread(
        target=watch,
        args=("breast-cancer", inbox),
        daemon=True,
        kwargs=dict(
            workdir=workdir, root=root, workers=1, echo=lines.append, stop=stop.is_set, on_report=reports.append
        ),
    )
    t.start()
    try:
        deadline = time.time() + 90
        while not any("watching" in line for line in lines) and time.time() < deadline:
            time.sleep(0.2)
        (inbox / "ann").mkdir(parents=True)
        shutil.copy(ch.starter_notebook, inbox / "ann" / "starter.ipynb")
        (inbox / "bob").mkdir()
        shutil.copy(ch.path("sample_submission"), inbox / "bob" / "baseline.csv")
        while sum(r.counts["scored"] for r in reports) < 2 and time.time() < deadline:
            time.sleep(0.2)
        # the same file again is not graded twice; a new file is
        shutil.copy(ch.path("sample_submission"), inbox / "bob" / "baseline-copy.csv")
        time.sleep(1.5)
    finally:
        stop.set()
        t.join(60)
    assert sum(r.counts["scored"] for r in reports) == 2
    assert sum(r.counts["skipped"] for r in reports) == 1  # same bytes from the same team
    with open_ledger(workdir) as led:
        runs = led.latest_runs("breast-cancer")
        assert sorted(runs["team"]) == ["ann", "bob"] and (runs["status"] == "scored").all()
