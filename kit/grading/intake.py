"""Intake: turn handed-in files into ledger submissions, and check notebooks before running them.

A submission is keyed by (challenge, team, sha256 of its bytes): handing in the
same file twice records it once. The original bytes are kept in a
content-addressed store before the ledger row that points to them is written,
so a row never points at a file that is not there.

Nothing handed in is skipped without a trace (:func:`take_in`): a hand-in that breaks a
submission rule is recorded with a ``rejected`` run; one that cannot be taken in at all (a
link, a hidden file, a file over the size limit, a team name that is not allowed or is
another spelling of a team's) gets a refusal row in the ledger and its feedback.

Team names are identities, not folder names:

- a name is taken exactly as it is spelled, and may be spelled one way only
  (:func:`check_team`): Unicode NFC, no space around it, no control, format (bidirectional
  controls, zero-width characters) or other invisible character, no leading dot (a hidden
  folder), no letters of a second script that look like letters of the name's main script
  (a Cyrillic "а" in a Latin name, found with ``confusable_homoglyphs``);
- two names are one team to the eye when they share a key (:func:`team_keys`): the
  skeleton, after Unicode's UTS #39, of their NFKC form with runs of spaces made one, also
  case-folded. The skeleton maps each character to the prototype of its confusables class
  in Unicode's ``confusables.txt`` (the table ``confusable_homoglyphs`` ships). A new name
  that shares a key with a team of the ledger, or with another name of the same batch, is
  refused as a clash (:class:`TeamNames`): never merged.

The hand-in time of a file (:func:`hand_in_time`) is the time its source vouches for
(nbgrader's ``timestamp.txt``), or else its modification time capped by the moment the
intake noticed it (``min(mtime, received)``: a watcher under load notices a file late),
and never earlier than the last moment its source looked and did not see it so
(``not_before``): a participant who sets a file's time back gains no more than that.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import stat
import tempfile
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import KitError, NotebookError
from ..ledger import utcnow
from ..workspace import private_dir
from .report import Entry
from .rules import parse_time, rule_violation

if TYPE_CHECKING:  # pragma: no cover
    import nbformat

    from ..challenge import Challenge
    from ..ledger import Ledger
    from ..workspace import Workspace
    from .recording import Recorder

KINDS = {".ipynb": "notebook", ".csv": "predictions"}
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_TEAM_LENGTH = 100
MIB = 1024 * 1024


class IntakeRefusal(KitError):
    """A hand-in that cannot be taken in; ``kind`` names the reason in a word (``link``,
    ``hidden``, ``team-name``, ``team-clash``, ``too-large``, ``not-regular``, ...)."""

    def __init__(self, what: str, *, where: str = "", fix: str = "", problems=(), kind: str = "refused"):
        self.kind = kind
        super().__init__(what, where=where, fix=fix, problems=problems)

    def __reduce__(self):
        return (_rebuild_refusal, (self.what, self.where, self.fix, self.problems, self.kind))


def _rebuild_refusal(what, where, fix, problems, kind):
    return IntakeRefusal(what, where=where, fix=fix, problems=problems, kind=kind)


def refusal(kind: str, what: str, *, where: str = "", fix: str = "") -> dict:
    """A source's reason not to take a hand-in in, as :attr:`HandIn.refused` holds it."""
    return IntakeRefusal(what, where=where, fix=fix, kind=kind).to_dict()


@dataclass(frozen=True)
class HandIn:
    """A file handed in by a team, before it is recorded.

    ``submitted_at``: a hand-in time its source vouches for (nbgrader's ``timestamp.txt``);
    without it, the file's modification time capped by ``received_at`` (when the intake
    noticed it; None: the batch's time) and floored by ``not_before`` (see
    :func:`hand_in_time`). ``root``: the folder the source was given; no link below it is
    followed. ``refused``: the source's reason not to take it in (a link, a hidden file):
    it is recorded as a refusal.
    """

    path: Path
    team: str
    submitted_at: str | None = None  # ISO time
    source: str = ""  # where it came from (folder, nbgrader course, ...)
    received_at: str | None = None  # ISO time
    not_before: str | None = None  # ISO time
    root: Path | None = None
    refused: dict | None = None

    @property
    def kind(self) -> str:
        return kind_of(self.path)

    @property
    def where(self) -> str:
        """Where it was found, as its team may read it: its path below its root, else its name
        (never a folder of the grader's)."""
        if self.root is not None:
            try:
                return shown(str(self.path.relative_to(self.root)))
            except ValueError:
                pass
        return shown(self.path.name)


def kind_of(path: Path) -> str:
    kind = KINDS.get(Path(path).suffix.lower())
    if kind is None:
        raise IntakeRefusal(
            f"cannot grade a {shown(Path(path).suffix) or 'suffix-less'} file",
            where=shown(Path(path).name),
            fix="hand in a notebook (.ipynb) or a predictions file (.csv)",
            kind="suffix",
        )
    return kind


# -- names ----------------------------------------------------------------------------------
#: invisible characters that are not of a category refused as a whole (Unicode's
#: Default_Ignorable_Code_Point letters and marks: fillers, variation selectors; the blank
#: Braille pattern)
_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800, 0x3164, 0xFFA0]
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0100, 0xE01F0))
)
#: categories refused in a name: controls, format characters (bidirectional controls,
#: zero-width characters), surrogates (undecodable bytes), private use, unassigned, line and
#: paragraph separators
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _invisible(c: str) -> bool:
    return unicodedata.category(c) in _REFUSED_CATEGORIES or ord(c) in _INVISIBLE


def shown(text: str) -> str:
    """Text as it may be printed and recorded: characters that do not print (controls, format and
    bidirectional characters, invisible ones, spaces other than U+0020, lone surrogates of
    undecodable bytes) written as escapes (``\\x1b``, ``\\u202e``)."""
    out = []
    for c in str(text):
        if (c.isprintable() or c == " ") and ord(c) not in _INVISIBLE:
            out.append(c)
        else:
            o = ord(c)
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    return "".join(out)


def _char_names(chars: Iterable[str]) -> str:
    names = []
    for c in sorted(set(chars)):
        name = unicodedata.name(c, "") if unicodedata.category(c) != "Cs" else "an undecodable byte"
        names.append(f"{shown(c)} {name}".strip())
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def check_team(team: str, where: str = "") -> str:
    """A team name as handed in, if it may be one; else an :class:`IntakeRefusal` that says why.

    A team name is data (any script, any punctuation) spelled one way only: not empty, at
    most ``MAX_TEAM_LENGTH`` characters, no character that does not show, no space around
    it, in Unicode NFC, no leading dot, no letters of a second script that look like letters
    of its main one. It is returned unchanged: a team is recorded exactly as it is spelled.
    """
    raw = str(team)
    name = f"'{shown(raw)}'"

    def refuse(what: str, fix: str, kind: str = "team-name") -> IntakeRefusal:
        return IntakeRefusal(what, where=where, fix=fix, kind=kind)

    hidden = [c for c in raw if _invisible(c)]
    if hidden:
        raise refuse(
            f"the team name {name} contains characters that do not show ({_char_names(hidden)})",
            "name the team with visible characters only",
        )
    if not raw.strip():
        raise refuse("the team name is empty", "pass --team NAME or put the file in a folder named after the team")
    if len(raw) > MAX_TEAM_LENGTH:
        raise refuse(
            f"the team name is {len(raw)} characters long (at most {MAX_TEAM_LENGTH})", "use a shorter team name"
        )
    if raw != raw.strip():
        raise refuse(
            f"the team name {name} begins or ends with a space",
            "remove the spaces around the name: a team hands in under one spelling of its name",
        )
    if unicodedata.normalize("NFC", raw) != raw:
        raise refuse(
            f"the team name {name} is in a decomposed Unicode form (not NFC), as some systems save file names",
            "type the folder's name again (or grade the file with --team and the name typed in full): "
            "a team hands in under one spelling of its name",
        )
    if raw.startswith("."):
        raise refuse(
            f"the team name {name} begins with a dot (a hidden folder)", "rename the folder without the leading dot"
        )
    lookalikes = _lookalike_letters(raw)
    if lookalikes:
        raise refuse(
            f"the team name {name} mixes scripts with letters that look alike ({_char_names(lookalikes)})",
            "spell the name in one script",
        )
    return raw


def check_file_name(name: str, where: str = "") -> str:
    """A file name is data too: it may not hold characters that do not show."""
    hidden = [c for c in name if _invisible(c)]
    if hidden:
        raise IntakeRefusal(
            f"the file name '{shown(name)}' contains characters that do not show ({_char_names(hidden)})",
            where=where,
            fix="rename the file with visible characters only",
            kind="file-name",
        )
    return name


def _lookalike_letters(name: str) -> list[str]:
    """Letters of a minor script that look like letters of the name's main script."""
    if name.isascii():
        return []
    from confusable_homoglyphs import categories, confusables

    scripts = [categories.alias(c) for c in name if c.isalpha()]
    scripts = [s for s in scripts if s not in ("COMMON", "INHERITED")]
    if len(set(scripts)) < 2:
        return []
    main = Counter(scripts).most_common(1)[0][0]
    found = confusables.is_confusable(name, greedy=True, preferred_aliases=[main]) or []
    return [f["character"] for f in found if f["alias"] not in ("COMMON", "INHERITED")]


@functools.lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    """Each confusable character's prototype (Unicode's ``confusables.txt``, as
    ``confusable_homoglyphs`` ships it: a prototype lists its sources, a source its prototype).

    Where a source and its prototype list only each other, either could be the prototype: the
    smaller stands for both (a skeleton is compared, never shown).
    """
    from confusable_homoglyphs.confusables import confusables_data

    def clean(text: str) -> str:  # the table wraps right-to-left text in LEFT-TO-RIGHT MARKs
        return text.replace("\u200e", "")

    table = {clean(k): [clean(e["c"]) for e in v] for k, v in confusables_data.items()}
    out = {}
    for char, targets in table.items():
        if len(char) != 1 or len(targets) != 1:
            continue  # a sequence, or the prototype of several: itself
        target = targets[0]
        out[char] = target if len(target) > 1 or len(table.get(target, ())) > 1 else min(char, target)
    return out


def _skeleton(text: str) -> str:
    """UTS #39's skeleton: NFD, each character by its prototype, NFD again."""
    proto = _prototypes()
    return unicodedata.normalize("NFD", "".join(proto.get(c, c) for c in unicodedata.normalize("NFD", text)))


def team_keys(name: str) -> frozenset[str]:
    """Names that share a key look like one name: the skeletons of the name's NFKC form (runs of
    spaces made one) and of its case-folded form."""
    base = " ".join(unicodedata.normalize("NFKC", name).split())
    return frozenset({_skeleton(base), _skeleton(base.casefold())})


def _is_team_name(team: str) -> bool:
    try:
        check_team(team)
    except KitError:
        return False
    return True


def _visible_form(raw: str) -> str:
    """What a refused name looks like on a screen: for saying which team it imitates."""
    return unicodedata.normalize("NFC", "".join(c for c in raw if not _invisible(c))).strip()


class TeamNames:
    """The team names of a challenge (those of its ledger), and the names a batch may not take.

    A name already in the ledger is its team's, even where an older ledger holds two names
    with one key. A new name that shares a key with a recorded team, or with another new name
    of the same batch, clashes: every such new name is refused.
    """

    def __init__(self, known: Iterable[str]):
        self.known = set(known)
        self._by_key: dict[str, set[str]] = defaultdict(set)
        for name in self.known:
            self._add(name)

    def _add(self, name: str) -> None:
        for key in team_keys(name):
            self._by_key[key].add(name)

    def lookalikes(self, name: str, *, looks: str | None = None) -> list[str]:
        """The other names that share a key with *name* (or with how it *looks*: a refused name's
        visible form), those of the ledger first."""
        others = {o for k in team_keys(looks or name) for o in self._by_key.get(k, ())} - {name}
        return sorted(others, key=lambda o: (o not in self.known, o))

    def clashes(self, names: Iterable[str]) -> dict[str, list[str]]:
        """The new names among *names* (a batch's, all acceptable) that clash, each with its lookalikes."""
        new = sorted(set(names) - self.known)
        for name in new:
            self._add(name)
        return {name: others for name in new if (others := self.lookalikes(name))}


def _clash_error(raw: str, others: list[str], known: set[str], where: str) -> dict:
    other = others[0]
    if other in known:
        what = (
            f"the team name '{shown(raw)}' is another spelling of the team '{shown(other)}' (names that differ only "
            "in case, Unicode form, spaces or look-alike letters are one team)"
        )
        fix = (
            f"if this is team '{shown(other)}', hand in under that very spelling; if it is another team, "
            f"choose a name that does not look like '{shown(other)}'"
        )
    else:
        spellings = ", ".join(f"'{shown(o)}'" for o in [raw, *others])
        what = f"{spellings} are spellings of one team name in the same batch: none of them is taken in"
        fix = "keep one folder per team, named one way; a second team chooses a name that does not look like the first"
    return IntakeRefusal(what, where=where, fix=fix, kind="team-clash").to_dict()


# -- files ----------------------------------------------------------------------------------
def _open_below(path: Path, root: Path | None) -> int:
    """Open *path* for reading without following any link below *root* (only the last
    component's without a root); a pipe or a device opens without blocking."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if root is None:
        return os.open(path, flags)
    parts = path.relative_to(root).parts
    if not parts or ".." in parts:
        raise OSError(errno.EINVAL, "not a file below the folder", str(path))
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], flags, dir_fd=fd)
    finally:
        os.close(fd)


def _first_link(path: Path, root: Path | None) -> Path | None:
    """The first component of *path* below *root* that is a symbolic link, if any."""
    start = root if root is not None else path.parent
    try:
        parts = path.relative_to(start).parts
    except ValueError:
        return path if path.is_symlink() else None
    p = start
    for part in parts:
        p = p / part
        if p.is_symlink():
            return p
    return None


def too_large(size: int | None, limit: int, kind: str, where: str) -> IntakeRefusal:
    """The refusal of a hand-in over its size limit (*size* in bytes when known), in MiB."""
    what = "the notebook" if kind == "notebook" else "the predictions file"
    bound = (
        f"the limit of {limit / MIB:g} MiB for a notebook"
        if kind == "notebook"
        else f"the challenge's limit of {limit / MIB:g} MiB (limits.file_size_mb)"
    )
    return IntakeRefusal(
        f"{what} is larger than {bound}" + (f": {size / MIB:.1f} MiB" if size else ""),
        where=where,
        fix="hand in a smaller file (clear large outputs from the notebook)",
        kind="too-large",
    )


def read_hand_in(
    path: Path, limit: int, *, root: Path | None = None, kind: str = "predictions", where: str = ""
) -> tuple[bytes, os.stat_result]:
    """Read a regular file of at most ``limit`` bytes without following a link below *root*
    (without a root: only the file itself may not be a link); return its bytes and its status.

    Refused (:class:`IntakeRefusal`): a link on the way, something other than a regular file
    (a pipe, a device, a folder), a file over the limit (found before reading it), a file that
    cannot be read.
    """
    where = where or shown(str(path))
    try:
        fd = _open_below(path, root)
    except (OSError, ValueError) as exc:
        link = _first_link(path, root)
        if link is not None:
            what = "the file is" if link == path else f"'{shown(link.name)}' on its way is"
            raise IntakeRefusal(
                f"{what} a symbolic link: links are not followed",
                where=where,
                fix="hand in the file itself, in a real folder",
                kind="link",
            ) from None
        if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
            raise IntakeRefusal(
                "the file was gone when it was read (removed or renamed)",
                where=where,
                fix="hand it in again",
                kind="missing",
            ) from None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise IntakeRefusal(
            f"cannot read the file ({reason})", where=where, fix="hand in a regular file", kind="unreadable"
        ) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise IntakeRefusal(
                "not a regular file (a folder, a pipe or a device)",
                where=where,
                fix="hand in a regular file",
                kind="not-regular",
            )
        if st.st_size > limit:
            raise too_large(st.st_size, limit, kind, where)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise too_large(None, limit, kind, where)
    return data, st


def _mtime(st: os.stat_result) -> datetime:
    ns = st.st_mtime_ns
    return datetime.fromtimestamp(ns // 10**9, timezone.utc) + timedelta(microseconds=(ns % 10**9) // 1000)


def hand_in_time(hand_in: HandIn, mtime: datetime | None, now: datetime) -> datetime:
    """When *hand_in* was handed in: its source's time, else ``min(mtime, received)`` floored
    by ``not_before`` (``now``: the intake time of hand-ins that carry none)."""
    if hand_in.submitted_at:
        return parse_time(hand_in.submitted_at)
    received = parse_time(hand_in.received_at) if hand_in.received_at else now
    at = min(mtime, received) if mtime is not None else received
    if hand_in.not_before:
        at = max(at, min(parse_time(hand_in.not_before), received))
    return at


def _fingerprint(challenge: str, hand_in: HandIn, error: dict, digest: str | None) -> str:
    """The same refusal of the same thing is recorded once: what, where and which bytes (or
    which file, by its status, when it was not read)."""
    try:
        st = os.lstat(hand_in.path)
        what: list = [st.st_size, st.st_mtime_ns, st.st_ino]
    except OSError:
        what = []
    parts = [challenge, shown(hand_in.team), hand_in.where, error.get("kind"), digest or what]
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def store_bytes(store: Path, data: bytes, suffix: str) -> tuple[str, Path]:
    """Write ``data`` to ``store/<sha256><suffix>`` atomically; return (sha256, path)."""
    digest = hashlib.sha256(data).hexdigest()
    target = store / f"{digest}{suffix}"
    if not target.exists():
        private_dir(store)
        fd, tmp = tempfile.mkstemp(dir=store, prefix=".incoming-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    return digest, target


def check_notebook(data: bytes, where: str) -> nbformat.NotebookNode:
    """Parse a submitted notebook; it must be JSON, a valid notebook for a Python kernel (its
    kernelspec's or language_info's language; none given reads as Python), with a ``parameters`` cell."""
    import nbformat

    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise NotebookError(
            "the notebook is not UTF-8 text", where=where, fix="hand in the .ipynb file saved by Jupyter"
        ) from None
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"the notebook is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            where=where,
            fix="hand in the .ipynb file saved by Jupyter, not an export or a copy-paste",
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw:
        raise NotebookError(
            "the file is JSON but not a notebook (no 'cells')",
            where=where,
            fix="hand in the .ipynb file saved by Jupyter",
        )
    try:
        invalid: dict = {}
        nb = nbformat.reads(json.dumps(raw), as_version=4, capture_validation_error=invalid)  # validated once
        if invalid:
            raise invalid["ValidationError"]
    except (nbformat.ValidationError, KeyError, TypeError, ValueError) as exc:
        raise NotebookError(
            f"the notebook does not follow the notebook format: {str(exc).splitlines()[0]}",
            where=where,
            fix="open and save it in JupyterLab, then hand it in again",
        ) from None
    meta = nb.get("metadata", {})
    spec, info = meta.get("kernelspec") or {}, meta.get("language_info") or {}
    language = str(spec.get("language") or info.get("name") or "python").strip().lower()
    if language != "python":
        name = spec.get("display_name") or spec.get("name") or language
        raise NotebookError(
            f"the notebook is written for the {name} kernel ({language}); this challenge runs Python notebooks",
            where=where,
            fix="hand in a Python notebook (start from the starter notebook, kernel 'Python 3'), or hand in "
            "your predictions as a CSV file",
        )
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise NotebookError(
            "the notebook has no cell tagged 'parameters'",
            where=where,
            fix=(
                "keep the starter notebook's parameters cell (it defines data_dir and predictions_path); "
                "in JupyterLab, select the cell and add the tag 'parameters' in the property inspector"
            ),
        )
    if nb.cells[tagged[0]].cell_type != "code":
        raise NotebookError(
            f"the cell tagged 'parameters' (cell {tagged[0]}) is not a code cell",
            where=where,
            fix="tag the code cell that defines data_dir and predictions_path",
        )
    return nb


# -- into the ledger ----------------------------------------------------------------------
@dataclass
class Queued:
    """A recorded submission waiting to be graded (``data``: its stored bytes; None if lost)."""

    submission_id: int
    team: str
    filename: str
    kind: str
    stored_path: str
    data: bytes | None


def take_in(
    challenge: Challenge,
    ledger: Ledger,
    workspace: Workspace,
    hand_ins,
    recorder: Recorder,
    *,
    regrade: bool = False,
    now: datetime,
) -> list[Queued]:
    """Read, store and record every hand-in; return those to grade.

    A hand-in that cannot be taken in (see :func:`check_team`, :func:`read_hand_in`, a
    source's ``refused``, a team-name clash) is recorded as a refusal, with its feedback; one
    that breaks a submission rule is recorded with a ``rejected`` run; one already graded is
    skipped (unless ``regrade``). ``now``: the intake time of hand-ins that carry none.
    """
    ch = challenge
    hand_ins = list(hand_ins)
    teams = TeamNames(ledger.team_names(ch.id))
    clashes = teams.clashes(h.team for h in hand_ins if h.refused is None and _is_team_name(h.team))
    queue = []
    for h in hand_ins:
        name, team, kind = h.path.name, "", ""
        error, data, st = h.refused, None, None
        if error is None:
            try:
                # a name of the ledger is its team's (an older version may have taken one that
                # would not be taken now); any other is checked
                team = h.team if h.team in teams.known else check_team(h.team, where=h.where)
                check_file_name(name, where=h.where)
                kind = kind_of(h.path)
                limit = MAX_NOTEBOOK_BYTES if kind == "notebook" else ch.spec.limits.file_size_mb * MIB
                data, st = read_hand_in(h.path, limit, root=h.root, kind=kind, where=h.where)
                if team in clashes:
                    error = _clash_error(team, clashes[team], teams.known, h.where)
            except KitError as exc:
                error = exc.to_dict()
                raw = str(h.team)
                others = teams.lookalikes(raw, looks=_visible_form(raw)) if error["kind"] == "team-name" else []
                if others:  # a name that may not be, and that imitates a team's
                    whose = "the team" if others[0] in teams.known else "the name of this batch"
                    error["what"] += f"; it looks like {whose} '{shown(others[0])}'"
        if st is None:
            try:
                st = os.lstat(h.path)
            except OSError:
                st = None
        at = hand_in_time(h, _mtime(st) if st is not None else None, now)
        if error is not None:
            digest = hashlib.sha256(data).hexdigest() if data is not None else None
            recorder.refusal(h, error, fingerprint=_fingerprint(ch.id, h, error, digest), submitted_at=at, data=data)
            continue
        assert data is not None  # read above, or refused
        digest, stored = store_bytes(workspace.store_dir(ch.id), data, h.path.suffix.lower())
        existing = ledger.find_submission(ch.id, team, digest)
        violation = None if existing else rule_violation(ch.spec, ledger, team, at)
        sid, _created = ledger.add_submission(
            challenge=ch.id,
            team=team,
            kind=kind,
            filename=name,
            sha256=digest,
            size=len(data),
            stored_path=str(stored),
            source=h.source,
            submitted_at=at.isoformat(timespec="microseconds"),
        )
        item = Queued(sid, team, name, kind, str(stored), data)
        if violation:
            recorder.failure(item, status="rejected", stage="intake", started=utcnow(), error=violation)
            continue
        latest = ledger.latest_status(sid)
        if latest is not None and (not regrade or latest == "rejected"):
            recorder.report.entries.append(Entry(sid, team, name, kind, "skipped", "intake"))
            continue
        queue.append(item)
    return queue


def pending_submissions(challenge: Challenge, ledger: Ledger) -> list[Queued]:
    """Submissions recorded earlier but never graded (the grader was stopped)."""
    out = []
    for sid in ledger.pending(challenge.id):
        s = ledger.submission(sid)
        p = Path(s["stored_path"])
        out.append(Queued(sid, s["team"], s["filename"], s["kind"], str(p), p.read_bytes() if p.exists() else None))
    return out
