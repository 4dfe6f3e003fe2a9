"""The ``kit`` command line: a thin click layer over the library.

Every command parses its options, calls one library function and prints its result.
Defaults come from :mod:`kit.defaults` (the library's own), choices from the registries
(sandboxes, executors, board formats), read when a command needs them. A
:class:`~kit.errors.KitError` is printed as what / where / fix, with exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from . import __version__
from . import defaults as D
from .errors import KitError


class KitGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KitError as exc:
            click.secho(f"Error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)

    def format_commands(self, ctx, formatter):
        """The commands with their whole summary: a long one wraps, it is never cut with "..."."""
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, cmd.get_short_help_str(limit=sys.maxsize)) for name, cmd in commands if cmd and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class RegistryChoice(click.Choice):
    """A choice among the names of a registry, read when needed (not at start-up), so plug-ins count."""

    def __init__(self, names: Callable[[], Iterable[str]]):
        self._names = names
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:  # click's __init__ sets it; the registry decides
        pass


def _sandboxes() -> list[str]:
    from .execution.sandbox import get_sandbox_names

    return get_sandbox_names()


def _executors() -> list[str]:
    from .grading.executors import get_executor_names

    return get_executor_names()


def _formats() -> list[str]:
    from .leaderboard.render import get_board_format_names

    return get_board_format_names()


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
      kit doctor                        can this machine and user grade, sandboxed?
      kit demo                          grade a simulated class on the default challenge
      kit grade breast-cancer team/nb.ipynb
      kit leaderboard breast-cancer
    """
    ctx.obj = {"root": root}


def _root(ctx) -> Path | None:
    return ctx.obj.get("root") if ctx.obj else None


WORKDIR = click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=D.DEFAULT_WORKDIR,
    show_default=True,
    envvar="KIT_WORKDIR",
    help="Folder of the ledger and of every submission's artefacts.",
)
SANDBOX = click.option(
    "--sandbox",
    type=RegistryChoice(_sandboxes),
    default=D.DEFAULT_SANDBOX,
    show_default=True,
    help="How participant notebooks are isolated (none: trusted notebooks only).",
)
WORKERS = click.option("--workers", "-j", default=D.DEFAULT_WORKERS, show_default=True, help="Notebooks run at once.")
SELECTION = click.option(
    "--selection",
    type=click.Choice(D.SELECTIONS),
    default=D.DEFAULT_SELECTION,
    show_default=True,
    help="Which submission represents a team: best public, newest, or its chosen finals (private board).",
)
RESAMPLES = click.option(
    "--resamples", default=D.DEFAULT_RESAMPLES, show_default=True, help="Bootstrap resamples for the intervals."
)
TOP = click.option("--top", default=D.DEFAULT_TOP, show_default=True, help="Winners: the teams ranked up to this rank.")


def _options(*opts):
    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


OVERRIDE = _options(
    click.option(
        "--override-reason",
        metavar="TEXT",
        help="Release despite a residual re-identification risk (k-anonymity, l-diversity, t-closeness, "
        "linkability): why; recorded in the card and the ledger. Direct identifiers are never overridden.",
    ),
    click.option("--organiser", metavar="NAME", help="The organiser who signs the override."),
    click.option(
        "--dpo", metavar="NAME", help="The data protection officer who signs the override (not the organiser)."
    ),
    click.option(
        "--date",
        "override_date",
        metavar="DATE",
        help="Day both signed the override, YYYY-MM-DD (default: today); recorded with it.",
    ),
)


def _override(reason, organiser, dpo, date) -> dict[str, Any] | None:
    """The override of ``--override-reason --organiser --dpo [--date]``, validated; None without them."""
    given = {"--override-reason": reason, "--organiser": organiser, "--dpo": dpo}
    if not any(given.values()) and not date:
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise click.UsageError(
            f"an override needs --override-reason, --organiser and --dpo (two different people); missing: "
            f"{', '.join(missing)}"
        )
    import datetime as dt
    from dataclasses import replace

    from .privacy.gate import OverrideRefused, as_override

    day = date or dt.date.today().isoformat()
    decision = {"reason": reason, "organiser": {"name": organiser, "date": day}, "dpo": {"name": dpo, "date": day}}
    try:
        as_override(decision, where="override")  # refused here, before any work
    except OverrideRefused as exc:
        flag = {"reason": "--override-reason", "organiser.name": "--organiser", "dpo.name": "--dpo"}
        flag |= {"organiser.date": "--date", "dpo.date": "--date", "override": "--organiser, --dpo"}
        problems = [replace(p, where=flag.get(p.where.removeprefix("override."), p.where)) for p in exc.problems]
        raise OverrideRefused(exc.what, where="command line", problems=problems, fix=exc.fix) from None
    return decision


def _write_or_echo(text: str, output: Path | None, what: str) -> None:
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {what} to {output}")
    else:
        click.echo(text)


# -- challenges ------------------------------------------------------------------------------
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


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def remedy_options(f: Callable) -> Callable:
    """The generalisation remedies (kit.remedies), shared by `kit new` and `kit prepare`."""
    options = [
        (
            "--age-bands",
            "COL[:WIDTH[:TOP]]",
            "Ages to bands of WIDTH years (10), TOP and over as one band (90: '90+').",
        ),
        ("--top-code", "COL:ABOVE[:BELOW]", "Values above ABOVE recorded as ABOVE (and below BELOW as BELOW)."),
        ("--date-to", "COL[:month|year]", "Dates to the month or the year (default year)."),
        ("--departement", "COL", "French postcodes or INSEE commune codes to their département (75012 -> 75)."),
        ("--merge-rare", "COL[:MIN[:INTO]]", "Categories held by fewer than MIN rows (10) merged into INTO ('other')."),
    ]
    for flag, metavar, text in reversed(options):
        f = click.option(flag, multiple=True, metavar=metavar, help=text + " Repeatable.")(f)
    return f


def _remedies(kw: dict[str, Any]) -> list[Any]:
    """The remedies given on the command line, in the order of the options (popped from *kw*)."""
    from .remedies import SHORT_FORMS, from_short_form

    return [from_short_form(name, value) for name in SHORT_FORMS for value in kw.pop(name, ())]


@cli.command("new", short_help="Make a whole challenge from one table.")
@click.argument("challenge_id", metavar="ID")
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your table: CSV, TSV, Parquet or Excel (read, never copied).",
)
@click.option("--target", help="Target column; survival: EVENT,TIME. Prompted for in a terminal when omitted.")
@click.option("--task", help="Task type: binary, multiclass, regression or survival (default: inferred).")
@click.option("--id-column", help="Column of unique case ids (default: random ids are generated).")
@click.option("--group", help="Patient (group) column: no patient is in two of train / public / private test.")
@click.option("--no-stratify", is_flag=True, help="Do not stratify the split on the target.")
@click.option("--temporal", metavar="COLUMN", help="Date column of a temporal split (with --cutoff).")
@click.option("--cutoff", help="Temporal split: rows at or after this date (or number) are the test set.")
@click.option(
    "--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.4, show_default=True
)
@click.option(
    "--public-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5, show_default=True
)
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the split and ids (default: derived from ID).")
@click.option("--drop", multiple=True, help="A column to leave out of every file (repeat for several).")
@click.option("--metric", help="Primary metric (default: the task's).")
@click.option("--secondary", help="Secondary metrics, comma-separated (default: the task's).")
@click.option("--title", help="The challenge's title.")
@click.option("--question", help="The medical question participants answer (the spec's description).")
@click.option("--classes", help="Multiclass: the classes in order, comma-separated (default: sorted).")
@click.option("--ordinal", is_flag=True, help="Multiclass: the classes are ordered (a grade, a stage).")
@click.option("--times", help="Survival: follow-up times of the time-dependent metrics, comma-separated.")
@click.option("--positive-label", help="Binary: what the positive class (1) means.")
@click.option("--sheet", help="Excel: the sheet to read (default: the first).")
@click.option("--quasi-identifier", multiple=True, help="A column an outsider could know (privacy gate; repeat).")
@remedy_options
@click.option("--force", is_flag=True, help="Replace an existing challenge of this id.")
@click.pass_context
def new(ctx, challenge_id, data, target, task, id_column, group, no_stratify, temporal, cutoff, **kw):
    """Make a whole challenge from one table: starter kit, hidden labels, notebooks, card template.

    \b
    Example:
      kit new stroke --data stroke.csv --target outcome --group patient_id
      kit new gbsg2 --data sources/gbsg2.csv --target cens,time --title "..."
      kit new stays --data sejours.csv --target readmitted --age-bands age:10:90 \\
        --date-to admission:month --departement code_postal --merge-rare diagnosis:10
    Nothing is written unless everything succeeds; `kit prepare ID` rebuilds the files.
    The remedies generalise columns before the split; the privacy gate then says what they changed.
    """
    import time

    from .authoring.new import new_challenge
    from .prepare import read_table

    if not target:
        if not sys.stdin.isatty():
            raise click.UsageError("--target is required (survival: --target EVENT,TIME)")
        columns = list(read_table(data, sheet=kw.get("sheet")).columns)
        click.echo("Columns: " + ", ".join(map(str, columns)))
        target = click.prompt("Target column(s) (survival: EVENT,TIME)")
    if bool(temporal) != bool(cutoff):
        raise click.UsageError("--temporal COLUMN and --cutoff VALUE go together")
    times = _csv(kw.pop("times"))
    remedies = _remedies(kw)
    start = time.perf_counter()
    made = new_challenge(
        challenge_id,
        data,
        root=_root(ctx),
        target=_csv(target) or [],
        task=task,
        id_column=id_column,
        group=group,
        stratify=not no_stratify,
        temporal=(temporal, cutoff) if temporal else None,
        test_fraction=kw["test_fraction"],
        public_fraction=kw["public_fraction"],
        seed=kw["seed"],
        drop=kw["drop"],
        primary=kw["metric"],
        secondary=_csv(kw["secondary"]),
        title=kw["title"],
        question=kw["question"],
        classes=_csv(kw["classes"]),
        ordinal=kw["ordinal"],
        times=[float(t) for t in times] if times else None,
        positive_label=kw["positive_label"],
        sheet=kw["sheet"],
        quasi_identifiers=kw["quasi_identifier"],
        remedies=remedies,
        force=kw["force"],
    )
    spec = made.challenge.spec
    sp = made.split
    click.echo(
        f"made challenge {spec.id!r} ({spec.task}, primary metric {spec.metrics.primary}) in "
        f"{time.perf_counter() - start:.1f} s"
    )
    click.echo(
        f"split ({sp['method']}, seed {spec.seed}): {sp['train']} train, {sp['public']} public test, "
        f"{sp['private']} private test" + (f", {sp['left_out']} left out" if sp["left_out"] else "")
    )
    for note in made.notes:
        click.echo(f"note: {note}")
    for p in made.files:
        click.echo(f"  {p}")
    click.echo(
        f"next: fill in {made.challenge.starter_dir / 'card.yml'}, then `kit demo {spec.id}` or "
        f"`kit grade {spec.id} HAND-INS`"
    )


@cli.command(short_help="Rebuild a challenge's data files and check their sha256.")
@click.argument("challenge")
@click.option(
    "--write-hashes", is_flag=True, help="Record the new files' sha256 in the spec instead of failing on a mismatch."
)
@click.option("--quasi-identifier", multiple=True, help="With remedies: a column an outsider could know (repeat).")
@remedy_options
@click.pass_context
def prepare(ctx, challenge, write_hashes, quasi_identifier, **kw):
    """Rebuild a challenge's data files from its source (bundled dataset or your table) and check their sha256.

    \b
    With remedies (--age-bands, --date-to, ...), they are added to the spec (replacing one on the
    same column), the files are rebuilt with their new sha256 recorded, and the privacy gate
    says what they changed. Nothing changes unless everything succeeds.
    """
    from .prepare import prepare as _prepare

    remedies = _remedies(kw)
    if remedies:
        from .authoring.remedy import remedy

        made = remedy(challenge, remedies, root=_root(ctx), quasi_identifiers=quasi_identifier)
        files, notes = made.files, made.notes
        click.echo(
            f"{challenge}: source.remedies now " + "; ".join(r.describe() for r in made.challenge.spec.source.remedies)
        )
    else:
        files, notes = _prepare(challenge, root=_root(ctx), write_hashes=write_hashes), []
    for r in files:
        state = "ok" if r.matches else "recorded new sha256"
        click.echo(f"{r.role:<18} {r.rows:>6} rows  {r.sha256[:16]}…  {state}  {r.path}")
    for note in notes:
        click.echo(f"note: {note}")


@cli.command(short_help="Check a predictions file as the grader will.")
@click.argument("challenge")
@click.argument("predictions", type=click.Path(path_type=Path))
@click.pass_context
def check(ctx, challenge, predictions):
    """Check a predictions file exactly as the grader will (format only)."""
    from .checker import check as _check

    report = _check(predictions, challenge=challenge, root=_root(ctx))
    click.echo(repr(report))
    if not report.ok:
        sys.exit(1)


# -- grading ----------------------------------------------------------------------------------
def _hand_ins(paths, team, assignment, workdir) -> list:
    """What PATHS hold to grade; nothing (or no PATHS and no ledger) is an error, before anything is written."""
    from .grading.sources import collect_hand_ins
    from .workspace import Workspace

    found = collect_hand_ins(paths, team=team, assignment=assignment)
    if found or (not paths and Workspace(workdir).has_ledger):  # no PATHS: what an interrupted run left
        return found
    of = f" of assignment {assignment!r}" if assignment else ""
    raise KitError(
        f"nothing to grade: no notebook (.ipynb) or predictions file (.csv){of}",
        where=", ".join(map(str, paths)) or "PATHS",
        fix="give the files, a folder of team folders (FOLDER/<team>/<name>.ipynb or .csv: the team is the "
        "folder's name), or an nbgrader course directory (submitted/<student>/<assignment>/)",
    )


@cli.command(short_help="Grade handed-in notebooks and prediction files.")
@click.argument("challenge")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--team", help="Team of the files given (default: each file's folder name).")
@WORKDIR
@SANDBOX
@WORKERS
@click.option(
    "--executor",
    type=RegistryChoice(_executors),
    default=D.DEFAULT_EXECUTOR,
    show_default=True,
    help="Where notebooks run: this machine (local), or a Dask cluster (dask, with --scheduler).",
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
    from .grading.grader import grade as _grade

    if executor == "dask" and not scheduler:
        raise click.UsageError("--executor dask needs --scheduler ADDRESS")
    hand_ins = _hand_ins(paths, team, assignment, workdir)
    report = _grade(
        challenge,
        hand_ins=hand_ins,
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
    from .workspace import Workspace

    click.echo(f"ledger: {Workspace(workdir).ledger_path}")
    if to_nbgrader:
        from .grading.nbgrader_io import push_to_gradebook

        pushed = push_to_gradebook(challenge, to_nbgrader, workdir=workdir, assignment=assignment, root=_root(ctx))
        click.echo(str(pushed))  # the course's own gradebook, each 0 with its reason, the teams skipped


@cli.command(short_help="Grade hand-ins as they arrive in a folder.")
@click.argument("challenge")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@WORKDIR
@SANDBOX
@WORKERS
@click.option(
    "--interval", default=D.WATCH_INTERVAL, show_default=True, help="Seconds between scans, where inotify is missing."
)
@click.option("--create", is_flag=True, help="Make FOLDER if it does not exist (else a missing FOLDER is refused).")
@click.pass_context
def watch(ctx, challenge, folder, workdir, sandbox, workers, interval, create):
    """Grade hand-ins as they arrive in FOLDER/<team>/ (warm kernels: a score about a second later).

    Prints one line per hand-in: the time, the team, the file, and its public score or why it has none.
    """
    from .grading.watch import watch as _watch

    _watch(
        challenge,
        folder,
        workdir=workdir,
        sandbox=sandbox,
        workers=workers,
        interval=interval,
        root=_root(ctx),
        create=create,
        echo=click.echo,
    )


# -- boards -----------------------------------------------------------------------------------
@cli.command(short_help="Rank the teams, with intervals and the tied top.")
@click.argument("challenge")
@WORKDIR
@click.option(
    "--phase",
    type=click.Choice(D.PHASES),
    default=D.DEFAULT_PHASE,
    show_default=True,
    help="auto: public while the challenge is open, private after it closes.",
)
@click.option("--format", "fmt", type=RegistryChoice(_formats), default=D.DEFAULT_FORMAT, show_default=True)
@SELECTION
@click.option(
    "--stats/--no-stats",
    default=True,
    show_default=True,
    help="Paired bootstrap intervals, rank ranges, P(first) and the statistically tied top.",
)
@RESAMPLES
@click.option("--ladder", is_flag=True, help="Public board with the Ladder's released scores (Blum & Hardt 2015).")
@click.option(
    "--ladder-rule",
    type=click.Choice(D.LADDER_RULES),
    help="With --ladder: the parameter-free rule (default) or the fixed step (--ladder-eta).",
)
@click.option(
    "--ladder-eta",
    type=click.FloatRange(0, 1, min_open=True),
    help="The fixed Ladder's step, in loss units scaled to [0, 1].",
)
@click.option(
    "--interval",
    type=click.Choice(D.INTERVALS),
    help="Bootstrap interval method (default auto: studentized for mean-type metrics, BCa for the others).",
)
@click.option(
    "--organiser-preview",
    is_flag=True,
    help="Allow --phase private while the challenge is open (for the organisers' eyes only; a warning is printed).",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of printing."
)
@click.pass_context
def leaderboard(
    ctx,
    challenge,
    workdir,
    phase,
    fmt,
    selection,
    stats,
    resamples,
    ladder,
    ladder_rule,
    ladder_eta,
    interval,
    organiser_preview,
    output,
):
    """Rank each team's representative submission (public split while open, private after).

    The private board of an open challenge needs --organiser-preview: shown to participants, it
    would let them fit the private test set.
    """
    from .challenge import load_challenge
    from .leaderboard import build_board, render

    if (ladder_rule or ladder_eta is not None) and not ladder:
        raise click.UsageError("--ladder-rule and --ladder-eta go with --ladder")
    if phase == "private":
        ch = load_challenge(challenge, root=_root(ctx))
        if ch.spec.is_open():
            if not organiser_preview:
                raise KitError(
                    f"{ch.id} is open until {ch.spec.closes:%Y-%m-%d %H:%M} UTC: its private leaderboard is hidden",
                    where="--phase private",
                    fix="use --phase public, or add --organiser-preview to see it yourself (never share it: "
                    "participants would fit the private test set)",
                )
            click.echo(
                f"WARNING: the private leaderboard of {ch.id}, which is open until {ch.spec.closes:%Y-%m-%d %H:%M} "
                "UTC: for the organisers only; do not share it",
                err=True,
            )

    board = build_board(
        challenge,
        workdir=workdir,
        phase=phase,
        selection=selection,
        stats=stats,
        ladder=(ladder_rule or True) if ladder else False,
        ladder_eta=ladder_eta,
        interval=interval,
        n_resamples=resamples,
        root=_root(ctx),
    )
    _write_or_echo(render(board, fmt), output, f"the {board.phase} leaderboard ({len(board)} teams)")


@cli.command(short_help="Record a team's final submissions.")
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


@cli.command(short_help="Serve the live leaderboard with Voilà.")
@click.argument("challenge")
@WORKDIR
@click.option(
    "--audience",
    type=click.Choice(D.AUDIENCES),
    default=D.BOARD_AUDIENCE,
    show_default=True,
    help="public (a class screen): no private result while the challenge is open.",
)
@click.option("--port", default=D.BOARD_PORT, show_default=True, help="Port of the Voilà server.")
@click.option("--ip", default=D.BOARD_IP, show_default=True, help="Address to listen on (0.0.0.0 for a room).")
@click.option(
    "--refresh",
    default=D.BOARD_REFRESH,
    show_default=True,
    help="Seconds between checks of the ledger for new results (0: no live updates).",
)
@click.option(
    "--exports",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the board's exports (default: WORKDIR/exports).",
)
@click.pass_context
def board(ctx, challenge, workdir, audience, port, ip, refresh, exports):
    """Serve the live widget leaderboard (notebooks/leaderboard.ipynb) with Voilà."""
    from .widgets.notebook import serve_board
    from .workspace import Workspace

    if not Workspace(workdir).has_ledger:
        raise KitError(
            "no such folder" if not workdir.exists() else "no ledger in this folder",
            where=str(workdir),
            fix="pass the --workdir that `kit grade` or `kit watch` writes, or start them first",
        )
    click.echo(f"starting the {challenge} board on http://{ip}:{port}/ (ready when Voilà says so; Ctrl-C to stop)")
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


# -- after the event ---------------------------------------------------------------------------
@cli.command(short_help="Write the data card (Markdown, HTML, Croissant).")
@click.argument("challenge")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With a ledger: add the final leaderboard, winners and subgroup results (closed challenges).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder (default: data_cards/ID).")
@TOP
@SELECTION
@RESAMPLES
@OVERRIDE
@click.option(
    "--draft",
    is_flag=True,
    help="Build even while card.yml has empty fields (each shown as to be written; never for a release).",
)
@click.pass_context
def card(
    ctx, challenge, workdir, out, top, selection, resamples, override_reason, organiser, dpo, override_date, draft
):
    """Write the data card (Markdown, HTML, Croissant JSON-LD validated by mlcroissant)."""
    from .cards import build_card, export_card

    ov = _override(override_reason, organiser, dpo, override_date)
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
            draft=draft,
        )
    else:
        result = build_card(challenge, root=_root(ctx), out_dir=out, override=ov, draft=draft)
    click.echo(_card_summary(result))


def _card_summary(result) -> str:
    """What `kit card` wrote, for a person: the files, whether sealed or a draft, the privacy gate."""
    lines = [f"wrote the data card of {result.challenge_id} to {result.out_dir}:"]
    lines += [f"  {path}" for path in result.files.values()]
    if result.stats.sealed:
        lines.append("sealed: the challenge is open; no statistic of the test labels (full card after the close)")
    if result.todo:
        lines.append(f"draft: {len(result.todo)} field(s) of card.yml still to write: {', '.join(result.todo)}")
    lines.append(result.privacy.summary())
    return "\n".join(lines)


@cli.command(short_help="Release a closed challenge as open data.")
@click.argument("challenge")
@WORKDIR
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Where to write (default: WORKDIR).")
@TOP
@SELECTION
@RESAMPLES
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@OVERRIDE
@click.pass_context
def release(
    ctx, challenge, workdir, out, top, selection, resamples, seed, override_reason, organiser, dpo, override_date
):
    """Release a closed challenge as open data: data with test labels, the card, the final board,
    the winners' notebooks (licence-checked), a SHA-256 manifest, and a reproducible zip."""
    from .release import release as _release

    result = _release(
        challenge,
        workdir=workdir,
        out_dir=out,
        override=_override(override_reason, organiser, dpo, override_date),
        top=top,
        selection=selection,
        n_resamples=resamples,
        seed=seed,
        root=_root(ctx),
    )
    click.echo(result.summary())


# -- trying it -------------------------------------------------------------------------------
@cli.command(short_help="Grade a simulated class and print its board.")
@click.argument("challenge", required=False)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=D.DEMO_WORKDIR,
    show_default=True,
    help="A new folder (or an earlier demo's, which is replaced).",
)
@SANDBOX
@WORKERS
@click.pass_context
def demo(ctx, challenge, workdir, sandbox, workers):
    """Simulate a class handing in notebooks, grade them all, print the board with its intervals."""
    from .demo import run_demo

    click.echo(
        repr(run_demo(challenge, workdir=workdir, sandbox=sandbox, workers=workers, echo=click.echo, root=_root(ctx)))
    )


@cli.command(short_help="Say whether this machine can grade, and how to fix it.")
@click.option("--sandbox", type=RegistryChoice(_sandboxes), default=D.DEFAULT_SANDBOX, show_default=True)
@click.option(
    "--browser/--no-browser",
    default=True,
    show_default=True,
    help="Also look for the chromium the browser tests drive.",
)
def doctor(sandbox, browser):
    """Say whether this machine and user can grade, sandboxed and warm, and how to fix what is missing."""
    from .doctor import diagnose

    report = diagnose(sandbox=sandbox, browser=browser)
    click.echo(report.text())
    if not report.ok:
        sys.exit(1)


@cli.command(short_help="Serve a challenge: sign-up, hand-ins graded as they arrive, feedback, the board.")
@click.argument("challenge")
@WORKDIR
@click.option("--ip", help="Address to listen on (default: 127.0.0.1, the loopback; a reverse proxy serves the world).")
@click.option("--port", type=int, help="Port to listen on (default: 8765).")
@click.option("--workshop", is_flag=True, help="Sign-up needs the class code this command prints.")
@click.option("--behind-proxy", is_flag=True, help="Trust the reverse proxy's X-Forwarded-For and Host headers.")
@click.option("--base-url", default="/", show_default=True, help="The path the server is served under.")
@SANDBOX
@WORKERS
@click.pass_context
def serve(ctx, challenge, workdir, ip, port, workshop, behind_proxy, base_url, sandbox, workers):
    """Serve CHALLENGE until Ctrl-C: teams sign up and get a token, hand in (kit.submit() in the notebook, the
    API or the team page), and see their own status, public scores and feedback; the public board is live."""
    from .server import serve as _serve

    where = {k: v for k, v in (("ip", ip), ("port", port)) if v is not None}  # else the library's defaults
    _serve(
        challenge,
        workdir=workdir,
        root=_root(ctx),
        workshop=workshop,
        behind_proxy=behind_proxy,
        base_url=base_url,
        sandbox=sandbox,
        workers=workers,
        echo=click.echo,
        **where,
    )


def main():  # console script entry point
    from .execution import skip_slow_optional_imports

    skip_slow_optional_imports()
    try:
        cli(prog_name="kit")
    except SystemExit as exc:  # click ends every command with one
        _exit(exc.code)


def _exit(code) -> None:
    """End the command without tearing the interpreter down module by module.

    After ``kit grade`` that teardown takes 0.2 s (the grader's libraries freeing what the
    process hands back at exit anyway). Nothing is skipped that matters: the command has
    closed its ledger, sandboxes and kernels (no process of it is left), the threads are
    joined and the exit handlers run, as in a normal exit; only the module teardown is not.
    """
    import atexit
    import os
    import threading

    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
