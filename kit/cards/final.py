"""The final results a card shows, and the card export of the leaderboard app.

:func:`final_board` is the final private leaderboard with its paired-bootstrap
intervals (what a card and a release show), built by :func:`kit.leaderboard.build_board`
like every other board. :func:`export_card` is what the leaderboard app's "export data
card" button calls: the full card with the final results once the challenge is closed, and
the sealed card while it is open (no leaderboard result, nothing computed from the test
labels: :func:`kit.cards.build_card`), so a card exported during the challenge never shows a
private score or a statistic of the hidden labels.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from ..leaderboard.board import DEFAULT_RESAMPLES, DEFAULT_SELECTION


def final_board(
    challenge,
    ledger,
    *,
    selection: str = DEFAULT_SELECTION,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    now: datetime | None = None,
    root=None,
):
    """The private leaderboard with bootstrap intervals, rank ranges, P(first) and the tied top.

    ``selection``: which submission represents a team; ``chosen`` (the default, the rule of
    a final board) takes the best private score among the submissions a team chose with
    ``kit select``, and a team that chose none is represented by its best public
    submission. The intervals are added only when at least one team is ranked.
    """
    from ..leaderboard import build_board

    return build_board(
        challenge,
        ledger=ledger,
        phase="private",
        selection=selection,
        n_resamples=n_resamples,
        seed=seed,
        now=now,
        root=root,
    )


def export_card(
    challenge,
    *,
    workdir,
    root=None,
    out_dir: str | os.PathLike | None = None,
    now: datetime | None = None,
    top: int = 3,
    selection: str = DEFAULT_SELECTION,
    n_resamples: int = DEFAULT_RESAMPLES,
    override=None,
    draft: bool = False,
):
    """Build the data card for the leaderboard app's export button; return the :class:`~kit.cards.CardResult`.

    Closed challenge (``not spec.is_open(now)``) with scored submissions in the
    ledger of ``workdir``: the full card, with the final private leaderboard and its
    intervals and the subgroup results of the ``top`` teams; no ledger yet: the full card
    without results. Open challenge: the sealed card (statistics of the training cases,
    test cases only counted, no leaderboard result, no statistic of the test labels).
    ``out_dir``: default ``<workdir>/exports/<id>-data-card/``. ``now``: the
    time to judge whether the challenge is open (default: the clock; pass it in
    tests only). ``override`` and ``draft``: as for :func:`~kit.cards.build_card`.

    Raises :class:`~kit.privacy.ReleaseBlocked` when the privacy gate blocks and
    the card file records no override.
    """
    from ..challenge import load_challenge
    from ..workspace import Workspace
    from . import build_card

    ch = load_challenge(challenge, root=root)
    now = now or datetime.now(timezone.utc)
    workspace = Workspace(workdir)
    out = Path(out_dir) if out_dir is not None else workspace.exports_dir / f"{ch.id}-data-card"
    if ch.spec.is_open(now) or not workspace.has_ledger:
        return build_card(ch, out_dir=out, override=override, draft=draft, now=now)
    with workspace.open_ledger() as led:
        board = final_board(ch, led, selection=selection, n_resamples=n_resamples, now=now)
        if not board.table["rank"].notna().any():
            return build_card(ch, out_dir=out, override=override, draft=draft, now=now)
        from .subgroups import subgroup_results

        subgroups = subgroup_results(board, led, top=top, n_resamples=n_resamples)
        return build_card(
            ch, leaderboard=board, subgroups=subgroups, top=top, out_dir=out, override=override, draft=draft, now=now
        )
