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
from ..grading.scoring import read_labels, y_true_of
from ..ledger import Ledger
from . import stats


@dataclass
class BoardStatistics:
    bootstrap: "stats.BootstrapResult"
    tied_top: "stats.TiedTop | None"
    y_true: np.ndarray
    predictions: np.ndarray
    teams: list

    def _repr_html_(self) -> str:
        parts = [self.bootstrap._repr_html_()]
        if self.tied_top is not None:
            parts.append(self.tied_top._repr_html_())
        return "".join(parts)


def board_arrays(board, ledger: Ledger):
    """(y_true, predictions teams × cases, teams) of the ranked teams, on the board's split."""
    ch = board.challenge
    labels = read_labels(ch)
    mask = (labels["split"] == board.phase).to_numpy()
    ranked = board.table[board.table["rank"].notna()]
    if ranked.empty:
        raise KitError("no ranked team on this board", fix="grade submissions first")
    preds = ledger.case_predictions(ranked["run_id"].astype(int).tolist())
    missing = [t for t, r in zip(ranked["team"], ranked["run_id"]) if int(r) not in preds]
    if missing:
        raise KitError(f"the ledger has no case predictions for {', '.join(missing)}",
                       fix="regrade these submissions (`kit grade ... --regrade`)")
    P = np.stack([preds[int(r)] for r in ranked["run_id"]])
    if P.shape[1] != len(labels):
        raise KitError("case predictions do not match the labels' length",
                       fix="the labels changed since grading: regrade the submissions")
    return y_true_of(ch, labels)[mask], P[:, mask], ranked["team"].tolist()


def board_statistics(board, ledger: Ledger, *, n_resamples: int = 1000, seed: int = 0,
                     alpha: float = 0.05) -> BoardStatistics:
    y, P, teams = board_arrays(board, ledger)
    boot = stats.paired_bootstrap(y, P, teams, board.metric, n_resamples=n_resamples, seed=seed, alpha=alpha)
    tied = stats.statistically_tied_top(y, P, teams, board.metric, alpha=alpha, bootstrap=boot) \
        if len(teams) > 1 else None
    return BoardStatistics(bootstrap=boot, tied_top=tied, y_true=y, predictions=P, teams=teams)


def add_intervals(board, st: BoardStatistics) -> None:
    """Add the bootstrap interval, rank range and winner frequency to the board's table (in place)."""
    summary = st.bootstrap.summary()
    t = board.table
    idx = t["team"]
    t["ci_low"] = idx.map(summary["ci_low"]).astype(float)
    t["ci_high"] = idx.map(summary["ci_high"]).astype(float)
    t["rank_range"] = idx.map(lambda team: f"{summary.loc[team, 'rank_ci_low']}–{summary.loc[team, 'rank_ci_high']}"
                              if team in summary.index else None)
    t["p_first"] = idx.map(summary["winner_frequency"]).astype(float)
    if st.tied_top is not None:
        t["tied_top"] = idx.isin(st.tied_top.teams)
        board.notes.append(
            f"statistically tied at the top ({st.tied_top.method} tests, Holm, alpha {st.tied_top.alpha:g}): "
            + ", ".join(st.tied_top.teams))
    stab = st.bootstrap.stability()
    board.notes.append(
        f"{100 * (1 - st.bootstrap.alpha):g}% paired bootstrap intervals over {st.bootstrap.replicates.shape[1]} "
        f"resamples of the {board.phase} cases; ranking stability (Kendall's tau) mean {stab['mean']:.3f}")
