"""The open-data release of a closed challenge, behind the privacy gate.

:func:`release` writes ``<out_dir or workdir>/release/<id>-<version>/`` and a zip
of it beside the folder (``<id>-<version>.zip``)::

    data/train.csv, data/test.csv, data/sample_submission.csv
    data/test_labels.csv        the test labels with the public/private split of each case
    README.md, card.html, croissant.json, plots/
                                the data card in every rendering, with the final
                                leaderboard and the subgroup results of the top teams
    leaderboard.csv, leaderboard.md
                                the final private leaderboard with paired-bootstrap
                                intervals, rank ranges, P(first) and the tied top
    subgroup_results.csv        every metric of the top teams per subgroup, with intervals
    winners.csv, winners.md     the top teams' code licences and prize eligibility
    winners/*.ipynb             the stored original notebook of each eligible winner
    MANIFEST.sha256             sha256 of every other file (``sha256sum -c MANIFEST.sha256``)

Order: the challenge must be closed; the privacy gate runs first (blocked: nothing
is written, :class:`~kit.privacy.ReleaseBlocked` lists the reasons; an explicit
override lets it through and the card records it); everything is computed, then
written into a scratch folder that replaces the release folder only when complete.

Determinism: the same inputs give the same bytes. Numbers are rounded for
display, the bootstrap is seeded, no clock time is written, and the zip has its
entries sorted, the challenge's closing time as every timestamp, mode 0644 for
every file and no extra fields.

Licences of the winners' code: a winner is prize-eligible when the notebook of its
selected submission declares an OSI-approved licence by its SPDX identifier (see
:func:`notebook_licence`). CC0-1.0 is *not* accepted: the OSI never approved it
(its waiver explicitly keeps patent rights); a public-domain-like alternative is
MIT-0 or 0BSD. A notebook without an OSI licence is not redistributed (nobody
granted the right to), and a predictions file has no code to release: both are
listed in ``winners.csv`` as not prize-eligible, with the reason.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import KitError

if TYPE_CHECKING:
    from .cards import CardResult
    from .cards.subgroups import SubgroupResults
    from .leaderboard import Leaderboard
    from .privacy import PrivacyReport

RELEASE_DIR = "release"
MANIFEST = "MANIFEST.sha256"
DEFAULT_TOP = 3
FILE_MODE = 0o644

# -- licences -----------------------------------------------------------------------------------------
#: OSI-approved licences by SPDX identifier (canonical spelling; compared case-insensitively)
OSI_APPROVED = frozenset(
    """
0BSD AAL AFL-1.1 AFL-1.2 AFL-2.0 AFL-2.1 AFL-3.0 AGPL-3.0-only AGPL-3.0-or-later Apache-1.1 Apache-2.0
APL-1.0 APSL-1.0 APSL-1.1 APSL-1.2 APSL-2.0 Artistic-1.0 Artistic-1.0-cl8 Artistic-1.0-Perl Artistic-2.0
BlueOak-1.0.0 BSD-1-Clause BSD-2-Clause BSD-2-Clause-Patent BSD-3-Clause BSD-3-Clause-LBNL BSL-1.0 CAL-1.0
CAL-1.0-Combined-Work-Exception CATOSL-1.1 CDDL-1.0 CECILL-2.1 CERN-OHL-P-2.0 CERN-OHL-S-2.0 CERN-OHL-W-2.0
CNRI-Python CPAL-1.0 CPL-1.0 CUA-OPL-1.0 ECL-1.0 ECL-2.0 EFL-1.0 EFL-2.0 Entessa EPL-1.0 EPL-2.0 EUDatagrid
EUPL-1.1 EUPL-1.2 Fair Frameworx-1.0 GPL-2.0-only GPL-2.0-or-later GPL-3.0-only GPL-3.0-or-later HPND Intel
IPA IPL-1.0 ISC LGPL-2.0-only LGPL-2.0-or-later LGPL-2.1-only LGPL-2.1-or-later LGPL-3.0-only LGPL-3.0-or-later
LiLiQ-P-1.1 LiLiQ-R-1.1 LiLiQ-Rplus-1.1 LPL-1.0 LPL-1.02 LPPL-1.3c MirOS MIT MIT-0 MIT-Modern-Variant Motosoto
MPL-1.0 MPL-1.1 MPL-2.0 MPL-2.0-no-copyleft-exception MS-PL MS-RL MulanPSL-2.0 Multics NASA-1.3 Naumen NCSA
NGPL Nokia NPOSL-3.0 NTP OCLC-2.0 OFL-1.1 OFL-1.1-no-RFN OFL-1.1-RFN OGTSL OLDAP-2.8 OSET-PL-2.1 OSL-1.0
OSL-2.0 OSL-2.1 OSL-3.0 PHP-3.0 PHP-3.01 PostgreSQL Python-2.0 QPL-1.0 RPL-1.1 RPL-1.5 RPSL-1.0 RSCPL
SimPL-2.0 SISSL Sleepycat SPL-1.0 UCL-1.0 Unicode-DFS-2016 Unlicense UPL-1.0 VSL-1.0 W3C Watcom-1.0 Xnet Zlib
ZPL-2.0 ZPL-2.1
""".split()
)
#: deprecated SPDX identifiers of OSI-approved licences -> today's identifier
DEPRECATED = {
    "GPL-2.0": "GPL-2.0-only",
    "GPL-2.0+": "GPL-2.0-or-later",
    "GPL-3.0": "GPL-3.0-only",
    "GPL-3.0+": "GPL-3.0-or-later",
    "LGPL-2.0": "LGPL-2.0-only",
    "LGPL-2.0+": "LGPL-2.0-or-later",
    "LGPL-2.1": "LGPL-2.1-only",
    "LGPL-2.1+": "LGPL-2.1-or-later",
    "LGPL-3.0": "LGPL-3.0-only",
    "LGPL-3.0+": "LGPL-3.0-or-later",
    "AGPL-3.0": "AGPL-3.0-only",
}
#: licences people declare for code that the OSI has not approved, and why
NOT_OSI = {
    "CC0-1.0": "CC0-1.0 is not OSI-approved (its waiver explicitly keeps patent rights); for public-domain-like "
    "code use MIT-0 or 0BSD",
    "CC-BY-4.0": "CC-BY-4.0 is a licence for content, not code, and is not OSI-approved",
    "CC-BY-SA-4.0": "CC-BY-SA-4.0 is a licence for content, not code, and is not OSI-approved",
    "CC-BY-NC-4.0": "CC-BY-NC-4.0 forbids commercial use: not an open-source licence",
    "CC-BY-NC-SA-4.0": "CC-BY-NC-SA-4.0 forbids commercial use: not an open-source licence",
    "CC-BY-ND-4.0": "CC-BY-ND-4.0 forbids derivatives: not an open-source licence",
    "WTFPL": "WTFPL is not OSI-approved",
    "JSON": 'the JSON licence is not OSI-approved ("for Good, not Evil")',
    "SSPL-1.0": "SSPL-1.0 is not OSI-approved",
    "BUSL-1.1": "BUSL-1.1 is source-available, not open source",
    "Elastic-2.0": "Elastic-2.0 is source-available, not open source",
    "NONE": "NONE: no licence is granted",
    "NOASSERTION": "NOASSERTION: no licence is stated",
}
_CANONICAL = {x.lower(): x for x in (*OSI_APPROVED, *DEPRECATED, *NOT_OSI)}
HOW_TO_DECLARE = (
    "declare an OSI-approved licence by its SPDX id in the notebook: a markdown line "
    "`License: MIT`, a comment `# SPDX-License-Identifier: MIT`, or metadata.license"
)
_SPDX_LINE = re.compile(r"SPDX-License-Identifier:\s*(.+?)\s*(?:\*/|-->)?\s*$", re.I | re.M)
_LICENCE_LINE = re.compile(r"^[\s>#*_-]*licen[cs]e[\s*_]*:\s*(.+?)\s*$", re.I | re.M)
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True)
class LicenceCheck:
    """The licence a notebook declares and whether it makes the team prize-eligible."""

    licence: str = ""  # the declared SPDX expression (canonical spelling), "" when none
    source: str = ""  # where it was declared: metadata.license, cell 3
    eligible: bool = False
    reason: str = ""  # why not eligible ("" when eligible)


def _tokens(text: str) -> list[str]:
    return re.findall(r"\(|\)|[^\s()]+", text)


def spdx_check(expression: str) -> tuple[bool, str, str]:
    """``(osi_approved, canonical_expression, reason)`` of an SPDX licence expression.

    ``A OR B`` is OSI-approved when one alternative is; ``A AND B`` when both are;
    ``A WITH exception`` when ``A`` is (exceptions only add permissions). Ids are
    matched case-insensitively; deprecated ids (``GPL-3.0+``) are accepted.
    """
    toks = _tokens(expression)
    pos = 0
    problems: list[str] = []

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def term():
        tok = peek()
        if tok is None:
            raise ValueError("the expression ends early")
        if tok == "(":
            take()
            ok, text = disjunction()
            if peek() != ")":
                raise ValueError("a parenthesis is not closed")
            take()
            return ok, f"({text})"
        if tok.upper() in ("AND", "OR", "WITH") or tok == ")":
            raise ValueError(f"{tok!r} is out of place")
        take()
        ok, name = _licence_id(tok, problems)
        if (peek() or "").upper() == "WITH":
            take()
            if peek() is None or peek() in "()":
                raise ValueError("WITH needs an exception id")
            name = f"{name} WITH {take()}"
        return ok, name

    def conjunction():
        ok, text = term()
        while (peek() or "").upper() == "AND":
            take()
            ok2, t2 = term()
            ok, text = ok and ok2, f"{text} AND {t2}"
        return ok, text

    def disjunction():
        ok, text = conjunction()
        while (peek() or "").upper() == "OR":
            take()
            ok2, t2 = conjunction()
            ok, text = ok or ok2, f"{text} OR {t2}"
        return ok, text

    try:
        ok, text = disjunction()
        if peek() is not None:
            raise ValueError(f"{peek()!r} is out of place")
    except ValueError as exc:
        return False, expression, f"{expression!r} is not an SPDX licence expression ({exc}); {HOW_TO_DECLARE}"
    return ok, text, ("" if ok else "; ".join(dict.fromkeys(problems)))


def _licence_id(token: str, problems: list[str]) -> tuple[bool, str]:
    name = _CANONICAL.get(token.lower())
    if name is None and token.endswith("+"):
        base = _CANONICAL.get(token[:-1].lower())
        if base in OSI_APPROVED:
            return True, f"{base}+"
    if name is None:
        if token.lower().startswith(("licenseref-", "documentref-")):
            problems.append(f"{token} is a custom licence, not an OSI-approved one")
        else:
            problems.append(f"{token!r} is not an SPDX id of an OSI-approved licence; {HOW_TO_DECLARE}")
        return False, token
    if name in NOT_OSI:
        problems.append(NOT_OSI[name])
        return False, name
    return True, DEPRECATED.get(name, name)


def _clean(value: str) -> str:
    value = _MD_LINK.sub(r"\1", value)
    value = value.strip().strip("*_`'\" ").rstrip(".").strip()
    return re.sub(r"\s+licen[cs]e$", "", value, flags=re.I)  # "MIT License" -> "MIT"


def _declarations(nb: dict) -> list[tuple[str, str]]:
    """(where, text) of every licence declaration in a notebook's JSON."""
    out = []
    meta = nb.get("metadata") or {}
    for key in ("license", "licence"):
        value = meta.get(key)
        if isinstance(value, dict):
            value = next((value[k] for k in ("spdx", "id", "name") if isinstance(value.get(k), str)), None)
        if isinstance(value, str) and value.strip():
            out.append((f"metadata.{key}", _clean(value)))
    for i, cell in enumerate(nb.get("cells") or []):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        for m in _SPDX_LINE.finditer(text):
            out.append((f"cell {i}", _clean(m.group(1))))
        if cell.get("cell_type") == "markdown":
            for m in _LICENCE_LINE.finditer(text):
                out.append((f"cell {i}", _clean(m.group(1))))
    return out


def notebook_licence(notebook: dict | bytes | str | os.PathLike) -> LicenceCheck:
    """The licence a notebook declares, and whether it is OSI-approved.

    Looked for in ``metadata.license`` (or ``licence``; a string or a mapping with
    ``spdx``/``id``/``name``), in ``SPDX-License-Identifier: ...`` lines of any
    cell, and in ``License: ...`` lines of markdown cells (``**License:** MIT``,
    ``Licence: [Apache-2.0](LICENSE)``). Values are SPDX expressions
    (``MIT OR Apache-2.0``); two different declarations are a conflict, which is
    not eligible.
    """
    if isinstance(notebook, (str, os.PathLike)) and not str(notebook).lstrip().startswith("{"):
        notebook = Path(notebook).read_bytes()
    if isinstance(notebook, (bytes, str)):
        try:
            notebook = json.loads(notebook)
        except ValueError:
            return LicenceCheck(reason="the stored notebook is not valid JSON")
    if not isinstance(notebook, dict):
        return LicenceCheck(reason="the stored notebook is not a notebook (a JSON object)")
    found = _declarations(notebook)
    if not found:
        return LicenceCheck(reason=f"no licence declared: {HOW_TO_DECLARE}")
    checked = [(where, *spdx_check(text)) for where, text in found]
    distinct = list(dict.fromkeys(expr for _, _, expr, _ in checked))
    sources = ", ".join(dict.fromkeys(where for where, *_ in checked))
    if len(distinct) > 1:
        return LicenceCheck(
            licence=" | ".join(distinct),
            source=sources,
            eligible=False,
            reason="conflicting licence declarations: "
            + "; ".join(f"{expr} ({where})" for where, _, expr, _ in checked)
            + "; declare one licence",
        )
    where, ok, expr, reason = checked[0]
    return LicenceCheck(licence=expr, source=sources, eligible=ok, reason=reason)


# -- the result --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WinnerEntry:
    """A top-ranked team's selected submission, its code licence and prize eligibility."""

    rank: int
    team: str
    submission_id: int
    kind: str  # notebook | predictions
    filename: str
    licence: str
    licence_source: str
    eligible: bool
    reason: str
    notebook: str = ""  # path of the released notebook inside the release, "" when not released

    @property
    def card_licence(self) -> str:
        """The licence as the data card shows it."""
        if self.eligible:
            return self.licence
        if self.kind != "notebook":
            return "no code (a predictions file): not prize-eligible"
        return f"{self.licence or 'none declared'}: not prize-eligible"


@dataclass(frozen=True)
class ReleaseResult:
    """What :func:`release` wrote: the folder, the zip, and what they contain."""

    challenge_id: str
    version: str
    folder: Path
    zip_path: Path
    files: dict[str, Path] = field(default_factory=dict)  # path inside the release -> Path, sorted
    card: CardResult | None = None  # paths inside the folder
    board: Leaderboard | None = None  # the final board with intervals
    winners: tuple[WinnerEntry, ...] = ()  # best first
    subgroups: SubgroupResults | None = None

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    @property
    def privacy(self) -> PrivacyReport:
        if self.card is None:
            raise AttributeError("this ReleaseResult holds no card")
        return self.card.privacy

    @property
    def zip_sha256(self) -> str:
        return hashlib.sha256(self.zip_path.read_bytes()).hexdigest()

    def __repr__(self) -> str:
        eligible = sum(w.eligible for w in self.winners)
        return (
            f"ReleaseResult({self.challenge_id!r}, version={self.version!r}, folder={str(self.folder)!r}, "
            f"zip={str(self.zip_path)!r}, files={len(self.files)}, privacy={self.privacy.status!r}, "
            f"prize-eligible winners={eligible}/{len(self.winners)})"
        )

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td>{w.rank}</td><td>{e(w.team)}</td><td>{e(w.licence or '—')}</td>"
            f"<td>{'yes' if w.eligible else 'no'}</td><td>{e(w.reason)}</td></tr>"
            for w in self.winners
        )
        return (
            f"<div class='kit-release'><p><b>Release {e(self.challenge_id)} {e(self.version)}</b>: "
            f"{len(self.files)} files in <code>{e(str(self.folder))}</code>, zip <code>{e(str(self.zip_path))}"
            f"</code> (sha256 {self.zip_sha256[:16]}…).</p>"
            "<table><thead><tr><th>rank</th><th>team</th><th>licence</th><th>prize-eligible</th><th>reason</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>{self.privacy._repr_html_()}</div>"
        )


# -- the release ---------------------------------------------------------------------------------------------
def release(
    challenge,
    *,
    workdir,
    out_dir: str | os.PathLike | None = None,
    override=None,
    now: datetime | None = None,
    root=None,
    top: int = DEFAULT_TOP,
    selection: str = "chosen",
    n_resamples: int = 1000,
    seed: int = 0,
) -> ReleaseResult:
    """Write the open-data release of a closed challenge (see the module docstring); return what was written.

    ``workdir``: the grading folder (its ``ledger.sqlite`` holds the results).
    ``out_dir``: where ``release/`` goes (default: ``workdir``). ``override``: a
    :class:`~kit.cards.schema.PrivacyOverride` (or ``{"reason": ..., "by": ...}``)
    to release although the privacy gate blocks; it takes precedence over the
    card file's ``privacy_override`` and the card records it. ``now``: the time
    to judge whether the challenge is closed (default: the clock). ``top``: how
    many ranks count as winners. ``selection``: see :func:`kit.cards.final_board`.

    Raises :class:`~kit.errors.KitError` (challenge still open, no ledger, no
    ranked team), :class:`~kit.privacy.ReleaseBlocked` (the gate blocks: nothing is
    written) or :class:`~kit.errors.DataIntegrityError` (files differ from the spec).
    """
    from .cards import build_card, card_path, read_card
    from .cards.compute import RELEASE_ROLES, read_release_frames, release_path
    from .cards.final import final_board
    from .cards.subgroups import subgroup_results
    from .challenge import load_challenge, safe_name
    from .ledger import Ledger
    from .privacy import ReleaseBlocked, check_release
    from .workspace import Workspace

    ch = load_challenge(challenge, root=root)
    spec = ch.spec
    now = now or datetime.now(timezone.utc)
    if spec.is_open(now):
        raise KitError(
            f"{ch.id} is still open: it closes on {spec.closes:%Y-%m-%d %H:%M} UTC",
            where=ch.id,
            fix=f"release after {spec.closes:%Y-%m-%d %H:%M} UTC, when the private results are final "
            "(tests may pass now=... after the closing time)",
        )
    card = read_card(card_path(ch))
    decision = override if override is not None else card.privacy_override

    # 1. the privacy gate, before anything is computed or written
    ch.verify()
    frames = read_release_frames(ch)
    policy = getattr(spec, "privacy", None) or card.privacy
    try:
        check_release(frames, policy, decision, key=spec.id_column)
    except ReleaseBlocked as exc:
        raise ReleaseBlocked(
            f"the release of {ch.id} is blocked: {len(exc.problems)} privacy reason(s); nothing was written",
            where=exc.where,
            problems=exc.problems,
            report=exc.report,
            fix=f"remove or generalise what is listed (then `kit prepare {ch.id}`); or, if releasing is justified, "
            f"pass override={{'reason': ..., 'by': ...}} (`kit release {ch.id} --override-reason ... "
            "--override-by ...`) or record privacy_override in card.yml: the card will show it",
        ) from None

    # 2. the final results, from the ledger
    path = Workspace(workdir).ledger_path
    if not path.exists():
        raise KitError(
            "no ledger: nothing was graded in this workdir",
            where=str(path),
            fix=f"pass the workdir of `kit grade {ch.id} ...` (--workdir)",
        )
    with Ledger(path) as led:
        board = final_board(ch, led, selection=selection, n_resamples=n_resamples, seed=seed, now=now)
        if not board.table["rank"].notna().any():
            raise KitError(
                f"no ranked team on the private leaderboard of {ch.id}",
                where=str(path),
                fix="grade the submissions first; a release needs the final results",
            )
        subgroups = subgroup_results(board, led, top=top, n_resamples=n_resamples, seed=seed)
        winners, notebooks = _winners(board, led, top, safe_name)

    # 3. write everything into a scratch folder, then put it in place
    version = card.dataset.version
    name = f"{ch.id}-{safe_name(version, 'v')}"
    base = Path(out_dir if out_dir is not None else workdir) / RELEASE_DIR
    folder, zip_path = base / name, base / f"{name}.zip"
    scratch = base / f".{name}.partial"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    try:
        for role in RELEASE_ROLES:
            _put(scratch / release_path(ch, role), ch.path(role).read_bytes())
        by_team = {w.team: w for w in card.challenge.winners}
        card_winners = [
            {
                "team": w.team,
                "code_licence": w.card_licence,
                "code_url": w.notebook or (by_team[w.team].code_url if w.team in by_team else None),
            }
            for w in winners
        ]
        card_result = build_card(
            ch,
            leaderboard=board,
            subgroups=subgroups,
            winners=card_winners,
            top=top,
            out_dir=scratch,
            override=override,
        )
        _put(scratch / "leaderboard.csv", _board_csv(board).encode("utf-8"))
        _put(scratch / "leaderboard.md", _board_markdown(board).encode("utf-8"))
        _put(scratch / "subgroup_results.csv", subgroups.to_csv().encode("utf-8"))
        for rel, data in notebooks.items():
            _put(scratch / rel, data)
        _put(scratch / "winners.csv", _winners_csv(winners).encode("utf-8"))
        _put(scratch / "winners.md", _winners_markdown(ch, winners, top).encode("utf-8"))
        files = _listing(scratch)
        _put(scratch / MANIFEST, manifest_text(scratch, files).encode("utf-8"))
        files = sorted(files + [MANIFEST])
        for rel in files:
            os.chmod(scratch / rel, FILE_MODE)
        tmp_zip = base / f".{name}.zip.partial"
        write_zip(scratch, files, tmp_zip, prefix=name, date_time=spec.closes)
        if folder.exists():
            shutil.rmtree(folder)
        scratch.rename(folder)
        tmp_zip.replace(zip_path)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    card_result = replace(card_result, out_dir=folder, files={k: folder / k for k in card_result.files})
    return ReleaseResult(
        challenge_id=ch.id,
        version=version,
        folder=folder,
        zip_path=zip_path,
        files={rel: folder / rel for rel in files},
        card=card_result,
        board=board,
        winners=tuple(winners),
        subgroups=subgroups,
    )


def _winners(board, ledger, top: int, safe_name) -> tuple[list[WinnerEntry], dict[str, bytes]]:
    """The top teams' entries and the bytes of the notebooks that may be released (path -> bytes)."""
    t = board.table
    chosen = t[t["rank"].notna() & (t["rank"].fillna(top + 1).astype(int) <= top)]
    entries, notebooks = [], {}
    for r in chosen.itertuples(index=False):
        sub = ledger.submission(int(r.submission_id))
        kind, stored = sub["kind"], Path(sub["stored_path"])
        notebook = ""
        if kind != "notebook":
            check = LicenceCheck(reason="a predictions file, not a notebook: there is no code to release")
        elif not stored.is_file():
            check = LicenceCheck(reason=f"the stored notebook is missing ({stored})")
        else:
            data = stored.read_bytes()
            check = notebook_licence(data)
            if check.eligible:
                notebook = f"winners/{int(r.rank)}-{safe_name(str(r.team), 'team')}-{int(r.submission_id)}.ipynb"
                notebooks[notebook] = data
        entries.append(
            WinnerEntry(
                rank=int(r.rank),
                team=str(r.team),
                submission_id=int(r.submission_id),
                kind=kind,
                filename=str(sub["filename"]),
                licence=check.licence,
                licence_source=check.source,
                eligible=check.eligible,
                reason=check.reason,
                notebook=notebook,
            )
        )
    return entries, notebooks


# -- files -----------------------------------------------------------------------------------------------------
def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def manifest_text(folder: Path, files) -> str:
    """``sha256sum`` lines (hash, two spaces, path) of ``files`` under ``folder``, sorted by path."""
    lines = []
    for rel in sorted(files):
        if "\n" in rel or "\\" in rel:
            raise KitError(f"a file name that sha256sum cannot list: {rel!r}", fix="rename the file")
        lines.append(f"{hashlib.sha256((folder / rel).read_bytes()).hexdigest()}  {rel}\n")
    return "".join(lines)


def write_zip(folder: Path, files, dest: Path, *, prefix: str, date_time: datetime) -> Path:
    """A deterministic zip of ``files`` (paths under ``folder``), stored under ``prefix/``.

    Sorted entries, one timestamp for all (``date_time``, UTC, at the zip format's
    2-second resolution), Unix mode 0644, deflate level 9, no extra fields, no comment.
    """
    stamp = date_time.astimezone(timezone.utc).timetuple()[:6] if date_time.tzinfo else date_time.timetuple()[:6]
    stamp = max(stamp, (1980, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(dest, "w") as zf:
        for rel in sorted(files):
            info = zipfile.ZipInfo(f"{prefix}/{rel}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix: the mode below is honoured
            info.external_attr = (0o100000 | FILE_MODE) << 16
            zf.writestr(info, (folder / rel).read_bytes(), compresslevel=9)
    return dest


def _csv_safe(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _rounded_board(board):
    from .cards.compute import _round

    shown = copy.copy(board)
    t = board.table.drop(columns=["run_id"], errors="ignore").copy()
    for c in t.columns:
        if t[c].dtype.kind == "f":
            t[c] = t[c].map(_round)
    shown.table = t
    return shown


def _board_csv(board) -> str:
    """The board as CSV; the score columns named after the metric (rmse, public_rmse) like the secondary ones."""
    from .leaderboard import render

    shown = _rounded_board(board)
    m = board.metric.name
    shown.table = shown.table.rename(columns={"score": m, "public_score": f"public_{m}"})
    return render(shown, "csv")


def _board_markdown(board) -> str:
    from .leaderboard import render

    return render(_rounded_board(board), "markdown")


def _winners_csv(winners) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "rank",
            "team",
            "submission_id",
            "kind",
            "filename",
            "licence",
            "licence_source",
            "prize_eligible",
            "reason",
            "notebook",
        ]
    )
    for x in winners:
        w.writerow(
            [
                x.rank,
                _csv_safe(x.team),
                x.submission_id,
                x.kind,
                _csv_safe(x.filename),
                _csv_safe(x.licence),
                x.licence_source,
                "yes" if x.eligible else "no",
                x.reason,
                x.notebook,
            ]
        )
    return buf.getvalue()


def _winners_markdown(ch, winners, top: int) -> str:
    from .cards.renderers.markdown import md_cell

    lines = [
        f"# Winners of {md_cell(ch.spec.title)} ({md_cell(ch.id)})",
        "",
        f"The teams ranked {top} or better on the final private leaderboard. A team is prize-eligible when "
        "the notebook of its selected submission declares an OSI-approved open-source licence by its SPDX "
        "identifier; only the notebooks of eligible teams are included (in `winners/`). CC0-1.0 is not "
        "OSI-approved and is not accepted.",
        "",
        "| rank | team | submission | licence | prize-eligible | reason | notebook |",
        "| ---: | --- | --- | --- | --- | --- | --- |",
    ]
    for x in winners:
        lines.append(
            f"| {x.rank} | {md_cell(x.team)} | {md_cell(f'{x.submission_id} ({x.kind}: {x.filename})')} | "
            f"{md_cell(x.licence or '—')} | {'yes' if x.eligible else '**no**'} | "
            f"{md_cell(x.reason or '—')} | {md_cell(x.notebook or '—')} |"
        )
    return "\n".join(lines) + "\n"
