"""Leaderboard rules on a ledger written directly (no kernels): phases, selection, ties, escaping."""

import io
from datetime import datetime, timezone

import numpy as np
import pytest
from conftest import REPO

from kit.challenge import load_challenge
from kit.errors import KitError
from kit.leaderboard import leaderboard, render, stats
from kit.leaderboard.uncertainty import apply_ladder
from kit.ledger import Ledger, RunRecord
from kit.metrics import get_metric


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


def scored_ledger(tmp_path, challenge, entries):
    """A ledger of real prediction files scored by the trusted scorer: ``entries`` is a list of
    (team, predictions of every labelled case); submissions one day apart. Returns the ids."""
    import pandas as pd

    from kit.labels import read_labels
    from kit.scoring import score_file

    ch = load_challenge(challenge, root=REPO)
    labels = read_labels(ch)
    led = Ledger(tmp_path / f"{challenge}.sqlite")
    ids = []
    for i, (team, pred) in enumerate(entries):
        p = tmp_path / f"{challenge}-{i}.csv"
        pd.DataFrame({"case_id": labels.ids, ch.spec.prediction_columns[0]: pred}).to_csv(p, index=False)
        res = score_file(ch, labels, p)
        sid, _ = led.add_submission(
            challenge=challenge,
            team=team,
            kind="predictions",
            filename=p.name,
            sha256=f"{challenge}{i}",
            size=1,
            stored_path=str(p),
            submitted_at=f"2026-02-{i + 1:02d}T10:00:00",
        )
        rid = led.add_run(
            RunRecord(
                sid,
                "scored",
                "score",
                "t",
                scores=res.scores,
                primary=(ch.spec.metrics.primary, get_metric(ch.spec.metrics.primary).greater_is_better),
                case_predictions=res.per_case["prediction"].to_numpy(),
            )
        )
        ids.append((sid, rid))
    return ch, led, ids


def test_ladder_board_is_about_the_displayed_submission_only(tmp_path):
    """Team a hands in a slightly better second submission: the Ladder withholds it. Its row (score,
    interval, rank range, P(first), ids, time) is that of its first submission, and nothing of the
    second appears; team b's big improvement is released and shown."""
    import pandas as pd

    from kit.labels import read_labels
    from kit.leaderboard import build_board

    ch = load_challenge("diabetes", root=REPO)
    labels = read_labels(ch)
    y = labels.y_true()
    rng = np.random.default_rng(1)
    noise_a, noise_b, noise_c = rng.normal(0, 1, (3, len(y)))
    nudge = rng.normal(0, 6, len(y))
    entries = [
        ("a", y + 60 * noise_a),
        ("a", y + 60 * noise_a + nudge),  # better on the public cases, by less than a standard error: withheld
        ("b", y + 70 * noise_b),
        ("b", y + 30 * noise_b),  # much better: released
        ("c", y + 65 * noise_c),
    ]
    ch, led, ids = scored_ledger(tmp_path, "diabetes", entries)
    with led:
        raw = leaderboard(ch, ledger=led, phase="public").table.set_index("team")
        assert raw.loc["a", "submission_id"] == ids[1][0]  # without the Ladder: a's best public submission
        board = build_board(ch, ledger=led, phase="public", ladder=True, n_resamples=300, seed=3)
    t = board.table.set_index("team")
    metric = ch.spec.metric("rmse")
    mask = labels.mask("public")
    yp = y[mask]
    # the scale of the Ladder: the constant baseline's mean squared error on the public cases
    train = pd.read_csv(ch.path("train"))
    baseline = ch.spec.task_type.constant_prediction(train, ch.spec)["progression"]
    scale = float(np.mean((yp - baseline) ** 2))
    losses_a = np.stack([(entries[k][1][mask] - yp) ** 2 for k in (0, 1)])
    released = stats.ladder(losses_a, metric, loss_scale=scale)
    assert released.shown.tolist() == [0, 0] and released.improved.tolist() == [True, False]
    first_sid, first_rid = ids[0]
    withheld_sid, withheld_rid = ids[1]
    assert t.loc["a", "score"] == pytest.approx(released.released[-1], rel=1e-12)
    assert t.loc["a", "submission_id"] == first_sid and t.loc["a", "run_id"] == first_rid
    assert t.loc["a", "submitted_at"] == "2026-02-01T10:00:00" and t.loc["a", "selected_by"] == "ladder"
    assert t.loc["b", "submission_id"] == ids[3][0] and t.loc["c", "submission_id"] == ids[4][0]
    # nothing of the withheld submission: no id, no time, no statistic
    assert withheld_sid not in board.table["submission_id"].tolist()
    assert withheld_rid not in board.table["run_id"].tolist()
    assert "2026-02-02T10:00:00" not in board.table["submitted_at"].tolist()
    exported = pd.read_csv(io.StringIO(render(board, "csv")))
    assert withheld_sid not in exported["submission_id"].tolist() and withheld_rid not in exported["run_id"].tolist()
    assert "mae" not in board.table.columns  # no secondary metric either
    # the statistics are those of the displayed submissions' predictions
    shown = {"a": 0, "b": 3, "c": 4}
    teams = board.table["team"].tolist()
    P = np.stack([entries[shown[team]][1][mask] for team in teams])
    boot = stats.paired_bootstrap(yp, P, teams, metric, n_resamples=300, seed=3)
    ci, summary = boot.confidence_intervals(), boot.summary()
    for team in teams:
        assert t.loc[team, "ci_low"] == ci.loc[team, "ci_low"] and t.loc[team, "ci_high"] == ci.loc[team, "ci_high"]
        assert t.loc[team, "p_first"] == summary.loc[team, "winner_frequency"]
        assert t.loc[team, "rank_range"] == f"{summary.loc[team, 'rank_ci_low']}–{summary.loc[team, 'rank_ci_high']}"
    P_withheld = P.copy()
    P_withheld[teams.index("a")] = entries[1][1][mask]
    other = stats.paired_bootstrap(yp, P_withheld, teams, metric, n_resamples=300, seed=3).confidence_intervals()
    assert other.loc["a", "ci_low"] != t.loc["a", "ci_low"]
    assert t["p_first"].sum() == pytest.approx(1.0)
    assert any("Ladder scores" in n and f"{scale:.4g}" in n for n in board.notes)


def test_fixed_step_ladder_board_and_its_errors(tmp_path):
    from kit.labels import read_labels
    from kit.leaderboard import build_board

    ch = load_challenge("diabetes", root=REPO)
    y = read_labels(ch).y_true()
    noise = np.random.default_rng(2).normal(0, 1, len(y))
    ch, led, ids = scored_ledger(tmp_path, "diabetes", [("a", y + 60 * noise), ("a", y + 40 * noise)])
    with led:
        board = build_board(ch, ledger=led, phase="public", ladder="fixed", ladder_eta=0.05, stats=False)
        assert board.table.loc[0, "submission_id"] == ids[1][0]  # 40 beats 60 by far more than 5% of the baseline
        assert any("fixed step eta" in n and "eta 0.05" in n for n in board.notes)
        with pytest.raises(KitError, match="needs a positive step eta"):
            build_board(ch, ledger=led, phase="public", ladder="fixed", stats=False)
        with pytest.raises(KitError, match="without the Ladder"):
            build_board(ch, ledger=led, phase="public", ladder_eta=0.05, stats=False)
        with pytest.raises(KitError, match="is not a registered ladder"):
            build_board(ch, ledger=led, phase="public", ladder="steep", stats=False)
        with pytest.raises(KitError, match="for the public board"):
            build_board(ch, ledger=led, phase="private", ladder=True, stats=False)
    with Ledger(tmp_path / "l2.sqlite") as led2:
        with pytest.raises(KitError, match="has none"):
            apply_ladder(leaderboard("breast-cancer", ledger=led2, root=REPO, phase="public"), led2)


def test_float_noise_never_ranks_or_moves_teams(tmp_path):
    """AUCs one ulp apart (the same ordering of the cases) share the rank, on both boards, and no
    move is shown between them."""
    auc = 0.9951
    with Ledger(tmp_path / "l.sqlite") as led:
        add(led, "first", auc, 0.90, "2026-01-01T10:00:00")
        add(led, "noise", np.nextafter(auc, 0), np.nextafter(0.90, 1), "2026-01-02T10:00:00")
        add(led, "third", 0.97, 0.95, "2026-01-03T10:00:00")
        pub = leaderboard("breast-cancer", ledger=led, root=REPO, phase="public").table.set_index("team")
        priv = leaderboard("breast-cancer", ledger=led, root=REPO, phase="private").table.set_index("team")
    assert pub["rank"].to_dict() == {"first": 1, "noise": 1, "third": 3}
    assert priv["rank"].to_dict() == {"third": 1, "first": 2, "noise": 2}
    assert priv.loc["first", "move"] == priv.loc["noise", "move"] == -1 and priv.loc["third", "move"] == 2


def test_board_states_its_cases_and_shares_first_places(tmp_path):
    from kit.labels import read_labels
    from kit.leaderboard import build_board

    ch = load_challenge("breast-cancer", root=REPO)
    labels = read_labels(ch)
    y = labels.y_true()
    rng = np.random.default_rng(0)
    good = np.clip(0.8 * y + 0.2 * rng.random(len(y)), 0, 1)
    entries = [("a", good), ("b", 0.5 * good + 0.1), ("c", np.clip(0.4 * y + 0.6 * rng.random(len(y)), 0, 1))]
    ch, led, _ = scored_ledger(tmp_path, "breast-cancer", entries)
    with led:
        board = build_board(ch, ledger=led, phase="public", n_resamples=200)
    yp = y[labels.mask("public")]
    assert any(f"the {len(yp)} public cases ({int(yp.sum())} positive)" in n for n in board.notes)
    t = board.table.set_index("team")
    assert t.loc["a", "rank"] == t.loc["b", "rank"] == 1  # the same ordering: the same AUC
    assert t.loc["a", "p_first"] == t.loc["b", "p_first"] and t["p_first"].sum() == pytest.approx(1.0)
    assert any("share of the resamples' first places" in n for n in board.notes)
    assert any("BCa" in n for n in board.notes)
