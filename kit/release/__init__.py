"""The open-data release of a closed challenge, behind the privacy gate.

:func:`release` writes ``<out_dir or workdir>/release/<id>-<version>/`` and a zip
of it beside the folder (``<id>-<version>.zip``)::

    data/train.csv, data/test.csv, data/sample_submission.csv
    data/test_labels.csv        the test labels with the public/private split of each case
    data/test_labels.salt       the salt of the labels' commitment (64 hex digits), kept hidden
                                until now: with it anyone can check that
                                sha256(salt || test_labels.csv) is the commitment the spec
                                published at launch (:func:`verify_commitment`)
    README.md, card.html, croissant.json, plots/
                                the full data card in every rendering (files beside it:
                                Croissant's contentUrl is data/...), with the final
                                leaderboard, the subgroup results of the top teams, and the
                                labels' commitment with its salt
    leaderboard.csv, leaderboard.md
                                the final private leaderboard with paired-bootstrap
                                intervals, rank ranges, P(first) and the tied top
    subgroup_results.csv        every metric of the top teams per subgroup, with intervals
    winners.csv, winners.md     the top teams' code licences and prize eligibility
    winners/<rank>-<team>-<id>/ each eligible winner's hand-in folder: the stored original
                                notebook, its licence, environment and code files, never data
    MANIFEST.sha256             sha256 of every other file (``sha256sum -c MANIFEST.sha256``)

Order: the challenge must be closed; the privacy gate runs first (blocked: nothing
is written, :class:`~kit.privacy.ReleaseBlocked` lists the reasons; an explicit
override lets it through and the card records it); everything is computed, then
written into a scratch folder that replaces the release folder only when complete.

Determinism: the same inputs give the same bytes. Numbers are rounded for
display, the bootstrap is seeded, no clock time is written, and the zip has its
entries sorted, the challenge's closing time as every timestamp, mode 0644 for
every file and no extra fields.

Licences of the winners' code: a winner is prize-eligible when its selected hand-in
declares an OSI-approved licence: a LICENSE file in its folder, or an SPDX id or licence
name in the notebook (see :mod:`kit.release.licences`; what is bundled of the folder:
:mod:`kit.release.winners`). CC0-1.0 is *not* accepted: the OSI never approved it
(its waiver explicitly keeps patent rights); a public-domain-like alternative is
MIT-0 or 0BSD. A notebook without an OSI licence is not redistributed (nobody
granted the right to), and a predictions file has no code to release: both are
listed in ``winners.csv`` as not prize-eligible, with the reason.
"""

from __future__ import annotations

import hashlib
import html
import os
import shutil
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..challenge import verify_commitment
from ..errors import KitError
from .files import (
    FILE_MODE,
    _board_csv,
    _board_markdown,
    _listing,
    _put,
    _winners_csv,
    _winners_markdown,
    manifest_text,
    write_zip,
)
from .licences import HOW_TO_DECLARE, OSI_APPROVED, LicenceCheck, notebook_licence, spdx_check

if TYPE_CHECKING:
    from ..cards import CardResult
    from ..cards.subgroups import SubgroupResults
    from ..leaderboard import Leaderboard
    from ..privacy import PrivacyReport

RELEASE_DIR = "release"
MANIFEST = "MANIFEST.sha256"
#: the revealed salt of the labels' commitment, beside the labels in the release
LABELS_SALT_FILE = "test_labels.salt"
DEFAULT_TOP = 3


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
    files: tuple[str, ...] = ()  # paths inside the release of every released file of its hand-in folder

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

    def summary(self) -> str:
        """What was released, for a terminal: where, the privacy decision, and each winner's licence."""
        lines = [
            f"released {self.challenge_id} {self.version}: {len(self.files)} files",
            f"  folder: {self.folder}",
            f"  zip:    {self.zip_path} (sha256 {self.zip_sha256[:16]}…)",
            f"  privacy gate: {self.privacy.status}",
        ]
        for w in self.winners:
            verdict = "prize-eligible" if w.eligible else f"not eligible: {w.reason}"
            lines.append(f"  #{w.rank} {w.team}: licence {w.licence or 'none'} ({verdict})")
        return "\n".join(lines)

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
    from ..cards import build_card, card_path, read_card
    from ..cards.compute import RELEASE_ROLES, read_release_frames, release_path
    from ..cards.final import final_board
    from ..cards.subgroups import subgroup_results
    from ..challenge import load_challenge, safe_name
    from ..ledger import Ledger
    from ..privacy import ReleaseBlocked, check_release
    from ..privacy.gate import record_override, spec_options
    from ..workspace import Workspace

    ch = load_challenge(challenge, root=root)
    spec = ch.spec
    now = now or datetime.now(timezone.utc)
    if spec.is_open(now):
        raise KitError(
            f"{ch.id} is still open: it closes on {spec.closes:%Y-%m-%d %H:%M} UTC",
            where=ch.id,
            fix=f"release after {spec.closes:%Y-%m-%d %H:%M} UTC, when the private results are final",
        )
    card = read_card(card_path(ch))
    decision = override if override is not None else card.privacy_override

    # 1. the privacy gate, before anything is computed or written
    ch.verify()
    frames = read_release_frames(ch)
    policy = getattr(spec, "privacy", None) or card.privacy
    try:
        report = check_release(frames, policy, decision, **spec_options(spec))
    except ReleaseBlocked as exc:
        raise ReleaseBlocked(
            f"the release of {ch.id} is blocked: {len(exc.problems)} privacy reason(s); nothing was written",
            where=exc.where,
            problems=exc.problems,
            report=exc.report,
            fix=f"{exc.fix} (then `kit prepare {ch.id}`; from the command line: `kit release {ch.id} "
            "--override-reason ... --organiser NAME --dpo NAME`)",
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
        winners, notebooks = _winners(ch, board, led, top)
        if report.overridden:  # the decision, with both sign-offs, in the ledger's append-only audit table
            record_override(led, ch.id, report)

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
        if spec.data.labels.commitment is not None:  # the salt is revealed with the labels
            salt_path = salt_release_path(ch)
            _put(scratch / salt_path, (ch.labels_salt() + "\n").encode("ascii"))
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
            now=now,
            layout="release",
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


def salt_release_path(challenge) -> str:
    """Where the release puts the revealed salt of the labels' commitment: beside the labels."""
    from ..cards.compute import release_path

    return (Path(release_path(challenge, "labels")).parent / LABELS_SALT_FILE).as_posix()


def _winners(ch, board, ledger, top: int) -> tuple[list[WinnerEntry], dict[str, bytes]]:
    """The top teams' entries and the files of each eligible one's hand-in folder (path -> bytes)."""
    from .winners import winner_entries

    return winner_entries(ch, board, ledger, top)


__all__ = [
    "DEFAULT_TOP",
    "FILE_MODE",
    "HOW_TO_DECLARE",
    "LABELS_SALT_FILE",
    "MANIFEST",
    "OSI_APPROVED",
    "RELEASE_DIR",
    "LicenceCheck",
    "ReleaseResult",
    "WinnerEntry",
    "manifest_text",
    "notebook_licence",
    "release",
    "salt_release_path",
    "spdx_check",
    "verify_commitment",
    "write_zip",
]
