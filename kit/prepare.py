"""Regenerate a challenge's data files deterministically from its bundled dataset.

``prepare(challenge)`` writes, from the spec's source dataset and seed:

- ``starter_kits/<id>/data/train.csv``: id, features, target(s)
- ``starter_kits/<id>/data/test.csv``: id, features
- ``starter_kits/<id>/data/sample_submission.csv``: id, a constant baseline prediction
- ``grading/<id>/labels.csv`` (hidden): id, target(s), ``split`` (public or private)

Files are built in a scratch folder and checked against the sha256 in the spec;
they replace the files in place only when they match (or with ``write_hashes``,
which records the new checksums in the spec), so a mismatch never clobbers the
data a challenge was run on.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .challenge import Challenge, load_challenge, sha256_file
from .datasets import load_dataset
from .errors import DataIntegrityError, Problem

ROLES = ("train", "test", "sample_submission", "labels")


@dataclass
class PreparedFile:
    role: str
    path: Path
    sha256: str
    expected: str
    rows: int

    @property
    def matches(self) -> bool:
        return self.sha256 == self.expected


def build_frames(challenge: Challenge) -> dict[str, pd.DataFrame]:
    """The four tables of a challenge, in memory, from its dataset and seed."""
    spec = challenge.spec
    ds = load_dataset(spec.source.dataset)
    frame = ds.frame.copy()
    missing = [t for t in spec.target if t not in frame.columns]
    if missing:
        raise DataIntegrityError(
            f"dataset {ds.name!r} has no column(s) {missing}",
            where="target",
            fix=f"set target to columns of the dataset: {list(frame.columns)}",
        )
    n = len(frame)
    rng = np.random.default_rng(spec.seed)
    # ids carry no information about the source row order
    order = rng.permutation(n)
    width = max(4, len(str(n)))
    ids = np.empty(n, dtype=object)
    ids[order] = [f"case-{i + 1:0{width}d}" for i in range(n)]
    frame.insert(0, spec.id_column, ids)

    stratify_col = spec.target[0] if spec.task in ("binary", "survival") else None
    idx = np.arange(n)
    train_idx, test_idx = train_test_split(
        idx,
        test_size=spec.split.test_fraction,
        random_state=spec.seed,
        stratify=frame[stratify_col].to_numpy() if stratify_col else None,
    )
    pub_idx, _ = train_test_split(
        test_idx,
        train_size=spec.split.public_fraction,
        random_state=spec.seed + 1,
        stratify=frame[stratify_col].to_numpy()[test_idx] if stratify_col else None,
    )

    train = frame.iloc[train_idx].sort_values(spec.id_column).reset_index(drop=True)
    test_full = frame.iloc[test_idx].copy()
    test_full["split"] = np.where(np.isin(test_idx, pub_idx), "public", "private")
    test_full = test_full.sort_values(spec.id_column).reset_index(drop=True)
    features = [c for c in frame.columns if c not in spec.target]
    test = test_full[features]
    labels = test_full[[spec.id_column, *spec.target, "split"]]

    if spec.task == "binary":
        baseline = round(float(train[spec.target[0]].mean()), 4)
    elif spec.task == "regression":
        baseline = round(float(train[spec.target[0]].mean()), 2)
    else:
        baseline = 0.0
    sample = pd.DataFrame({spec.id_column: test[spec.id_column], spec.predicted: baseline})
    return {"train": train, "test": test, "sample_submission": sample, "labels": labels}


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def prepare(challenge, *, root=None, write_hashes: bool = False) -> list[PreparedFile]:
    """Regenerate the challenge's files; verify (or record) their sha256."""
    ch = load_challenge(challenge, root=root)
    frames = build_frames(ch)
    results: list[PreparedFile] = []
    with tempfile.TemporaryDirectory(prefix=f"kit-prepare-{ch.id}-") as tmp:
        staged = {}
        for role in ROLES:
            p = Path(tmp) / role
            _write_csv(frames[role], p)
            staged[role] = p
            results.append(
                PreparedFile(role, ch.path(role), sha256_file(p), getattr(ch.spec.data, role).sha256, len(frames[role]))
            )
        bad = [r for r in results if not r.matches]
        if bad and not write_hashes:
            raise DataIntegrityError(
                f"regenerated files of {ch.id!r} do not match the sha256 in the spec; nothing was overwritten",
                where=str(ch.spec_path),
                problems=[
                    Problem(f"{r.role}: built {r.sha256[:12]}…, spec says {r.expected[:12]}…", where=str(r.path))
                    for r in bad
                ],
                fix=(
                    "if the spec's seed, split or dataset changed on purpose, run "
                    f"`kit prepare {ch.id} --write-hashes`; otherwise check the installed "
                    "scikit-learn / pandas versions"
                ),
            )
        for r in results:
            r.path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(staged[r.role], r.path)
    if write_hashes and any(not r.matches for r in results):
        _record_hashes(ch.spec_path, {r.role: r.sha256 for r in results})
    return results


def _keep_prefix(value: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement that keeps group 1 and puts *value* after it."""
    return lambda m: m.group(1) + value


def _record_hashes(spec_path: Path, hashes: dict[str, str]) -> None:
    """Rewrite the sha256 of each role in the YAML text, keeping comments and layout."""
    text = spec_path.read_text(encoding="utf-8")
    for role, digest in hashes.items():
        pattern = re.compile(rf"(\n\s+{role}:\s*\n(?:\s+path:.*\n)?\s+sha256:[ \t]*)(\S*)")
        text, n = pattern.subn(_keep_prefix(f'"{digest}"'), text, count=1)
        if n != 1:
            raise DataIntegrityError(
                f"could not find data.{role}.sha256 in the spec",
                where=str(spec_path),
                fix=f"write it as:\n  {role}:\n    path: ...\n    sha256: {digest}",
            )
    spec_path.write_text(text, encoding="utf-8")
