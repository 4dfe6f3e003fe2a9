"""The teams of ``kit serve``: sign-up, secret tokens, the class code, and each team's hand-ins.

The server keeps them in its own SQLite file, ``<workdir>/server.sqlite``, created readable
and writable by its owner only (mode 0600, like the ledger; SQLite gives its ``-wal`` and
``-shm`` files the same mode). The ledger records what was handed in and how it was graded;
this file records who may hand in, and which of the ledger's rows are a team's own.

What it keeps, and no more (GDPR: data minimisation):

- a team: its name, when it signed up, and how (open sign-up or the workshop's class code);
- its members: a name each (a first name or a pseudonym will do) and, only if they give
  one, an e-mail address for the organiser. No page and no answer of the server ever shows
  an e-mail, not even to the team;
- its tokens, as SHA-256 digests only. A token is 32 random bytes from :mod:`secrets`
  (256 bits): no one guesses or brute-forces it, so a fast, unsalted hash is enough (a slow
  one such as scrypt protects passwords, which people choose and can be guessed). The token
  itself is shown once, at sign-up, and is never stored;
- its hand-ins: the time the server received each, its file name and size, and the ledger
  row (submission or refusal) it became.

Team names are identities (FIELD-NOTES: "a team is an identity, not a folder name"). A
name is taken in Unicode NFKC (a full-width "Ｔｅａｍ" is "Team", a ligature "ﬁ" is "fi"),
with runs of spaces made one and none around it, then checked by the intake's own rules
(:func:`kit.grading.intake.check_team`: no control, bidirectional or invisible character, no
letters of a second script that look like letters of the first). Two names that share a key
(:func:`kit.grading.intake.team_keys`: case-folded, NFKC, Unicode's confusables skeleton) are
one team to the eye: a second one is refused, whether the first signed up here or handed in
by another route (a team folder, nbgrader) and is in the ledger.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import KitError

SERVER_DB = "server.sqlite"
SCHEMA_VERSION = 1
#: the mode of the server's file: it holds members' names and e-mails
DB_MODE = 0o600
#: every token starts so (a person, or a secret scanner, recognises one)
TOKEN_PREFIX = "kit_"
#: a class code: 8 letters and digits that cannot be misread (no 0/O, 1/I/L), shown as XXXX-XXXX
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_MEMBERS = 10
MAX_MEMBER_NAME = 100
MAX_EMAIL = 254
#: what a hand-in became when the server received it
OUTCOMES = ("queued", "duplicate", "rejected", "refused")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS teams (
    id          INTEGER PRIMARY KEY,
    challenge   TEXT NOT NULL,
    name        TEXT NOT NULL,
    joined_at   TEXT NOT NULL,
    via         TEXT NOT NULL CHECK (via IN ('open', 'class code')),
    UNIQUE (challenge, name)
);
CREATE TABLE IF NOT EXISTS team_keys (
    challenge   TEXT NOT NULL,
    key         TEXT NOT NULL,
    team_id     INTEGER NOT NULL REFERENCES teams (id),
    PRIMARY KEY (challenge, key)
);
CREATE TABLE IF NOT EXISTS members (
    id          INTEGER PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES teams (id),
    name        TEXT NOT NULL,
    email       TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    sha256      TEXT PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES teams (id),
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS handins (
    id            INTEGER PRIMARY KEY,
    team_id       INTEGER NOT NULL REFERENCES teams (id),
    received_at   TEXT NOT NULL,
    filename      TEXT NOT NULL,
    size          INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    http_status   INTEGER NOT NULL,
    submission_id INTEGER,
    refusal_id    INTEGER,
    reason        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS handins_by_team ON handins (team_id, id);
"""


class SignUpError(KitError):
    """A sign-up the server refuses; ``status`` is its HTTP status (400, 403, 409)."""

    kind = "sign-up"

    def __init__(self, what: str, *, where: str = "", fix: str = "", problems=(), status: int = 400):
        self.status = status
        super().__init__(what, where=where, fix=fix, problems=problems)

    def __reduce__(self):
        return (_rebuild_sign_up, (self.what, self.where, self.fix, self.problems, self.status))


def _rebuild_sign_up(what, where, fix, problems, status):
    return SignUpError(what, where=where, fix=fix, problems=problems, status=status)


@dataclass(frozen=True)
class Member:
    name: str
    email: str | None = None


@dataclass(frozen=True)
class Team:
    id: int
    challenge: str
    name: str
    joined_at: str
    via: str


@dataclass(frozen=True)
class SignedUp:
    """A new team and its token: the only time the token exists outside the team's hands."""

    team: Team
    token: str


@dataclass(frozen=True)
class HandInRow:
    """One hand-in as the server received it (the ledger says how it was graded)."""

    id: int
    team_id: int
    received_at: str
    filename: str
    size: int
    outcome: str
    http_status: int
    submission_id: int | None
    refusal_id: int | None
    reason: str


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def token_digest(token: str) -> str:
    """The SHA-256 of a token, as stored (see the module docstring for why a fast hash)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_class_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def _plain_code(text: str) -> str:
    """A class code as typed (any case, with or without the dash or spaces), for comparing."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).upper() if c.isalnum())


def team_name(raw: str) -> str:
    """A team name as the server registers it: NFKC, runs of spaces made one, none around it,
    then the intake's checks (:func:`kit.grading.intake.check_team`); a name it refuses raises
    :class:`SignUpError` with the intake's reason."""
    from ..grading.intake import IntakeRefusal, check_team

    if not isinstance(raw, str):
        raise SignUpError("the team name must be text", where="team", fix="send the team name as a string")
    # runs of spaces made one, none around; other white space (tabs, new lines) is refused below
    name = " ".join(part for part in unicodedata.normalize("NFKC", raw).split(" ") if part)
    try:
        return check_team(name, where="team")
    except IntakeRefusal as exc:
        raise SignUpError(exc.what, where="team", fix=exc.fix) from None


def _member(raw) -> Member:
    from ..grading.intake import shown  # escapes every character that does not show

    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        raise SignUpError("a member is a name, with an e-mail if they wish", where="members")
    name = " ".join(unicodedata.normalize("NFKC", str(raw.get("name") or "")).split())
    email = (raw.get("email") or "").strip() or None
    if not name:
        raise SignUpError("a member has no name", where="members", fix="give each member a name (a pseudonym will do)")
    if len(name) > MAX_MEMBER_NAME or shown(name) != name:
        raise SignUpError(
            "a member's name is too long or holds characters that do not show",
            where="members",
            fix=f"use at most {MAX_MEMBER_NAME} visible characters",
        )
    if email is not None and (len(email) > MAX_EMAIL or email.count("@") != 1 or shown(email) != email or " " in email):
        raise SignUpError(
            "a member's e-mail address is not valid",
            where="members",
            fix="give an address such as name@example.org, or none: it is optional",
        )
    return Member(name, email)


class TeamStore:
    """The server's SQLite file (see the module docstring). Safe to share between threads."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _owner_only(self.path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # as the ledger: WAL survives a crash of the server
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._tx() as db:
            for statement in _statements(_SCHEMA):
                db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise KitError(
                    f"server file schema version {row[0]} is not supported (expected {SCHEMA_VERSION})",
                    where=str(self.path),
                    fix="use the kit version that created it",
                )
        _owner_only(self.path)  # and its -wal and -shm, now they exist

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the class code ---------------------------------------------------------------------
    def class_code(self, challenge: str) -> str:
        """The challenge's class code (made on first use, then kept: a restart prints the same one)."""
        key = f"class_code:{challenge}"
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
            code = new_class_code()
            db.execute("INSERT INTO meta VALUES (?, ?)", (key, code))
            return code

    def check_class_code(self, challenge: str, typed: str) -> bool:
        expected = self.class_code(challenge)
        return hmac.compare_digest(_plain_code(typed or "").encode(), expected.encode())

    # -- sign-up ------------------------------------------------------------------------------
    def sign_up(
        self,
        challenge: str,
        name: str,
        members: Sequence = (),
        *,
        via: str = "open",
        taken: Iterable[str] = (),
    ) -> SignedUp:
        """Register a team and return it with its new token.

        ``taken``: the team names of the challenge's ledger (teams of other routes): a name that
        looks like one of them is refused as well.
        """
        from ..grading.intake import TeamNames, team_keys

        name = team_name(name)
        people = [_member(m) for m in members]
        if len(people) > MAX_MEMBERS:
            raise SignUpError(f"{len(people)} members; a team has at most {MAX_MEMBERS}", where="members")
        keys = sorted(team_keys(name))
        outside = TeamNames(taken).lookalikes(name)
        if name in set(taken) or outside:
            other = name if name in set(taken) else outside[0]
            raise _clash(name, other)
        token = new_token()
        joined = now_iso()
        with self._tx() as db:
            marks = ",".join("?" * len(keys))
            row = db.execute(
                f"SELECT t.name FROM team_keys k JOIN teams t ON t.id = k.team_id "
                f"WHERE k.challenge=? AND k.key IN ({marks}) LIMIT 1",
                (challenge, *keys),
            ).fetchone()
            if row is not None:
                raise _clash(name, row[0])
            cur = db.execute(
                "INSERT INTO teams (challenge, name, joined_at, via) VALUES (?,?,?,?)", (challenge, name, joined, via)
            )
            team_id = int(cur.lastrowid or 0)
            db.executemany("INSERT INTO team_keys VALUES (?,?,?)", [(challenge, k, team_id) for k in keys])
            db.executemany(
                "INSERT INTO members (team_id, name, email) VALUES (?,?,?)",
                [(team_id, m.name, m.email) for m in people],
            )
            db.execute("INSERT INTO tokens VALUES (?,?,?)", (token_digest(token), team_id, joined))
        return SignedUp(Team(team_id, challenge, name, joined, via), token)

    # -- who is asking --------------------------------------------------------------------------
    def team_for_token(self, challenge: str, token: str) -> Team | None:
        """The team whose token this is (a token of another challenge's team is no one's here)."""
        if not token or len(token) > 200:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT t.id, t.challenge, t.name, t.joined_at, t.via FROM tokens k JOIN teams t ON t.id = k.team_id"
                " WHERE k.sha256 = ? AND t.challenge = ?",
                (token_digest(token), challenge),
            ).fetchone()
        return Team(*row) if row else None

    def team(self, team_id: int) -> Team | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, challenge, name, joined_at, via FROM teams WHERE id = ?", (int(team_id),)
            ).fetchone()
        return Team(*row) if row else None

    def member_names(self, team_id: int) -> list[str]:
        """The members' names (never their e-mails: no page shows one)."""
        with self._lock:
            rows = self._db.execute("SELECT name FROM members WHERE team_id = ? ORDER BY id", (team_id,)).fetchall()
        return [r[0] for r in rows]

    def team_names(self, challenge: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT name FROM teams WHERE challenge = ? ORDER BY id", (challenge,)).fetchall()
        return [r[0] for r in rows]

    # -- hand-ins ---------------------------------------------------------------------------------
    def add_hand_in(
        self,
        team_id: int,
        *,
        received_at: str,
        filename: str,
        size: int,
        outcome: str,
        http_status: int,
        submission_id: int | None = None,
        refusal_id: int | None = None,
        reason: str = "",
    ) -> int:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO handins (team_id, received_at, filename, size, outcome, http_status, submission_id,"
                " refusal_id, reason) VALUES (?,?,?,?,?,?,?,?,?)",
                (team_id, received_at, filename, size, outcome, http_status, submission_id, refusal_id, reason),
            )
            return int(cur.lastrowid or 0)

    def hand_in(self, team_id: int, hand_in_id: int) -> HandInRow | None:
        """One of the team's hand-ins; another team's is None, as one that does not exist."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM handins WHERE id = ? AND team_id = ?", (int(hand_in_id), int(team_id))
            ).fetchone()
        return HandInRow(*row) if row else None

    def hand_ins(self, team_id: int) -> list[HandInRow]:
        """The team's hand-ins, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM handins WHERE team_id = ? ORDER BY id DESC", (team_id,)).fetchall()
        return [HandInRow(*r) for r in rows]

    def all_hand_ins(self) -> list[HandInRow]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM handins ORDER BY id").fetchall()
        return [HandInRow(*r) for r in rows]


def _clash(name: str, other: str) -> SignUpError:
    from ..grading.intake import shown

    if other == name:
        what = f"the team name '{shown(name)}' is taken"
    else:
        what = (
            f"the team name '{shown(name)}' looks like the team '{shown(other)}' (names that differ only in case, "
            "Unicode form, spaces or look-alike letters are one team)"
        )
    return SignUpError(
        what,
        where="team",
        fix=f"if you are team '{shown(other)}', hand in with its token; else choose a name that does not look like it",
        status=409,
    )


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _owner_only(path: Path) -> None:
    """Create *path* with mode 0600 or narrow it (and its -wal and -shm files) to its owner."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, DB_MODE))
    except FileExistsError:
        pass
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = os.stat(p)
            if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                os.chmod(p, DB_MODE)
        except OSError:
            pass


__all__ = [
    "OUTCOMES",
    "SERVER_DB",
    "HandInRow",
    "Member",
    "SignUpError",
    "SignedUp",
    "Team",
    "TeamStore",
    "format_code",
    "team_name",
    "token_digest",
]
