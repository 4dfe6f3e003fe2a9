"""Load on ``kit serve``: many teams hand in at once, through the HTTP API, as in a class's last minute.

Starts ``kit serve breast-cancer`` as an organiser does (its own process, a fresh work folder,
the sandbox on), signs up N teams, then sends every hand-in at once (one HTTP connection per
hand-in): mostly prediction files, some notebooks (the starter notebook). It measures

- the acceptance latency of each hand-in: from sending its request to the server's answer
  (202 and the hand-in's id: the ledger row exists), median, p95 and max;
- the time until the last score: from the first request to the last run the ledger records;

and checks that nothing is lost and nothing is graded twice: one hand-in row of the server
per request, one ledger submission per accepted hand-in, exactly one run per submission,
every one scored, none left pending.

    python benchmarks/server_load.py [--teams 50] [--hand-ins 200] [--notebooks 10] [--workers 2]

Measured on a 2-core machine (otherwise quiet): every hand-in accepted within about a second
(median 0.8 to 1.0 s, p95 1.0 to 1.2 s: the uploads are taken in one at a time, a few ms each),
the last of the 200 scored 12 to 14 s after the first was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
CHALLENGE = "breast-cancer"


def _root(dst: Path) -> Path:
    for part in ("starter_kits", "grading", "sources"):
        shutil.copytree(REPO / part, dst / part)
    spec = dst / "starter_kits" / CHALLENGE / "challenge.yml"
    spec.write_text(spec.read_text().replace("end: 2027-07-07T00:00:00Z", "end: 2099-12-31T00:00:00Z"))
    return dst


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(root: Path, workdir: Path, *, workers: int, sandbox: str) -> tuple[subprocess.Popen, str]:
    """``kit serve`` in its own process; returns it and its URL once it listens."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kit.cli", "--root", str(root), "serve", CHALLENGE, "--workdir", str(workdir)]
        + ["--port", str(port), "--workers", str(workers), "--sandbox", sandbox],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline() if proc.stdout else ""
        seen.append(line)
        if re.search(r"^serving ", line):
            break
    else:
        proc.kill()
        raise RuntimeError("kit serve did not start:\n" + "".join(seen))
    # its output is read (and dropped) from now on, so that it never blocks on a full pipe
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()
    return proc, f"http://127.0.0.1:{port}/"


def hand_ins(root: Path, teams: int, total: int, notebooks: int, seed: int = 0) -> list[tuple[int, str, bytes]]:
    """(team index, file name, bytes): notebooks first (the starter), then prediction files, teams in turn."""
    rng = np.random.default_rng(seed)
    kit = root / "starter_kits" / CHALLENGE
    notebook = (kit / "starter.ipynb").read_bytes()
    lines = (kit / "data" / "sample_submission.csv").read_text().splitlines()
    ids = [line.split(",")[0] for line in lines[1:]]
    out = []
    for i in range(total):
        team = i % teams
        if i < notebooks:
            out.append((team, "starter.ipynb", notebook))
        else:
            p = rng.random(len(ids))
            body = "\n".join([lines[0], *(f"{c},{v:.6f}" for c, v in zip(ids, p, strict=True))]) + "\n"
            out.append((team, f"predictions-{i}.csv", body.encode()))
    return out


async def _send_all(url: str, tokens: list[str], items: list[tuple[int, str, bytes]]) -> tuple[list, float]:
    limits = httpx.Limits(max_connections=len(items), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one(team: int, name: str, data: bytes):
            started = time.perf_counter()
            r = await client.post(
                "api/kit/handins", files={"file": (name, data)}, headers={"Authorization": f"Bearer {tokens[team]}"}
            )
            return r.status_code, r.json(), time.perf_counter() - started

        t0 = datetime.now(timezone.utc)
        answers = await asyncio.gather(*(one(*item) for item in items))
    return answers, t0.timestamp()


def run_load(
    url: str, workdir: Path, root: Path, *, teams: int, total: int, notebooks: int, timeout: float = 600
) -> dict:
    """Sign up *teams*, send *total* hand-ins at once, wait for every score; return the figures and checks."""
    from kit.ledger import Ledger

    with httpx.Client(base_url=url, timeout=60) as client:
        tokens = []
        for t in range(teams):
            r = client.post("api/kit/signup", json={"team": f"Team {t:03d}", "members": [{"name": f"member {t}"}]})
            r.raise_for_status()
            tokens.append(r.json()["token"])
    items = hand_ins(root, teams, total, notebooks)
    answers, t0 = asyncio.run(_send_all(url, tokens, items))
    codes = [a[0] for a in answers]
    accepted = [a[1] for a in answers if a[0] == 202]
    latencies = sorted(a[2] for a in answers)
    wanted = {a["submission_id"] for a in accepted}
    deadline = time.monotonic() + timeout
    with Ledger(workdir / "ledger.sqlite") as led:
        while True:
            runs = led.query("SELECT submission_id, status, finished_at FROM runs")
            if wanted <= set(runs["submission_id"]) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # a second run of a submission, if the grader made one, would be recorded by now
        runs = led.query("SELECT submission_id, status, finished_at FROM runs")
        submissions = led.query("SELECT id FROM submissions")
        pending = led.pending(CHALLENGE)
    per_submission = runs.groupby("submission_id").size()
    last = max(datetime.fromisoformat(t).timestamp() for t in runs["finished_at"])
    from kit.server.teams import TeamStore

    store = TeamStore(workdir / "server.sqlite")
    rows = store.all_hand_ins()
    store.close()
    return {
        "requests": len(items),
        "accepted": len(accepted),
        "codes": {c: codes.count(c) for c in sorted(set(codes))},
        "server_rows": len(rows),
        "submissions": len(submissions),
        "graded": int(per_submission.reindex(sorted(wanted)).notna().sum()),
        "graded_twice": int((per_submission > 1).sum()),
        "not_scored": int((runs["status"] != "scored").sum()),
        "pending": len(pending),
        "latency_median": statistics.median(latencies),
        "latency_p95": latencies[max(0, int(0.95 * len(latencies)) - 1)],
        "latency_max": latencies[-1],
        "last_score_s": last - t0,
    }


def report(figures: dict) -> str:
    return (
        f"{figures['requests']} hand-ins ({figures['codes']}): acceptance latency median "
        f"{figures['latency_median'] * 1000:.0f} ms, p95 {figures['latency_p95'] * 1000:.0f} ms, max "
        f"{figures['latency_max'] * 1000:.0f} ms; last score {figures['last_score_s']:.1f} s after the first "
        f"hand-in; {figures['graded']}/{figures['accepted']} graded, {figures['graded_twice']} twice, "
        f"{figures['not_scored']} not scored, {figures['pending']} pending; server rows {figures['server_rows']}, "
        f"ledger submissions {figures['submissions']}"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teams", type=int, default=50)
    ap.add_argument("--hand-ins", type=int, default=200)
    ap.add_argument("--notebooks", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sandbox", default="bubblewrap")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kit-serve-load-") as tmp:
        root = _root(Path(tmp) / "root")
        workdir = Path(tmp) / "work"
        proc, url = start_server(root, workdir, workers=args.workers, sandbox=args.sandbox)
        try:
            figures = run_load(url, workdir, root, teams=args.teams, total=args.hand_ins, notebooks=args.notebooks)
        finally:
            proc.terminate()
            proc.wait(120)
    print(report(figures))
    ok = (
        figures["accepted"] == figures["requests"] == figures["server_rows"] == figures["submissions"]
        and figures["graded"] == figures["accepted"]
        and not figures["graded_twice"]
        and not figures["pending"]
        and not figures["not_scored"]
    )
    print("every accepted hand-in graded exactly once, nothing lost" if ok else "FAILED: see the counts above")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
