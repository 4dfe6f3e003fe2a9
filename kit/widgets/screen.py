"""The board's tables as HTML: the organiser's desk view and the class screen.

``screen`` is for a room: full width, large type, the few columns a class reads (rank, team,
score, interval, rank range, P(first), entries), the first ``top`` rows above the fold and the
rest scrolling under a sticky header, and the teams statistically tied for first (the board's
``tied_top`` column) drawn as one shaded band. ``desk`` is every column of the board, for the
organiser. Every team name is escaped.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from ..leaderboard.render import board_cells

#: rows of the class screen shown before its table scrolls (five fitted at 1280×720 before)
SCREEN_TOP = 10
#: the height of a class-screen row, in pixels (the scroll box holds ``top`` of them)
SCREEN_ROW_PX = 46

VIEWS = ("desk", "screen")

CSS = f"""<style>
.kit-leaderboard-app {{width: 100%; box-sizing: border-box}}
.kit-board-table {{width: 100%}}
.kit-board-table table {{border-collapse: collapse; width: 100%}}
.kit-board-table th, .kit-board-table td {{border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap}}
.kit-board-table td.kit-team, .kit-board-table th.kit-team {{text-align: left; white-space: normal}}
.kit-board-table tr.kit-tied td {{background: #fff1b8}}
.kit-board-table tr.kit-tied td:first-child {{box-shadow: inset 8px 0 #e0a800}}
.kit-desk .kit-board-table table {{font-size: 15px}}
.kit-desk .kit-board-table th, .kit-desk .kit-board-table td {{padding: 4px 10px}}
.kit-desk .kit-board-table {{overflow-x: auto}}
.kit-screen {{font-size: 22px}}
.kit-screen .kit-title {{font-size: 40px; font-weight: 700; line-height: 1.15; margin: 0}}
.kit-screen .kit-subtitle {{font-size: 22px; color: #444; margin: 2px 0 6px}}
.kit-screen .kit-scroll {{overflow-y: auto; border: 1px solid #ccc; border-radius: 4px}}
.kit-screen .kit-board-table table {{font-size: 26px}}
.kit-screen .kit-board-table tr {{height: {SCREEN_ROW_PX}px}}
.kit-screen .kit-board-table th, .kit-screen .kit-board-table td {{padding: 0 14px}}
.kit-screen .kit-board-table thead th {{position: sticky; top: 0; background: #f4f4f4; font-size: 20px;
  z-index: 1}}
.kit-screen .kit-board-table td.kit-rank {{font-weight: 700}}
.kit-screen .kit-board-table td.kit-score {{font-weight: 700}}
.kit-screen .kit-legend {{font-size: 18px; color: #444; margin: 4px 0}}
.kit-caption {{color: #444; margin: 8px 0 2px}}
.kit-screen .kit-caption {{font-size: 18px}}
.kit-screen .kit-legend .kit-swatch {{display: inline-block; width: 1.4em; height: 0.9em; vertical-align: middle;
  background: #fff1b8; box-shadow: inset 6px 0 #e0a800; margin-right: 0.3em}}
.kit-download {{margin: 0 0.3em}}
.kit-plots {{display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 12px; width: 100%}}
.kit-plots img {{width: 100%; height: auto; object-fit: contain}}
</style>"""


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _tied_rows(board) -> list[bool]:
    """Which rows belong to the statistically tied top: a band only when two teams or more do."""
    t = board.table
    if "tied_top" not in t.columns:
        return [False] * len(t)
    tied = [bool(v) and not _missing(v) for v in t["tied_top"]]
    return tied if sum(tied) > 1 else [False] * len(t)


def desk_table(board) -> str:
    """Every column of ``board`` (as filtered and sorted by the caller), the tied top shaded."""
    header, rows = board_cells(board)
    e = html.escape
    team = header.index("team") if "team" in header else -1

    def cell(tag, i, text):
        return f'<{tag} class="kit-team">{e(text)}</{tag}>' if i == team else f"<{tag}>{e(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        f'<tr class="{"kit-tied" if t else ""}">' + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>"
        for r, t in zip(rows, _tied_rows(board), strict=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def screen_table(board, *, top: int = SCREEN_TOP) -> str:
    """The class screen's table: large type, ``top`` rows above the fold, the rest scrolling."""
    t = board.table
    m = board.metric
    e = html.escape
    has = set(t.columns)
    level = ""
    if board.statistics is not None:
        level = f"{100 * (1 - board.statistics.bootstrap.alpha):g}% "
    cols = [("rank", "rank", "kit-rank"), ("team", "team", "kit-team"), ("score", f"{m.name} {m.arrow}", "kit-score")]
    if {"ci_low", "ci_high"} <= has:
        cols.append(("interval", f"{level}interval", ""))
    if "rank_range" in has:
        cols.append(("rank_range", "rank range", ""))
    if "p_first" in has:
        cols.append(("p_first", "P(first)", ""))
    cols.append(("entries", "entries", ""))

    def text(rec, col) -> str:
        if col == "interval":
            lo, hi = rec["ci_low"], rec["ci_high"]
            return "—" if _missing(lo) or _missing(hi) else f"{m.format(float(lo))} – {m.format(float(hi))}"
        v = rec.get(col)
        if _missing(v):
            return "—"
        if col == "score":
            return m.format(float(v))
        if col == "p_first":
            return f"{float(v):.0%}"
        if col in ("rank", "entries"):
            return str(int(v))
        return str(v)

    head = "".join(f'<th class="{c}">{e(label)}</th>' for _, label, c in cols)
    body = []
    for (_, rec), tied in zip(t.iterrows(), _tied_rows(board), strict=True):
        cells = "".join(f'<td class="{c}">{e(text(rec, col))}</td>' for col, _, c in cols)
        body.append(f'<tr class="{"kit-tied" if tied else ""}">{cells}</tr>')
    height = SCREEN_ROW_PX * (max(1, top) + 1) + 2
    return (
        f'<div class="kit-scroll" style="max-height: {height}px">'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def tied_legend(board) -> str:
    """One line under the class screen's table naming what the band means (empty without one)."""
    tied = _tied_rows(board)
    st = board.statistics
    if not any(tied) or st is None or st.tied_top is None:
        return ""
    return (
        '<div class="kit-legend"><span class="kit-swatch"></span>'
        f"{sum(tied)} teams statistically tied for first: the data cannot tell them apart "
        f"({'Wilcoxon' if st.tied_top.method == 'wilcoxon' else 'paired bootstrap'} tests, Holm, "
        f"alpha {st.tied_top.alpha:g}).</div>"
    )
