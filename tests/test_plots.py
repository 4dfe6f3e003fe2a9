"""Leaderboard plots: each builds on a small realistic input and saves a PNG."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib import cbook
from matplotlib.figure import Figure

from kit.errors import KitError
from kit.leaderboard import plots, stats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: arbitrary unicode names, some that mathtext would choke on if not escaped
TEAMS = ["$x$ team", r"$\frac{$", "_underscore", "Équipe β", "Команда", "a" * 40, "plain"]


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    n = 150
    y = (rng.random(n) < 0.4).astype(float)
    skill = np.linspace(0.05, 0.6, len(TEAMS))[:, None]
    P = np.clip(0.5 + skill * (y - 0.5) + rng.normal(0, 0.2, (len(TEAMS), n)), 0, 1)
    return y, P


@pytest.fixture(scope="module")
def bootstrap(problem):
    y, P = problem
    return stats.paired_bootstrap(y, P, TEAMS, "roc_auc", n_resamples=100, seed=0)


@pytest.fixture(scope="module")
def significance(problem):
    y, P = problem
    return stats.pairwise_significance(y, P, TEAMS, "brier")


def saved(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000
    return path


def test_escape_label():
    assert plots.escape_label("$x$") == r"\$x\$"
    assert not cbook.is_math_text(plots.escape_label(r"$\frac{$ team $"))
    assert plots.escape_label("_hidden") == "\u200b_hidden"  # not hidden from legends
    assert plots.escape_label("Équipe β") == "Équipe β"


@pytest.mark.parametrize("kind", ["violin", "box"])
def test_score_distribution(bootstrap, tmp_path, kind):
    fig = plots.plot_score_distribution(bootstrap, kind=kind)
    saved(fig, tmp_path, f"distribution-{kind}")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == plots.escape_label(bootstrap.summary().index[0])  # best on top


def test_score_distribution_top_and_bad_kind(bootstrap, tmp_path):
    fig = plots.plot_score_distribution(bootstrap, top=3)
    assert len(fig.axes[0].get_yticklabels()) == 3
    saved(fig, tmp_path, "distribution-top")
    with pytest.raises(KitError, match="violin"):
        plots.plot_score_distribution(bootstrap, kind="bar")


def test_rank_blobs(bootstrap, tmp_path):
    fig = plots.plot_rank_blobs(bootstrap)
    saved(fig, tmp_path, "blobs")
    ax = fig.axes[0]
    blobs = ax.collections[0]
    sizes = blobs.get_sizes()
    dist = bootstrap.rank_distribution().to_numpy()
    assert len(sizes) == np.count_nonzero(dist)
    assert sizes.sum() == pytest.approx(400.0 * len(TEAMS))  # area proportional to frequency
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # rank 1 on top


def test_significance_map(significance, tmp_path):
    saved(plots.plot_significance_map(significance), tmp_path, "significance")
    order = list(significance.teams)[::-1]
    saved(plots.plot_significance_map(significance, order=order), tmp_path, "significance-ordered")
    with pytest.raises(KitError, match="every team"):
        plots.plot_significance_map(significance, order=["nobody"])


def test_public_private(bootstrap, tmp_path):
    rng = np.random.default_rng(1)
    private = bootstrap.observed + rng.normal(0, 0.02, len(TEAMS))
    saved(plots.plot_public_private(bootstrap.observed, private, TEAMS, metric="roc_auc"), tmp_path, "pp")
    saved(
        plots.plot_public_private(bootstrap.observed, private, TEAMS, metric="brier", label_top=2), tmp_path, "pp-lower"
    )
    with pytest.raises(KitError, match="do not match"):
        plots.plot_public_private([0.5], [0.5, 0.6], ["a"])


@pytest.mark.parametrize("times", ["dates", "numbers"])
def test_scores_over_time(tmp_path, times):
    rng = np.random.default_rng(2)
    rows = []
    for k, team in enumerate(TEAMS):
        when = pd.date_range("2026-03-01", periods=6, freq="12h") + pd.Timedelta(hours=k)
        for i, t in enumerate(when):
            rows.append(
                {
                    "team": team,
                    "time": t if times == "dates" else i + k / 10,
                    "score": 0.6 + 0.03 * k + rng.normal(0, 0.03),
                }
            )
    frame = pd.DataFrame(rows)
    fig = plots.plot_scores_over_time(frame, metric="roc_auc", top=5)
    saved(fig, tmp_path, f"time-{times}")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    best = frame.groupby("team")["score"].max().sort_values(ascending=False, kind="stable")
    assert legend == [plots._short(team) for team in best.index[:5]]
    with pytest.raises(KitError, match="missing"):
        plots.plot_scores_over_time(frame.drop(columns="score"))


def test_no_pyplot_state():
    """Building and saving a figure never imports pyplot (no global figure manager)."""
    code = (
        "import sys, numpy as np\n"
        "from kit.leaderboard import plots\n"
        "fig = plots.plot_public_private(np.arange(3.0), np.arange(3.0), ['a', 'b', 'c'])\n"
        "import io; fig.savefig(io.BytesIO(), format='png')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_figure_image(bootstrap, fmt):
    """A figure is shown as an image (Voilà never displays a Figure object, only its repr)."""
    data = plots.figure_image(plots.plot_rank_blobs(bootstrap), fmt, dpi=60)
    assert data.startswith(PNG_MAGIC) if fmt == "png" else b"<svg" in data[:2000]
    assert len(data) > 5_000
    with pytest.raises(KitError, match="png, svg"):
        plots.figure_image(plots.plot_rank_blobs(bootstrap), "gif")


def test_type_size_scales_the_text(bootstrap):
    """The class screen's larger type: tick labels too (matplotlib makes them when it draws)."""

    def tick_size(points):
        with plots.type_size(points):
            fig = plots.plot_score_distribution(bootstrap)
            plots.figure_image(fig, dpi=30)
        return fig.axes[0].get_yticklabels()[0].get_fontsize(), fig.axes[0].title.get_fontsize()

    default, larger = tick_size(None), tick_size(16)
    assert larger[0] > default[0] and larger[1] > default[1]
