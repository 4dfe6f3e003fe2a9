"""Building a leaderboard from the ledger.

Phases: while a challenge is open the board ranks the public split; after it
closes (or on request) the private split.

Selection, which submission represents a team (never chosen by private scores):

- ``best``: the submission with the best public score (ties: the earlier one);
- ``last``: the team's newest scored submission;
- ``chosen``: on the private board, the best private score among the (at most
  ``final_selections``) submissions the team chose with ``kit select``; a team
  that chose none falls back to ``best``. On the public board it is ``best``.

Ties in the ranked score share a rank; among them the earlier submission is
listed first. Only scored submissions are ranked; a submission whose score is
missing on the ranked split is listed as unranked, never first.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..challenge import Challenge, load_challenge
from ..errors import KitError
from ..ledger import Ledger
from ..metrics import Metric, get_metric

PHASES = ("auto", "public", "private")
SELECTIONS = ("best", "last", "chosen")


@dataclass
class Leaderboard:
    challenge: Challenge
    phase: str  # "public" | "private"
    table: pd.DataFrame
    metric: Metric
    generated_at: str = ""
    selection: str = "best"
    unranked: int = 0
    notes: list = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return list(self.table.columns)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        from .render import render
        return render(self, "table")

    def _repr_html_(self) -> str:
        from .render import render
        return render(self, "html")


def _rank(values: pd.Series, metric: Metric) -> pd.Series:
    key = values.map(metric.sort_key)
    return key.rank(method="min").astype("Int64")


def scored_submissions(ledger: Ledger, challenge: Challenge) -> pd.DataFrame:
    """Every submission whose newest run is scored, with its public and private scores."""
    spec = challenge.spec
    metrics = spec.metrics.all
    q = ",".join("?" * len(metrics))
    long = ledger.query(
        f"""
        SELECT s.id AS submission_id, s.team, s.filename, s.submitted_at, r.id AS run_id,
               sc.split, sc.metric, sc.value
        FROM submissions s
        JOIN runs r ON r.id = (SELECT MAX(id) FROM runs WHERE submission_id = s.id)
        JOIN scores sc ON sc.run_id = r.id
        WHERE s.challenge = ? AND r.status = 'scored' AND sc.metric IN ({q})
        """, (challenge.id, *metrics))
    base_cols = ["submission_id", "team", "filename", "submitted_at", "run_id"]
    if long.empty:
        cols = base_cols + [f"{s}.{m}" for s in ("public", "private") for m in metrics]
        return pd.DataFrame(columns=cols)
    long["col"] = long["split"] + "." + long["metric"]
    wide = long.set_index([*base_cols, "col"])["value"].unstack("col").reset_index()
    wide.columns.name = None
    for s in ("public", "private"):
        for m in metrics:
            if f"{s}.{m}" not in wide.columns:
                wide[f"{s}.{m}"] = np.nan
    return wide.sort_values(["submitted_at", "submission_id"]).reset_index(drop=True)


def select_per_team(subs: pd.DataFrame, metric: Metric, rule: str = "best", *, phase: str = "public",
                    chosen: dict | None = None) -> pd.DataFrame:
    """The one submission that represents each team on the board (see the module docstring)."""
    counts = subs.groupby("team").size().rename("entries")
    pub = subs.assign(_key=subs[f"public.{metric.name}"].map(metric.sort_key))
    if rule == "last":
        picked = subs.sort_values(["team", "submitted_at", "submission_id"]).drop_duplicates("team", keep="last")
    else:
        picked = pub.sort_values(["team", "_key", "submitted_at", "submission_id"]) \
            .drop_duplicates("team", keep="first").drop(columns="_key")
        if rule == "chosen" and phase == "private" and chosen:
            ids = {int(i) for v in chosen.values() for i in v}
            pool = subs[subs["submission_id"].isin(ids) & subs["team"].isin(list(chosen))]
            pool = pool.assign(_key=pool[f"private.{metric.name}"].map(metric.sort_key))
            best_chosen = pool.sort_values(["team", "_key", "submitted_at", "submission_id"]) \
                .drop_duplicates("team", keep="first").drop(columns="_key")
            picked = pd.concat([picked[~picked["team"].isin(best_chosen["team"])], best_chosen])
    picked = picked.assign(selected_by=rule if rule != "chosen" else
                           picked["team"].map(lambda t: "chosen" if chosen and t in chosen and phase == "private"
                                              else "best"))
    return picked.join(counts, on="team")


def leaderboard(challenge, *, workdir=None, ledger: Ledger | None = None, phase: str = "auto",
                selection: str = "best", now: datetime | None = None, root=None) -> Leaderboard:
    """The ranked board of a challenge from its ledger."""
    if phase not in PHASES:
        raise KitError(f"unknown phase {phase!r}", fix=f"use one of {', '.join(PHASES)}")
    if selection not in SELECTIONS:
        raise KitError(f"unknown selection rule {selection!r}", fix=f"use one of {', '.join(SELECTIONS)}")
    ch = load_challenge(challenge, root=root)
    if ledger is None:
        from ..grading.grader import DEFAULT_WORKDIR, ledger_path
        path = ledger_path(workdir or DEFAULT_WORKDIR)
        if not path.exists():
            raise KitError("no ledger yet", where=str(path),
                           fix=f"grade submissions first (`kit grade {ch.id} PATH`) or pass --workdir")
        ledger = Ledger(path)
        owned = True
    else:
        owned = False
    try:
        subs = scored_submissions(ledger, ch)
        chosen = ledger.selections(ch.id) if selection == "chosen" else {}
    finally:
        if owned:
            ledger.close()
    now = now or datetime.now(timezone.utc)
    if phase == "auto":
        phase = "public" if ch.spec.is_open(now) else "private"
    metric = get_metric(ch.spec.metrics.primary)
    if len(subs):
        chosen = select_per_team(subs, metric, selection, phase=phase, chosen=chosen)
    else:
        chosen = subs.assign(entries=pd.Series(dtype=int), selected_by=pd.Series(dtype=str),
                             run_id=pd.Series(dtype=int))
    score_col = f"{phase}.{metric.name}"
    table = pd.DataFrame({
        "team": chosen["team"],
        "score": chosen[score_col].astype(float),
        **{m: chosen[f"{phase}.{m}"].astype(float) for m in ch.spec.metrics.secondary},
        "entries": chosen["entries"],
        "selected_by": chosen["selected_by"],
        "submission_id": chosen["submission_id"],
        "run_id": chosen["run_id"],
        "submitted_at": chosen["submitted_at"],
    })
    if phase == "private":
        pub_rank = _rank(chosen[f"public.{metric.name}"].astype(float), metric)
        table.insert(2, "public_score", chosen[f"public.{metric.name}"].astype(float))
        table["public_rank"] = pub_rank
    unranked = int(table["score"].isna().sum())
    table = table.assign(rank=_rank(table["score"], metric))
    table.loc[table["score"].isna(), "rank"] = pd.NA
    table = table.assign(_k=table["score"].map(metric.sort_key))
    table = table.sort_values(["_k", "submitted_at", "submission_id"]).drop(columns="_k")
    if phase == "private":
        table["move"] = (table["public_rank"].astype("Float64") - table["rank"].astype("Float64")).astype("Int64")
    cols = ["rank", *[c for c in table.columns if c != "rank"]]
    table = table[cols].reset_index(drop=True)
    board = Leaderboard(challenge=ch, phase=phase, table=table, metric=metric,
                        generated_at=now.isoformat(timespec="seconds"), selection=selection, unranked=unranked)
    if unranked:
        board.notes.append(f"{unranked} team(s) have no {metric.name} on the {phase} split and are not ranked")
    return board


def choose_final(challenge, team: str, submission_ids, *, workdir=None, ledger: Ledger | None = None,
                 root=None) -> list[int]:
    """Record a team's choice of final submissions for the private board (the newest choice counts)."""
    ch = load_challenge(challenge, root=root)
    ids = sorted({int(i) for i in submission_ids})
    limit = ch.spec.submissions.final_selections
    if not ids:
        raise KitError("no submission chosen", fix="give the ids of your scored submissions (see `kit leaderboard`)")
    if len(ids) > limit:
        raise KitError(f"{len(ids)} submissions chosen; {ch.id} allows {limit}", fix=f"choose at most {limit}")
    if ledger is None:
        from ..grading.grader import DEFAULT_WORKDIR, open_ledger
        with open_ledger(workdir or DEFAULT_WORKDIR) as led:
            return choose_final(ch, team, ids, ledger=led)
    runs = ledger.latest_runs(ch.id).set_index("submission_id")
    for i in ids:
        if i not in runs.index or runs.loc[i, "team"] != team:
            raise KitError(f"submission {i} is not a submission of team {team!r} to {ch.id}",
                           fix="choose among the team's own submission ids")
        if runs.loc[i, "status"] != "scored":
            raise KitError(f"submission {i} is {runs.loc[i, 'status'] or 'not graded yet'}, not scored",
                           fix="choose scored submissions only")
    ledger.add_selection(ch.id, team, ids)
    return ids
