"""Regenerate a challenge's data files deterministically from its source and seed.

The source is a bundled dataset (``source.dataset``) or the organiser's own table
(``source.file``, CSV, Parquet or Excel, whose sha256 the spec records: a changed table
is refused, naming both checksums). ``prepare(challenge)`` writes:

- ``starter_kits/<id>/data/train.csv``: id, features, target(s)
- ``starter_kits/<id>/data/test.csv``: id, features
- ``starter_kits/<id>/data/sample_submission.csv``: id, the task's constant baseline
- ``grading/<id>/labels.csv`` (hidden): id, target(s), ``split`` (public or private)
- ``grading/<id>/labels.salt`` (hidden): the salt of the labels' commitment, made once
  (32 random bytes) and kept by every rebuild

The split is :func:`kit.splits.split_cases` (random, grouped by patient, or temporal).
Ids are generated from the seed (they carry nothing of the source's row order) unless
``source.id_column`` names the source's own. A group column (a patient number) is
replaced by seeded pseudonyms (``group-0001``): participants can still keep a patient's
rows together in their own validation, and never see the hospital's numbers.

Files are built in a scratch folder and checked against the spec: the sha256 of each
participant file, and the labels against their salted commitment
(``sha256(salt || labels bytes)``, :func:`kit.challenge.commit_labels`). They replace the
files in place only when they match (or with ``write_hashes``, which records the new
checksums and commitment in the spec, and makes the salt when there is none), so a
mismatch never clobbers the data a challenge was run on. The salt is never remade when it
exists: a rebuild gives the same commitment, byte for byte.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .challenge import (
    Challenge,
    ChallengeSpec,
    commit_labels,
    load_challenge,
    new_salt,
    read_salt,
    sha256_file,
    write_salt,
)
from .datasets import load_dataset
from .errors import DataIntegrityError, Problem
from .remedies import apply_remedies
from .splits import SplitResult, split_cases

ROLES = ("train", "test", "sample_submission", "labels")
#: the formats of an organiser's table, by file suffix
TABLE_SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
TABLE_SUFFIXES |= {".xlsx": "excel", ".xlsm": "excel", ".xls": "excel"}


@dataclass
class PreparedFile:
    """One rebuilt file and its check against the spec.

    ``digest``: what the spec records for it, computed from the rebuilt bytes: the sha256 of
    a participant file; for the labels, their salted commitment (never their plain sha256,
    which would let anyone who reads it check a guessed labels file). ``expected``: the
    spec's value. ``problem``: why the digest could not be computed ("" when it could).
    """

    role: str
    path: Path
    digest: str
    expected: str
    rows: int
    problem: str = ""

    @property
    def sha256(self) -> str:
        """The digest (the name of old callers): for the labels, the commitment, not a plain hash."""
        return self.digest

    @property
    def matches(self) -> bool:
        return not self.problem and self.digest == self.expected


@dataclass
class Built:
    """The four tables of a challenge and the split that made them."""

    frames: dict[str, pd.DataFrame]
    split: SplitResult
    notes: list[str] = field(default_factory=list)


# -- reading an organiser's table ----------------------------------------------------------
def read_table(path: str | os.PathLike[str], *, sheet: str | None = None) -> pd.DataFrame:
    """An organiser's table (CSV, TSV, Parquet or Excel), read by pandas; clear errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataIntegrityError(
            "the table does not exist or is not a file", where=str(path), fix="check the path given to --data"
        )
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataIntegrityError(
            f"unknown table format {path.suffix!r}",
            where=str(path),
            fix=f"save it as one of {', '.join(sorted(TABLE_SUFFIXES))}",
        )
    try:
        if kind in ("csv", "tsv"):
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                line = raw[: exc.start].count(b"\n") + 1
                raise DataIntegrityError(
                    f"the table is not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} "
                    f"(byte {exc.start}) cannot be decoded",
                    where=f"{path}: line {line}",
                    fix="save the file as UTF-8 (in a spreadsheet: 'CSV UTF-8'; or "
                    "iconv -f latin1 -t utf-8 in a shell)",
                ) from None
            frame = pd.read_csv(io.StringIO(text), sep="\t" if kind == "tsv" else ",")
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_excel(path, sheet_name=sheet or 0)
    except DataIntegrityError:
        raise
    except ImportError as exc:
        raise DataIntegrityError(
            f"reading {kind} files needs a package that is not installed ({exc})",
            where=str(path),
            fix="install challenge-kit with its dependencies (pyarrow, openpyxl), or save the table as CSV",
        ) from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataIntegrityError(
            f"pandas cannot read the table: {exc}", where=str(path), fix="check that it is a valid file of its format"
        ) from None
    if frame.columns.duplicated().any():
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise DataIntegrityError(
            f"column name(s) {dup} appear more than once", where=str(path), fix="give every column its own name"
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def source_path(challenge: Challenge) -> Path:
    """The organiser's table of a file-sourced challenge (relative paths are under the root)."""
    file = challenge.spec.source.file
    if file is None:
        raise DataIntegrityError("this challenge's source is a bundled dataset, not a file")
    p = Path(file)
    return p if p.is_absolute() else challenge.root / p


def load_source(challenge: Challenge) -> pd.DataFrame:
    """The source table of a challenge, its sha256 checked against the spec's first."""
    src = challenge.spec.source
    if src.dataset is not None:
        return load_dataset(src.dataset).frame.copy()
    path = source_path(challenge)
    if not path.is_file():
        raise DataIntegrityError(
            "the challenge's source table is missing",
            where=str(path),
            fix="put the organiser's table back at this path (the spec's source.file)",
        )
    if (got := sha256_file(path)) != src.sha256:
        raise DataIntegrityError(
            "the source table changed since the challenge was made: nothing was rebuilt",
            where=str(path),
            problems=[
                Problem(f"sha256 now {got}", where="file"),
                Problem(f"sha256 in the spec {src.sha256}", where="spec"),
            ],
            fix="restore the original table; if the change is deliberate, make the challenge again with "
            f"`kit new {challenge.id} --data {path} --force`",
        )
    return read_table(path, sheet=src.sheet)


# -- building the four tables ------------------------------------------------------------
def _generated_ids(n: int, seed: int) -> np.ndarray:
    """``case-0001``... in a seeded random order: ids carry nothing of the source's row order."""
    order = np.random.default_rng(seed).permutation(n)
    width = max(4, len(str(n)))
    ids = np.empty(n, dtype=object)
    ids[order] = [f"case-{i + 1:0{width}d}" for i in range(n)]
    return ids


def pseudonymise_groups(values: pd.Series, seed: int) -> pd.Series:
    """Each distinct group replaced by ``group-NNNN``, numbered in a seeded random order."""
    text = values.astype(str)
    uniq = np.array(sorted(text.unique()))
    order = np.random.default_rng(seed + 7).permutation(len(uniq))
    width = max(4, len(str(len(uniq))))
    names = {u: f"group-{order[i] + 1:0{width}d}" for i, u in enumerate(uniq)}
    return text.map(names)


def build(challenge: Challenge, source: pd.DataFrame | None = None) -> Built:
    """The four tables of a challenge, in memory, from its source and seed."""
    spec = challenge.spec
    frame = (load_source(challenge) if source is None else source).copy()
    return build_from_frame(spec, frame)


def build_from_frame(spec: ChallengeSpec, frame: pd.DataFrame) -> Built:
    """:func:`build` on a source table already in memory."""
    task = spec.task_type
    missing = [c for c in [*spec.target, *spec.source.drop] if c not in frame.columns]
    if missing:
        raise DataIntegrityError(
            f"the source has no column(s) {missing}",
            where="target" if set(missing) & set(spec.target) else "source.drop",
            fix=f"use columns of the source: {list(frame.columns)}",
        )
    # the temporal column may be used for the split and left out of the files (dates are identifying)
    when = frame[spec.split.temporal.column] if spec.split.temporal else None
    frame = apply_remedies(frame.drop(columns=list(spec.source.drop)), spec.source.remedies)
    if spec.source.id_column:
        ids = frame.pop(spec.source.id_column).astype(str).str.strip().to_numpy(dtype=object)
    else:
        ids = _generated_ids(len(frame), spec.seed)
    encoded = task.encode_target(frame, spec)
    for col in spec.target:
        frame[col] = encoded[col]
    groups = None
    if spec.split.group_column:
        frame[spec.split.group_column] = pseudonymise_groups(frame[spec.split.group_column], spec.seed)
        groups = frame[spec.split.group_column].to_numpy()
    temporal = (spec.split.temporal.column, spec.split.temporal.cutoff) if spec.split.temporal else None
    labels = task.stratify_labels(frame, spec) if spec.split.stratify else None
    split = split_cases(
        frame,
        test_fraction=spec.split.test_fraction,
        public_fraction=spec.split.public_fraction,
        seed=spec.seed,
        labels=labels,
        groups=groups,
        temporal=temporal,
        temporal_values=when,
    )
    frame.insert(0, spec.id_column, ids)

    train = frame.iloc[split.train].sort_values(spec.id_column).reset_index(drop=True)
    test_idx = np.concatenate([split.public, split.private])
    test_full = frame.iloc[test_idx].copy()
    test_full["split"] = np.where(np.isin(test_idx, split.public), "public", "private")
    test_full = test_full.sort_values(spec.id_column).reset_index(drop=True)
    features = [c for c in frame.columns if c not in spec.target]
    test = test_full[features]
    labels_frame = test_full[[spec.id_column, *spec.target, "split"]]
    sample = pd.DataFrame({spec.id_column: test[spec.id_column]})
    for col, value in task.constant_prediction(train, spec).items():
        sample[col] = value
    frames = {"train": train, "test": test, "sample_submission": sample, "labels": labels_frame}
    notes = []
    if len(split.dropped):
        notes.append(
            f"{len(split.dropped)} row(s) after the cut-off belong to groups already in training: left out of the test"
        )
    return Built(frames=frames, split=split, notes=notes)


def build_frames(challenge: Challenge) -> dict[str, pd.DataFrame]:
    """The four tables of a challenge, in memory, from its source and seed."""
    return build(challenge).frames


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def prepare(challenge, *, root=None, write_hashes: bool = False) -> list[PreparedFile]:
    """Regenerate the challenge's files; verify (or record) their sha256."""
    ch = load_challenge(challenge, root=root)
    frames = build_frames(ch)
    return write_tables(ch, frames, write_hashes=write_hashes)


def write_tables(ch: Challenge, frames: dict[str, pd.DataFrame], *, write_hashes: bool = False) -> list[PreparedFile]:
    """Write the four tables where the spec says, if they match its sha256 and commitment (or record them).

    The labels are checked against the spec's commitment with the salt of ``grading/<id>/labels.salt``.
    Without a salt (or with an old spec that holds the labels' plain sha256), ``write_hashes`` makes
    one (32 random bytes) and records the commitment; otherwise a missing salt is a mismatch.
    """
    results: list[PreparedFile] = []
    salt, make_salt = _labels_salt(ch, write_hashes=write_hashes)
    with tempfile.TemporaryDirectory(prefix=f"kit-prepare-{ch.id}-") as tmp:
        staged = {}
        for role in ROLES:
            p = Path(tmp) / role
            _write_csv(frames[role], p)
            staged[role] = p
            if role == "labels":
                results.append(_labels_result(ch, p, salt, len(frames[role]), migrate=write_hashes))
            else:
                expected = getattr(ch.spec.data, role).sha256
                results.append(PreparedFile(role, ch.path(role), sha256_file(p), expected, len(frames[role])))
        bad = [r for r in results if not r.matches]
        if bad and not write_hashes:
            raise DataIntegrityError(
                f"regenerated files of {ch.id!r} do not match the spec; nothing was overwritten",
                where=str(ch.spec_path),
                problems=[
                    Problem(r.problem, where=str(r.path))
                    if r.problem
                    else Problem(f"{r.role}: built {r.digest[:12]}…, spec says {r.expected[:12]}…", where=str(r.path))
                    for r in bad
                ],
                fix=(
                    "if the spec's seed, split or dataset changed on purpose (or the labels' salt is lost), run "
                    f"`kit prepare {ch.id} --write-hashes`; otherwise check the installed "
                    "scikit-learn / pandas versions"
                ),
            )
        for r in results:
            r.path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(staged[r.role], r.path)
    if make_salt and salt is not None:
        write_salt(ch.labels_salt_path, salt)
    if write_hashes and any(not r.matches for r in results):
        _record_hashes(ch.spec_path, {r.role: r.digest for r in results if not r.matches})
    return results


def _labels_salt(ch: Challenge, *, write_hashes: bool) -> tuple[str | None, bool]:
    """The salt of the labels' commitment, and whether it is new (to be written with the files).

    An existing salt is always kept. A new one is made only with ``write_hashes``, when there is
    none or the spec still holds the labels' plain sha256 (an old spec, migrated to a commitment).
    """
    if ch.labels_salt_path.exists():
        return read_salt(ch.labels_salt_path), False
    if write_hashes:
        return new_salt(), True
    return None, False


def _labels_result(ch: Challenge, staged: Path, salt: str | None, rows: int, *, migrate: bool) -> PreparedFile:
    labels = ch.spec.data.labels
    path = ch.path("labels")
    if labels.commitment is None and not migrate:  # an old spec, kept as it is: its plain sha256
        return PreparedFile("labels", path, sha256_file(staged), labels.expected, rows)
    if salt is None:
        return PreparedFile(
            "labels",
            path,
            "",
            labels.expected,
            rows,
            problem=f"labels: the salt of the commitment is missing ({ch.labels_salt_path})",
        )
    return PreparedFile("labels", path, commit_labels(staged.read_bytes(), salt), labels.expected, rows)


def _keep_prefix(value: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement that keeps group 1 and puts *value* after it."""
    return lambda m: m.group(1) + value


#: the key under which the spec records each role's digest
_DIGEST_KEY = {"labels": "commitment"}


def _record_hashes(spec_path: Path, hashes: dict[str, str]) -> None:
    """Rewrite the sha256 of each role (the commitment of the labels) in the YAML text, keeping
    comments and layout; an old ``sha256`` of the labels becomes their ``commitment``."""
    text = spec_path.read_text(encoding="utf-8")
    for role, digest in hashes.items():
        key = _DIGEST_KEY.get(role, "sha256")
        pattern = re.compile(rf"(\n\s+{role}:\s*\n(?:\s+path:.*\n)?\s+)(?:sha256|commitment):[ \t]*(\S*)")
        text, n = pattern.subn(_keep_prefix(f'{key}: "{digest}"'), text, count=1)
        if n != 1:
            raise DataIntegrityError(
                f"could not find data.{role}.{key} in the spec",
                where=str(spec_path),
                fix=f"write it as:\n  {role}:\n    path: ...\n    {key}: {digest}",
            )
    spec_path.write_text(text, encoding="utf-8")
