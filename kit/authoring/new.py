"""``kit new ID --data FILE``: a whole challenge from one clinician-annotated table.

:func:`new_challenge` reads the organiser's table (CSV, TSV, Parquet or Excel), checks it
(every problem named with its column or row and the fix), infers what it can (the task
type, the classes of a multiclass target, the times of survival metrics), splits it
(random, grouped by patient, or temporal: :mod:`kit.splits`), runs the privacy gate on
the tables participants will see, and writes, all at once:

- ``starter_kits/ID/``: ``challenge.yml`` (the spec, with the table's path and sha256),
  ``card.yml`` (every prose field of the data card, named and left for the organiser),
  ``data/`` (train, test without labels, sample submission), ``README.md``, ``starter.ipynb``;
- ``grading/ID/``: ``labels.csv`` (with the public/private split), ``labels.salt`` (the hidden salt
  of the labels' commitment, which the spec records instead of a hash of the labels) and ``grade.ipynb``.

Nothing is written unless everything succeeds: the challenge is built in a temporary folder
beside the root and moved into place at the end; an existing challenge is replaced only
with ``force=True``. The organiser's table is read, never copied: ``kit prepare ID``
rebuilds every file byte for byte from it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..challenge import (
    ID_PATTERN,
    SPEC_FILENAME,
    Challenge,
    commit_labels,
    find_root,
    new_salt,
    parse_spec,
    sha256_file,
    write_salt,
)
from ..errors import DataIntegrityError, Problem, SpecError
from ..prepare import ROLES, Built, build_from_frame, read_table
from ..remedies import parse_remedies
from ..tasks import get_task

#: a placeholder sha256 while the files do not exist yet (replaced before anything is written)
_PENDING = "0" * 64
#: missing-value spellings that do not make a numeric column "mixed"
_NA_TEXT = {"", "na", "n/a", "nan", "null", "none", "-", "?", "nd", "nr"}


@dataclass
class NewChallenge:
    """What :func:`new_challenge` made."""

    challenge: Challenge
    split: dict
    notes: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        ch = self.challenge
        return [
            ch.spec_path,
            ch.starter_dir / "card.yml",
            *(ch.path(r) for r in ROLES),
            ch.labels_salt_path,
            ch.starter_dir / "README.md",
            ch.starter_notebook,
            ch.grade_notebook,
        ]


# -- checks of the table -------------------------------------------------------------------------
def _near(name: str, columns: Sequence[str] | pd.Index) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(columns), n=1) or [c for c in columns if c.lower() == name.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _need_columns(frame: pd.DataFrame, names: Sequence[str], option: str) -> list[Problem]:
    return [
        Problem(
            f"the table has no column {n!r}{_near(n, frame.columns)}",
            where=option,
            fix=f"use one of the table's columns: {', '.join(map(str, frame.columns[:20]))}"
            + (" ..." if len(frame.columns) > 20 else ""),
        )
        for n in names
        if n not in frame.columns
    ]


def _rows(mask: np.ndarray | pd.Series) -> str:
    rows = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(r + 2) for r in rows[:5])  # the header is line 1
    return f"line{'s' if len(rows) > 1 else ''} {shown}" + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def mixed_type_problems(frame: pd.DataFrame, skip: Sequence[str] = ()) -> list[Problem]:
    """Text columns holding numbers and text both (``12``, ``13``, ``twelve``): a typing error."""
    out = []
    for col in frame.columns:
        if col in skip or pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_datetime64_any_dtype(frame[col]):
            continue
        values = frame[col].dropna().astype(str).str.strip()
        values = values[~values.str.lower().isin(_NA_TEXT)]
        if values.empty:
            continue
        numeric = pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce").notna()
        if numeric.any() and (~numeric).any() and numeric.mean() >= 0.5:
            bad = frame[col].astype(str).str.strip().isin(values[~numeric])
            out.append(
                Problem(
                    f"column {col!r} mixes numbers ({int(numeric.sum())} rows) and text "
                    f"({int((~numeric).sum())} rows, such as {values[~numeric].iloc[0]!r})",
                    where=f"column {col!r}, {_rows(bad)}",
                    fix="clean the text values (a missing value is an empty cell), or leave the column out with --drop",
                )
            )
    return out


def id_problems(frame: pd.DataFrame, id_column: str, target: Sequence[str]) -> list[Problem]:
    """Empty or duplicated ids, and ids that give the label away."""
    ids = frame[id_column].astype(str).str.strip()
    out = []
    empty = frame[id_column].isna() | (ids == "")
    if empty.any():
        out.append(
            Problem(
                f"{int(empty.sum())} row(s) have no id",
                where=f"column {id_column!r}, {_rows(empty)}",
                fix="give every row an id, or omit --id-column to have ids generated",
            )
        )
    dup = ids.duplicated(keep=False) & ~empty
    if dup.any():
        out.append(
            Problem(
                f"{int(ids[dup].nunique())} id(s) appear on more than one row, such as {ids[dup].iloc[0]!r}",
                where=f"column {id_column!r}, {_rows(dup)}",
                fix="ids must be unique (one row per case); for several rows per patient, pass the patient "
                "column as --group and omit --id-column",
            )
        )
    if not out and frame[target[0]].nunique(dropna=True) <= 20:  # a class-like target (or an event)
        leak = _id_leak(ids, frame[target[0]])
        if leak:
            out.append(
                Problem(
                    f"the ids give the label away: {leak}",
                    where=f"column {id_column!r}",
                    fix="omit --id-column (the kit then generates random ids), or recode the ids at random",
                )
            )
    return out


def _id_leak(ids: pd.Series, target: pd.Series) -> str:
    """How the ids predict a class target, or '' (their text prefix, or their order)."""
    y = target.astype(str)
    known = target.notna()
    prefix = ids.str.replace(r"[\d\W_]+$", "", regex=True)
    if prefix.nunique() > 1 and prefix.nunique() < len(ids) / 2:
        pure = (pd.crosstab(prefix[known], y[known]) > 0).sum(axis=1).eq(1).all()
        if pure:
            return (
                "the text part of each id names its class (e.g. "
                + ", ".join(f"{p!r} is always {y[prefix == p].iloc[0]!r}" for p in prefix.unique()[:2])
                + ")"
            )
    numbers = pd.to_numeric(ids.str.extract(r"(\d+)\s*$")[0], errors="coerce")
    if numbers.notna().all() and y[known].nunique() == 2:
        from sklearn.metrics import roc_auc_score

        codes = (y[known] == sorted(y[known].unique())[1]).astype(int)
        auc = roc_auc_score(codes, numbers[known])
        if max(auc, 1 - auc) >= 0.9:
            return f"the id numbers sort the cases by class (ROC AUC {max(auc, 1 - auc):.2f} from the id alone)"
    return ""


def infer_task(frame: pd.DataFrame, target: Sequence[str]) -> str:
    """survival for two target columns; binary for 0/1; multiclass for text or few whole numbers; else regression."""
    if len(target) == 2:
        return "survival"
    values = frame[target[0]].dropna()
    text = {str(v).strip().lower() for v in values.unique()}
    if text <= {"0", "1", "0.0", "1.0", "true", "false"}:
        return "binary"
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        return "multiclass"
    if (numbers == numbers.round()).all() and numbers.nunique() <= 10:
        return "multiclass"
    return "regression"


def _default_seed(challenge_id: str) -> int:
    return int(hashlib.sha256(challenge_id.encode()).hexdigest()[:6], 16)


# -- the spec and the card --------------------------------------------------------------------
def _spec_data(
    challenge_id: str,
    *,
    title: str,
    question: str,
    task: str,
    target: list[str],
    id_column: str,
    source: dict[str, Any],
    split: dict[str, Any],
    seed: int,
    primary: str,
    secondary: list[str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    from datetime import datetime, timedelta, timezone

    start = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    data: dict[str, Any] = {
        "schema_version": 1,
        "id": challenge_id,
        "title": title,
        "description": question,
        "task": task,
        "id_column": id_column,
        "target": target,
        **extra,
        "metrics": {"primary": primary, "secondary": [m for m in secondary if m != primary]},
        "split": split,
        "seed": seed,
        "submissions": {"per_day": 5, "total": 50, "final_selections": 2},
        "phases": [
            {"name": "development", "start": _iso(start), "end": _iso(start + timedelta(days=60))},
            {"name": "final", "start": _iso(start + timedelta(days=60)), "end": _iso(start + timedelta(days=67))},
        ],
        "limits": {
            "wall_seconds": 300,
            "cell_seconds": 120,
            "cpu_seconds": 300,
            "memory_mb": 2048,
            "processes": 64,
            "file_size_mb": 50,
            "output_mb": 10,
        },
        "source": source,
        "data": {
            "train": {"path": "data/train.csv", "sha256": _PENDING},
            "test": {"path": "data/test.csv", "sha256": _PENDING},
            "sample_submission": {"path": "data/sample_submission.csv", "sha256": _PENDING},
            "labels": {"path": "labels.csv", "commitment": _PENDING},
        },
    }
    return data


def _iso(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def spec_yaml(data: dict[str, Any]) -> str:
    """The spec as YAML, with the header comment of the shipped specs."""
    header = (
        f"# Challenge spec (schema version 1). Validate with: kit validate starter_kits/{data['id']}/{SPEC_FILENAME}\n"
        f"# Made by `kit new` from the organiser's table; `kit prepare {data['id']}` rebuilds the data files.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def card_template(spec, columns: Sequence[str], *, quasi_identifiers: Sequence[str] = ()) -> str:
    """``card.yml``: every prose field of :class:`kit.cards.schema.Card`, named, described and empty."""
    from pydantic import BaseModel

    from ..cards.schema import Card

    lines = [
        f"# Data card (card schema version 1) of the {spec.id} challenge, made by `kit new`.",
        "# Fill in every empty field: the card is built from this prose and from numbers computed from the",
        "# released files. Write what is not known as such ('Not reported by ...'); an empty field is an error.",
        "schema_version: 1",
    ]
    prefilled: dict[tuple[str, ...], Any] = {
        ("dataset", "name"): spec.title,
        ("dataset", "version"): "1.0.0",
        ("privacy", "allowed_identifiers"): [spec.id_column]
        + ([spec.split.group_column] if spec.split.group_column else []),
        ("privacy", "quasi_identifiers"): list(quasi_identifiers),
        ("privacy", "sensitive_attributes"): list(spec.target[:1]),
    }

    def emit(model: type[BaseModel], path: tuple[str, ...], indent: int) -> None:
        pad = "  " * indent
        for name, f in model.model_fields.items():
            if name in ("schema_version", "privacy_override", "winners"):
                continue
            ann = f.annotation
            sub = next(
                (a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)),
                None,
            )
            desc = f" # {f.description}" if f.description else ""
            key = (*path, name)
            if sub is not None:
                if not f.is_required() and name not in ("licence",):
                    continue
                lines.append(f"{pad}{name}:{desc}")
                emit(sub, key, indent + 1)
            elif name == "columns" and path == ("composition",):
                lines.append(f"{pad}columns:{desc}")
                for c in columns:
                    lines.append(f"{pad}  {yaml.safe_dump(str(c)).strip().removesuffix('...').strip()}:")
            elif key in prefilled:
                value = yaml.safe_dump(prefilled[key], default_flow_style=True, width=1000).strip()
                value = value.removesuffix("...").strip()
                lines.append(f"{pad}{name}: {value}{desc}")
            elif f.is_required():
                lines.append(f"{pad}{name}:{desc}")

    emit(Card, (), 0)
    return "\n".join(lines) + "\n"


# -- the whole command ---------------------------------------------------------------------------
def new_challenge(
    challenge_id: str,
    data: str | os.PathLike[str],
    *,
    target: Sequence[str],
    root: str | os.PathLike[str] | None = None,
    task: str | None = None,
    id_column: str | None = None,
    group: str | None = None,
    stratify: bool = True,
    temporal: tuple[str, str] | None = None,
    test_fraction: float = 0.4,
    public_fraction: float = 0.5,
    seed: int | None = None,
    drop: Sequence[str] = (),
    primary: str | None = None,
    secondary: Sequence[str] | None = None,
    title: str | None = None,
    question: str | None = None,
    classes: Sequence[str] | None = None,
    ordinal: bool = False,
    times: Sequence[float] | None = None,
    positive_label: str | None = None,
    sheet: str | None = None,
    quasi_identifiers: Sequence[str] = (),
    remedies: Sequence[Any] = (),
    force: bool = False,
) -> NewChallenge:
    """Make challenge *challenge_id* from the table *data*; see the module's docstring.

    Raises
    ------
    SpecError
        A bad id or option, or a challenge of that id exists (without ``force``).
    DataIntegrityError
        The table cannot be used as it is: every problem is listed with its column or line.
    ReleaseBlocked
        The privacy gate blocks the tables participants would receive.
    """
    base = find_root(root)
    if not re.match(ID_PATTERN, challenge_id):
        raise SpecError(
            f"{challenge_id!r} is not a valid challenge id",
            where="ID",
            fix="use 2-63 lower-case letters, digits and dashes, starting with a letter or digit",
        )
    starter, grading = base / "starter_kits" / challenge_id, base / "grading" / challenge_id
    existing = [p for p in (starter, grading) if p.exists()]
    if existing and not force:
        raise SpecError(
            f"a challenge {challenge_id!r} exists already",
            where=", ".join(map(str, existing)),
            fix="choose another id, or pass --force to replace it (its files are replaced, its ledger is kept)",
        )
    path = Path(data).resolve()
    target = [t.strip() for t in target if t.strip()]
    if not target:
        raise SpecError("no target column given", where="--target", fix="pass --target COLUMN (survival: EVENT,TIME)")
    frame = read_table(path, sheet=sheet)
    where = str(path)

    problems = _need_columns(frame, target, "--target")
    problems += _need_columns(frame, [c for c in (id_column, group) if c], "--id-column / --group")
    problems += _need_columns(frame, list(drop), "--drop")
    remedies = parse_remedies(remedies, where="remedies")
    problems += _need_columns(frame, [r.column for r in remedies], "remedies (--age-bands, --date-to, ...)")
    if temporal:
        problems += _need_columns(frame, [temporal[0]], "--temporal")
    if problems:
        raise DataIntegrityError(f"{len(problems)} problem(s) with the columns given", where=where, problems=problems)
    if len(frame) == 0:
        raise DataIntegrityError("the table has no rows", where=where, fix="export the table with its rows")

    task = task or infer_task(frame, target)
    task_type = get_task(task)
    options: dict[str, Any] = {"classes": list(classes) if classes else None}
    problems = task_type.target_problems(frame, target, **options)
    missing_target = frame[target].isna().any(axis=1)
    if missing_target.any():
        problems.append(
            Problem(
                f"{int(missing_target.sum())} row(s) have no target value",
                where=f"column(s) {', '.join(map(repr, target))}, {_rows(missing_target)}",
                fix="drop the rows without a label first (a case without a label cannot be scored)",
            )
        )
    skip = [*target, *drop, *(c for c in (id_column, group) if c), *(r.column for r in remedies)]
    problems += mixed_type_problems(frame, skip=skip)
    if id_column:
        problems += id_problems(frame, id_column, target)
    if group:
        n_groups = frame[group].nunique(dropna=True)
        if frame[group].isna().any():
            problems.append(
                Problem(
                    f"{int(frame[group].isna().sum())} row(s) have no {group!r}",
                    where=f"column {group!r}, {_rows(frame[group].isna())}",
                    fix="give every row its patient (group), or drop those rows",
                )
            )
        if n_groups < 2:
            problems.append(
                Problem(
                    f"the group column {group!r} has {n_groups} group(s): every row would be one patient",
                    where=f"column {group!r}",
                    fix="pass the column that identifies the patient, or no --group",
                )
            )
    if problems:
        raise DataIntegrityError(
            f"{len(problems)} problem(s) in the table: nothing was written", where=where, problems=problems
        )

    inferred = task_type.infer_options(frame, target)
    extra: dict[str, Any] = task_type.spec_options(inferred, classes=classes, ordinal=ordinal, times=times)
    if positive_label:
        extra["positive_label"] = positive_label

    id_name = "case_id" if not id_column or id_column == "case_id" else id_column
    try:
        rel = path.relative_to(base)
        source_file = rel.as_posix()
    except ValueError:
        source_file = str(path)
    source: dict[str, Any] = {"file": source_file, "sha256": sha256_file(path)}
    if sheet:
        source["sheet"] = sheet
    if id_column:
        source["id_column"] = id_column
    if drop:
        source["drop"] = list(drop)
    if remedies:
        source["remedies"] = [r.spec() for r in remedies]
    split: dict[str, Any] = {"test_fraction": test_fraction, "public_fraction": public_fraction}
    if group:
        split["group_column"] = group
    if not stratify:
        split["stratify"] = False
    if temporal:
        split["temporal"] = {"column": temporal[0], "cutoff": str(temporal[1])}

    probe = parse_spec(
        _spec_data(
            challenge_id,
            title="t",
            question="q",
            task=task,
            target=target,
            id_column=id_name,
            source=source,
            split=split,
            seed=0,
            primary=primary or task_type.default_metric(None),
            secondary=[],
            extra=extra,
        ),
        source="kit new options",
    )
    primary = primary or task_type.default_metric(probe)
    secondary = list(secondary) if secondary is not None else task_type.default_secondary(probe)
    spec_data = _spec_data(
        challenge_id,
        title=title or f"{challenge_id}: predict {', '.join(target)}",
        question=question
        or f"Predict {' and '.join(target)} from the other columns of the table: a {task_type.title} task.",
        task=task,
        target=target,
        id_column=id_name,
        source=source,
        split=split,
        seed=_default_seed(challenge_id) if seed is None else seed,
        primary=primary,
        secondary=secondary,
        extra=extra,
    )
    spec = parse_spec(spec_data, source="kit new options")
    built = build_from_frame(spec, frame)
    before = None
    if remedies:  # the same split without them: what the remedies changed
        plain = spec.model_copy(update={"source": spec.source.model_copy(update={"remedies": []})})
        before = build_from_frame(plain, frame)
    risk_note = _privacy_gate(spec, built, quasi_identifiers, before=before)
    made = _write(base, spec_data, built, frame.columns, quasi_identifiers, force=force)
    made.notes.append(risk_note)
    return made


def _privacy_gate(spec, built: Built, quasi_identifiers: Sequence[str], *, before: Built | None = None) -> str:
    """The gate on the tables participants receive (and, after the event, the labels): raises if blocked.

    Direct identifiers, and k-anonymity on the declared quasi-identifiers, block. The residual
    re-identification risk (the three criteria, with quasi-identifiers found automatically) is
    assessed and returned as a note: it is judged, and overridden or remedied, at the release.
    With the tables ``before`` the spec's remedies, the note says what they changed.
    """
    from ..cards.schema import PrivacyPolicy
    from ..privacy import check_release
    from ..privacy.gate import GENERALISED, spec_options

    allowed = [spec.id_column] + ([spec.split.group_column] if spec.split.group_column else [])
    policy = PrivacyPolicy(
        quasi_identifiers=list(quasi_identifiers),
        sensitive_attributes=[],
        allowed_identifiers=allowed,
    )
    frames = {k: built.frames[k] for k in ("train", "test", "labels")}
    opts = spec_options(spec)
    report = check_release(frames, policy, criteria=False, **opts)
    from ..privacy.criteria import assess_risk

    key, exclude = opts["key"], opts["exclude"]
    risk = assess_risk(frames, policy, key=key, exclude=exclude, seed=spec.seed)
    note = "".join(f"privacy gate: {w}\n" for w in report.warnings if GENERALISED in w)
    note += "re-identification risk (judged at the release; see the card): " + risk.summary().replace("\n", "; ")
    if before is not None:
        plain = {k: before.frames[k] for k in frames}
        was = assess_risk(plain, policy, key=key, exclude=exclude, seed=spec.seed)
        note += "\nremedies (" + "; ".join(r.describe() for r in spec.source.remedies) + "): " + risk.change_from(was)
    return note


def _write(base: Path, spec_data: dict, built: Built, columns, quasi_identifiers, *, force: bool) -> NewChallenge:
    from ..prepare import _write_csv
    from .notebooks import write_notebooks

    cid = spec_data["id"]
    (base / "starter_kits").mkdir(parents=True, exist_ok=True)
    (base / "grading").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".kit-new-{cid}-", dir=base))
    try:
        stage = Challenge(parse_spec(spec_data, source="kit new"), tmp)
        for role in ROLES:
            _write_csv(built.frames[role], stage.path(role))
            if role == "labels":  # a salted commitment, never a plain hash of the hidden labels
                salt = new_salt()
                write_salt(stage.labels_salt_path, salt)
                spec_data["data"][role]["commitment"] = commit_labels(stage.path(role).read_bytes(), salt)
            else:
                spec_data["data"][role]["sha256"] = sha256_file(stage.path(role))
        stage.spec_path.write_text(spec_yaml(spec_data), encoding="utf-8")
        stage = Challenge(parse_spec(yaml.safe_load(stage.spec_path.read_text(encoding="utf-8"))), tmp)
        stage.verify()
        out_columns = [c for c in built.frames["train"].columns]
        (stage.starter_dir / "card.yml").write_text(
            card_template(stage.spec, [*out_columns, "split"], quasi_identifiers=quasi_identifiers), encoding="utf-8"
        )
        write_notebooks(stage)
        _move_into_place(tmp, base, cid, force=force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ch = Challenge(stage.spec, base)
    return NewChallenge(challenge=ch, split=built.split.summary(), notes=built.notes)


def _move_into_place(tmp: Path, base: Path, cid: str, *, force: bool) -> None:
    """Move the staged folders in; with *force*, the old ones are kept aside until both moves succeed."""
    pairs = [(tmp / "starter_kits" / cid, base / "starter_kits" / cid), (tmp / "grading" / cid, base / "grading" / cid)]
    aside: list[tuple[Path, Path]] = []
    moved: list[Path] = []
    try:
        for _, dst in pairs:
            if dst.exists():
                if not force:
                    raise SpecError(f"a challenge {cid!r} exists already", where=str(dst), fix="pass --force")
                old = tmp / f"old-{dst.parent.name}"
                os.replace(dst, old)
                aside.append((old, dst))
        for src, dst in pairs:
            os.replace(src, dst)
            moved.append(dst)
    except BaseException:
        for dst in moved:
            shutil.rmtree(dst, ignore_errors=True)
        for old, dst in aside:
            os.replace(old, dst)
        raise


__all__ = ["NewChallenge", "card_template", "infer_task", "new_challenge", "spec_yaml"]
