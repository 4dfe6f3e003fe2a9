"""The widget leaderboard: headless through papermill, its logic without a browser, and served by
`kit board` (Voilà) to a real Chromium: the organiser's desk and the public class screen."""

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
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
#: a room: more teams than the class screen shows above the fold
ROOM = {**TEAMS, **{f"Team {k:02d}": 0.5 - 0.03 * k for k in range(1, 11)}}
#: the figures of a board whose challenge is open (organisers also see public vs private)
PUBLIC_FIGURES = {"score distribution", "bootstrap ranks", "significance map", "public scores over time"}


def add_team(workdir: Path, tmp_path: Path, team: str, skill: float, *, feedback: Path | None = None) -> None:
    """Score a real prediction file with the trusted scorer and record it (no kernels needed)."""
    ch = load_challenge("breast-cancer", root=REPO)
    labels = read_labels(ch)
    y = labels.y_true()
    rng = np.random.default_rng(zlib.crc32(team.encode()))
    p = np.clip(skill * y + (1 - skill) * rng.random(len(y)), 0, 1)
    with Ledger(workdir / "ledger.sqlite") as led:
        i = len(led.latest_runs(ch.id))
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
            submitted_at=f"2026-02-{i % 28 + 1:02d}T10:00:00+00:00",
        )
        led.add_run(
            RunRecord(
                sid,
                "scored",
                "score",
                utcnow(),
                scores=res.scores,
                case_predictions=res.per_case["prediction"].to_numpy(),
                feedback_path=str(feedback) if feedback else None,
            )
        )


def build_ledger(workdir: Path, tmp_path: Path, teams=TEAMS, feedback: Path | None = None) -> None:
    for team, skill in teams.items():
        add_team(workdir, tmp_path, team, skill, feedback=feedback)


def test_leaderboard_notebook_runs_headless(tmp_path):
    import papermill as pm

    nb = nbformat.read(REPO / "notebooks/leaderboard.ipynb", as_version=4)
    assert [c.cell_type for c in nb.cells] == ["code", "code"], "Voilà shows Markdown: no prose in the notebook"
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


def test_the_committed_notebook_matches_its_generator():
    from kit.widgets.notebook import board_notebook

    assert nbformat.writes(board_notebook()) + "\n" == (REPO / "notebooks/leaderboard.ipynb").read_text()


def _data_url_text(link_html: str, marker: str) -> str:
    """The text a data: URL link holds: the first link after ``marker`` in ``link_html``."""
    start = link_html.index(marker)
    href = link_html[link_html.index('href="', start) + 6 :]
    href = href[: href.index('"')]
    assert href.startswith("data:") and ";base64," in href
    return base64.b64decode(href.split(";base64,", 1)[1]).decode("utf-8")


def test_organiser_desk_without_a_browser(tmp_path):
    from kit.widgets import LeaderboardApp

    work = tmp_path / "work"
    feedback = tmp_path / "feedback.html"
    feedback.write_text("<html><body>public score only</body></html>")
    build_ledger(work, tmp_path, feedback=feedback)
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
    view = app.team_view_w.value
    assert "Beta: 1 submission(s)" in view and "private roc_auc" in view
    # the feedback report travels in the page (Voilà answers 403 for a path in the work folder)
    assert str(feedback) not in view and 'download="feedback.html"' in view
    assert "public score only" in _data_url_text(view, 'download="feedback.html"')
    assert app.export("markdown").read_text().count("|") > 10
    app.export_card()
    card = tmp_path / "exp" / "breast-cancer-data-card"
    assert (card / "README.md").exists() and (card / "croissant.json").exists(), app.export_w.value
    figs = app.figures()
    assert set(figs) == PUBLIC_FIGURES | {"public vs private"}
    # the plots are images (a figure object is never displayed by Voilà)
    assert [img.format for img in app.plots_w.children] == ["png"] * len(figs)
    assert all(img.value[:8] == b"\x89PNG\r\n\x1a\n" and len(img.value) > 5000 for img in app.plots_w.children)


def test_class_screen_is_read_only_and_large(tmp_path):
    from kit.errors import KitError
    from kit.widgets import LeaderboardApp
    from kit.widgets.screen import SCREEN_ROW_PX, SCREEN_TOP

    work = tmp_path / "work"
    build_ledger(work, tmp_path, teams=ROOM, feedback=tmp_path / "feedback.html")
    public = LeaderboardApp("breast-cancer", workdir=work, root=REPO, audience="public", export_dir=tmp_path / "exp")
    # nothing that changes the server: no challenge switch, no exports, no data card, no feedback
    assert public.challenge_w is None and public.export_buttons == {} and public.team_w is None
    with pytest.raises(KitError, match="writes nothing on the server"):
        public.export("csv")
    assert not (tmp_path / "exp").exists()
    page = public.status_w.value + public.table_w.value + public.downloads_w.value
    assert "feedback" not in page and str(work) not in page
    # downloads the browser makes from the page itself
    csv = _data_url_text(public.downloads_w.value, "kit-download-csv")
    assert "Alpha <b>lab</b>" in csv and len(csv.splitlines()) == len(ROOM) + 1
    assert "| rank |" in _data_url_text(public.downloads_w.value, "kit-download-markdown")
    # large type, the first rows above the fold, the rest scrolling, the tied top as a band
    assert "kit-screen" in public.widget._dom_classes
    assert '<div class="kit-title">Is this breast mass malignant?</div>' in public.status_w.value
    assert f"max-height: {SCREEN_ROW_PX * (SCREEN_TOP + 1) + 2}px" in public.table_w.value
    assert public.table_w.value.count("<tr") == len(ROOM) + 1
    tied = int(public.board.table["tied_top"].sum())
    assert tied >= 2 and public.table_w.value.count('class="kit-tied"') == tied  # the data cannot tell them apart
    assert f"{tied} teams statistically tied for first" in public.legend_w.value
    assert "average_precision" not in public.table_w.value  # the few columns a class reads
    assert "95% interval" in public.table_w.value
    assert set(public.figures()) == PUBLIC_FIGURES  # no private result while open
    assert len(public.plots_w.children) == len(PUBLIC_FIGURES)
    # never a private result while the challenge is open
    public.phase_w.value = "private"
    assert "published after the challenge closes" in public.status_w.value and public.table_w.value == ""
    assert public.plots_w.children == () and public.downloads_w.value == ""
    with pytest.raises(KitError, match="read-only class screen"):
        LeaderboardApp("breast-cancer", workdir=work, root=REPO, audience="public", view="desk")


def test_a_new_result_is_noticed_cheaply(tmp_path):
    from kit.widgets import LeaderboardApp
    from kit.widgets.live import LedgerWatch

    work = tmp_path / "work"
    build_ledger(work, tmp_path)
    watch = LedgerWatch(work / "ledger.sqlite")
    first = watch.poll()
    assert first is not None and watch.poll() is None  # unchanged files: not even a query
    app = LeaderboardApp("breast-cancer", workdir=work, root=REPO, audience="public")
    assert app.check() is False
    add_team(work, tmp_path, "Epsilon", 0.95)
    assert watch.poll() not in (None, first)
    assert app.check() is True and "Epsilon" in app.table_w.value
    assert app.check() is False
    watch.close()
    app.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need_chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing: .ci/run must install it")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

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
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def kit_board(tmp_path, work, audience, *extra):
    """Run `kit board` until the block ends; yield (url, seconds from launch to the port answering).
    On the way out: the server stops, and the kernels it started go with it."""
    import psutil

    port = free_port()
    log = (tmp_path / f"board-{audience}.log").open("wb")
    launched = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "kit.cli", "--root", str(REPO), "board", "breast-cancer"]
        + ["--workdir", str(work), "--audience", audience, "--port", str(port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 240
        while True:
            try:
                urllib.request.urlopen(url + "api", timeout=2)
                break
            except OSError as exc:
                if getattr(exc, "code", None):  # an HTTP error: the server answers
                    break
                if time.time() > deadline or server.poll() is not None:
                    log.flush()
                    tail = (tmp_path / f"board-{audience}.log").read_text()[-3000:]
                    raise AssertionError(f"`kit board` did not start: {tail}") from None
                time.sleep(0.05)
        yield url, time.perf_counter() - launched
    finally:
        children = psutil.Process(server.pid).children(recursive=True) if server.poll() is None else []
        server.terminate()  # `kit board` became the Voilà server: it stops its kernels
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        gone, alive = psutil.wait_procs(children, timeout=15)
        for p in alive:
            p.kill()
        log.close()
        assert children and not alive, "the board's kernels outlived the server"


PLOTS_ARE_IMAGES = """() => {
    const imgs = [...document.querySelectorAll('.kit-plots img')];
    const real = i => i.complete && i.naturalWidth > 100 && i.getBoundingClientRect().width > 100;
    return imgs.length >= 4 && imgs.every(real);
}"""


@pytest.mark.slow
def test_voila_serves_the_desk_to_chromium(tmp_path):
    _need_chromium()
    work, exports = tmp_path / "work", tmp_path / "exports"
    build_ledger(work, tmp_path)
    with chromium() as browser, kit_board(tmp_path, work, "organiser", "--exports", str(exports)) as (url, _):
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
        assert page.locator(".kit-leaderboard-app").bounding_box()["width"] > 1300  # full width

        # the plots are images of real size, not `<Figure size 700x632 with 1 Axes>`
        page.get_by_role("tab", name="Plots").click()
        page.wait_for_function(PLOTS_ARE_IMAGES, timeout=60_000)
        assert "<Figure" not in page.locator("body").inner_text()

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


@pytest.mark.slow
def test_class_screen_in_chromium(tmp_path):
    """The public board as a room sees it: fast first view, read-only, large, live within 2 s."""
    _need_chromium()
    work = tmp_path / "work"
    build_ledger(work, tmp_path, teams=ROOM)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto("about:blank")
        with kit_board(tmp_path, work, "public") as (url, started):
            ready = time.perf_counter()
            page.goto(url, timeout=120_000)
            table = page.locator(".kit-board-table table")
            table.wait_for(timeout=120_000)
            first_view = time.perf_counter() - ready
            print(f"\nkit board: port answering {started:.1f} s after launch; table visible {first_view:.2f} s later")

            # read-only: no challenge switch, no server-side export, no feedback link
            assert page.locator(".kit-leaderboard-app select").count() == 0
            assert page.locator("[class*=kit-export]").count() == 0
            hrefs = page.eval_on_selector_all(".kit-leaderboard-app a", "as => as.map(a => a.getAttribute('href'))")
            assert hrefs and all(h.startswith("data:") for h in hrefs), hrefs
            csv = page.locator("a.kit-download-csv")
            assert csv.get_attribute("download") == "breast-cancer-public-leaderboard.csv"
            with page.expect_download() as dl:
                csv.click()
            assert "Alpha <b>lab</b>" in Path(dl.value.path()).read_text()
            assert "feedback" not in page.locator("body").inner_text().lower()

            # a class screen: full width, large type, ten rows above the fold, the rest scrolling
            app = page.locator(".kit-leaderboard-app").bounding_box()
            assert app["width"] > 1200
            size = page.eval_on_selector(".kit-board-table td.kit-team", "td => getComputedStyle(td).fontSize")
            assert float(size.rstrip("px")) >= 24
            above_fold = page.eval_on_selector_all(
                ".kit-board-table tbody tr", "rows => rows.filter(r => r.getBoundingClientRect().bottom <= 720).length"
            )
            assert above_fold >= 10
            box = page.eval_on_selector(".kit-scroll", "d => [d.scrollHeight, d.clientHeight]")
            assert box[0] > box[1]  # the rest scrolls
            band = page.locator(".kit-board-table tr.kit-tied")
            assert band.count() >= 2
            assert "rgb(255, 241, 184)" in band.first.locator("td").nth(1).evaluate(
                "td => getComputedStyle(td).backgroundColor"
            )
            first_line = page.locator("body").inner_text().strip().split("\n")[0]
            assert first_line == "Is this breast mass malignant?"  # the title first, no developer prose

            # the plots: images of real size
            page.wait_for_function(PLOTS_ARE_IMAGES, timeout=60_000)

            # a new result shows within 2 s of reaching the ledger, without a reload
            add_team(work, tmp_path, "Zeta newcomers", 0.97)
            recorded = time.perf_counter()
            page.wait_for_function(
                "() => document.querySelector('.kit-board-table').innerText.includes('Zeta newcomers')",
                timeout=30_000,
                polling=50,
            )
            update = time.perf_counter() - recorded
            print(f"a new result in the ledger showed on the board {update:.2f} s later")
            page.wait_for_function(
                f"() => document.querySelector('.kit-plots-caption').innerText.includes('{len(ROOM) + 1} teams')",
                timeout=60_000,
            )  # and the plots follow
            page.wait_for_function(PLOTS_ARE_IMAGES, timeout=60_000)

            page.set_viewport_size({"width": 1280, "height": 1500})
            page.locator(".kit-title").scroll_into_view_if_needed()
            page.eval_on_selector(".kit-scroll", "d => { d.scrollTop = 0; }")
            page.wait_for_timeout(300)
            page.screenshot(path="/tmp/board-class-screen.png")
            shutil.copy("/tmp/board-class-screen.png", tmp_path / "board-class-screen.png")
        assert first_view < 3.0, f"the first view took {first_view:.1f} s after `kit board` was ready"
        assert update < 2.0, f"a new result took {update:.1f} s to show"


@pytest.mark.slow
def test_stopping_kit_board_while_its_kernel_warms(tmp_path):
    """`kit board` listens only once its preheated kernel has rendered the board; stopped before
    that (SIGTERM), it still shuts that kernel down."""
    import psutil

    work = tmp_path / "work"
    build_ledger(work, tmp_path, teams={"Alpha": 0.9})
    server = subprocess.Popen(
        [sys.executable, "-m", "kit.cli", "--root", str(REPO), "board", "breast-cancer", "--workdir", str(work)]
        + ["--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    deadline = time.time() + 120
    kernels: list = []
    while not kernels and time.time() < deadline and server.poll() is None:
        kernels = psutil.Process(server.pid).children(recursive=True)
        time.sleep(0.05)
    assert kernels, "no kernel was started"
    server.terminate()
    assert server.wait(timeout=30) == 0
    log = server.stdout.read().decode()
    _, alive = psutil.wait_procs(kernels, timeout=15)
    for p in alive:
        p.kill()
    assert not alive, "the preheated kernel outlived `kit board`"
    assert "Stopped before the board was served" in log or "Voilà is running" in log, log[-2000:]
