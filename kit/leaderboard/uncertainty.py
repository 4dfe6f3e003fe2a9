"""The uncertainty of a board: paired bootstrap intervals and ranks, the statistically tied top.

Bridges the ledger (each ranked team's case predictions) and the labels of the
board's split to :mod:`kit.leaderboard.stats`. A public board only ever uses the
public cases, so nothing here reveals private results while a challenge is open.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import KitError
from ..labels import read_labels
from ..ledger import Ledger
from . import stats


@dataclass
class BoardStatistics:
    bootstrap: stats.BootstrapResult
    tied_top: stats.TiedTop | None
    y_true: np.ndarray
    predictions: np.ndarray
    teams: list

    def _repr_html_(self) -> str:
        parts = [self.bootstrap._repr_html_()]
        if self.tied_top is not None:
            parts.append(self.tied_top._repr_html_())
        return "".join(parts)


def board_arrays(board, ledger: Ledger):
    """(y_true, predictions, teams) of the ranked teams, on the board's split.

    ``y_true`` as the task's metrics take it (:meth:`kit.tasks.Task.y_true`); predictions are
    teams × cases, or teams × cases × columns for multi-column predictions (class
    probabilities, a risk with a survival curve), as the ledger holds them.
    """
    ch = board.challenge
    labels = read_labels(ch)
    mask = labels.mask(board.phase)
    ranked = board.table[board.table["rank"].notna()]
    if ranked.empty:
        raise KitError("no ranked team on this board", fix="grade submissions first")
    preds = ledger.case_predictions(ranked["run_id"].astype(int).tolist())
    missing = [t for t, r in zip(ranked["team"], ranked["run_id"], strict=True) if int(r) not in preds]
    if missing:
        raise KitError(
            f"the ledger has no case predictions for {', '.join(missing)}",
            fix="regrade these submissions (`kit grade ... --regrade`)",
        )
    P = np.stack([preds[int(r)] for r in ranked["run_id"]])
    if P.shape[1] != len(labels):
        raise KitError(
            "case predictions do not match the labels' length",
            fix="the labels changed since grading: regrade the submissions",
        )
    return labels.y_true(board.phase), P[:, mask], ranked["team"].tolist()


def board_statistics(
    board, ledger: Ledger, *, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> BoardStatistics:
    y, P, teams = board_arrays(board, ledger)
    boot = stats.paired_bootstrap(y, P, teams, board.metric, n_resamples=n_resamples, seed=seed, alpha=alpha)
    tied = (
        stats.statistically_tied_top(y, P, teams, board.metric, alpha=alpha, bootstrap=boot) if len(teams) > 1 else None
    )
    return BoardStatistics(bootstrap=boot, tied_top=tied, y_true=y, predictions=P, teams=teams)


def add_intervals(board, st: BoardStatistics) -> None:
    """Add the bootstrap interval, rank range and winner frequency to the board's table (in place)."""
    summary = st.bootstrap.summary()
    t = board.table
    idx = t["team"]
    t["ci_low"] = idx.map(summary["ci_low"]).astype(float)
    t["ci_high"] = idx.map(summary["ci_high"]).astype(float)
    t["rank_range"] = idx.map(
        lambda team: (
            f"{summary.loc[team, 'rank_ci_low']}–{summary.loc[team, 'rank_ci_high']}" if team in summary.index else None
        )
    )
    t["p_first"] = idx.map(summary["winner_frequency"]).astype(float)
    if st.tied_top is not None:
        t["tied_top"] = idx.isin(st.tied_top.teams)
        board.notes.append(
            f"statistically tied at the top ({st.tied_top.method} tests, Holm, alpha {st.tied_top.alpha:g}): "
            + ", ".join(st.tied_top.teams)
        )
    stab = st.bootstrap.stability()
    board.notes.append(
        f"{100 * (1 - st.bootstrap.alpha):g}% paired bootstrap intervals over {st.bootstrap.replicates.shape[1]} "
        f"resamples of the {board.phase} cases; ranking stability (Kendall's tau) mean {stab['mean']:.3f}"
    )


def apply_ladder(board, ledger: Ledger) -> None:
    """Show the Ladder's released scores on a public board (Blum & Hardt 2015), in place.

    Each team's scored submissions, in the order they were handed in, go through the
    parameter-free Ladder on the public cases: a new score is released only when it
    beats the team's previous released score by more than one standard error of the
    paired per-case loss differences. The board then shows only released scores (no
    secondary metric, which would leak what the Ladder holds back) and ranks them.
    """
    metric = board.metric
    if board.phase != "public":
        raise KitError("the Ladder is for the public board", fix="use --ladder without --phase private")
    if metric.per_case is None:
        raise KitError(
            f"the Ladder needs a per-case loss and {metric.name} has none",
            fix="use it on a challenge whose primary metric has one (log_loss, brier, rmse, mae, ...)",
        )
    ch = board.challenge
    labels = read_labels(ch)
    mask = labels.mask("public")
    y = labels.y_true("public")
    runs = ledger.latest_runs(ch.id)
    runs = runs[runs["status"] == "scored"].sort_values(["submitted_at", "submission_id"])
    preds = ledger.case_predictions(runs["run_id"].astype(int).tolist())
    released = {}
    for team, group in runs.groupby("team", sort=False):
        rows = [preds[int(r)][mask] for r in group["run_id"] if int(r) in preds]
        if not rows:
            continue
        losses = np.stack([metric.case_losses(y, p) for p in rows])
        released[team] = float(stats.ladder(losses, metric).released[-1])
    t = board.table
    t["score"] = t["team"].map(released).astype(float)
    t = t.drop(columns=[c for c in ch.spec.metrics.secondary if c in t.columns])
    key = t["score"].map(metric.sort_key)
    t["rank"] = key.rank(method="min").astype("Int64")
    t.loc[t["score"].isna(), "rank"] = pd.NA
    board.table = t.assign(_k=key).sort_values(["_k", "submitted_at"]).drop(columns="_k").reset_index(drop=True)
    board.notes.append(
        "Ladder scores (Blum & Hardt 2015, parameter-free): a team's score changes only when a "
        "submission beats its last released score by more than one standard error"
    )
