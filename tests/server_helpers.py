"""Helpers of the `kit serve` tests: a private copy of a challenge, a clock the test moves, clients."""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from conftest import REPO

CHALLENGE = "breast-cancer"
#: the end of the last phase in the tests' copies of the challenge
CLOSES = datetime(2099, 12, 31, tzinfo=timezone.utc)


def challenge_root(dst: Path, **limits) -> Path:
    """A private copy of the shipped challenges, open until :data:`CLOSES`, with *limits* changed."""
    for part in ("starter_kits", "grading", "sources"):
        shutil.copytree(REPO / part, dst / part)
    spec = dst / "starter_kits" / CHALLENGE / "challenge.yml"
    text = spec.read_text().replace("end: 2027-07-07T00:00:00Z", "end: 2099-12-31T00:00:00Z")
    for key, value in limits.items():
        head, sep, tail = text.partition(f"  {key}: ")
        assert sep, key
        text = head + f"  {key}: {value}\n" + tail.split("\n", 1)[1]
    spec.write_text(text)
    return dst


def sandbox_name() -> str:
    """bubblewrap where it is installed (the grader's default), else none (these tests hand in CSVs)."""
    from kit.execution.sandbox import find_bwrap

    return "bubblewrap" if find_bwrap() is not None else "none"


class Clock:
    """The server's clock: real time, moved by the test (``at``) and back (``reset``)."""

    def __init__(self):
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def at(self, when: datetime) -> None:
        self.offset = when - datetime.now(timezone.utc)

    def reset(self) -> None:
        self.offset = timedelta(0)


def sample_csv(ch_root: Path, value: float | None = None) -> bytes:
    """The sample submission, with every prediction *value* (distinct bytes for distinct values)."""
    text = (ch_root / "starter_kits" / CHALLENGE / "data" / "sample_submission.csv").read_text()
    if value is None:
        return text.encode()
    lines = text.splitlines()
    return ("\n".join([lines[0], *(f"{line.split(',')[0]},{value:.6f}" for line in lines[1:])]) + "\n").encode()


def sign_up(client: httpx.Client, team: str, *, members=({"name": "Ann"},), class_code: str = "") -> httpx.Response:
    return client.post("api/kit/signup", json={"team": team, "members": list(members), "class_code": class_code})


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def hand_in(client: httpx.Client, token: str | None, name: str, data: bytes) -> httpx.Response:
    return client.post("api/kit/handins", files={"file": (name, data)}, headers=bearer(token) if token else {})


def wait_final(client: httpx.Client, token: str, hand_in_id: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"api/kit/handins/{hand_in_id}", headers=bearer(token)).json()
        if body["final"] or time.monotonic() > deadline:
            return body
        time.sleep(0.1)
