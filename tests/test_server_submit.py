"""A student hands in from the notebook: `kit serve --workshop` in its own process (the CLI), and
`kit.submit()` run by a real kernel (nbclient) in the starter notebook, as JupyterLab runs it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest
from server_helpers import CHALLENGE, challenge_root, sample_csv, sandbox_name, sign_up

from kit.handin import SubmitError, read_settings
from kit.server.app import _free_port

pytestmark = pytest.mark.timeout(300)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory):
    """`kit serve ID --workshop` as an organiser starts it; yields (url, class code, output lines)."""
    tmp = tmp_path_factory.mktemp("cli-serve")
    root = challenge_root(tmp / "root")
    port = _free_port("127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kit.cli", "--root", str(root), "serve", CHALLENGE, "--workdir", str(tmp / "work")]
        + ["--port", str(port), "--workshop", "--workers", "1", "--sandbox", sandbox_name()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp,
    )
    lines: list[str] = []
    code = None
    deadline = time.monotonic() + 120
    while code is None and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        lines.append(line)
        m = re.search(r"class code: ([A-Z0-9]{4}-[A-Z0-9]{4})", line)
        if m:
            code = m.group(1)
    assert code, "".join(lines)
    try:
        yield f"http://127.0.0.1:{port}/", code, root, lines
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


def _config(home: Path, url: str, token: str, mode: int = 0o600) -> dict:
    """A student's token file and the environment JupyterLab gives their kernel."""
    path = home / "challenge-kit" / "token"
    path.parent.mkdir(parents=True)
    path.write_text(f"server = {url}\ntoken = {token}\n")
    path.chmod(mode)
    env = {k: v for k, v in os.environ.items() if k not in ("KIT_TOKEN", "KIT_SERVER", "JPY_SESSION_NAME")}
    env["XDG_CONFIG_HOME"] = str(home)
    return env


def content(page) -> str:
    """The page's HTML, once it is loaded (a page that reloads itself may be navigating)."""
    for _ in range(20):
        page.wait_for_load_state()
        try:
            return page.content()
        except Exception as exc:  # noqa: BLE001 - "the page is navigating": read it once it has loaded
            if "navigating" not in str(exc):
                raise
            page.wait_for_timeout(250)
    return page.content()


def accept_dialogs(page) -> None:
    """Accept a JupyterLab dialog in the way (a kernel choice offered on a loaded machine): its default."""
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    while dialog.count():
        dialog.first.click()
        page.wait_for_timeout(200)


def test_the_cli_prints_where_and_the_class_code(cli_server):
    url, code, _root, lines = cli_server
    text = "".join(lines)
    assert f"on {url}" in text and "board:" in text and "sign-up:" in text
    r = httpx.post(url + "api/kit/signup", json={"team": "No Code"})
    assert r.status_code == 403 and "class code" in r.json()["what"]


def test_a_student_hands_in_from_the_notebook(cli_server, tmp_path):
    """The notebook run by a real kernel, as JupyterLab runs it (its outputs read as the notebook keeps
    them). Where Chromium is installed the browser test below does the same in JupyterLab itself."""
    if Path(CHROMIUM).exists():
        pytest.skip("JupyterLab in Chromium runs this hand-in (test_a_student_hands_in_from_jupyterlab_in_chromium)")
    url, code, root, _ = cli_server
    r = sign_up(httpx.Client(base_url=url), "Notebook Team", class_code=code.lower().replace("-", " "))
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    env = _config(tmp_path / "config", url, token)
    # the student's copy of the starter kit, opened in JupyterLab: its kernel knows the notebook's path
    kit_dir = shutil.copytree(root / "starter_kits" / CHALLENGE, tmp_path / "student")
    notebook = kit_dir / "starter.ipynb"
    env["JPY_SESSION_NAME"] = str(notebook)
    nb = nbformat.read(notebook, as_version=4)
    assert token not in notebook.read_text()
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(kit_dir)}})
    client.execute(env=env)
    last = nb.cells[-1]
    assert last.source.startswith("kit.submit()")
    outputs = last.outputs
    progress = [o for o in outputs if o.get("output_type") == "display_data"]
    assert progress and "hand-in #" in progress[0]["data"]["text/plain"]
    assert "scored, public roc_auc 0.99" in progress[0]["data"]["text/plain"]  # the line, updated in place
    result = next(o for o in outputs if o.get("output_type") == "execute_result")
    html = result["data"]["text/html"]
    assert "Hand-in #" in html and "scored" in html and "roc_auc" in html and "public score" in html
    # the notebook as saved was handed in; the server graded it (its own kit.submit() handed nothing in)
    mine = httpx.get(url + "api/kit/handins", headers={"Authorization": f"Bearer {token}"}).json()["hand_ins"]
    assert [h["filename"] for h in mine] == ["starter.ipynb"] and mine[0]["status"] == "scored"
    assert mine[0]["score"] > 0.95


def test_a_predictions_file_and_the_configuration_rules(cli_server, tmp_path, monkeypatch):
    url, code, root, _ = cli_server
    token = sign_up(httpx.Client(base_url=url), "Script Team", class_code=code).json()["token"]
    env = _config(tmp_path / "config", url, token)
    monkeypatch.delenv("KIT_TOKEN", raising=False)
    monkeypatch.delenv("KIT_SERVER", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])
    import kit

    preds = tmp_path / "predictions.csv"
    preds.write_bytes(sample_csv(root, 0.33))
    result = kit.submit(str(preds))
    assert result.status == "scored" and result.score == pytest.approx(0.5) and "scored" in str(result)
    assert kit.submit() is None  # no notebook session (a script, the grader): nothing handed in
    # the environment wins over the file; a wrong token is said as such
    monkeypatch.setenv("KIT_TOKEN", "kit_wrong")
    with pytest.raises(SubmitError, match="did not accept the team's token"):
        kit.submit(str(preds))
    monkeypatch.delenv("KIT_TOKEN")
    # a token file others may read is refused, as ssh refuses such a key
    (tmp_path / "config" / "challenge-kit" / "token").chmod(0o644)
    with pytest.raises(SubmitError, match="may be read by others"):
        read_settings()
    (tmp_path / "config" / "challenge-kit" / "token").chmod(0o600)
    assert read_settings().server == url


@pytest.mark.slow
def test_a_student_hands_in_from_jupyterlab_in_chromium(cli_server, tmp_path):
    """JupyterLab in Chromium: the student opens the starter notebook, runs every cell, and the
    last one, kit.submit(), shows the score of the notebook the server graded."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing: .ci/run must install it")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    url, code, root, _ = cli_server
    token = sign_up(httpx.Client(base_url=url), "Lab Team", class_code=code).json()["token"]
    env = _config(tmp_path / "config", url, token)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[name] = str(tmp_path / name.lower())
    student = shutil.copytree(root / "starter_kits" / CHALLENGE, tmp_path / "student")
    port, lab_token = _free_port("127.0.0.1"), "lab-test-token"
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--IdentityProvider.token={lab_token}"]
        + [f"--ServerApp.root_dir={student}", "--LabApp.news_url=", "--ServerApp.allow_root=True"],
        stdout=(tmp_path / "lab.log").open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=student,
    )
    try:
        lab_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{lab_url}/api/status?token={lab_token}", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and lab.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
                time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{lab_url}/lab/tree/starter.ipynb?token={lab_token}", timeout=120_000)
                page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
                started = (
                    "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => /\\d|\\*/.test(p.innerText))"
                )
                for attempt in range(4):  # Run > Run All Cells (again, if a kernel still connecting missed it)
                    accept_dialogs(page)
                    if attempt < 2:
                        page.get_by_role("menuitem", name="Run", exact=True).click()
                        page.get_by_text("Run All Cells", exact=True).click()
                    else:  # the keyboard way: every cell selected (command mode), then run them
                        page.locator(".jp-Notebook .jp-Cell").first.click()
                        page.keyboard.press("Escape")
                        page.keyboard.press("Control+a")
                        page.keyboard.press("Shift+Enter")
                    try:
                        page.wait_for_function(started, timeout=20_000)
                        break
                    except Exception:  # noqa: BLE001 - not started: ask again
                        page.keyboard.press("Escape")
                try:
                    page.wait_for_function(
                        "() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].pop().innerText"
                        ".includes('ranks the board')",
                        timeout=180_000,
                    )
                finally:
                    page.screenshot(path=str(tmp_path / "lab.png"))
                    text = page.locator(".jp-Notebook .jp-Cell").last.inner_text()
            finally:
                browser.close()
    finally:
        lab.terminate()
        lab.wait(60)
    assert "scored" in text and "public roc_auc 0.99" in text, text
    assert "Hand-in #" in text and "public score" in text


@pytest.mark.slow
def test_the_pages_in_chromium(cli_server, tmp_path):
    """With JavaScript off: sign up with the class code, hand in through the team page's form, read the
    score. With it on: the board redraws itself when a hand-in is scored."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing: .ci/run must install it")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    url, code, root, _ = cli_server
    predictions = tmp_path / "predictions.csv"
    predictions.write_bytes(sample_csv(root, 0.27))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_context(java_script_enabled=False).new_page()
            page.goto(url + "signup")
            page.fill("#team", "Forms <only>")
            page.fill("#class_code", code)
            page.fill("#member0", "Hal")
            page.click("button[type=submit]")
            token = page.locator(".token").inner_text().strip()
            assert token.startswith("kit_") and "Forms &lt;only&gt;" in content(page)
            page.click("text=your team's page")
            page.set_input_files("#file", str(predictions))
            page.click("button:has-text('Hand in')")
            page.wait_for_url(re.compile(r".*/team/handins/\d+$"))
            for _ in range(60):  # the page reloads itself every 3 s until the hand-in is graded
                if "public score" in content(page):
                    break
                page.wait_for_timeout(1000)
            assert "scored" in content(page) and "roc_auc" in content(page)
            page.click("text=The full feedback")
            assert "Scored on the public test cases" in content(page)

            live = browser.new_page()
            live.goto(url + "board")
            assert "Forms &lt;only&gt;" in live.content()
            other = sign_up(httpx.Client(base_url=url), "Late Joiner", class_code=code).json()["token"]
            r = httpx.post(
                url + "api/kit/handins",
                files={"file": ("p.csv", sample_csv(root, 0.28))},
                headers={"Authorization": f"Bearer {other}"},
            )
            assert r.status_code == 202
            live.wait_for_function("() => document.getElementById('board').innerText.includes('Late Joiner')")
        finally:
            browser.close()
