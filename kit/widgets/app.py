"""The ipywidgets leaderboard app behind notebooks/leaderboard.ipynb and `kit board`.

Everything it shows comes from library functions (:func:`kit.leaderboard.build_board`,
:mod:`kit.leaderboard.plots`, the board formats); the widgets only choose what to show.
It reads the ledger (through :mod:`kit.ledger` and :mod:`kit.workspace`) and never re-runs
anything.

Audiences and views:

``organiser`` (the ``desk`` view by default)
    every column, any challenge, the selection rule, search and sort, a team's history with its
    feedback reports (downloaded from the page), the plots, exports written to the work folder
    and the data card.
``public`` (always the ``screen`` view: a class screen)
    read-only: one challenge, no private result while it is open, large type, the top rows above
    the fold and the rest scrolling, the statistically tied top as a band, the plots as images,
    and downloads that the browser makes (nothing is written on the server, no feedback).

A live app (``refresh_seconds > 0`` in a kernel) redraws within a fraction of a second of a new
result reaching the ledger (:mod:`kit.widgets.live`), and a public board turns to the private
board when the challenge closes.
"""

from __future__ import annotations

import asyncio
import copy
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as W
import pandas as pd

from ..challenge import Challenge, list_challenges, load_challenge
from ..defaults import AUDIENCES, DEFAULT_RESAMPLES, DEFAULT_SELECTION, DEFAULT_WORKDIR, SELECTIONS
from ..errors import KitError
from ..leaderboard import Leaderboard, build_board, render
from ..ledger import Ledger, queries
from ..workspace import Workspace
from . import screen
from .downloads import board_downloads, file_link
from .live import POLL_SECONDS, LedgerWatch, start_polling

if TYPE_CHECKING:  # pragma: no cover
    from ..leaderboard.uncertainty import BoardStatistics

SORTABLE = ("rank", "team", "score", "entries", "submitted_at")
#: how the plots are drawn for each view: (base font size in points, PNG dots per inch)
PLOT_STYLE = {"desk": (None, 100), "screen": (13.0, 110)}


class LeaderboardApp:
    """A live, widget-based leaderboard. Display it in a notebook or serve it with Voilà."""

    def __init__(
        self,
        challenge: str | None = None,
        *,
        workdir=DEFAULT_WORKDIR,
        root=None,
        audience: str = "organiser",
        view: str | None = None,
        top: int = screen.SCREEN_TOP,
        refresh_seconds: float = 0,
        export_dir=None,
        n_resamples: int = DEFAULT_RESAMPLES,
        now: datetime | None = None,
    ):
        if audience not in AUDIENCES:
            raise KitError(f"unknown audience {audience!r}", fix=f"use one of {', '.join(AUDIENCES)}")
        view = view or ("screen" if audience == "public" else "desk")
        if view not in screen.VIEWS:
            raise KitError(f"unknown view {view!r}", fix=f"use one of {', '.join(screen.VIEWS)}")
        if audience == "public" and view != "screen":
            raise KitError(
                "a public board is the read-only class screen",
                where=f"view={view!r}",
                fix="use view='screen' (or audience='organiser' for the desk view)",
            )
        self.root = root
        self.workspace = Workspace(Path(workdir).resolve())
        self.workdir = self.workspace.root
        self.audience = audience
        self.view_name = view
        self.top = top
        self.n_resamples = n_resamples
        self._now = now
        self.export_dir = Path(export_dir or self.workspace.exports_dir).resolve()
        self.board: Leaderboard | None = None
        self.statistics: BoardStatistics | None = None
        self._last_seen: tuple | None = None
        self._was_open: bool | None = None
        self._task: asyncio.Task | None = None
        self._watch: LedgerWatch | None = None
        self._plots_pending = False
        self._history = pd.DataFrame()
        self._challenges: dict[str, Challenge] = {}

        choices = list_challenges(root)
        if not choices:
            raise KitError("no challenge found", fix="pass root= (the folder holding starter_kits/)")
        ch = self._load(challenge or choices[0])
        self.challenge_id = ch.id
        open_now = ch.spec.is_open(self.now)

        # what every view has
        self.phase_w = W.ToggleButtons(
            options=["public", "private"], value="public" if open_now else "private", description="Board"
        )
        self.phase_w.add_class("kit-phase")
        self.status_w = W.HTML()
        self.status_w.add_class("kit-status")
        self.table_w = W.HTML()
        self.table_w.add_class("kit-board-table")
        self.legend_w = W.HTML()
        self.plots_w = W.Box(layout=W.Layout(width="100%"))
        self.plots_w.add_class("kit-plots")
        self.plots_caption_w = W.HTML()  # says which board the plots show (they follow the table)
        self.plots_caption_w.add_class("kit-plots-caption")
        self._images: dict[str, W.Image] = {}
        self.downloads_w = W.HTML()
        self.downloads_w.add_class("kit-downloads")
        self.phase_w.observe(lambda _c: self.refresh(), names="value")

        # the organiser's desk only: nothing a public visitor could use to change the server
        self.challenge_w: W.Dropdown | None = None
        self.selection_w: W.Dropdown | None = None
        self.stats_w: W.Checkbox | None = None
        self.search_w: W.Text | None = None
        self.sort_w: W.Dropdown | None = None
        self.desc_w: W.ToggleButton | None = None
        self.team_w: W.Dropdown | None = None
        self.team_view_w: W.HTML | None = None
        self.export_buttons: dict[str, W.Button] = {}
        self.export_w: W.HTML | None = None
        if view == "desk":
            self.widget = self._desk(choices)
        else:
            self.widget = self._screen()
        self.widget.add_class("kit-leaderboard-app")
        self.widget.add_class(f"kit-{view}")
        self.widget.layout.width = "100%"
        self.refresh(plots_now=True)  # a preheated kernel is idle once its cell is done
        if refresh_seconds and refresh_seconds > 0:
            self.start_auto_refresh(refresh_seconds)

    # -- layouts ------------------------------------------------------------------------
    def _desk(self, choices) -> W.Box:
        self.challenge_w = W.Dropdown(options=choices, value=self.challenge_id, description="Challenge")
        self.selection_w = W.Dropdown(options=list(SELECTIONS), value=DEFAULT_SELECTION, description="Selection")
        self.stats_w = W.Checkbox(value=True, description="intervals (bootstrap)", indent=False)
        self.search_w = W.Text(placeholder="search a team", description="Team")
        self.sort_w = W.Dropdown(options=SORTABLE, value="rank", description="Sort by")
        self.desc_w = W.ToggleButton(value=False, description="descending", icon="sort")
        refresh_w = W.Button(description="Refresh", icon="refresh")
        self.team_w = W.Dropdown(options=[], description="Team")
        self.team_view_w = W.HTML()
        self.team_view_w.add_class("kit-team-view")
        self.export_buttons = {
            fmt: W.Button(description=f"Export {label}", icon="download")
            for fmt, label in (("csv", "CSV"), ("markdown", "Markdown"), ("html", "HTML"))
        }
        for fmt, b in self.export_buttons.items():
            b.add_class(f"kit-export-{fmt}")
            b.on_click(lambda _b, fmt=fmt: self.export(fmt))
        card_btn = W.Button(description="Export data card", icon="id-card")
        card_btn.add_class("kit-export-card")
        card_btn.on_click(lambda _b: self.export_card())
        self.export_w = W.HTML()
        self.export_w.add_class("kit-export-result")

        self.challenge_w.observe(self._on_challenge, names="value")
        for w in (self.selection_w, self.stats_w):
            w.observe(lambda _c: self.refresh(), names="value")
        for w in (self.search_w, self.sort_w, self.desc_w):
            w.observe(lambda _c: self._show_table(), names="value")
        self.team_w.observe(lambda _c: self._show_team(), names="value")
        refresh_w.on_click(lambda _b: self.refresh())

        controls = W.VBox(
            [
                W.HBox([self.challenge_w, self.selection_w, self.stats_w]),
                self.phase_w,
                W.HBox([self.search_w, self.sort_w, self.desc_w, refresh_w]),
                self.status_w,
            ]
        )
        tabs = W.Tab(
            children=[
                self.table_w,
                W.VBox([self.team_w, self.team_view_w]),
                W.VBox([self.plots_caption_w, self.plots_w]),
                W.VBox([W.HBox([*self.export_buttons.values(), card_btn]), self.export_w, self.downloads_w]),
            ],
            layout=W.Layout(width="100%"),
        )
        for i, title in enumerate(("Leaderboard", "Team", "Plots", "Export")):
            tabs.set_title(i, title)
        return W.VBox([W.HTML(screen.CSS), controls, tabs])

    def _screen(self) -> W.Box:
        parts = [self.status_w, self.phase_w, self.table_w, self.legend_w, self.plots_caption_w, self.plots_w]
        parts.append(self.downloads_w)
        return W.VBox([W.HTML(screen.CSS), *parts])

    # -- state ------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self._now or datetime.now(timezone.utc)

    def _load(self, challenge_id: str) -> Challenge:
        if challenge_id not in self._challenges:
            ch = load_challenge(challenge_id, root=self.root)
            self._challenges[ch.id] = self._challenges[challenge_id] = ch
        return self._challenges[challenge_id]

    @property
    def challenge(self) -> Challenge:
        return self._load(self.challenge_id)

    def _on_challenge(self, change) -> None:
        self.challenge_id = change["new"]
        self.refresh()

    def _private_hidden(self) -> bool:
        return self.audience == "public" and self.phase_w.value == "private" and self.challenge.spec.is_open(self.now)

    def _ledger(self) -> Ledger | None:
        return self.workspace.open_ledger() if self.workspace.has_ledger else None

    def refresh(self, *, plots_now: bool = False) -> None:
        """Read the ledger again and redraw the board: the table first, then the plots (in a
        kernel, after the table has gone out, unless ``plots_now``)."""
        ch = self.challenge
        self.board, self.statistics = None, None
        self._was_open = ch.spec.is_open(self.now)
        if self.audience == "public":  # the private board appears once there is one to show
            self.phase_w.layout.display = "none" if self._was_open else None
        if self._private_hidden():
            closes = f"{ch.spec.closes:%Y-%m-%d %H:%M} UTC"
            self._show_status(f"The private leaderboard is published after the challenge closes on {closes}.")
            self._clear()
            return
        ledger = self._ledger()
        if ledger is None:
            self._show_status(f"No ledger yet in {self.workdir}: grade submissions first.")
            self._clear()
            return
        with ledger:
            # the mark first: a result recorded while the board is built is seen at the next poll
            self._last_seen = queries.change_mark(ledger)
            self.board = build_board(
                ch,
                ledger=ledger,
                phase=self.phase_w.value,
                selection=self.selection_w.value if self.selection_w is not None else DEFAULT_SELECTION,
                stats=self.stats_w.value if self.stats_w is not None else True,
                n_resamples=self.n_resamples,
                now=self.now,
            )
            self.statistics = self.board.statistics
            self._history = ledger.latest_runs(ch.id)
        self._show_status()
        self._show_table()
        if self.team_w is not None:
            self._update_teams(sorted(self._history["team"].unique()) if len(self._history) else [])
        if plots_now:
            self.draw_plots()
        else:
            self._schedule_plots()

    def _clear(self) -> None:
        self.table_w.value = self.legend_w.value = self.downloads_w.value = ""
        self._set_images({})
        if self.team_w is not None:
            self._update_teams([])

    def _show_status(self, message: str | None = None) -> None:
        e = html.escape
        ch = self.challenge
        if message is None and self.board is not None:
            stamp = datetime.now(timezone.utc).strftime("%H:%M:%S UTC")
            message = f"{self.board.phase} leaderboard, {len(self.board)} teams; updated {stamp}"
        if self.view_name == "screen":
            self.status_w.value = (
                f'<div class="kit-title">{e(ch.spec.title)}</div><div class="kit-subtitle">{e(message or "")}</div>'
            )
            return
        notes = self.board.notes if self.board is not None else []
        self.status_w.value = f"{e(ch.spec.title)} &mdash; {e(message or '')}" + "".join(
            f"<br><i>{e(n)}</i>" for n in notes
        )

    def view(self):
        """The board's table after the search and the sort (the class screen: by rank)."""
        if self.board is None:
            return None
        t = self.board.table
        q = self.search_w.value.strip().lower() if self.search_w is not None else ""
        if q:
            t = t[t["team"].str.lower().str.contains(q, regex=False)]
        col = self.sort_w.value if self.sort_w is not None else "rank"
        desc = self.desc_w.value if self.desc_w is not None else False
        if col == "score":
            key = t["score"].map(self.board.metric.sort_key)
            t = t.assign(_k=key).sort_values("_k", ascending=not desc).drop(columns="_k")
        elif col != "rank" or desc:
            t = t.sort_values(col, ascending=not desc, na_position="last")
        return t

    def shown(self) -> Leaderboard | None:
        """The board as shown (search and sort applied): what the exports and downloads hold."""
        if self.board is None:
            return None
        board = copy.copy(self.board)
        board.table = self.view()
        return board

    def _show_table(self) -> None:
        board = self.shown()
        if board is None:
            return
        if self.view_name == "screen":
            self.table_w.value = screen.screen_table(board, top=self.top)
            self.legend_w.value = screen.tied_legend(board)
        else:
            self.table_w.value = screen.desk_table(board)
        self.downloads_w.value = board_downloads(board)

    # -- team view (the organiser's) ----------------------------------------------------------
    def _update_teams(self, teams) -> None:
        if self.team_w is None:
            return
        current = self.team_w.value
        self.team_w.options = teams
        if current in teams:
            self.team_w.value = current
        self._show_team()

    def _show_team(self) -> None:
        if self.team_w is None or self.team_view_w is None:
            return
        team = self.team_w.value
        if not team or self.board is None:
            self.team_view_w.value = ""
            return
        ch = self.challenge
        hist = self._history[self._history["team"] == team]
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
            feedback = file_link(rec.feedback_path, "feedback") if isinstance(rec.feedback_path, str) else ""
            rows.append(
                f"<tr><td>{rec.submission_id}</td><td>{e(str(rec.submitted_at)[:19].replace('T', ' '))}</td>"
                f"<td>{e(rec.filename)}</td><td>{e(str(rec.status or 'pending'))}</td>"
                f"<td>{e(metric.format(pub) if pub is not None else '')}</td>"
                f"<td>{e(metric.format(priv) if priv is not None else '')}</td>"
                f"<td>{e(error)}</td><td>{feedback}</td></tr>"
            )
        self.team_view_w.value = (
            f"<h4>{e(team)}: {len(hist)} submission(s)</h4><table><thead><tr><th>#</th><th>handed in</th>"
            f"<th>file</th><th>status</th><th>public {e(primary)}</th><th>private {e(primary)}</th><th>error</th>"
            f"<th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
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

    def images(self) -> dict[str, bytes]:
        """The board's figures as PNG bytes, drawn in the view's style (type size, resolution)."""
        from ..leaderboard.plots import figure_image, type_size

        points, dpi = PLOT_STYLE[self.view_name]
        with type_size(points):
            return {name: figure_image(fig, "png", dpi=dpi) for name, fig in self.figures().items()}

    def draw_plots(self) -> None:
        """Draw the plots as images: an ``<img>`` in Voilà and JupyterLab alike."""
        self._plots_pending = False
        self._set_images(self.images())

    def _set_images(self, images: dict[str, bytes]) -> None:
        teams = f"{len(self.board)} teams" if self.board is not None else ""
        for name in list(self._images):
            if name not in images:
                del self._images[name]
        for name, png in images.items():
            img = self._images.get(name)
            if img is None:
                img = self._images[name] = W.Image(format="png", layout=W.Layout(width="100%", height="auto"))
                img.add_class("kit-plot")
                img.add_class("kit-plot-" + name.replace(" ", "-"))
            img.value = png
        self.plots_w.children = tuple(self._images[name] for name in images)
        self.plots_caption_w.value = (
            f'<div class="kit-caption">Plots of the {self.board.phase} board, {teams}</div>'
            if images and self.board
            else ""
        )

    def _schedule_plots(self) -> None:
        """Draw the plots after the table has gone out (on the kernel's loop), or now without one."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.draw_plots()
            return
        if not self._plots_pending:
            self._plots_pending = True
            loop.call_soon(self.draw_plots)

    # -- export (the organiser's: files written in the work folder) ------------------------------
    def export(self, fmt: str) -> Path | None:
        """Write the board (as shown: search and sort applied) to ``export_dir``; return the path."""
        if self.export_w is None:
            raise KitError("a public board writes nothing on the server", fix="use its download links")
        shown = self.shown()
        if shown is None:
            self.export_w.value = "Nothing to export."
            return None
        ext = {"csv": "csv", "markdown": "md", "html": "html"}[fmt]
        self.export_dir.mkdir(parents=True, exist_ok=True)
        path = self.export_dir / f"{shown.challenge.id}-{shown.phase}-leaderboard.{ext}"
        path.write_text(render(shown, fmt), encoding="utf-8")
        self.export_w.value = f"Wrote <code>{html.escape(str(path))}</code>"
        return path

    def export_card(self):
        """The data card (kit.cards.export_card): the full card with the final board once the challenge is
        closed; while it is open, the sealed card (nothing computed from the test labels, no result)."""
        from ..cards import export_card

        if self.export_w is None:
            raise KitError("a public board writes nothing on the server", fix="ask the organiser for the card")
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
    def check(self) -> bool:
        """Redraw if a result reached the ledger or the challenge closed since the last look;
        True if it redrew. Cheap when nothing happened (see :mod:`kit.widgets.live`)."""
        if self._watch is None:
            self._watch = LedgerWatch(self.workspace.ledger_path)
        mark = self._watch.poll()
        if self.challenge.spec.is_open(self.now) != self._was_open:
            if self.audience == "public" and self.phase_w.value != "private":
                self.phase_w.value = "private"  # the final board, now that it may be shown
            else:
                self.refresh()
            return True
        if mark is not None and mark != self._last_seen:
            self.refresh()
            return True
        return False

    def start_auto_refresh(self, seconds: float = POLL_SECONDS) -> None:
        """Watch the ledger from the kernel's event loop, at least every :data:`POLL_SECONDS`
        (``seconds`` only ever makes it look more often: a look is a ``stat`` of two files)."""
        self.stop()
        self._task = start_polling(self.check, min(seconds, POLL_SECONDS))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, with the board as text for headless runs (papermill, nbconvert)."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        return {**bundle, "text/plain": repr(self)}

    def __repr__(self) -> str:
        return repr(self.board) if self.board is not None else "LeaderboardApp (no board yet)"
