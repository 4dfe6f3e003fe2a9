"""The plots of a data card: PNG bytes drawn from the computed statistics.

Each plot is drawn on a :class:`matplotlib.figure.Figure` (no pyplot global state) and
saved without the matplotlib version in its metadata, so the same statistics give the
same bytes. matplotlib is imported on first use. The splits drawn are those of the
statistics (:attr:`~kit.cards.compute.TargetStats.parts`): train, public test and private
test after the event; train alone while the challenge is open.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np

from ..challenge import safe_name
from .compute import SPLITS, CardStats, ClassTarget, ColumnStats, NumericTarget, Plot, Subgroups, TargetStats

PLOT_DPI = 100
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3")


def _figure(width: float = 6.4, height: float = 3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=PLOT_DPI, layout="constrained")
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # no "Software" key: the bytes do not change with the matplotlib version string
    fig.savefig(buf, format="png", dpi=PLOT_DPI, metadata={"Software": None})
    return buf.getvalue()


def _colour(i: int, n: int):
    """The card palette for up to five series, else a qualitative matplotlib colour map."""
    if n <= len(PALETTE):
        return PALETTE[i % len(PALETTE)]
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return cmap(i % cmap.N)


def plot_classes(target: ClassTarget, name: str = "target", splits: tuple[str, ...] = SPLITS) -> Plot:
    """Counts of each class per split (bars grouped by split, classes in order)."""
    fig = _figure()
    ax = fig.add_subplot()
    n = len(splits)
    k = len(target.classes)
    width = 0.8 / max(1, k)
    x = np.arange(n)
    for i, (value, counts) in enumerate(target.classes):
        ax.bar(
            x + (i - (k - 1) / 2) * width,
            counts[:n],
            width,
            label=f"{target.column} = {value}",
            color=_colour(i, k),
        )
    ax.set_xticks(x, splits)
    ax.set_ylabel("cases")
    ax.legend(frameon=False, ncols=1 if k <= 5 else 2, fontsize="small" if k > 5 else None)
    title = f"Class balance of {target.column} by split" if n > 1 else f"Class balance of {target.column} ({splits[0]})"
    alt = "; ".join(f"{s}: " + ", ".join(f"{v}={c[j]}" for v, c in target.classes) for j, s in enumerate(splits))
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return Plot(name, title, alt, _png(fig))


def plot_histogram(target: NumericTarget, name: str = "target", splits: tuple[str, ...] = SPLITS) -> Plot:
    """The distribution of a numeric target over all cases, stacked by split."""
    fig = _figure()
    ax = fig.add_subplot()
    col = target.column
    edges = np.asarray(target.bin_edges, dtype=float)
    bottom = np.zeros(max(0, len(edges) - 1))
    for i, (split, counts) in enumerate(zip(splits, target.histogram, strict=False)):
        ax.bar(
            edges[:-1],
            counts,
            np.diff(edges),
            bottom=bottom,
            align="edge",
            label=split,
            color=PALETTE[i % len(PALETTE)],
            edgecolor="white",
            linewidth=0.5,
        )
        bottom += np.asarray(counts)
    ax.set_xlabel(col)
    ax.set_ylabel("cases")
    ax.legend(frameon=False)
    title = f"Distribution of {col} (stacked by split)" if len(splits) > 1 else f"Distribution of {col} ({splits[0]})"
    s = target.summaries[-1]
    alt = f"{col}: n={s.n}, min={s.min}, median={s.median}, max={s.max}"
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return Plot(name, title, alt, _png(fig))


def plot_kaplan_meier(target: TargetStats) -> Plot:
    """The Kaplan-Meier estimate of each split (event-free probability against time)."""
    assert target.event_time is not None  # only called with an event and a time
    event, time = target.event_time
    fig = _figure()
    ax = fig.add_subplot()
    for i, curve in enumerate(target.curves):
        if curve.times:
            ax.step((0.0, *curve.times), (1.0, *curve.survival), where="post", label=curve.split, color=PALETTE[i])
    for t in target.times:
        ax.axvline(t, color="#999999", linewidth=0.6, linestyle=":")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(time)
    ax.set_ylabel("event-free probability")
    ax.legend(frameon=False)
    title = f"Kaplan-Meier estimate by split ({event}, {time})"
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    alt = "; ".join(
        f"{c.split}: " + ", ".join(f"S({t:g})={fmt_number(c.at(t))}" for t in _alt_times(target, c))
        for c in target.curves
    )
    return Plot("kaplan_meier", title, alt, _png(fig))


def _alt_times(target: TargetStats, curve) -> tuple[float, ...]:
    """Times the alt text reads a curve at: the spec's, else the curve's last time."""
    return target.times or (curve.times[-1:] if curve.times else ())


def fmt_number(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def target_plots(target: TargetStats) -> list[Plot]:
    """A bar chart per class column, a histogram per numeric column, and the Kaplan-Meier estimate of an
    event with a time. The first is named ``target``; the others ``target_<column>`` and ``kaplan_meier``."""
    parts = target.parts
    plots = [plot_classes(t, f"target_{safe_name(t.column)}", parts) for t in target.class_targets]
    plots += [plot_histogram(t, f"target_{safe_name(t.column)}", parts) for t in target.numeric_targets]
    if plots:
        plots[0] = replace(plots[0], name="target")
    if target.event_time is not None and any(c.times for c in target.curves):
        plots.append(plot_kaplan_meier(target))
    return plots


def plot_missingness(columns: tuple[ColumnStats, ...], limit: int = 40, *, basis: str = "") -> Plot:
    """Share of missing values per feature and target column; ``basis`` (e.g. "training cases") names
    the cases counted when they are not all of them."""
    cols = [c for c in columns if c.role in ("feature", "target")]
    shown = sorted(cols, key=lambda c: (-c.missing_fraction, cols.index(c)))[:limit]
    shown = [c for c in cols if c in shown]
    fig = _figure(6.4, max(2.4, 0.18 * len(shown) + 1.0))
    ax = fig.add_subplot()
    y = np.arange(len(shown))
    ax.barh(y, [100 * c.missing_fraction for c in shown], color=PALETTE[0])
    ax.set_yticks(y, [c.name for c in shown], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("missing values (%)")
    total = sum(c.missing for c in cols)
    title = "Missing values per column" + (f" ({basis})" if basis else "") + (": none" if total == 0 else "")
    if total == 0:
        ax.text(50, (len(shown) - 1) / 2, "no missing values in any column", ha="center", va="center", color="#555555")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    alt = (
        "no column has missing values"
        if total == 0
        else "; ".join(f"{c.name}: {100 * c.missing_fraction:.1f}%" for c in shown if c.missing)
    )
    return Plot("missingness", title, alt, _png(fig))


def plot_pyramid(sub: Subgroups) -> Plot:
    fig = _figure(6.4, max(2.6, 0.35 * len(sub.pyramid) + 1.2))
    ax = fig.add_subplot()
    sexes = [v for v, _ in sub.sex]
    bands = [b for b, _ in sub.pyramid]
    y = np.arange(len(bands))
    left = np.array([c[0] for _, c in sub.pyramid]) if sexes else np.zeros(len(bands))
    ax.barh(y, -left, color=PALETTE[0], label=f"{sub.sex_column} = {sexes[0]}")
    if len(sexes) > 1:
        right = np.array([sum(c[1:]) for _, c in sub.pyramid])
        label = f"{sub.sex_column} = {sexes[1]}" if len(sexes) == 2 else f"{sub.sex_column} = other values"
        ax.barh(y, right, color=PALETTE[1], label=label)
    ax.set_yticks(y, bands)
    ax.set_ylabel(f"{sub.age_column} band")
    ax.set_xlabel("cases")
    ticks = ax.get_xticks()
    ax.set_xticks(ticks, [f"{abs(int(t))}" for t in ticks])
    ax.axvline(0, color="black", linewidth=0.6)
    ax.legend(frameon=False, loc="lower right")
    title = f"Cases by {sub.age_column} band and {sub.sex_column}"
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    alt = "; ".join(
        f"{b}: " + ", ".join(f"{sub.sex_column}={v} {n}" for v, n in zip(sexes, c, strict=True)) for b, c in sub.pyramid
    )
    return Plot("age_sex_pyramid", title, alt, _png(fig))


def make_plots(stats: CardStats) -> tuple[Plot, ...]:
    import matplotlib

    with matplotlib.rc_context({"font.size": 9, "axes.titlesize": 10, "font.family": "DejaVu Sans"}):
        targets = target_plots(stats.target)
        basis = "training cases" if stats.sealed else ""
        plots = [*targets[:1], plot_missingness(stats.columns, basis=basis), *targets[1:]]
        if stats.subgroups.pyramid:
            plots.append(plot_pyramid(stats.subgroups))
    return tuple(plots)
