import sqlite3

import numpy as np
import pytest

from kit.errors import LedgerError
from kit.ledger import Ledger, RunRecord, utcnow


def sub(ledger, team="a", sha="ab"):
    return ledger.add_submission(
        challenge="c", team=team, kind="predictions", filename="p.csv", sha256=sha, size=3, stored_path="/x"
    )


def test_same_team_and_content_is_recorded_once(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as led:
        assert sub(led) == (1, True)
        assert sub(led) == (1, False)
        assert sub(led, team="b") == (2, True)
        assert led.pending("c") == [1, 2]


def test_append_only_and_latest_run_wins(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as led:
        sid, _ = sub(led)
        r1 = led.add_run(RunRecord(sid, "failed", "execute", utcnow(), error="boom"))
        r2 = led.add_run(
            RunRecord(
                sid, "scored", "score", utcnow(), scores={"public": {"m": 0.5}}, case_predictions=np.array([0.1, 0.2])
            )
        )
        latest = led.latest_runs("c")
        assert latest.loc[0, "run_id"] == r2 and latest.loc[0, "status"] == "scored"
        assert led.query("SELECT COUNT(*) AS n FROM runs")["n"][0] == 2
        np.testing.assert_array_equal(led.case_predictions([r2])[r2], [0.1, 0.2])
        for stmt in (
            "UPDATE runs SET status='scored'",
            "DELETE FROM submissions",
            "DELETE FROM scores",
            "UPDATE case_predictions SET n=0",
        ):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                led._db.execute(stmt)
        assert led.submission(sid)["team"] == "a"
        assert r1 < r2


def test_run_is_written_whole_or_not_at_all(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as led:
        sid, _ = sub(led)
        bad = RunRecord(sid, "scored", "score", utcnow(), scores={"secret": {"m": 1.0}})  # split CHECK fails
        with pytest.raises(sqlite3.IntegrityError):
            led.add_run(bad)
        assert led.query("SELECT COUNT(*) AS n FROM runs")["n"][0] == 0
        with pytest.raises(LedgerError, match="unknown run status"):
            led.add_run(RunRecord(sid, "great", "score", utcnow()))


def test_wal_mode_and_reopen(tmp_path):
    p = tmp_path / "l.sqlite"
    with Ledger(p) as led:
        sub(led)
        assert led._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Ledger(p) as led:
        assert len(led.latest_runs("c")) == 1


def test_not_a_ledger(tmp_path):
    p = tmp_path / "l.sqlite"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        Ledger(p)


def test_board_index_follows_runs_and_rebuilds_from_the_record(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as led:
        assert led.board_index_complete
        sid, _ = sub(led)
        led.add_run(RunRecord(sid, "failed", "execute", utcnow(), primary=("roc_auc", True)))
        led.add_run(
            RunRecord(
                sid,
                "scored",
                "score",
                utcnow(),
                scores={"public": {"roc_auc": 0.8}, "private": {"roc_auc": 0.7}},
                primary=("roc_auc", True),
            )
        )
        before = led.query("SELECT * FROM board_rows")
        assert before.loc[0, "status"] == "scored" and before.loc[0, "public_key"] == -0.8
        led.rebuild_board_index()
        import pandas as pd

        pd.testing.assert_frame_equal(led.query("SELECT * FROM board_rows"), before)
