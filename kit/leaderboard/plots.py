"""Plots of a leaderboard's uncertainty: each function returns a matplotlib ``Figure``.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through
``pyplot``: no global state, safe in worker processes and on headless servers
(``fig.savefig("board.png")`` renders with Agg), and they display inline in a
notebook. Team names are arbitrary unicode: every name goes through
:func:`escape_label`, so a ``$`` never switches on mathtext.

=============================  ==============================================
:func:`plot_score_distribution` bootstrap score distribution per team (violin or box)
:func:`plot_rank_blobs`         bootstrap ranks, challengeR's blob plot
:func:`plot_significance_map`   pairwise significance matrix, teams by rank
:func:`plot_public_private`     public against private scores
:func:`plot_scores_over_time`   submissions and best score so far, per team
=============================  ==============================================

:func:`board_figures` draws, by name, the ones a board shows (the widget app's plots);
:func:`figure_image` renders a figure to PNG or SVG bytes with matplotlib's own canvases (no
pyplot, no display hook), which is how the app shows them as images in Voilà and JupyterLab.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.stats import rankdata

from ..errors import KitError
from ..metrics import Metric, get_metric
from .stats import BootstrapResult, SignificanceResult, pairwise_significance

_MPL_310 = tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
_BEST = "#1f77b4"
#: the image formats of :func:`figure_image`, with their MIME types
IMAGE_FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
_OTHER = "#9ecae1"


def escape_label(name) -> str:
    """A team name as literal text for matplotlib.

    ``$`` is escaped (no mathtext), and a leading ``_`` (which matplotlib
    would hide from legends) is preceded by a zero-width space.
    """
    text = str(name).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def _short(name, max_len: int = 28) -> str:
    """An escaped label cut to ``max_len`` characters (tick labels, legends, annotations)."""
    text = str(name)
    return escape_label(text if len(text) <= max_len else text[: max_len - 1] + "…")


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _legend_outside(fig: Figure, handles, *, title: str | None = None) -> None:
    """A legend to the right of the axes that the constrained layout makes room for (a legend
    anchored outside an axes is clipped when the type is larger)."""
    fig.legend(handles=handles, loc="outside right upper", fontsize="small", title=title, title_fontsize="small")


def _horizontal() -> dict:
    return {"orientation": "horizontal"} if _MPL_310 else {"vert": False}


def _ranks(values: np.ndarray, greater: bool) -> np.ndarray:
    """Ranks, 1 = best; ties take the smallest rank."""
    return rankdata(-values if greater else values, method="min")


def _metric_label(metric: Metric | None, fallback: str = "score") -> str:
    return f"{metric.name} {metric.arrow}" if metric is not None else fallback


def _top_order(result: BootstrapResult, top: int | None) -> np.ndarray:
    """Team indices best first (full-data rank, then input order), the first ``top``."""
    order = np.argsort(result.observed_ranks, kind="stable")
    if top is not None:
        if top < 1:
            raise KitError(f"top must be a positive number of teams, got {top}", fix="use e.g. top=20")
        order = order[:top]
    return order


def plot_score_distribution(result: BootstrapResult, *, kind: str = "violin", top: int | None = None) -> Figure:
    """Bootstrap distribution of each team's score, best team at the top.

    Parameters
    ----------
    result : BootstrapResult
    kind : {"violin", "box"}
    top : int, optional
        Show only the ``top`` best teams.

    Returns
    -------
    Figure
        One horizontal violin (or box) per team, the full-data score as a dot and
        the percentile interval as a black line.
    """
    if kind not in ("violin", "box"):
        raise KitError(f"unknown kind {kind!r} of score distribution plot", fix="use 'violin' or 'box'")
    order = _top_order(result, top)
    k = len(order)
    fig = _figure(7.0, 1.2 + 0.32 * k)
    ax = fig.subplots()
    data = [result.replicates[i] for i in order]
    y = np.arange(1, k + 1)
    if kind == "violin":
        parts = ax.violinplot(data, positions=y, widths=0.8, showextrema=False, **_horizontal())
        for body in list(parts["bodies"]):  # type: ignore[call-overload]  # matplotlib types it as a Collection
            body.set_facecolor(_OTHER)
            body.set_edgecolor(_BEST)
            body.set_alpha(0.8)
    else:
        ax.boxplot(data, positions=y, widths=0.6, showfliers=False, **_horizontal())
    ci = result.confidence_intervals().to_numpy()[order]
    ax.hlines(y, ci[:, 0], ci[:, 1], color="black", lw=1.2, label=f"{100 * (1 - result.alpha):g}% interval")
    ax.plot(result.observed[order], y, "o", color="black", ms=4, label="full-data score")
    ax.set_yticks(y, [_short(result.teams[i]) for i in order])
    ax.set_ylim(k + 0.7, 0.3)  # best on top
    ax.set_xlabel(_metric_label(result.metric))
    ax.set_title(
        f"Bootstrap distribution of {escape_label(result.metric.name)} ({result.replicates.shape[1]} resamples)",
        wrap=True,
    )
    ax.legend(loc="best", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_rank_blobs(result: BootstrapResult, *, top: int | None = None) -> Figure:
    """challengeR's blob plot of bootstrap ranks.

    Teams along x in full-data rank order; for each rank a team takes in the
    resamples, a dot whose *area* is proportional to the frequency of that rank.
    The median rank is a black cross and the ``1 - alpha`` rank interval a black
    vertical line.

    Parameters
    ----------
    result : BootstrapResult
    top : int, optional
        Show only the ``top`` best teams (their ranks may lie below ``top``).

    Returns
    -------
    Figure
    """
    order = _top_order(result, top)
    k = len(order)
    dist = result.rank_distribution().to_numpy()[order]  # (k, T) frequencies
    fig = _figure(max(4.0, 1.5 + 0.4 * k) + 2.5, 5.0)
    ax = fig.subplots()
    x = np.arange(1, k + 1)
    rows, cols = np.nonzero(dist)
    max_area = 400.0
    ax.scatter(x[rows], cols + 1, s=max_area * dist[rows, cols], color=_BEST, alpha=0.6, linewidths=0)
    q = result.alpha / 2
    low, med, high = np.quantile(result.ranks[order], [q, 0.5, 1 - q], axis=1, method="inverted_cdf")
    ax.vlines(x, low, high, color="black", lw=1.2)
    ax.plot(x, med, "x", color="black", ms=7, mew=1.5)
    ax.plot(x, result.observed_ranks[order], "_", color="red", ms=12, mew=1.5)
    ax.set_xticks(x, [_short(result.teams[i]) for i in order], rotation=90)
    top_rank = int(max(high.max(), result.observed_ranks[order].max()))
    ax.set_ylim(top_rank + 0.8, 0.2)  # rank 1 on top
    ax.set_ylabel("rank")
    ax.set_title(
        f"Bootstrap ranks ({escape_label(result.metric.name)}, {result.replicates.shape[1]} resamples)", wrap=True
    )
    handles = [
        Line2D([], [], ls="", marker="o", color=_BEST, alpha=0.6, ms=9, label="frequency of the rank (area)"),
        Line2D([], [], ls="", marker="x", color="black", label="median rank"),
        Line2D([], [], color="black", label=f"{100 * (1 - result.alpha):g}% rank interval"),
        Line2D([], [], ls="", marker="_", color="red", ms=10, label="full-data rank"),
    ]
    _legend_outside(fig, handles)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_significance_map(significance: SignificanceResult, *, order: Sequence[str] | None = None) -> Figure:
    """Heat map of the pairwise significance matrix: row beats column significantly.

    Parameters
    ----------
    significance : SignificanceResult
    order : sequence of str, optional
        Team order of rows and columns (default: the test-based ranking; pass the
        full-data ranking to compare the two).

    Returns
    -------
    Figure
    """
    teams = list(significance.teams)
    if order is None:
        idx = np.argsort(significance.rank, kind="stable")
    else:
        missing = [t for t in order if t not in teams]
        if missing or len(order) != len(teams):
            raise KitError(
                "order must list every team of the significance result exactly once",
                where=", ".join(map(repr, missing[:5])),
                fix="pass significance.teams in rank order",
            )
        idx = np.array([teams.index(t) for t in order])
    k = len(idx)
    matrix = significance.significant[np.ix_(idx, idx)].astype(float)
    np.fill_diagonal(matrix, np.nan)
    size = max(5.0, 2.8 + 0.35 * k)
    fig = _figure(size + 1.5, size)
    ax = fig.subplots()
    cmap = ListedColormap(["#f0f0f0", "#d62728"]).with_extremes(bad="#bdbdbd")
    # aspect "auto": an equal-aspect image lets the constrained layout clip its labels
    ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    labels = [_short(teams[i]) for i in idx]
    ax.set_xticks(np.arange(k), labels, rotation=90)
    ax.set_yticks(np.arange(k), labels)
    ax.set_xticks(np.arange(k + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(k + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("is beaten")
    ax.set_ylabel("beats")
    method = "Wilcoxon" if significance.method == "wilcoxon" else "bootstrap"
    ax.set_title(f"Significant wins ({method}, Holm, alpha = {significance.alpha:g})", wrap=True)
    _legend_outside(
        fig, [Patch(color="#d62728", label="row beats column"), Patch(color="#f0f0f0", label="not significant")]
    )
    return fig


def plot_public_private(public, private, teams: Sequence[str], *, metric=None, label_top: int = 10) -> Figure:
    """Public against private leaderboard scores, with the identity line.

    Parameters
    ----------
    public, private : array-like, shape (teams,)
    teams : sequence of str
    metric : Metric or str, optional
        Gives the axis labels and which teams are best.
    label_top : int
        Write the names of the ``label_top`` best teams on the private board.

    Returns
    -------
    Figure
        Points coloured by the change of rank from public to private.
    """
    pub = np.asarray(public, dtype=float)
    priv = np.asarray(private, dtype=float)
    teams = [str(t) for t in teams]
    if not (pub.shape == priv.shape == (len(teams),)):
        raise KitError(
            f"public ({pub.shape}), private ({priv.shape}) and teams ({len(teams)}) do not match",
            fix="pass one public and one private score per team",
        )
    metric = get_metric(metric) if isinstance(metric, str) else metric
    ok = np.isfinite(pub) & np.isfinite(priv)
    fig = _figure(6.0, 5.5)
    ax = fig.subplots()
    greater = metric.greater_is_better if metric is not None else True
    if ok.any():
        change = np.zeros(len(teams))
        change[ok] = _ranks(pub[ok], greater) - _ranks(priv[ok], greater)  # > 0: moved up
        lim = max(1.0, float(np.abs(change).max()))
        points = ax.scatter(
            pub[ok],
            priv[ok],
            c=change[ok],
            cmap="coolwarm_r",
            vmin=-lim,
            vmax=lim,
            edgecolors="black",
            linewidths=0.4,
            zorder=3,
        )
        fig.colorbar(points, ax=ax, label="places gained on the private board")
        lo = float(min(pub[ok].min(), priv[ok].min()))
        hi = float(max(pub[ok].max(), priv[ok].max()))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="gray", lw=1, ls="--", zorder=1)
        best = np.argsort(_ranks(priv[ok], greater), kind="stable")[: max(0, label_top)]
        for i in np.flatnonzero(ok)[best]:
            ax.annotate(
                _short(teams[i]), (pub[i], priv[i]), xytext=(4, 4), textcoords="offset points", fontsize="small"
            )
    ax.set_xlabel(f"public {_metric_label(metric)}")
    ax.set_ylabel(f"private {_metric_label(metric)}")
    ax.set_title("Public against private leaderboard", wrap=True)
    ax.grid(alpha=0.3)
    return fig


def plot_scores_over_time(
    frame: pd.DataFrame,
    *,
    team: str = "team",
    time: str = "time",
    score: str = "score",
    metric=None,
    top: int | None = 10,
) -> Figure:
    """Every submission's score over time and each team's best score so far.

    Parameters
    ----------
    frame : DataFrame
        One row per scored submission.
    team, time, score : str
        Column names (``time``: datetimes or numbers).
    metric : Metric or str, optional
        The direction of "best" (default: higher is better) and the axis label.
    top : int, optional
        Draw the ``top`` teams with the best final score (None: every team).

    Returns
    -------
    Figure
    """
    missing = [c for c in (team, time, score) if c not in frame.columns]
    if missing:
        raise KitError(
            f"columns {', '.join(map(repr, missing))} are missing",
            where="scores over time",
            fix=f"pass a DataFrame with the columns {team!r}, {time!r} and {score!r}",
        )
    metric = get_metric(metric) if isinstance(metric, str) else metric
    greater = metric.greater_is_better if metric is not None else True
    df = frame[[team, time, score]].dropna().sort_values([team, time], kind="stable")
    best_so_far = (
        df.groupby(team, sort=False)[score].cummax() if greater else df.groupby(team, sort=False)[score].cummin()
    )
    df = df.assign(_best=best_so_far.to_numpy())
    final = df.groupby(team)["_best"].last().sort_values(ascending=not greater, kind="stable")
    shown = list(final.index[:top] if top is not None else final.index)
    fig = _figure(8.0, 4.5)
    ax = fig.subplots()
    colors = matplotlib.colormaps["tab10" if len(shown) <= 10 else "tab20"]
    for k, name in enumerate(shown):
        rows = df[df[team] == name]
        color = colors(k % colors.N)
        ax.plot(rows[time].to_numpy(), rows[score].to_numpy(), "o", color=color, ms=3.5, alpha=0.5)
        ax.step(rows[time].to_numpy(), rows["_best"].to_numpy(), where="post", color=color, lw=1.6, label=_short(name))
    ax.set_xlabel(f"{escape_label(time)} (dots: submissions, lines: best so far)")
    ax.set_ylabel(_metric_label(metric, escape_label(score)))
    hidden = len(final) - len(shown)
    ax.set_title("Scores over time", wrap=True)
    if shown:
        _legend_outside(
            fig, ax.get_legend_handles_labels()[0], title=f"best {len(shown)} of {len(final)}" if hidden > 0 else None
        )
    ax.grid(alpha=0.3)
    if np.issubdtype(df[time].dtype, np.datetime64):
        ax.tick_params(axis="x", labelrotation=30)
    return fig


# -- the figures of a board ---------------------------------------------------------------
def board_figures(board, st, *, history: pd.DataFrame, scores: pd.DataFrame, show_private: bool) -> dict:
    """Score distribution, bootstrap rank blobs, significance map, public vs private, scores over time.

    ``st``: :class:`~kit.leaderboard.uncertainty.BoardStatistics` of the board;
    ``history``: ``Ledger.latest_runs``; ``scores``: ``Ledger.scores``; ``show_private``: False
    while a public audience watches an open challenge (no private result is drawn then).
    """
    metric = board.metric
    figs = {
        "score distribution": plot_score_distribution(st.bootstrap, top=20),
        "bootstrap ranks": plot_rank_blobs(st.bootstrap, top=20),
    }
    if len(st.teams) > 1:
        sig = pairwise_significance(st.y_true, st.predictions, st.teams, metric, bootstrap=st.bootstrap)
        figs["significance map"] = plot_significance_map(sig)
    pub_col, priv_col = f"public.{metric.name}", f"private.{metric.name}"
    ranked = board.table[board.table["rank"].notna()]
    if show_private and pub_col in scores and priv_col in scores and len(ranked):
        sel = scores.reindex(ranked["submission_id"].astype(int))
        figs["public vs private"] = plot_public_private(
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
        figs["public scores over time"] = plot_scores_over_time(frame.dropna(), metric=metric)
    return figs


@contextmanager
def type_size(points: float | None) -> Iterator[None]:
    """Draw with this base font size (``None``: matplotlib's own); "small" and the tick labels
    follow. Both building a figure and rendering it must happen inside: matplotlib makes tick
    labels when it draws."""
    if points is None:
        yield
        return
    with matplotlib.rc_context({"font.size": points}):
        yield


def figure_image(fig: Figure, fmt: str = "png", *, dpi: float = 100) -> bytes:
    """The figure as PNG or SVG bytes, rendered by matplotlib's Agg (or SVG) canvas.

    A figure built without pyplot is never shown by a display hook (Voilà prints its repr,
    ``<Figure size 700x632 with 1 Axes>``); its bytes, shown as an image, are.
    """
    if fmt not in IMAGE_FORMATS:
        raise KitError(f"unknown image format {fmt!r}", fix=f"use one of {', '.join(IMAGE_FORMATS)}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()
