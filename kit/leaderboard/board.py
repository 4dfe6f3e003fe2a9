"""Building a leaderboard from the ledger.

Phases: while a challenge is open the board ranks the public split; after it
closes (or on request) the private split.

Selection, which submission represents a team (never chosen by private scores):

- ``best``: the submission with the best public score (ties: the earlier one);
- ``last``: the team's newest scored submission;
- ``chosen`` (the default): on the private board, the best private score among the (at
  most ``final_selections``) submissions the team chose with ``kit select``; a team
  that chose none falls back to ``best``. On the public board it is ``best``.

:func:`leaderboard` ranks; :func:`build_board` adds the Ladder and the statistics, and is
what the CLI, the widget app, the cards and the release call, with the defaults of this
module.

Ties in the ranked score share a rank; among them the earlier submission is
listed first. Scores equal within a relative 1e-9 are ties (:mod:`kit.leaderboard.ties`):
two AUCs one ulp apart share a rank, and no ``move`` appears between them on the private
board. Only scored submissions are ranked; a submission whose score is missing on the
ranked split is listed as unranked, never first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..challenge import Challenge, load_challenge
from ..defaults import DEFAULT_PHASE, DEFAULT_RESAMPLES, DEFAULT_SELECTION, PHASES, SELECTIONS
from ..errors import KitError
from ..ledger import Ledger, queries
from ..metrics import Metric
from ..workspace import Workspace
from .ties import tolerant_ranks

if TYPE_CHECKING:  # pragma: no cover
    from .uncertainty import BoardStatistics


@dataclass
class Leaderboard:
    challenge: Challenge
    phase: str  # "public" | "private"
    table: pd.DataFrame
    metric: Metric
    generated_at: str = ""
    selection: str = DEFAULT_SELECTION
    unranked: int = 0
    notes: list = field(default_factory=list)
    #: the board's bootstrap and tied top, when :func:`build_board` computed them
    statistics: BoardStatistics | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.table.columns)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        from .render import render

        return render(self, "table")

    def _repr_html_(self) -> str:
        from .render import render

        return render(self, "html")


def _rank(values: pd.Series, metric: Metric) -> pd.Series:
    """Ranks, 1 = best, ties (up to :mod:`kit.leaderboard.ties`'s tolerance) share the smallest;
    missing scores are NA."""
    v = values.to_numpy(dtype=float)
    ranks = pd.Series(pd.array(tolerant_ranks(v, metric.greater_is_better), dtype="Int64"), index=values.index)
    ranks[np.isnan(v)] = pd.NA
    return ranks


def select_per_team(
    ledger: Ledger,
    challenge: Challenge,
    metric: Metric,
    rule: str = DEFAULT_SELECTION,
    *,
    phase: str = "public",
    chosen: dict | None = None,
) -> pd.DataFrame:
    """The one submission that represents each team on the board (see the module docstring)."""
    picked = queries.representatives(ledger, challenge.id, metric, "last" if rule == "last" else "best")
    picked["selected_by"] = "last" if rule == "last" else "best"
    if rule == "chosen" and phase == "private" and chosen:
        pool = queries.chosen_submissions(ledger, challenge.id, metric.name, chosen)
        if len(pool):
            pool = pool.assign(_key=pool["priv"].map(metric.sort_key))
            best = (
                pool.sort_values(["team", "_key", "submitted_at", "submission_id"])
                .drop_duplicates("team", keep="first")
                .drop(columns="_key")
            )
            best = best.merge(picked[["team", "entries"]], on="team").assign(selected_by="chosen")
            picked = pd.concat([picked[~picked["team"].isin(best["team"])], best], ignore_index=True)
    return picked.rename(columns={"pub": f"public.{metric.name}", "priv": f"private.{metric.name}"})


def attach_scores(ledger: Ledger, picked: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Every metric of the spec on both splits, for the selected runs only."""
    cols = [f"{s}.{m}" for s in ("public", "private") for m in metrics]
    if picked.empty:
        return picked.reindex(columns=[*picked.columns, *[c for c in cols if c not in picked.columns]])
    wide = queries.run_scores(ledger, picked["run_id"].astype(int).tolist(), metrics)
    keep = [c for c in picked.columns if c not in cols]
    return picked[keep].join(wide, on="run_id")


def leaderboard(
    challenge,
    *,
    workdir=None,
    ledger: Ledger | None = None,
    phase: str = "auto",
    selection: str = DEFAULT_SELECTION,
    now: datetime | None = None,
    root=None,
) -> Leaderboard:
    """The ranked board of a challenge from its ledger (scores only; :func:`build_board`
    adds the statistics)."""
    if phase not in PHASES:
        raise KitError(f"unknown phase {phase!r}", fix=f"use one of {', '.join(PHASES)}")
    if selection not in SELECTIONS:
        raise KitError(f"unknown selection rule {selection!r}", fix=f"use one of {', '.join(SELECTIONS)}")
    ch = load_challenge(challenge, root=root)
    owned = ledger is None
    if ledger is None:
        ledger = Workspace(workdir).open_ledger(create=False)
    now = now or datetime.now(timezone.utc)
    if phase == "auto":
        phase = "public" if ch.spec.is_open(now) else "private"
    metric = ch.spec.metric(ch.spec.metrics.primary)
    try:
        picks = ledger.selections(ch.id) if selection == "chosen" else {}
        chosen = select_per_team(ledger, ch, metric, selection, phase=phase, chosen=picks)
        chosen = attach_scores(ledger, chosen, ch.spec.metrics.all)
    finally:
        if owned:
            ledger.close()
    score_col = f"{phase}.{metric.name}"
    table = pd.DataFrame(
        {
            "team": chosen["team"],
            "score": chosen[score_col].astype(float),
            **{m: chosen[f"{phase}.{m}"].astype(float) for m in ch.spec.metrics.secondary},
            "entries": chosen["entries"],
            "selected_by": chosen["selected_by"],
            "submission_id": chosen["submission_id"],
            "run_id": chosen["run_id"],
            "submitted_at": chosen["submitted_at"],
        }
    )
    if phase == "private":
        pub_rank = _rank(chosen[f"public.{metric.name}"].astype(float), metric)
        table.insert(2, "public_score", chosen[f"public.{metric.name}"].astype(float))
        table["public_rank"] = pub_rank
    unranked = int(table["score"].isna().sum())
    table = table.assign(rank=_rank(table["score"], metric))
    table.loc[table["score"].isna(), "rank"] = pd.NA
    table = table.assign(_k=table["score"].map(metric.sort_key))
    table = table.sort_values(["_k", "submitted_at", "submission_id"]).drop(columns="_k")
    if phase == "private":
        table["move"] = (table["public_rank"].astype("Float64") - table["rank"].astype("Float64")).astype("Int64")
    cols = ["rank", *[c for c in table.columns if c != "rank"]]
    table = table[cols].reset_index(drop=True)
    board = Leaderboard(
        challenge=ch,
        phase=phase,
        table=table,
        metric=metric,
        generated_at=now.isoformat(timespec="seconds"),
        selection=selection,
        unranked=unranked,
    )
    if unranked:
        board.notes.append(f"{unranked} team(s) have no {metric.name} on the {phase} split and are not ranked")
    return board


def choose_final(
    challenge, team: str, submission_ids, *, workdir=None, ledger: Ledger | None = None, root=None
) -> list[int]:
    """Record a team's choice of final submissions for the private board (the newest choice counts)."""
    ch = load_challenge(challenge, root=root)
    ids = sorted({int(i) for i in submission_ids})
    limit = ch.spec.submissions.final_selections
    if not ids:
        raise KitError("no submission chosen", fix="give the ids of your scored submissions (see `kit leaderboard`)")
    if len(ids) > limit:
        raise KitError(f"{len(ids)} submissions chosen; {ch.id} allows {limit}", fix=f"choose at most {limit}")
    if ledger is None:
        with Workspace(workdir).open_ledger(create=False) as led:
            return choose_final(ch, team, ids, ledger=led)
    runs = ledger.latest_runs(ch.id).set_index("submission_id")
    for i in ids:
        if i not in runs.index or runs.loc[i, "team"] != team:
            raise KitError(
                f"submission {i} is not a submission of team {team!r} to {ch.id}",
                fix="choose among the team's own submission ids",
            )
        if runs.loc[i, "status"] != "scored":
            raise KitError(
                f"submission {i} is {runs.loc[i, 'status'] or 'not graded yet'}, not scored",
                fix="choose scored submissions only",
            )
    ledger.add_selection(ch.id, team, ids)
    return ids


def build_board(
    challenge,
    *,
    workdir=None,
    ledger: Ledger | None = None,
    phase: str = DEFAULT_PHASE,
    selection: str = DEFAULT_SELECTION,
    stats: bool = True,
    ladder: bool | str = False,
    ladder_eta: float | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = 0.05,
    interval: str | None = None,
    now: datetime | None = None,
    root=None,
) -> Leaderboard:
    """The board as every reader shows it: the CLI, the widget app, the cards and the release.

    Each team's representative submission (``selection``) on the ``phase`` split, then, on
    a public board with ``ladder``, the Ladder's board (each team's row becomes the
    submission whose score the Ladder shows, see
    :func:`~kit.leaderboard.uncertainty.apply_ladder`), then with ``stats`` the paired
    bootstrap intervals, rank ranges, P(first) and the statistically tied top of those
    rows' predictions (kept in ``board.statistics`` for the plots). Only the cases of the
    board's own split are used: a public board never touches a private label.

    ``ladder``: False, True (the parameter-free Ladder) or the name of a Ladder rule
    (``"parameter-free"``, ``"fixed"``; ``kit.leaderboard.stats.LADDERS``); ``ladder_eta``:
    the step of the ``fixed`` rule, in [0, 1] loss units. ``interval``: the bootstrap
    interval method (default ``"auto"``: studentized for a mean-type metric, BCa for the
    others; or ``"studentized"``, ``"bca"``, ``"percentile"``: ``kit.leaderboard.stats.INTERVALS``).
    """
    if ladder_eta is not None and not ladder:
        raise KitError("a Ladder step eta was given without the Ladder", fix="ask for the 'fixed' Ladder with its eta")
    ch = load_challenge(challenge, root=root)  # an unknown challenge is said before a missing ledger
    owned = ledger is None
    led = Workspace(workdir).open_ledger(create=False) if ledger is None else ledger
    try:
        board = leaderboard(ch, ledger=led, phase=phase, selection=selection, now=now, root=root)
        if board.table["rank"].notna().any() and (stats or ladder):
            from .uncertainty import add_intervals, apply_ladder, board_statistics

            if ladder:
                rule = ladder if isinstance(ladder, str) else None
                apply_ladder(board, led, method=rule, eta=ladder_eta)
            if stats and board.table["rank"].notna().any():
                extra = {} if interval is None else {"interval": interval}
                board.statistics = board_statistics(
                    board, led, n_resamples=n_resamples, seed=seed, alpha=alpha, **extra
                )
                add_intervals(board, board.statistics)
    finally:
        if owned:
            led.close()
    return board
