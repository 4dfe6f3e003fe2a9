"""Data cards: the organisers' prose (``card.yml``) plus everything computed from the released files.

``build_card(challenge)`` validates the card, checks the data files against the
spec, runs the privacy gate, computes the statistics and plots, and writes
``data_cards/<id>/``: ``README.md`` (Hugging Face dataset-card style),
``card.html`` (self-contained), ``croissant.json`` (Croissant 1.1 with
Responsible-AI fields, validated with mlcroissant) and ``plots/*.png``. Given the
final leaderboard (:func:`final_board`) and the ledger, the card also shows the
subgroup results of the top teams (:mod:`kit.cards.subgroups`).
:func:`export_card` is the leaderboard app's export: final results only once the
challenge is closed. What the card shows of the target comes from the challenge's task
type (:class:`kit.tasks.Task`); its provenance is the organiser's prose in ``card.yml``,
bundled dataset or not. ``build_card(..., draft=True)`` builds the card of a challenge
whose prose is not written yet (as ``kit new`` leaves it), each missing field marked.

A card has two states, chosen by the time (``now``, default the clock): while the challenge
is open (``spec.is_open(now)``) the card is *sealed*: nothing in it is computed from the
test labels or from a test case's values (its statistics are those of the training cases,
the test cases are only counted, the labels file is described by the spec's salted
commitment, never its checksum; see :mod:`kit.cards.compute`), and it takes no leaderboard.
After the close the full card is computed, with the salt that lets anyone check the
commitment. The committed cards in ``data_cards/`` are sealed cards.

Only :mod:`kit.cards.schema` is imported with this package, so the challenge
spec can use :class:`PrivacyPolicy` without importing pandas, matplotlib or
mlcroissant; everything else loads on first use.
"""

from __future__ import annotations

import html
import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .schema import (
    CARD_FILENAME,
    CARD_SCHEMA_VERSION,
    Card,
    CardError,
    PrivacyOverride,
    PrivacyPolicy,
    Winner,
    card_json_schema,
    parse_card,
    read_card,
)

if TYPE_CHECKING:
    from ..privacy import PrivacyReport
    from .compute import CardStats
    from .document import CardDocument
    from .subgroups import SubgroupResults

DEFAULT_RENDERERS = ("markdown", "html", "croissant")
PLOT_DIR = "plots"
#: where the data files are relative to the card (Croissant's contentUrl): ``repository``, the files of the
#: challenge seen from ``data_cards/<id>/``; ``release``, the files beside the card (``data/…``)
LAYOUTS = ("repository", "release")

_LAZY = {
    "compute_stats": "compute",
    "read_release_frames": "compute",
    "summarise_leaderboard": "compute",
    "CardStats": "compute",
    "release_path": "compute",
    "CardDocument": "document",
    "CARD_RENDERERS": "renderers",
    "Renderer": "renderers",
    "get_card_renderer": "renderers",
    "get_card_renderer_names": "renderers",
    "register_card_renderer": "renderers",
    "render": "renderers",
    "validate_croissant": "renderers.croissant",
    "croissant_metadata": "renderers.croissant",
    "SubgroupResults": "subgroups",
    "subgroup_results": "subgroups",
    "export_card": "final",
    "final_board": "final",
}

__all__ = [
    "CARD_FILENAME",
    "CARD_SCHEMA_VERSION",
    "Card",
    "CardError",
    "CardResult",
    "PrivacyOverride",
    "PrivacyPolicy",
    "Winner",
    "build_card",
    "card_json_schema",
    "card_path",
    "data_urls",
    "load_card",
    "parse_card",
    "read_card",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def card_path(challenge) -> Path:
    """Where a challenge's card file lives: beside its spec."""
    return Path(challenge.starter_dir) / CARD_FILENAME


def load_card(challenge, root=None, *, draft: bool = False) -> Card:
    """Read and validate the card of a challenge (an id, a path or a :class:`~kit.challenge.Challenge`);
    ``draft``: missing prose is marked instead of refused (:func:`~kit.cards.schema.parse_card`)."""
    from ..challenge import load_challenge

    return read_card(card_path(load_challenge(challenge, root=root)), draft=draft)


@dataclass(frozen=True)
class CardResult:
    """What :func:`build_card` wrote, with the statistics and the privacy report behind it."""

    challenge_id: str
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)  # name -> Path, in writing order
    document: CardDocument | None = None

    def _document(self) -> CardDocument:
        if self.document is None:
            raise AttributeError("this CardResult holds no card document")
        return self.document

    @property
    def stats(self) -> CardStats:
        return self._document().stats

    @property
    def privacy(self) -> PrivacyReport:
        return self._document().privacy

    @property
    def todo(self) -> tuple[str, ...]:
        """The card's prose fields still to be written (a draft), as dotted paths; empty when complete."""
        return self._document().card.todo

    @property
    def subgroups(self) -> SubgroupResults | None:
        """The subgroup results shown in the card (:class:`~kit.cards.subgroups.SubgroupResults`), or None."""
        return self._document().subgroups

    def __repr__(self):
        return (
            f"CardResult({self.challenge_id!r}, out_dir={str(self.out_dir)!r}, "
            f"files={sorted(self.files)}, privacy={self.privacy.status!r})"
        )

    def _repr_html_(self) -> str:
        e = html.escape
        st = self.stats
        rows = "".join(
            f"<tr><td><code>{e(name)}</code></td><td>{p.stat().st_size}</td></tr>" for name, p in self.files.items()
        )
        splits = ", ".join(f"{e(n)} {c}" for n, c in st.splits.items())
        todo = self.todo
        draft = (
            f"<p><b>Draft</b>: {len(todo)} field(s) of {CARD_FILENAME} to write: {e(', '.join(todo))}.</p>"
            if todo
            else ""
        )
        sealed = (
            "<p><b>Sealed</b>: the challenge is open; statistics of the training cases, nothing from the test "
            "labels.</p>"
            if st.sealed
            else ""
        )
        return (
            f"<div class='kit-card'><p><b>Data card of {e(self.challenge_id)}</b> written to "
            f"<code>{e(str(self.out_dir))}</code>: {st.n_cases} cases, {st.n_features} features; {splits}.</p>"
            f"{sealed}{draft}"
            f"<table><thead><tr><th>file</th><th>bytes</th></tr></thead><tbody>{rows}</tbody></table>"
            f"{self.privacy._repr_html_()}</div>"
        )


def build_card(
    challenge,
    *,
    leaderboard=None,
    ledger=None,
    subgroups=None,
    winners=None,
    top: int = 3,
    out_dir: str | os.PathLike | None = None,
    renderers: Sequence[str] = DEFAULT_RENDERERS,
    override: PrivacyOverride | dict | None = None,
    draft: bool = False,
    now: datetime | None = None,
    layout: Literal["repository", "release"] = "repository",
    root=None,
) -> CardResult:
    """Build and write the data card of a challenge.

    ``leaderboard``: the final private ranking, a :class:`~kit.leaderboard.Leaderboard`
    or a DataFrame with columns rank, team, score, ci_low, ci_high (see
    :func:`kit.cards.final_board`), summarised in the card (its ``top`` ranks) with
    the winners' code licences from ``card.yml``. ``winners``: entries
    (:class:`~kit.cards.schema.Winner` or dicts: team, code_url, code_licence) that
    replace the card file's entries of the same teams (the release passes the
    licences it found in the winners' notebooks). ``ledger``: with a
    ``Leaderboard``, adds the "Subgroup results" section for its top teams
    (:func:`kit.cards.subgroups.subgroup_results`); or pass ``subgroups`` computed
    beforehand. ``out_dir``: default ``data_cards/<id>/`` under the challenge's
    root. ``override``: release although the privacy gate blocks (a reason and who
    decided); it takes precedence over ``privacy_override`` in the card file, and
    the card records it. ``draft``: build the card although prose fields of ``card.yml``
    are missing or empty (or there is no card file yet, as for a challenge just made from
    the organiser's own table by ``kit new``): each reads "[to be written by the
    organiser]", the card says it is a draft and lists them (``result.todo``). A release
    never takes a draft. ``now``: the time that decides the card's state (default: the
    clock; tests pass it): before ``spec.closes`` the card is sealed (see the module
    docstring) and a ``leaderboard``, ``ledger`` or ``subgroups`` is refused. ``layout``:
    where Croissant finds the data files, relative to the card's folder: ``repository``
    (default: the challenge's own files as seen from ``data_cards/<id>/``, where the committed
    cards live) or ``release`` (``data/…`` beside the card, as :func:`kit.release.release`
    writes them).

    Raises :class:`CardError` (card fields missing or empty, unknown columns, results given
    while the challenge is open),
    :class:`~kit.errors.DataIntegrityError` (files that do not match the spec) or
    :class:`~kit.privacy.ReleaseBlocked` (the privacy gate blocks; nothing is written).
    """
    from ..challenge import load_challenge
    from ..privacy import check_release
    from ..privacy.gate import as_override, spec_options
    from .compute import compute_stats, read_release_frames, summarise_leaderboard
    from .document import CardDocument
    from .renderers import get_card_renderer

    ch = load_challenge(challenge, root=root)
    card = read_card(card_path(ch), draft=draft)
    chosen = [get_card_renderer(name) for name in renderers]  # unknown names fail before any work
    if layout not in LAYOUTS:
        raise CardError(f"unknown layout {layout!r}", where="layout", fix=f"use one of: {', '.join(LAYOUTS)}")
    sealed = ch.spec.is_open(now)
    if sealed and (leaderboard is not None or ledger is not None or subgroups is not None):
        raise CardError(
            f"{ch.id} is open until {ch.spec.closes:%Y-%m-%d %H:%M} UTC: its card shows no leaderboard or "
            "subgroup result (they are computed with the test labels)",
            where=ch.id,
            fix="build the card without leaderboard=, ledger= and subgroups=, or after the close",
        )
    ch.verify()
    frames = read_release_frames(ch)
    # the spec's privacy policy when the spec has one, else the card's
    policy = getattr(ch.spec, "privacy", None) or card.privacy
    _check_columns(card, policy, frames, card_path(ch))
    # neither the target nor the leaderboard split is something an outsider knows of a patient
    opts = spec_options(ch.spec)
    decision = override if override is not None else card.privacy_override
    if draft:
        # a draft is for the organiser's review: it shows what the gate finds, blocked or not
        from ..privacy import assess_release

        report = assess_release(frames, policy, **opts)
        report = replace(report, override=as_override(decision)) if report.reasons and decision else report
    else:
        report = check_release(frames, policy, decision, **opts)
    if sealed:
        report = _public_report(frames, policy, report, **opts)
    stats = compute_stats(ch, frames, sealed=sealed)
    board = None
    if leaderboard is not None:
        table = getattr(leaderboard, "table", leaderboard)
        board = summarise_leaderboard(table, ch.spec, _merge_winners(card.challenge.winners, winners), top=top)
    if subgroups is None and ledger is not None:
        if not hasattr(leaderboard, "table"):
            raise CardError(
                "subgroup results need the final Leaderboard object, not a table",
                where="leaderboard",
                fix="pass leaderboard=kit.cards.final_board(...) (or subgroups=...) with ledger=",
            )
        from .subgroups import subgroup_results

        subgroups = subgroup_results(leaderboard, ledger, top=top)
    doc = CardDocument(
        challenge_id=ch.id,
        spec=ch.spec,
        card=card,
        stats=stats,
        privacy=report,
        leaderboard=board,
        plot_dir=PLOT_DIR,
        subgroups=subgroups,
        data_urls=data_urls(ch, layout),
        labels_salt=None if sealed or ch.spec.data.labels.commitment is None else ch.labels_salt(),
    )
    outputs = {r.filename: r.render(doc) for r in chosen}  # render everything before writing anything

    out = Path(out_dir) if out_dir is not None else ch.root / "data_cards" / ch.id
    plot_dir = out / PLOT_DIR
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in outputs.items():
        written[name] = _write(out / name, data)
    keep = set()
    for plot in stats.plots:
        written[f"{PLOT_DIR}/{plot.filename}"] = _write(plot_dir / plot.filename, plot.png)
        keep.add(plot.filename)
    for stale in plot_dir.glob("*.png"):
        if stale.name not in keep:
            stale.unlink()
    return CardResult(challenge_id=ch.id, out_dir=out, files=written, document=doc)


def data_urls(challenge, layout: str = "repository") -> dict[str, str]:
    """Where each released file is, relative to the card's folder (Croissant's ``contentUrl``).

    ``repository``: the challenge's own files seen from ``data_cards/<id>/`` (for example
    ``../../starter_kits/<id>/data/train.csv``); ``release``: the file's place in the release
    (``data/train.csv``, ``data/test_labels.csv``).
    """
    from .compute import RELEASE_ROLES, release_path

    if layout == "release":
        return {role: release_path(challenge, role) for role in RELEASE_ROLES}
    base = challenge.root / "data_cards" / challenge.id
    return {role: Path(os.path.relpath(challenge.path(role), base)).as_posix() for role in RELEASE_ROLES}


def _public_report(frames, policy: PrivacyPolicy, report: PrivacyReport, **opts: Any) -> PrivacyReport:
    """What the card of an open challenge shows of the privacy gate: the assessment of the tables
    published now (train, test, sample submission) without the sensitive attributes, whose l-diversity
    would be computed with the test labels; the gate's override, when the shown reasons need it."""
    from ..privacy import assess_release

    public = {role: f for role, f in frames.items() if role != "labels"}
    shown = assess_release(
        public,
        policy.model_copy(update={"sensitive_attributes": []}),
        **opts,
    )
    shown = replace(shown, policy=policy)
    return replace(shown, override=report.override) if shown.reasons and report.override is not None else shown


def _merge_winners(from_card, given) -> tuple[Winner, ...]:
    """The card file's winners, with the entries of ``given`` replacing those of the same team."""
    if not given:
        return tuple(from_card)
    given = [w if isinstance(w, Winner) else Winner.model_validate(w) for w in given]
    replaced = {w.team for w in given}
    return tuple([w for w in from_card if w.team not in replaced] + given)


def _write(path: Path, data: bytes) -> Path:
    """Write only when the bytes differ (a rebuild leaves unchanged files untouched)."""
    if not (path.exists() and path.read_bytes() == data):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def _check_columns(card: Card, policy: PrivacyPolicy, frames, source) -> None:
    """Columns named in the card must exist in the released tables."""
    from ..errors import Problem

    columns = {str(c) for f in frames.values() for c in f.columns}
    problems = [
        Problem(
            f"column {name!r} is not in the released tables",
            where=f"{section}",
            fix=f"use one of: {', '.join(sorted(columns))}",
        )
        for section, names in (
            ("composition.columns", card.composition.columns),
            ("privacy.quasi_identifiers", policy.quasi_identifiers),
            ("privacy.sensitive_attributes", policy.sensitive_attributes),
        )
        for name in names
        if name not in columns
    ]
    if problems:
        raise CardError(
            f"{len(problems)} column name(s) in the card do not exist",
            where=str(source),
            problems=problems,
            fix="correct the column names in the card",
        )
