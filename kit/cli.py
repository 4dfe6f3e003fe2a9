"""The ``kit`` command line: a thin click layer over the library.

Every command calls one library function with the same defaults; a
:class:`~kit.errors.KitError` is printed as what / where / fix, with exit code 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .errors import KitError


class KitGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KitError as exc:
            click.secho(f"Error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)


@click.group(cls=KitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kit")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="KIT_ROOT",
    help="Folder holding starter_kits/ and grading/ (default: found from the current folder).",
)
@click.pass_context
def cli(ctx, root):
    """challenge-kit: run data challenges in medicine from Jupyter.

    \b
    Quick start:
      kit demo                          grade a simulated class on the default challenge
      kit grade breast-cancer team/nb.ipynb
      kit leaderboard breast-cancer
    """
    ctx.obj = {"root": root}


def _root(ctx):
    return ctx.obj.get("root") if ctx.obj else None


WORKDIR = click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default="kit-work",
    show_default=True,
    envvar="KIT_WORKDIR",
    help="Folder of the ledger and of every submission's artefacts.",
)


@cli.command("list")
@click.pass_context
def list_cmd(ctx):
    """List the challenges found under the root."""
    from .challenge import list_challenges, load_challenge

    for cid in list_challenges(_root(ctx)):
        s = load_challenge(cid, root=_root(ctx)).spec
        click.echo(f"{cid:<16} {s.task:<11} {s.metrics.primary:<10} {s.title}")


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
def validate(spec):
    """Validate a challenge spec file (one message per problem)."""
    from .challenge import read_spec

    s = read_spec(spec)
    click.echo(
        f"{spec}: valid challenge spec (schema {s.schema_version}): {s.id}, {s.task}, "
        f"primary metric {s.metrics.primary}"
    )


@cli.command()
@click.argument("challenge")
@click.option(
    "--write-hashes", is_flag=True, help="Record the new files' sha256 in the spec instead of failing on a mismatch."
)
@click.pass_context
def prepare(ctx, challenge, write_hashes):
    """Regenerate a challenge's data files from its bundled dataset and check their sha256."""
    from .prepare import prepare as _prepare

    for r in _prepare(challenge, root=_root(ctx), write_hashes=write_hashes):
        state = "ok" if r.matches else "recorded new sha256"
        click.echo(f"{r.role:<18} {r.rows:>6} rows  {r.sha256[:16]}…  {state}  {r.path}")


@cli.command()
@click.argument("challenge")
@click.argument("predictions", type=click.Path(path_type=Path))
@click.pass_context
def check(ctx, challenge, predictions):
    """Check a predictions file exactly as the grader will (format only)."""
    from .checker import check as _check

    report = _check(
        predictions,
        challenge=challenge
        if _root(ctx) is None
        else str(Path(_root(ctx)) / "starter_kits" / challenge / "challenge.yml"),
    )
    click.echo(repr(report))
    if not report.ok:
        sys.exit(1)


SANDBOX = click.option(
    "--sandbox",
    default="bubblewrap",
    show_default=True,
    help="How participant notebooks are isolated: bubblewrap, or none (trusted notebooks only).",
)


@cli.command()
@click.argument("challenge")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--team", help="Team of the files given (default: each file's folder name).")
@WORKDIR
@SANDBOX
@click.option("--workers", "-j", default=2, show_default=True, help="Notebooks run at once.")
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where notebooks run: this machine, or a Dask cluster (--scheduler).",
)
@click.option("--scheduler", help="Address of the Dask scheduler (with --executor dask).")
@click.option(
    "--warm/--cold",
    default=True,
    show_default=True,
    help="Take pre-warmed kernels (every submission still gets a fresh process).",
)
@click.option("--assignment", help="The assignment to grade in an nbgrader course directory (default: all).")
@click.option(
    "--to-nbgrader",
    "to_nbgrader",
    type=click.Path(file_okay=False, path_type=Path),
    help="Then push each student's score into this nbgrader course's gradebook.",
)
@click.option("--regrade", is_flag=True, help="Grade again submissions already graded.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_context
def grade(
    ctx,
    challenge,
    paths,
    team,
    workdir,
    sandbox,
    workers,
    executor,
    scheduler,
    warm,
    assignment,
    to_nbgrader,
    regrade,
    progress,
):
    """Grade notebooks (.ipynb) and prediction files (.csv): files, folders of team folders
    (<team>/<name>.ipynb|.csv), or nbgrader course directories.

    Each notebook runs label-blind in its own sandbox with data_dir and predictions_path
    injected; the predictions are scored by one run of the hidden grading notebook per
    batch. Everything is recorded in the ledger in --workdir; running it again grades only
    what is new (and what an interrupted run left).
    """
    from .grading import grade as _grade

    if executor == "dask" and not scheduler:
        raise click.UsageError("--executor dask needs --scheduler ADDRESS")
    report = _grade(
        challenge,
        paths,
        team=team,
        workdir=workdir,
        sandbox=sandbox,
        workers=workers,
        executor=executor,
        scheduler=scheduler,
        warm=warm,
        assignment=assignment,
        regrade=regrade,
        progress=progress,
        root=_root(ctx),
    )
    click.echo(repr(report))
    reasons = report.failure_reasons()
    if reasons:
        click.echo("not scored, by reason: " + "; ".join(f"{n} x {r}" for r, n in reasons.most_common()))
    click.echo(f"ledger: {Path(workdir) / 'ledger.sqlite'}")
    if to_nbgrader:
        from .grading.nbgrader_io import push_to_gradebook

        points = push_to_gradebook(challenge, to_nbgrader, workdir=workdir, assignment=assignment, root=_root(ctx))
        click.echo(f"pushed {len(points)} student score(s) into {to_nbgrader / 'gradebook.db'}")


@cli.command()
@click.argument("challenge")
@WORKDIR
@click.option(
    "--phase",
    type=click.Choice(["auto", "public", "private"]),
    default="auto",
    show_default=True,
    help="auto: public while the challenge is open, private after it closes.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "markdown", "html"]), default="table", show_default=True
)
@click.option(
    "--selection",
    type=click.Choice(["best", "last", "chosen"]),
    default="best",
    show_default=True,
    help="Which submission represents a team: best public, newest, or its chosen finals (private).",
)
@click.option(
    "--stats/--no-stats",
    default=True,
    show_default=True,
    help="Paired bootstrap intervals, rank ranges, P(first) and the statistically tied top.",
)
@click.option("--resamples", default=1000, show_default=True, help="Bootstrap resamples for --stats.")
@click.option(
    "--ladder",
    is_flag=True,
    help="Public board with the Ladder's released scores (Blum & Hardt 2015) against overfitting.",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of printing."
)
@click.pass_context
def leaderboard(ctx, challenge, workdir, phase, fmt, selection, stats, resamples, ladder, output):
    """Rank each team's best public submission (public split while open, private after)."""
    from .leaderboard import leaderboard as _board
    from .leaderboard import render

    board = _board(challenge, workdir=workdir, phase=phase, selection=selection, root=_root(ctx))
    if (stats or ladder) and len(board):
        from .grading import open_ledger
        from .leaderboard.uncertainty import add_intervals, apply_ladder, board_statistics

        with open_ledger(workdir) as led:
            if ladder:
                apply_ladder(board, led)
            if stats:
                add_intervals(board, board_statistics(board, led, n_resamples=resamples))
    text = render(board, fmt)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote the {board.phase} leaderboard ({len(board)} teams) to {output}")
    else:
        click.echo(text)


@cli.command()
@click.argument("challenge")
@click.argument("submission_ids", nargs=-1, required=True, type=int)
@click.option("--team", required=True, help="The team choosing its final submissions.")
@WORKDIR
@click.pass_context
def select(ctx, challenge, submission_ids, team, workdir):
    """Record a team's final submissions for the private board (the newest choice counts)."""
    from .leaderboard import choose_final

    ids = choose_final(challenge, team, submission_ids, workdir=workdir, root=_root(ctx))
    click.echo(f"team {team!r} chose submission(s) {', '.join(map(str, ids))} for the private board of {challenge}")


@cli.command()
@click.argument("challenge")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@WORKDIR
@SANDBOX
@click.option("--workers", "-j", default=2, show_default=True, help="Notebooks run at once.")
@click.option("--interval", default=0.1, show_default=True, help="Seconds between scans of the folder.")
@click.pass_context
def watch(ctx, challenge, folder, workdir, sandbox, workers, interval):
    """Grade hand-ins as they arrive in FOLDER/<team>/ (warm kernels: a score about a second later)."""
    from .grading.watch import watch as _watch

    _watch(
        challenge,
        folder,
        workdir=workdir,
        sandbox=sandbox,
        workers=workers,
        interval=interval,
        root=_root(ctx),
        echo=click.echo,
    )


@cli.command()
@click.argument("challenge")
@WORKDIR
@click.option(
    "--audience",
    type=click.Choice(["organiser", "public"]),
    default="public",
    show_default=True,
    help="public (a class screen): no private result while the challenge is open.",
)
@click.option("--port", default=8866, show_default=True, help="Port of the Voilà server.")
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for a room).")
@click.option("--refresh", default=10.0, show_default=True, help="Seconds between checks of the ledger.")
@click.option(
    "--exports",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the board's exports (default: WORKDIR/exports).",
)
@click.pass_context
def board(ctx, challenge, workdir, audience, port, ip, refresh, exports):
    """Serve the live widget leaderboard (notebooks/leaderboard.ipynb) with Voilà."""
    from .widgets.notebook import serve_board

    click.echo(f"serving the {challenge} board on http://{ip}:{port}/ (Ctrl-C to stop)")
    sys.stdout.flush()
    serve_board(
        challenge,
        workdir=workdir,
        root=_root(ctx),
        audience=audience,
        port=port,
        ip=ip,
        refresh_seconds=refresh,
        export_dir=exports,
    )


def _override(reason, by, date):
    if bool(reason) != bool(by):
        raise click.UsageError("an override needs both --override-reason and --override-by")
    return {"reason": reason, "by": by, **({"date": date} if date else {})} if reason else None


OVERRIDE = [
    click.option("--override-reason", help="Release despite the privacy gate: why (recorded in the card)."),
    click.option("--override-by", help="Who takes that decision (recorded in the card)."),
    click.option("--override-date", help="Date of the decision, YYYY-MM-DD (default: today)."),
]


def _options(opts):
    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


@cli.command()
@click.argument("challenge")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With a ledger: add the final leaderboard, winners and subgroup results (closed challenges).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder (default: data_cards/ID).")
@click.option("--top", default=3, show_default=True, help="Top teams whose subgroup results are reported.")
@click.option("--selection", type=click.Choice(["best", "last", "chosen"]), default="chosen", show_default=True)
@click.option("--resamples", default=1000, show_default=True, help="Bootstrap resamples for intervals.")
@_options(OVERRIDE)
@click.pass_context
def card(ctx, challenge, workdir, out, top, selection, resamples, override_reason, override_by, override_date):
    """Write the data card (Markdown, HTML, Croissant JSON-LD validated by mlcroissant)."""
    from .cards import build_card, export_card

    ov = _override(override_reason, override_by, override_date)
    if workdir:
        result = export_card(
            challenge,
            workdir=workdir,
            root=_root(ctx),
            out_dir=out,
            top=top,
            selection=selection,
            n_resamples=resamples,
            override=ov,
        )
    else:
        result = build_card(challenge, root=_root(ctx), out_dir=out, override=ov)
    click.echo(repr(result))


@cli.command()
@click.argument("challenge")
@WORKDIR
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Where to write (default: WORKDIR).")
@click.option("--top", default=3, show_default=True, help="Winners: the teams ranked up to this rank.")
@click.option("--selection", type=click.Choice(["best", "last", "chosen"]), default="chosen", show_default=True)
@click.option("--resamples", default=1000, show_default=True, help="Bootstrap resamples for intervals.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@_options(OVERRIDE)
@click.pass_context
def release(ctx, challenge, workdir, out, top, selection, resamples, seed, override_reason, override_by, override_date):
    """Release a closed challenge as open data: data with test labels, the card, the final board,
    the winners' notebooks (licence-checked), a SHA-256 manifest, and a reproducible zip."""
    from .release import release as _release

    result = _release(
        challenge,
        workdir=workdir,
        out_dir=out,
        override=_override(override_reason, override_by, override_date),
        top=top,
        selection=selection,
        n_resamples=resamples,
        seed=seed,
        root=_root(ctx),
    )
    click.echo(repr(result))


@cli.command()
@click.argument("challenge", required=False)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default="kit-demo",
    show_default=True,
    help="A new folder (or an earlier demo's, which is replaced).",
)
@SANDBOX
@click.option("--workers", "-j", default=2, show_default=True, help="Notebooks run at once.")
@click.pass_context
def demo(ctx, challenge, workdir, sandbox, workers):
    """Simulate a class handing in notebooks, grade them all, print the leaderboard."""
    from .demo import run_demo
    from .leaderboard import render

    result = run_demo(challenge, workdir=workdir, sandbox=sandbox, workers=workers, echo=click.echo)
    click.echo(repr(result.report))
    from .grading import open_ledger
    from .leaderboard.uncertainty import add_intervals, board_statistics

    with open_ledger(result.workdir) as led:
        add_intervals(result.board, board_statistics(result.board, led))
    click.echo("")
    click.echo(render(result.board, "table"))
    out = result.workdir / "leaderboard.html"
    out.write_text(render(result.board, "html"), encoding="utf-8")
    click.echo("")
    click.echo(f"hand-ins:      {result.submissions}")
    click.echo(f"ledger:        {result.workdir / 'ledger.sqlite'}")
    click.echo(f"artefacts:     {result.workdir / result.board.challenge.id / 'runs'}/<submission>/<run>/")
    click.echo(f"leaderboard:   {out}")
    click.echo(f"again:         kit leaderboard {result.board.challenge.id} --workdir {result.workdir}")


def main():  # console script entry point
    cli(prog_name="kit")


if __name__ == "__main__":
    main()
