"""The uncertainty of a board: paired bootstrap intervals and ranks, the statistically tied top,
and the Ladder's public board.

Bridges the ledger (each ranked team's case predictions) and the labels of the
board's split to :mod:`kit.leaderboard.stats`. A public board only ever uses the
public cases, so nothing here reveals private results while a challenge is open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..challenge import Challenge
from ..errors import KitError
from ..labels import read_labels
from ..ledger import Ledger
from ..metrics import Metric
from . import stats
from .ties import TIE_RTOL, tolerant_ranks


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
    probabilities, a risk with a survival curve), as the ledger holds them. The predictions
    are those of each row's own run (on a Ladder board, the submission the Ladder shows).
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
    board,
    ledger: Ledger,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    interval: str = stats.DEFAULT_INTERVAL,
) -> BoardStatistics:
    """The paired bootstrap of the board's ranked teams and, with two teams or more, the tied top.

    The tied top uses the test that matches the board's metric
    (:func:`~kit.leaderboard.stats.statistically_tied_top` with ``method="auto"``: the paired
    bootstrap test of the score difference).
    """
    y, P, teams = board_arrays(board, ledger)
    boot = stats.paired_bootstrap(
        y, P, teams, board.metric, n_resamples=n_resamples, seed=seed, alpha=alpha, interval=interval
    )
    tied = (
        stats.statistically_tied_top(y, P, teams, board.metric, alpha=alpha, bootstrap=boot) if len(teams) > 1 else None
    )
    return BoardStatistics(bootstrap=boot, tied_top=tied, y_true=y, predictions=P, teams=teams)


def describe_cases(board, y: np.ndarray) -> str:
    """ "the 114 public cases (43 positive)": how many cases the board's statistics rest on."""
    what = f"the {len(y)} {board.phase} cases"
    spec = board.challenge.spec
    mix = spec.task_type.case_mix(y, spec)
    return f"{what} ({mix})" if mix else what


def add_intervals(board, st: BoardStatistics) -> None:
    """Add the bootstrap interval, rank range and P(first) to the board's table (in place),
    with notes saying what they are and how many cases they rest on."""
    boot = st.bootstrap
    summary = boot.summary()
    ci = boot.confidence_intervals()
    t = board.table
    idx = t["team"]
    t["ci_low"] = idx.map(ci["ci_low"]).astype(float)
    t["ci_high"] = idx.map(ci["ci_high"]).astype(float)
    t["rank_range"] = idx.map(
        lambda team: (
            f"{summary.loc[team, 'rank_ci_low']}–{summary.loc[team, 'rank_ci_high']}" if team in summary.index else None
        )
    )
    t["p_first"] = idx.map(summary["winner_frequency"]).astype(float)
    if st.tied_top is not None:
        t["tied_top"] = idx.isin(st.tied_top.teams)
        board.notes.append(
            f"statistically tied at the top ({st.tied_top.description}, Holm, alpha {st.tied_top.alpha:g}): "
            + ", ".join(st.tied_top.teams)
        )
    stab = boot.stability()
    board.notes.append(
        f"{100 * (1 - boot.alpha):g}% {boot.interval_description()} over {boot.replicates.shape[1]} paired "
        f"resamples of {describe_cases(board, st.y_true)}; ranking stability (Kendall's tau) mean {stab['mean']:.3f}"
    )
    board.notes.append(
        "p_first: each team's share of the resamples' first places (teams tied first share it equally; "
        "the column sums to 100%)"
    )
    board.notes.append(f"scores equal within a relative {TIE_RTOL:g} are ties and share a rank")


def ladder_loss_scale(challenge: Challenge, metric: Metric, y_public: np.ndarray) -> float | None:
    """What the Ladder divides the per-case losses by (see :mod:`kit.leaderboard.stats._ladder`).

    None for a metric whose per-case loss is bounded (the Ladder divides by the bound).
    For an unbounded one, the mean loss on the public cases of the challenge's constant
    baseline: the sample submission's constant prediction, learnt from the training
    table (:meth:`kit.tasks.Task.constant_prediction`), so no test label sets the scale.
    """
    if math.isfinite(metric.case_loss_upper):
        return None
    spec = challenge.spec
    train = pd.read_csv(challenge.path("train"))
    constant = spec.task_type.constant_prediction(train, spec)
    row = np.array([constant[c] for c in spec.prediction_columns], dtype=float)
    pred = np.tile(row, (len(y_public), 1))
    scale = float(np.mean(metric.case_losses(y_public, pred)))
    if not (math.isfinite(scale) and scale > 0):
        raise KitError(
            f"the constant baseline's mean {metric.name} loss on the public cases is {scale}: "
            "the Ladder cannot be put on its scale",
            where=str(challenge.path("train")),
            fix="check the training table's target, or use a metric with a bounded per-case loss",
        )
    return scale


def apply_ladder(board, ledger: Ledger, *, method: str | None = None, eta: float | None = None) -> None:
    """Turn a public board into the Ladder's board (Blum & Hardt 2015), in place.

    Each team's scored submissions, in the order they were handed in, go through the
    Ladder (``method``: ``"parameter-free"`` by default, or ``"fixed"`` with a step ``eta``,
    see :func:`kit.leaderboard.stats.ladder`) on the public cases, the per-case losses
    brought into [0, 1] (a bounded loss divided by its bound, an unbounded one by the
    constant baseline's mean loss: :func:`ladder_loss_scale`).

    Each team's row is then the *displayed* submission, the one whose score the Ladder
    shows: its score is the released value, its ``submission_id``, ``run_id`` and
    ``submitted_at`` are that submission's, and the statistics computed afterwards
    (intervals, rank ranges, P(first), the tied top) are of its predictions. Nothing of a
    withheld submission appears, and no secondary metric either. The selection rule does
    not apply: the Ladder decides which submission is shown.
    """
    metric = board.metric
    if board.phase != "public":
        raise KitError("the Ladder is for the public board", fix="use --ladder without --phase private")
    if metric.per_case is None:
        raise KitError(
            f"the Ladder needs a per-case loss and {metric.name} has none",
            fix="use it on a challenge whose primary metric has one (log_loss, brier, rmse, mae, ...)",
        )
    rule = stats.LADDERS.get(method or stats.DEFAULT_LADDER)
    ch = board.challenge
    labels = read_labels(ch)
    mask = labels.mask("public")
    y = labels.y_true("public")
    scale = ladder_loss_scale(ch, metric, y)
    runs = ledger.latest_runs(ch.id)
    runs = runs[runs["status"] == "scored"].sort_values(["submitted_at", "submission_id"])
    preds = ledger.case_predictions(runs["run_id"].astype(int).tolist())
    shown = []
    for team, group in runs.groupby("team", sort=False):
        group = group[[int(r) in preds for r in group["run_id"]]]
        if group.empty:
            continue
        losses = np.stack([metric.case_losses(y, preds[int(r)][mask]) for r in group["run_id"]])
        res = stats.ladder(losses, metric, method=rule.name, eta=eta, loss_scale=scale)
        row = group.iloc[int(res.shown[-1])]
        shown.append(
            {
                "team": team,
                "score": float(res.released[-1]),
                "selected_by": "ladder",
                "submission_id": row["submission_id"],
                "run_id": row["run_id"],
                "submitted_at": row["submitted_at"],
            }
        )
    on_ladder = pd.DataFrame(shown, columns=["team", "score", "selected_by", "submission_id", "run_id", "submitted_at"])
    t = board.table.drop(columns=[c for c in ch.spec.metrics.secondary if c in board.table.columns])
    replaced = list(on_ladder.columns[1:])
    t = t.drop(columns=[c for c in replaced if c in t.columns]).merge(on_ladder, on="team", how="left")
    missing = int(t["score"].isna().sum())
    t["rank"] = pd.array(tolerant_ranks(t["score"].to_numpy(dtype=float), metric.greater_is_better), dtype="Int64")
    t.loc[t["score"].isna(), "rank"] = pd.NA
    key = t["score"].map(metric.sort_key)
    t = t.assign(_k=key).sort_values(["_k", "submitted_at"]).drop(columns="_k")
    columns = ["rank", "team", "score", "entries", "selected_by", "submission_id", "run_id", "submitted_at"]
    board.table = t[[c for c in columns if c in t.columns]].reset_index(drop=True)
    board.unranked = missing
    eta_text = f", eta {eta:g}" if eta is not None else ""
    scale_text = (
        f"per-case losses divided by their bound {metric.case_loss_upper:g}"
        if scale is None
        else f"per-case losses divided by the constant baseline's mean loss on the public cases ({scale:.4g}); "
        f"the method's bound assumes every per-case loss in [0, 1], and a rescaled {metric.name} loss can exceed 1 "
        "on some cases: the bound is approximate here"
    )
    board.notes.append(
        f"Ladder scores (Blum & Hardt 2015, {rule.description}{eta_text}; {scale_text}): each team's row "
        "is the submission whose score the Ladder shows"
    )
    if missing:
        board.notes.append(f"{missing} team(s) have no case predictions and are not on the Ladder board")
