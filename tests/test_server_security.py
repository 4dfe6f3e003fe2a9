"""`kit serve` under attack, through a real server on the loopback with real HTTP.

One server per test module (and xdist worker): a workshop (sign-up with the class code), the
challenge's predictions limited to 1 MiB, 5 hand-ins a day, open until 2099-12-31; its clock
is real time, moved by the tests that need another moment (the deadline).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sqlite3
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pandas as pd
import pytest
from server_helpers import (
    CHALLENGE,
    CLOSES,
    Clock,
    bearer,
    challenge_root,
    hand_in,
    sample_csv,
    sandbox_name,
    sign_up,
    wait_final,
)

from kit.ledger import Ledger
from kit.server.app import ChallengeServer

pytestmark = pytest.mark.timeout(300)


class Served:
    def __init__(self, server: ChallengeServer, clock: Clock, root, workdir, lines):
        self.server, self.clock, self.root, self.workdir, self.lines = server, clock, root, workdir, lines
        self.client = httpx.Client(base_url=server.url, timeout=60)
        self.code = server.state.teams.class_code(CHALLENGE)

    def team(self, name: str, **kw) -> str:
        r = sign_up(self.client, name, class_code=self.code, **kw)
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def ledger(self) -> Ledger:
        return Ledger(self.workdir / "ledger.sqlite")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    root = challenge_root(tmp / "root", file_size_mb=1, per_day=5)
    clock, lines = Clock(), []
    server = ChallengeServer(
        CHALLENGE,
        workdir=tmp / "work",
        root=root,
        workers=1,
        sandbox=sandbox_name(),
        workshop=True,
        clock=clock,
        echo=lines.append,
    ).start()
    try:
        yield Served(server, clock, root, tmp / "work", lines)
    finally:
        server.stop()


JUPYTER = [
    ("GET", "api/kernels"),
    ("POST", "api/kernels"),
    ("GET", "api/contents"),
    ("PUT", "api/contents/x.ipynb"),
    ("GET", "api/terminals"),
    ("POST", "api/terminals"),
    ("GET", "api/sessions"),
    ("POST", "api/sessions"),
    ("GET", "files/ledger.sqlite"),
    ("GET", "files/../ledger.sqlite"),
    ("GET", "api/kernelspecs"),
    ("GET", "api/status"),
    ("GET", "api/me"),
    ("GET", "api/config/x"),
    ("GET", "view/x.html"),
    ("GET", "nbconvert/html/x.ipynb"),
    ("GET", "terminals/1"),
    ("GET", "lab"),
    ("GET", "tree"),
    ("GET", "metrics"),
]


def test_jupyter_servers_own_apis_are_unreachable(served):
    token = served.team("Jupyter Probe")
    visitor = httpx.Client(base_url=served.server.url, timeout=30)
    team = httpx.Client(base_url=served.server.url, headers=bearer(token), timeout=30)
    browser = httpx.Client(base_url=served.server.url, cookies=_log_in(served, token), timeout=30)
    for method, path in JUPYTER:
        for client in (visitor, team, browser):
            body = json.dumps({"name": "python3"}) if method in ("POST", "PUT") else None
            r = client.request(method, path, content=body)
            assert r.status_code in (403, 404), (method, path, client.headers, r.status_code, r.text[:200])
    for raw in ("/files/../ledger.sqlite", "/files/%2e%2e/ledger.sqlite", "/api/contents/../../etc/passwd"):
        conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=30)
        conn.request("GET", raw, headers=bearer(token))  # the path as is, not normalised by a client
        assert conn.getresponse().status in (403, 404), raw
        conn.close()
    app = served.server.app
    assert app is not None and app.kernel_manager.list_kernels() == []  # a visitor never got a kernel


def test_no_token_and_a_wrong_token(served):
    data = sample_csv(served.root)
    r = hand_in(served.client, None, "p.csv", data)
    assert r.status_code == 401 and "Authorization: Bearer" in r.json()["what"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = hand_in(served.client, "kit_" + "x" * 43, "p.csv", data)
    assert r.status_code == 401
    for path in ("api/kit/handins", "api/kit/handins/1", "api/kit/me"):
        assert served.client.get(path).status_code == 401
        assert served.client.get(path, headers=bearer("nope")).status_code == 401
    # a browser's pages send it to the log-in form
    r = served.client.get("team", follow_redirects=False)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_team_never_sees_another_teams_hand_ins(served):
    ann, bob = served.team("Ann's Team"), served.team("Bob's Team")
    r = hand_in(served.client, ann, "ann.csv", sample_csv(served.root, 0.31))
    assert r.status_code == 202, r.text
    mine = r.json()["id"]
    assert wait_final(served.client, ann, mine)["status"] == "scored"
    # Bob, with his own token, asks for Ann's hand-in and its feedback: as if it did not exist
    r = served.client.get(f"api/kit/handins/{mine}", headers=bearer(bob))
    assert r.status_code == 404
    assert all(h["id"] != mine for h in served.client.get("api/kit/handins", headers=bearer(bob)).json()["hand_ins"])
    bob_cookies = _log_in(served, bob)
    for path in (f"team/handins/{mine}", f"team/handins/{mine}/feedback"):
        r = httpx.get(served.server.url + path, cookies=bob_cookies)
        assert r.status_code == 404, path
    # Ann sees hers, and its feedback in a sandbox of its own (no script, no other origin)
    r = httpx.get(served.server.url + f"team/handins/{mine}/feedback", cookies=_log_in(served, ann))
    assert r.status_code == 200 and "ann.csv" in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "script-src" not in csp


def test_the_private_score_is_never_served_while_open(served):
    token = served.team("Private Eye")
    r = hand_in(served.client, token, "p.csv", sample_csv(served.root, 0.42))
    body = wait_final(served.client, token, r.json()["id"])
    assert body["status"] == "scored"
    with served.ledger() as led:
        scores = led.scores(CHALLENGE)
    row = scores.loc[r.json()["submission_id"]]
    assert body["score"] == pytest.approx(row["public.roc_auc"])
    served_text = (
        json.dumps(body)
        + served.client.get("api/kit/handins", headers=bearer(token)).text
        + served.client.get("board.json").text
        + served.client.get("board").text
        + httpx.get(served.server.url + f"team/handins/{r.json()['id']}", cookies=_log_in(served, token)).text
    )
    assert "private." not in served_text and '"private"' not in served_text
    public = {float(v) for k, v in row.items() if k.startswith("public.")}
    for name, value in row.items():
        if name.startswith("private.") and value == value and float(value) not in public:
            assert f"{float(value):.4f}" not in served_text and repr(float(value)) not in served_text, name
    assert "private" not in " ".join(served.client.get("board.json").json()["columns"])


TRAVERSALS = ["../../etc/passwd.csv", "..\\..\\windows\\x.csv", "/tmp/abs.csv", "sub/p.csv", ".hidden.csv", ".."]


@pytest.mark.parametrize("name", [*TRAVERSALS, "p\u202ecsv.csv"])
def test_path_traversal_in_file_names(served, name):
    token = served.team(f"Walker {abs(hash(name)) % 10**6}")
    r = hand_in(served.client, token, name, sample_csv(served.root, 0.5))
    assert r.status_code in (400, 415), r.text
    body = r.json()
    assert body["status"] == "refused" and body["refusal_id"]
    with served.ledger() as led:
        refusal = led.refusals(CHALLENGE).set_index("id").loc[body["refusal_id"]]
    assert refusal["kind"] in ("file-name", "suffix")
    # nothing was written under the participant's name, anywhere
    for _folder, _dirs, files in os.walk(served.workdir):
        assert "passwd.csv" not in files and "abs.csv" not in files
    assert not any(served.server.state.desk.stage.iterdir())


def test_an_oversized_upload(served):
    token = served.team("Big Files")
    big = sample_csv(served.root) + b"x" * int(1.5 * 1024 * 1024)
    r = hand_in(served.client, token, "big.csv", big)
    assert r.status_code == 413
    what = r.json()["what"]
    assert "1 MiB" in what and "1.5 MiB" in what and " MB" not in what, what
    # far over every limit (the notebook's 20 MiB too): counted as it arrives, never kept
    huge = b"a,b\n" * (6 * 1024 * 1024)
    r = hand_in(served.client, token, "huge.csv", huge)
    assert r.status_code == 413 and r.json()["filename"] == "huge.csv"
    with served.ledger() as led:
        refusal = led.refusals(CHALLENGE).set_index("id").loc[r.json()["refusal_id"]]
    assert refusal["kind"] == "too-large" and refusal["size"] >= len(huge) and pd.isna(refusal["stored_path"])


def test_a_notebook_posted_as_csv_and_back(served):
    token = served.team("Shape Shifters")
    notebook = (served.root / "starter_kits" / CHALLENGE / "starter.ipynb").read_bytes()
    r = hand_in(served.client, token, "predictions.csv", notebook)
    assert r.status_code == 415 and "notebook" in r.json()["what"], r.text
    r2 = hand_in(served.client, token, "starter.ipynb", sample_csv(served.root))
    assert r2.status_code == 415 and "not a notebook" in r2.json()["what"], r2.text
    with served.ledger() as led:
        refusals = led.refusals(CHALLENGE).set_index("id")
        for rid in (r.json()["refusal_id"], r2.json()["refusal_id"]):
            assert refusals.loc[rid, "kind"] == "wrong-kind" and refusals.loc[rid, "stored_path"]  # bytes kept


def test_a_quota_burst(served):
    token = served.team("Burst")
    files = [sample_csv(served.root, 0.1 + i / 100) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: hand_in(served.client, token, f"p{i}.csv", files[i]), range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] * 5 + [429] * 3, [a.text for a in answers]
    rejected = [a.json() for a in answers if a.status_code == 429]
    assert all("daily limit is 5" in a["what"] and a["submission_id"] for a in rejected)
    assert all(int(a.headers["Retry-After"]) > 0 for a in answers if a.status_code == 429)
    for a in answers:
        assert wait_final(served.client, token, a.json()["id"])["status"] in ("scored", "rejected")
    with served.ledger() as led:
        runs = led.latest_runs(CHALLENGE)
        mine = runs[runs["team"] == "Burst"]
        assert len(mine) == 8 and sorted(mine["status"]) == ["rejected"] * 3 + ["scored"] * 5
        assert led.count_submissions(CHALLENGE, "Burst") == 5


def test_a_hand_in_one_second_after_the_deadline(served):
    token = served.team("Last Minute")
    try:
        served.clock.at(CLOSES - timedelta(seconds=1))
        on_time = hand_in(served.client, token, "on-time.csv", sample_csv(served.root, 0.61))
        served.clock.at(CLOSES + timedelta(seconds=1))
        late = hand_in(served.client, token, "late.csv", sample_csv(served.root, 0.62))
    finally:
        served.clock.reset()
    assert on_time.status_code == 202, on_time.text
    assert late.status_code == 403 and "closed" in late.json()["what"], late.text
    assert late.json()["received_at"].startswith("2099-12-31T00:00:01")
    assert wait_final(served.client, token, late.json()["id"])["status"] == "rejected"  # recorded, with its reason
    assert wait_final(served.client, token, on_time.json()["id"])["status"] == "scored"


def test_name_clashes(served):
    assert served.client.post("api/kit/signup", json={"team": "Café Crème"}).status_code == 403  # no class code
    served.team("Café Crème")
    served.team("Alpha1")
    served.team("  Spaced   Team ")
    clashes = {
        "café crème": 409,  # case
        "Cafe\u0301 Cre\u0300me": 409,  # another Unicode form (decomposed)
        "Ｃａｆé Crème": 409,  # full-width letters (NFKC)
        "CAFÉ CRÈME": 409,
        "Alphal": 409,  # a confusable: l for 1
        "spaced team": 409,
        "C\u0430fé Crème": 400,  # a Cyrillic а among Latin letters
        "Evil\u202eTeam": 400,  # a bidirectional control
        "Tab\tTeam": 400,
        "": 400,
    }
    for name, code in clashes.items():
        r = sign_up(served.client, name, class_code=served.code)
        assert r.status_code == code, (name, r.text)
        assert "token" not in r.json()
    # a team of another route (a team folder, in the ledger) is taken too
    with served.ledger() as led:
        led.add_submission(
            challenge=CHALLENGE,
            team="Folder Team",
            kind="predictions",
            filename="x.csv",
            sha256="0" * 64,
            size=1,
            stored_path="/nonexistent",
        )
    assert sign_up(served.client, "folder team", class_code=served.code).status_code == 409
    names = served.server.state.teams.team_names(CHALLENGE)
    assert "Spaced Team" in names and not any(n.casefold().startswith("café") for n in names if n != "Café Crème")


def test_a_token_guessed_by_brute_force(served):
    token = served.team("Fort Knox")
    guesser = httpx.Client(
        base_url=served.server.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30
    )
    answers = [guesser.get("api/kit/me", headers=bearer(f"kit_guess{i}")).status_code for i in range(10)]
    assert answers == [401] * 10
    r = guesser.get("api/kit/me", headers=bearer("kit_guess10"))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # blocked: even the right token, and the log-in form and the class code, from that address
    assert guesser.get("api/kit/me", headers=bearer(token)).status_code == 429
    assert sign_up(guesser, "Sneaky", class_code=served.code).status_code == 429
    form = guesser.get("login")
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
    assert guesser.post("login", data={"_xsrf": xsrf, "token": token}).status_code == 429
    # another address is not
    assert served.client.get("api/kit/me", headers=bearer(token)).status_code == 200


def test_the_team_store_keeps_hashes_and_no_email_is_shown(served):
    token = served.team("Privacy First", members=[{"name": "Dora", "email": "dora@example.org"}, {"name": "Eve"}])
    path = served.workdir / "server.sqlite"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for p in served.workdir.glob("server.sqlite*"):
        assert token.encode() not in p.read_bytes()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM tokens WHERE length(sha256) = 64").fetchone()[0] >= 1
    me = served.client.get("api/kit/me", headers=bearer(token))
    assert me.json()["members"] == ["Dora", "Eve"]
    cookies = _log_in(served, token)
    shown = me.text + httpx.get(served.server.url + "team", cookies=cookies).text + served.client.get("board").text
    assert "Dora" in shown and "dora@example.org" not in shown


def test_pages_work_without_javascript(served):
    """Sign up, hand in and read the result with forms and links only (as a browser with JavaScript off)."""
    browser = httpx.Client(base_url=served.server.url, timeout=60)
    form = browser.get("signup")
    assert form.status_code == 200 and "Class code" in form.text
    assert "script-src 'self'" in form.headers["Content-Security-Policy"]
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
    r = browser.post(
        "signup",
        data={"_xsrf": xsrf, "team": "No <script> Team", "class_code": served.code.lower(), "member_name": "Gus"},
    )
    assert r.status_code == 201 and "kit_" in r.text and "No &lt;script&gt; Team" in r.text
    team_page = browser.get("team")
    assert team_page.status_code == 200 and "Gus" in team_page.text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', team_page.text).group(1)
    r = browser.post(
        "team/handins",
        data={"_xsrf": xsrf},
        files={"file": ("form.csv", sample_csv(served.root, 0.77))},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = r.headers["Location"]
    for _ in range(600):
        text = browser.get(page).text
        if "scored" in text:
            break
    assert "public score" in text and "roc_auc" in text
    # a form post without the XSRF token is refused
    r = browser.post("team/handins", files={"file": ("x.csv", b"a")}, follow_redirects=False)
    assert r.status_code == 403
    board = browser.get("board")
    assert "No &lt;script&gt; Team" in board.text and "<noscript>" in board.text
    for _ in range(100):  # the board is redrawn after the batch is recorded
        live = browser.get("board/live").json()
        if "No &lt;script&gt; Team" in live["html"]:
            break
        time.sleep(0.1)
    assert live["version"] and "No &lt;script&gt; Team" in live["html"]
    assert "No &lt;script&gt; Team" in httpx.get(served.server.url + "board").text  # a visitor's board


def test_every_hand_in_has_a_ledger_row(served):
    token = served.team("Auditors")
    hand_in(served.client, token, "a.csv", sample_csv(served.root, 0.91))
    hand_in(served.client, token, "../a.csv", b"x")
    rows = served.server.state.teams.all_hand_ins()
    with served.ledger() as led:
        subs = set(led.latest_runs(CHALLENGE)["submission_id"])
        refused = set(led.refusals(CHALLENGE)["id"])
    assert rows
    for row in rows:
        assert (row.submission_id in subs) or (row.refusal_id in refused), row


def _log_in(served: Served, token: str) -> httpx.Cookies:
    browser = httpx.Client(base_url=served.server.url, timeout=30)
    form = browser.get("login")
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
    r = browser.post("login", data={"_xsrf": xsrf, "token": token}, follow_redirects=False)
    assert r.status_code == 302, r.text
    return browser.cookies
