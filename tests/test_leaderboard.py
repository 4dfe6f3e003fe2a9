"""Leaderboard rules on a ledger written directly (no kernels): phases, selection, ties, escaping."""

from datetime import datetime, timezone

import numpy as np
import pytest
from conftest import REPO

from kit.challenge import load_challenge
from kit.errors import KitError
from kit.leaderboard import leaderboard, render
from kit.ledger import Ledger, RunRecord


def add(led, team, public, private, at, sha=None, status="scored"):
    sid, _ = led.add_submission(
        challenge="breast-cancer",
        team=team,
        kind="predictions",
        filename="p.csv",
        sha256=sha or f"{team}{at}",
        size=1,
        stored_path="/x",
        submitted_at=at,
    )
    scores = {"public": {"roc_auc": public}, "private": {"roc_auc": private}} if status == "scored" else {}
    led.add_run(RunRecord(sid, status, "score", at, scores=scores))
    return sid


@pytest.fixture
def led(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as led:
        add(led, "ann", 0.90, 0.80, "2026-01-01T10:00:00")
        add(led, "ann", 0.95, 0.70, "2026-01-02T10:00:00")  # best public, worse private
        add(led, "bob", 0.92, 0.91, "2026-01-01T09:00:00")
        add(led, "cat", 0.92, 0.60, "2026-01-01T11:00:00")  # ties bob on public, later
        add(led, "dan", 0.99, 0.99, "2026-01-01T08:00:00", status="failed")  # never ranked
        add(led, "eve", None, 0.50, "2026-01-01T08:30:00")  # no public score: unranked
        yield led


def test_public_board_best_per_team_ties_share_rank_earlier_first(led):
    b = leaderboard("breast-cancer", ledger=led, root=REPO, phase="public")
    t = b.table
    assert t["team"].tolist() == ["ann", "bob", "cat", "eve"]
    assert t["rank"].tolist()[:3] == [1, 2, 2]
    assert t["score"].tolist()[:3] == [0.95, 0.92, 0.92]
    assert t["entries"].tolist()[0] == 2
    assert b.unranked == 1 and "not ranked" in b.notes[0]
    assert "dan" not in t["team"].tolist()


def test_private_board_keeps_the_public_selection_and_shows_moves(led):
    b = leaderboard("breast-cancer", ledger=led, root=REPO, phase="private")
    t = b.table.set_index("team")
    assert t.loc["ann", "score"] == 0.70, "ranked by the private score of the best-public submission"
    assert t.loc["bob", "rank"] == 1 and t.loc["bob", "move"] == 1
    assert t.loc["ann", "rank"] == 2 and t.loc["ann", "move"] == -1
    assert t.loc["cat", "rank"] == 3 and t.loc["cat", "move"] == -1
    assert t.loc["ann", "public_rank"] == 1


def test_auto_phase_follows_the_calendar(led):
    ch = load_challenge("breast-cancer", root=REPO)
    open_now = datetime(2027, 1, 1, tzinfo=timezone.utc)
    closed = datetime(2027, 8, 1, tzinfo=timezone.utc)
    assert ch.spec.is_open(open_now)
    assert leaderboard("breast-cancer", ledger=led, root=REPO, now=open_now).phase == "public"
    assert leaderboard("breast-cancer", ledger=led, root=REPO, now=closed).phase == "private"


def test_lower_is_better_metric_ranks_ascending(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as led:
        for team, v in [("a", 60.0), ("b", 50.0), ("c", 70.0)]:
            sid, _ = led.add_submission(
                challenge="diabetes",
                team=team,
                kind="predictions",
                filename="p.csv",
                sha256=team,
                size=1,
                stored_path="/x",
            )
            led.add_run(RunRecord(sid, "scored", "score", "t", scores={"public": {"rmse": v}, "private": {"rmse": v}}))
        b = leaderboard("diabetes", ledger=led, root=REPO, phase="public")
        assert b.table["team"].tolist() == ["b", "a", "c"]
        assert "rmse ↓" in render(b, "table")


def test_empty_and_missing_ledger(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as led:
        b = leaderboard("breast-cancer", ledger=led, root=REPO, phase="public")
        assert len(b) == 0 and "no scored submissions" in render(b, "table")
        assert render(b, "csv").startswith("rank,team,score")
    with pytest.raises(KitError, match="no ledger yet"):
        leaderboard("breast-cancer", workdir=tmp_path / "nowhere", root=REPO)


def test_team_names_are_escaped_in_every_format(tmp_path):
    evil = ["<script>alert(1)</script>", '=HYPERLINK("http://x")', "a|b *c* [d](e)", "-2+3"]
    with Ledger(tmp_path / "l.sqlite") as led:
        for i, team in enumerate(evil):
            add(led, team, 0.5 + i / 10, 0.5, f"2026-01-0{i + 1}")
        b = leaderboard("breast-cancer", ledger=led, root=REPO, phase="public")
    html_out = render(b, "html")
    assert "<script>" not in html_out and "&lt;script&gt;" in html_out
    csv_out = render(b, "csv")
    assert "'=HYPERLINK" in csv_out and "'-2+3" in csv_out
    md = render(b, "markdown")
    assert "a\\|b \\*c\\* \\[d\\](e)" in md and "<script>" not in md
    with pytest.raises(KitError, match="is not a registered board format"):
        render(b, "pdf")


def test_selection_rules_last_and_chosen(led):
    last = leaderboard("breast-cancer", ledger=led, root=REPO, phase="public", selection="last").table.set_index("team")
    assert last.loc["ann", "score"] == 0.95 and last.loc["ann", "submitted_at"].startswith("2026-01-02")
    from kit.leaderboard import choose_final

    # ann chooses her first submission (public 0.90, private 0.80) as a final
    assert choose_final("breast-cancer", "ann", [1], ledger=led, root=REPO) == [1]
    priv = leaderboard("breast-cancer", ledger=led, root=REPO, phase="private", selection="chosen").table.set_index(
        "team"
    )
    assert priv.loc["ann", "score"] == 0.80 and priv.loc["ann", "selected_by"] == "chosen"
    assert priv.loc["bob", "selected_by"] == "best"
    with pytest.raises(KitError, match="allows 2"):
        choose_final("breast-cancer", "ann", [1, 2, 3], ledger=led, root=REPO)
    with pytest.raises(KitError, match="not a submission of team 'ann'"):
        choose_final("breast-cancer", "ann", [3], ledger=led, root=REPO)
    with pytest.raises(KitError, match="not scored"):
        choose_final("breast-cancer", "dan", [5], ledger=led, root=REPO)


def test_ladder_board_releases_only_real_improvements(tmp_path):
    """Diabetes (rmse has a per-case loss): a tiny improvement is not released, a large one is."""
    import pandas as pd

    from kit.labels import read_labels
    from kit.leaderboard.uncertainty import apply_ladder
    from kit.scoring import score_file

    ch = load_challenge("diabetes", root=REPO)
    labels = read_labels(ch)
    y = labels.y_true()
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, len(y))
    with Ledger(tmp_path / "l.sqlite") as led:
        for i, (team, scale) in enumerate([("a", 60), ("a", 59.5), ("b", 70), ("b", 30)]):
            p = tmp_path / f"{i}.csv"
            pd.DataFrame({"case_id": labels.ids, "progression": y + scale * noise}).to_csv(p, index=False)
            res = score_file(ch, labels, p)
            sid, _ = led.add_submission(
                challenge="diabetes",
                team=team,
                kind="predictions",
                filename=p.name,
                sha256=str(i),
                size=1,
                stored_path=str(p),
                submitted_at=f"2026-02-0{i + 1}",
            )
            led.add_run(
                RunRecord(
                    sid,
                    "scored",
                    "score",
                    "t",
                    scores=res.scores,
                    primary=("rmse", False),
                    case_predictions=res.per_case["prediction"].to_numpy(),
                )
            )
        raw = leaderboard("diabetes", ledger=led, root=REPO, phase="public").table.set_index("team")
        b = leaderboard("diabetes", ledger=led, root=REPO, phase="public")
        apply_ladder(b, led)
    t = b.table.set_index("team")
    # a's second submission improved by less than a standard error: the first score stays
    assert t.loc["a", "score"] > raw.loc["a", "score"]
    assert t.loc["b", "score"] == pytest.approx(raw.loc["b", "score"], abs=1.0)
    assert t["rank"].tolist() == [1, 2] and "mae" not in b.table.columns
    with pytest.raises(KitError, match="no per-case loss|has none"):
        with Ledger(tmp_path / "l2.sqlite") as led2:
            apply_ladder(leaderboard("breast-cancer", ledger=led2, root=REPO, phase="public"), led2)
