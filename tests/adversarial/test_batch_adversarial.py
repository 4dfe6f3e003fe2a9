"""Hostile hand-ins inside a real batch: `kit grade` contains each one, records a clear reason,
and grades the honest submissions of the same batch exactly as it would alone."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from kit.challenge import load_challenge
from kit.demo import Variant, make_variant
from kit.execution.sandbox import find_bwrap
from kit.grading import grade
from kit.labels import read_labels
from kit.scoring import score_file
from kit.workspace import open_ledger

HERE = Path(__file__).resolve().parent
HOSTILE = sorted(HERE.glob("*.ipynb"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed"),
]

# extra hostile hand-ins built on the starter notebook: they do the honest work, then attack
ATTACKS = {
    "loop_forever": "while True:\n    pass",
    "overwrite_others": """
import glob, os
hits = []
for pattern in ["/work/**/ledger.sqlite", "/work/**/store/*", "/tmp/**/ledger.sqlite", "/tmp/**/store/*",
                "/tmp/**/runs/**/predictions.csv", "/root/**", "/home/**", "/sandbox/data/*", "/run/**",
                "/sandbox/*.yml"]:
    for path in glob.glob(pattern, recursive=True)[:50]:
        try:
            with open(path, "w") as f:
                f.write("pwned")
            hits.append(path)
        except OSError:
            pass
print("overwrote:", hits)""",
    "perfect_score_trick": """
# claims a perfect score every way it can think of; only the parsed predictions file counts
import json, pathlib
print("roc_auc: 1.0000 (public) 1.0000 (private)")
pathlib.Path("scores.json").write_text(json.dumps({"public": {"roc_auc": 1.0}}))
pathlib.Path("results.json").write_text(json.dumps({"status": "scored", "scores": {"public": {"roc_auc": 1.0}}}))
class AlwaysEqual(float):
    def __eq__(self, other): return True
try:
    import kit.scoring as s
    s.score_file(kit.load_challenge("breast-cancer"), None, predictions_path)
except Exception as exc:
    print("no labels here:", type(exc).__name__)
predictions[TARGETS[0]] = predictions[TARGETS[0]].round(0)  # and its real predictions are cruder than before
predictions.to_csv(predictions_path, index=False)""",
}


def tight_limits(root: Path) -> None:
    """Limits that stop the hostile hand-ins soon. The notebooks that must run to their end fit
    them several times over (the honest ones: under a second of work each in a warm kernel; the
    slowest, overwrite_others, globs the whole Python environment in about a second); those that
    spin until a limit stops them (loop_forever, cpu_threads) hold a worker ``cell_seconds`` each."""
    spec = root / "starter_kits" / "breast-cancer" / "challenge.yml"
    text = spec.read_text()
    for key, value in {
        "wall_seconds": 25,
        "cell_seconds": 6,
        "cpu_seconds": 30,
        "memory_mb": 1024,
        "processes": 16,
        "file_size_mb": 5,
        "output_mb": 1,
    }.items():
        old = next(line for line in text.splitlines() if line.strip().startswith(f"{key}:"))
        text = text.replace(old, f"  {key}: {value}")
    spec.write_text(text)


def test_a_hostile_batch_is_contained_and_the_honest_are_graded(root, workdir, tmp_path):
    tight_limits(root)
    ch = load_challenge("breast-cancer", root=root)
    subs = tmp_path / "subs"
    starter = nbformat.read(ch.starter_notebook, as_version=4)
    for team in ("honest-1", "honest-2"):
        (subs / team).mkdir(parents=True)
        shutil.copy(ch.starter_notebook, subs / team / "starter.ipynb")
    (subs / "honest-csv").mkdir()
    shutil.copy(ch.path("sample_submission"), subs / "honest-csv" / "baseline.csv")
    for nb in HOSTILE:
        (subs / nb.stem).mkdir()
        shutil.copy(nb, subs / nb.stem / nb.name)
    variants = {name: Variant(name, name, append=attack) for name, attack in ATTACKS.items()}
    variants["exit_early"] = Variant("exit_early", "exit_early", features="import sys\nsys.exit(0)")
    for name, v in variants.items():
        nb = make_variant(starter, v)
        (subs / name).mkdir()
        nbformat.write(nb, subs / name / f"{name}.ipynb")

    # an earlier, honest submission whose stored files must not change
    first = grade("breast-cancer", [subs / "honest-csv"], workdir=workdir, root=root)
    assert first.counts["scored"] == 1
    store = workdir / "breast-cancer" / "store"
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in store.iterdir()}
    ledger_before = hashlib.sha256((workdir / "ledger.sqlite").read_bytes()).hexdigest()

    # three at a time: most hostile runs wait (for a limit, a kill, a sandbox's end) more than they compute
    report = grade("breast-cancer", [subs], workdir=workdir, root=root, workers=3)
    by = {e.team: e for e in report.entries}
    assert len(by) == 3 + len(HOSTILE) + len(variants)

    # the honest are graded as if alone
    labels = read_labels(ch)
    alone = score_file(ch, labels, ch.path("sample_submission")).scores["public"]["roc_auc"]
    assert by["honest-csv"].status == "skipped"
    for team in ("honest-1", "honest-2"):
        assert by[team].status == "scored", by[team].error
        assert by[team].score == pytest.approx(0.9951, abs=5e-4)
    assert alone == 0.5

    # every hostile hand-in is recorded with a reason, and none is believed
    for team, e in by.items():
        if team.startswith("honest"):
            continue
        assert e.submission_id is not None and e.status in ("scored", "failed", "invalid"), (team, e)
        if e.status != "scored":
            assert e.error.strip(), f"{team}: no reason recorded"
    # a time limit, and the fix of that kind of failure (kit.execution.outcome.fix_for)
    assert "limit" in by["loop_forever"].error and "make each cell run in under 6 s" in by["loop_forever"].error
    assert by["exit_early"].status == "failed" and "predictions" in by["exit_early"].error
    trick = by["perfect_score_trick"]
    assert trick.status == "scored" and trick.score < 0.99, "the printed and written 'perfect' scores are ignored"
    for name in ("fork_bomb", "memory_hog", "disk_filler", "output_flood"):
        if name in by:
            assert by[name].status in ("failed", "invalid", "scored"), by[name]

    with open_ledger(workdir) as led:
        assert led.query("PRAGMA integrity_check").iloc[0, 0] == "ok"
        runs = led.latest_runs("breast-cancer").set_index("team")
        # what the ledger says was scored is what the trusted scorer computes from the kept predictions
        trick_run = runs.loc["perfect_score_trick"]
        recomputed = score_file(ch, labels, trick_run["predictions_path"]).scores["public"]["roc_auc"]
        assert recomputed == pytest.approx(trick.score)
        out = Path(runs.loc["overwrite_others", "output_path"]).read_text()
        hits = eval(out.split("overwrote: ", 1)[1].splitlines()[0])  # noqa: S307 - our own test output
        # only its own run's folders are writable (its kernel's runtime folder, its work folder, its /tmp)
        assert all(h.startswith(("/run/jupyter/", "/sandbox/work/", "/tmp/")) for h in hits), hits
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before}
    assert after == before, "another team's stored files changed"
    assert ledger_before != hashlib.sha256((workdir / "ledger.sqlite").read_bytes()).hexdigest()  # it grew
    print(pd.DataFrame([e.__dict__ for e in report.entries])[["team", "status", "score", "error"]].to_string())
