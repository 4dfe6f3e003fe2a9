"""The widget leaderboard: headless through papermill, and served by Voilà to a real Chromium."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from kit.challenge import load_challenge
from kit.labels import read_labels
from kit.ledger import Ledger, RunRecord, utcnow
from kit.scoring import score_file

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TEAMS = {"Alpha <b>lab</b>": 0.9, "Beta": 0.6, "Gamma": 0.3, "Delta": 0.0}


def build_ledger(workdir: Path, tmp_path: Path) -> None:
    """Score real prediction files with the trusted scorer and record them (no kernels needed)."""
    ch = load_challenge("breast-cancer", root=REPO)
    labels = read_labels(ch)
    y = labels.y_true()
    rng = np.random.default_rng(0)
    with Ledger(workdir / "ledger.sqlite") as led:
        for i, (team, skill) in enumerate(TEAMS.items()):
            p = np.clip(skill * y + (1 - skill) * rng.random(len(y)), 0, 1)
            path = tmp_path / f"{i}.csv"
            pd.DataFrame({"case_id": labels.ids, "malignant": p}).to_csv(path, index=False)
            res = score_file(ch, labels, path)
            sid, _ = led.add_submission(
                challenge=ch.id,
                team=team,
                kind="predictions",
                filename=f"{i}.csv",
                sha256=f"sha{i}",
                size=1,
                stored_path=str(path),
                submitted_at=f"2026-02-0{i + 1}T10:00:00+00:00",
            )
            led.add_run(
                RunRecord(
                    sid,
                    "scored",
                    "score",
                    utcnow(),
                    scores=res.scores,
                    case_predictions=res.per_case["prediction"].to_numpy(),
                )
            )


def test_leaderboard_notebook_runs_headless(tmp_path):
    import papermill as pm

    work = tmp_path / "work"
    build_ledger(work, tmp_path)
    out = tmp_path / "board.ipynb"
    pm.execute_notebook(
        str(REPO / "notebooks/leaderboard.ipynb"),
        str(out),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(REPO / "notebooks"),
        parameters={
            "workdir": str(work),
            "refresh_seconds": 0,
            "root": str(REPO),
            "export_dir": str(tmp_path / "exports"),
        },
    )
    outputs = nbformat.read(out, as_version=4).cells[-1].outputs
    assert "application/vnd.jupyter.widget-view+json" in outputs[0]["data"]
    assert "Alpha <b>lab</b>" in outputs[0]["data"]["text/plain"]


def test_app_logic_without_a_browser(tmp_path):
    from kit.widgets import LeaderboardApp

    work = tmp_path / "work"
    build_ledger(work, tmp_path)
    app = LeaderboardApp("breast-cancer", workdir=work, root=REPO, export_dir=tmp_path / "exp")
    assert "Alpha &lt;b&gt;lab&lt;/b&gt;" in app.table_w.value and "<b>lab</b>" not in app.table_w.value
    app.search_w.value = "gam"
    assert "Gamma" in app.table_w.value and "Beta" not in app.table_w.value
    app.search_w.value = ""
    app.sort_w.value = "team"
    assert app.view()["team"].tolist()[0] == "Alpha <b>lab</b>"
    assert "ci_low" in app.table_w.value  # intervals are shown by default
    app.stats_w.value = False
    assert "ci_low" not in app.table_w.value
    app.stats_w.value = True
    assert "ci_low" in app.table_w.value and "rank_range" in app.table_w.value
    app.team_w.value = "Beta"
    assert "Beta: 1 submission(s)" in app.team_view_w.value and "private roc_auc" in app.team_view_w.value
    assert app.export("markdown").read_text().count("|") > 10
    app.export_card()
    card = tmp_path / "exp" / "breast-cancer-data-card"
    assert (card / "README.md").exists() and (card / "croissant.json").exists(), app.export_w.value
    figs = app.figures()
    assert set(figs) == {
        "score distribution",
        "bootstrap ranks",
        "significance map",
        "public vs private",
        "public scores over time",
    }
    for name, fig in figs.items():
        fig.savefig(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
    # a class screen never shows private results while the challenge is open
    public = LeaderboardApp("breast-cancer", workdir=work, root=REPO, audience="public")
    public.phase_w.value = "private"
    assert "published after the challenge closes" in public.status_w.value and public.table_w.value == ""
    public.phase_w.value = "public"
    public.team_w.value = "Beta"
    assert "private roc_auc" not in public.team_view_w.value
    assert "public vs private" not in public.figures()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_voila_serves_the_board_to_chromium(tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing: .ci/run must install it")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    work, exports = tmp_path / "work", tmp_path / "exports"
    build_ledger(work, tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kit.cli",
            "--root",
            str(REPO),
            "board",
            "breast-cancer",
            "--workdir",
            str(work),
            "--audience",
            "organiser",
            "--port",
            str(port),
            "--exports",
            str(exports),
            "--refresh",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(url + "api", timeout=2)
                break
            except OSError as exc:
                if getattr(exc, "code", None):  # an HTTP error: the server answers
                    break
                if time.time() > deadline or server.poll() is not None:
                    raise AssertionError(f"Voilà did not start: {server.stdout.read1().decode()[-2000:]}") from None
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url, timeout=120_000)
            table = page.locator(".kit-board-table table")
            table.wait_for(timeout=120_000)
            text = table.inner_text()
            assert "public roc_auc" in text
            for team in TEAMS:
                assert team in text
            rows = table.locator("tbody tr")
            assert rows.count() == len(TEAMS)
            assert rows.first.inner_text().split("\t")[1].strip() == "Alpha <b>lab</b>"
            page.screenshot(path=str(tmp_path / "board.png"))

            # the phase toggle changes the board
            page.locator(".kit-phase button", has_text="private").click()
            page.wait_for_function(
                "() => document.querySelector('.kit-board-table').innerText.includes('private roc_auc')", timeout=30_000
            )
            assert "move" in page.locator(".kit-board-table table").inner_text()

            # an export produces its file
            page.get_by_role("tab", name="Export").click()
            page.locator(".kit-export-csv").click()
            page.wait_for_function(
                "() => document.querySelector('.kit-export-result').innerText.includes('Wrote')", timeout=30_000
            )
            csv = exports / "breast-cancer-private-leaderboard.csv"
            assert csv.exists() and "Alpha <b>lab</b>" in csv.read_text()
            browser.close()
    finally:
        import psutil

        children = psutil.Process(server.pid).children(recursive=True) if server.poll() is None else []
        server.terminate()  # `kit board` became the Voilà server: it stops its kernels
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        gone, alive = psutil.wait_procs(children, timeout=15)
        for p in alive:
            p.kill()
        assert children and not alive, "the board's kernels outlived the server"
