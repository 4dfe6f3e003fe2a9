"""The ipywidgets leaderboard app behind notebooks/leaderboard.ipynb and `kit board`.

Everything it shows comes from library functions (:func:`kit.leaderboard.build_board`,
:mod:`kit.leaderboard.plots`, the board formats); the widgets only choose what to show.
It reads the ledger (through :mod:`kit.ledger` and :mod:`kit.workspace`) and never re-runs
anything.

Audiences: ``organiser`` sees everything; ``public`` (a class screen) never sees a
private-split result while the challenge is open.
"""

from __future__ import annotations

import asyncio
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as W
import pandas as pd

from ..challenge import list_challenges, load_challenge
from ..defaults import AUDIENCES, DEFAULT_RESAMPLES, DEFAULT_SELECTION, DEFAULT_WORKDIR, SELECTIONS
from ..errors import KitError
from ..leaderboard import Leaderboard, build_board, render
from ..leaderboard.render import board_cells
from ..ledger import Ledger, queries
from ..workspace import Workspace

if TYPE_CHECKING:  # pragma: no cover
    from ..leaderboard.uncertainty import BoardStatistics

SORTABLE = ("rank", "team", "score", "entries", "submitted_at")

_CSS = """<style>
.kit-board-table table {border-collapse: collapse; font-size: 13px}
.kit-board-table th, .kit-board-table td {padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right}
.kit-board-table td:nth-child(2), .kit-board-table th:nth-child(2) {text-align: left}
.kit-board-table tr.kit-tied td {background: #fff7e0}
</style>"""


class LeaderboardApp:
    """A live, widget-based leaderboard. Display it in a notebook or serve it with Voilà."""

    def __init__(
        self,
        challenge: str | None = None,
        *,
        workdir=DEFAULT_WORKDIR,
        root=None,
        audience: str = "organiser",
        refresh_seconds: float = 0,
        export_dir=None,
        n_resamples: int = DEFAULT_RESAMPLES,
        now: datetime | None = None,
    ):
        if audience not in AUDIENCES:
            raise KitError(f"unknown audience {audience!r}", fix=f"use one of {', '.join(AUDIENCES)}")
        self.root = root
        self.workspace = Workspace(Path(workdir).resolve())
        self.workdir = self.workspace.root
        self.audience = audience
        self.n_resamples = n_resamples
        self._now = now
        self.export_dir = Path(export_dir or self.workspace.exports_dir).resolve()
        self.board: Leaderboard | None = None
        self.statistics: BoardStatistics | None = None
        self._last_seen: tuple | None = None
        self._task: asyncio.Task | None = None
        self._history = pd.DataFrame()

        choices = list_challenges(root)
        if not choices:
            raise KitError("no challenge found", fix="pass root= (the folder holding starter_kits/)")
        challenge = challenge or choices[0]
        ch = load_challenge(challenge, root=root)
        self.challenge_w = W.Dropdown(options=choices, value=ch.id, description="Challenge")
        self.phase_w = W.ToggleButtons(
            options=["public", "private"],
            value="public" if ch.spec.is_open(self.now) else "private",
            description="Board",
        )
        self.phase_w.add_class("kit-phase")
        self.selection_w = W.Dropdown(options=list(SELECTIONS), value=DEFAULT_SELECTION, description="Selection")
        self.search_w = W.Text(placeholder="search a team", description="Team")
        self.sort_w = W.Dropdown(options=SORTABLE, value="rank", description="Sort by")
        self.desc_w = W.ToggleButton(value=False, description="descending", icon="sort")
        self.stats_w = W.Checkbox(value=True, description="intervals (bootstrap)", indent=False)
        self.refresh_w = W.Button(description="Refresh", icon="refresh")
        self.status_w = W.HTML()
        self.status_w.add_class("kit-status")
        self.table_w = W.HTML()
        self.table_w.add_class("kit-board-table")
        self.team_w = W.Dropdown(options=[], description="Team")
        self.team_view_w = W.HTML()
        self.team_view_w.add_class("kit-team-view")
        self.plots_w = W.Output()
        self.plots_btn = W.Button(description="Draw plots", icon="bar-chart")
        self.export_buttons = {
            fmt: W.Button(description=f"Export {label}", icon="download")
            for fmt, label in (("csv", "CSV"), ("markdown", "Markdown"), ("html", "HTML"))
        }
        for fmt, b in self.export_buttons.items():
            b.add_class(f"kit-export-{fmt}")
            b.on_click(lambda _b, fmt=fmt: self.export(fmt))
        self.card_btn = W.Button(description="Export data card", icon="id-card")
        self.card_btn.add_class("kit-export-card")
        self.card_btn.on_click(lambda _b: self.export_card())
        self.export_w = W.HTML()
        self.export_w.add_class("kit-export-result")

        for w in (self.challenge_w, self.phase_w, self.selection_w, self.stats_w):
            w.observe(lambda _c: self.refresh(), names="value")
        for w in (self.search_w, self.sort_w, self.desc_w):
            w.observe(lambda _c: self._show_table(), names="value")
        self.team_w.observe(lambda _c: self._show_team(), names="value")
        self.refresh_w.on_click(lambda _b: self.refresh())
        self.plots_btn.on_click(lambda _b: self.draw_plots())

        controls = W.VBox(
            [
                W.HBox([self.challenge_w, self.selection_w, self.stats_w]),
                self.phase_w,
                W.HBox([self.search_w, self.sort_w, self.desc_w, self.refresh_w]),
                self.status_w,
            ]
        )
        tabs = W.Tab(
            children=[
                W.VBox([W.HTML(_CSS), self.table_w]),
                W.VBox([self.team_w, self.team_view_w]),
                W.VBox([self.plots_btn, self.plots_w]),
                W.VBox([W.HBox([*self.export_buttons.values(), self.card_btn]), self.export_w]),
            ]
        )
        for i, title in enumerate(("Leaderboard", "Team", "Plots", "Export")):
            tabs.set_title(i, title)
        self.widget = W.VBox([controls, tabs])
        self.widget.add_class("kit-leaderboard-app")
        self.refresh()
        if refresh_seconds and refresh_seconds > 0:
            self.start_auto_refresh(refresh_seconds)

    # -- state ------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self._now or datetime.now(timezone.utc)

    @property
    def challenge(self):
        return load_challenge(self.challenge_w.value, root=self.root)

    def _private_hidden(self) -> bool:
        return self.audience == "public" and self.phase_w.value == "private" and self.challenge.spec.is_open(self.now)

    def _ledger(self) -> Ledger | None:
        return self.workspace.open_ledger() if self.workspace.has_ledger else None

    def refresh(self) -> None:
        """Read the ledger again and redraw the board."""
        ch = self.challenge
        self.board, self.statistics = None, None
        if self._private_hidden():
            self.status_w.value = (
                f"<b>The private leaderboard is published after the challenge closes on "
                f"{ch.spec.closes:%Y-%m-%d %H:%M} UTC.</b>"
            )
            self.table_w.value = ""
            self._update_teams([])
            return
        ledger = self._ledger()
        if ledger is None:
            self.status_w.value = (
                f"No ledger yet in <code>{html.escape(str(self.workdir))}</code>: grade submissions first."
            )
            self.table_w.value = ""
            return
        with ledger:
            self.board = build_board(
                ch,
                ledger=ledger,
                phase=self.phase_w.value,
                selection=self.selection_w.value,
                stats=self.stats_w.value,
                n_resamples=self.n_resamples,
                now=self.now,
            )
            self.statistics = self.board.statistics
            self._last_seen = queries.change_mark(ledger)
            self._history = ledger.latest_runs(ch.id)
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S UTC")
        self.status_w.value = (
            f"{html.escape(ch.spec.title)} &mdash; {self.board.phase} board, "
            f"{len(self.board)} teams; updated {stamp}"
            + "".join(f"<br><i>{html.escape(n)}</i>" for n in self.board.notes)
        )
        self._show_table()
        self._update_teams(sorted(self._history["team"].unique()) if len(self._history) else [])

    def view(self):
        """The board's table after the search and the sort."""
        if self.board is None:
            return None
        t = self.board.table
        q = self.search_w.value.strip().lower()
        if q:
            t = t[t["team"].str.lower().str.contains(q, regex=False)]
        col = self.sort_w.value
        if col == "score":
            key = t["score"].map(self.board.metric.sort_key)
            t = t.assign(_k=key).sort_values("_k", ascending=not self.desc_w.value).drop(columns="_k")
        elif col != "rank" or self.desc_w.value:
            t = t.sort_values(col, ascending=not self.desc_w.value, na_position="last")
        return t

    def _show_table(self) -> None:
        if self.board is None:
            return
        import copy

        shown = copy.copy(self.board)
        shown.table = self.view()
        header, rows = board_cells(shown)
        tied = shown.table["tied_top"].tolist() if "tied_top" in shown.table.columns else [False] * len(rows)
        e = html.escape
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = "".join(
            f'<tr class="{"kit-tied" if t else ""}">' + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
            for r, t in zip(rows, tied, strict=True)
        )
        self.table_w.value = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    # -- team view ----------------------------------------------------------------------
    def _update_teams(self, teams) -> None:
        current = self.team_w.value
        self.team_w.options = teams
        if current in teams:
            self.team_w.value = current
        self._show_team()

    def _show_team(self) -> None:
        team = self.team_w.value
        if not team or self.board is None:
            self.team_view_w.value = ""
            return
        ch = self.challenge
        hist = self._history[self._history["team"] == team]
        show_private = self.audience == "organiser" or not ch.spec.is_open(self.now)
        with self.workspace.open_ledger() as led:
            scores = led.scores(ch.id)
        primary = ch.spec.metrics.primary
        metric = self.board.metric
        e = html.escape
        rows = []
        for rec in hist.itertuples():
            pub = scores.get(f"public.{primary}", pd.Series(dtype=float)).get(rec.submission_id)
            priv = scores.get(f"private.{primary}", pd.Series(dtype=float)).get(rec.submission_id)
            error = (rec.error or "").splitlines()[0] if isinstance(rec.error, str) else ""
            feedback = (
                f'<a href="{e(str(rec.feedback_path))}">feedback</a>' if isinstance(rec.feedback_path, str) else ""
            )
            rows.append(
                f"<tr><td>{rec.submission_id}</td><td>{e(str(rec.submitted_at)[:19].replace('T', ' '))}</td>"
                f"<td>{e(rec.filename)}</td><td>{e(str(rec.status or 'pending'))}</td>"
                f"<td>{e(metric.format(pub) if pub is not None else '')}</td>"
                + (f"<td>{e(metric.format(priv) if priv is not None else '')}</td>" if show_private else "")
                + f"<td>{e(error)}</td><td>{feedback}</td></tr>"
            )
        priv_head = f"<th>private {e(primary)}</th>" if show_private else ""
        self.team_view_w.value = (
            f"<h4>{e(team)}: {len(hist)} submission(s)</h4><table><thead><tr><th>#</th><th>handed in</th>"
            f"<th>file</th><th>status</th><th>public {e(primary)}</th>{priv_head}<th>error</th><th></th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
        )

    # -- plots --------------------------------------------------------------------------
    def figures(self) -> dict:
        """The board's figures by name (matplotlib Figures), from kit.leaderboard.plots."""
        from ..leaderboard.plots import board_figures
        from ..leaderboard.uncertainty import board_statistics

        if self.board is None or self.board.table["rank"].notna().sum() == 0:
            return {}
        with self.workspace.open_ledger() as led:
            st = self.statistics or board_statistics(self.board, led, n_resamples=self.n_resamples)
            history = led.latest_runs(self.challenge.id)
            scores = led.scores(self.challenge.id)
        return board_figures(
            self.board,
            st,
            history=history,
            scores=scores,
            show_private=self.audience == "organiser" or not self.challenge.spec.is_open(self.now),
        )

    def draw_plots(self) -> None:
        self.plots_w.clear_output()
        with self.plots_w:
            from IPython.display import display

            for fig in self.figures().values():
                display(fig)

    # -- export -------------------------------------------------------------------------
    def export(self, fmt: str) -> Path | None:
        """Write the board (as shown: search and sort applied) to ``export_dir``; return the path."""
        if self.board is None:
            self.export_w.value = "Nothing to export."
            return None
        import copy

        shown = copy.copy(self.board)
        shown.table = self.view()
        ext = {"csv": "csv", "markdown": "md", "html": "html"}[fmt]
        self.export_dir.mkdir(parents=True, exist_ok=True)
        path = self.export_dir / f"{self.board.challenge.id}-{self.board.phase}-leaderboard.{ext}"
        path.write_text(render(shown, fmt), encoding="utf-8")
        self.export_w.value = f"Wrote <code>{html.escape(str(path))}</code>"
        return path

    def export_card(self):
        """The data card (kit.cards.export_card): the full card with the final board once the challenge is
        closed; while it is open, the sealed card (nothing computed from the test labels, no result)."""
        from ..cards import export_card

        out = self.export_dir / f"{self.challenge.id}-data-card"
        try:
            result = export_card(self.challenge.id, workdir=self.workdir, root=self.root, out_dir=out, now=self.now)
        except KitError as exc:
            self.export_w.value = f"<pre>{html.escape(str(exc))}</pre>"
            return None
        state = " (sealed while the challenge is open: no statistic of the test labels)" if result.stats.sealed else ""
        self.export_w.value = f"Wrote the data card{state} to <code>{html.escape(str(out))}</code>"
        return result

    # -- live refresh ----------------------------------------------------------------------
    def start_auto_refresh(self, seconds: float) -> None:
        """Refresh whenever the ledger changes, checking every ``seconds``."""

        async def loop():
            while True:
                await asyncio.sleep(seconds)
                ledger = self._ledger()
                if ledger is None:
                    continue
                with ledger:
                    mark = queries.change_mark(ledger)
                if mark != self._last_seen:
                    self.refresh()

        try:
            self._task = asyncio.get_event_loop().create_task(loop())
        except RuntimeError:  # no running loop (plain Python): refresh by hand
            self._task = None

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, with the board as text for headless runs (papermill, nbconvert)."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        return {**bundle, "text/plain": repr(self)}

    def __repr__(self) -> str:
        return repr(self.board) if self.board is not None else "LeaderboardApp (no board yet)"
