"""The figures of a board, by name, for the widget app and reports (built by kit.leaderboard.plots)."""

from __future__ import annotations

import pandas as pd

from . import plots, stats


def board_figures(board, st, *, history: pd.DataFrame, scores: pd.DataFrame, show_private: bool) -> dict:
    """Score distribution, bootstrap rank blobs, significance map, public vs private, scores over time.

    ``st``: :class:`~kit.leaderboard.uncertainty.BoardStatistics` of the board;
    ``history``: ``Ledger.latest_runs``; ``scores``: ``Ledger.scores``; ``show_private``: False
    while a public audience watches an open challenge (no private result is drawn then).
    """
    metric = board.metric
    figs = {
        "score distribution": plots.plot_score_distribution(st.bootstrap, top=20),
        "bootstrap ranks": plots.plot_rank_blobs(st.bootstrap, top=20),
    }
    if len(st.teams) > 1:
        sig = stats.pairwise_significance(st.y_true, st.predictions, st.teams, metric, bootstrap=st.bootstrap)
        figs["significance map"] = plots.plot_significance_map(sig)
    pub_col, priv_col = f"public.{metric.name}", f"private.{metric.name}"
    ranked = board.table[board.table["rank"].notna()]
    if show_private and pub_col in scores and priv_col in scores and len(ranked):
        sel = scores.reindex(ranked["submission_id"].astype(int))
        figs["public vs private"] = plots.plot_public_private(
            sel[pub_col].to_numpy(), sel[priv_col].to_numpy(), ranked["team"].tolist(), metric=metric
        )
    if pub_col in scores and len(history):
        scored = history[history["status"] == "scored"]
        frame = pd.DataFrame(
            {
                "team": scored["team"].to_numpy(),
                "time": pd.to_datetime(scored["submitted_at"], utc=True, format="ISO8601")
                .dt.tz_localize(None)
                .to_numpy(),
                "score": scores.reindex(scored["submission_id"].astype(int))[pub_col].to_numpy(),
            }
        )
        figs["public scores over time"] = plots.plot_scores_over_time(frame.dropna(), metric=metric)
    return figs
