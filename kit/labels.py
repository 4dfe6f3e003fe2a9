"""The one reader of hidden labels.

Labels live in ``grading/<challenge>/labels.csv`` (case id, target columns, and the
public/private ``split`` of each test case). Three trusted parts of the kit need them,
all through :func:`read_labels`:

- the hidden grading notebook, which scores prediction files (:mod:`kit.scoring`);
- the board statistics (bootstrap intervals, the Ladder), which use only the cases of the
  board's own split: a public board never touches a private label;
- the data card's subgroup results and the release, after the challenge.

Participant code never runs in a process that imports this module with a path to the
labels: sandboxes do not even see the ``grading/`` folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import KitError

if TYPE_CHECKING:  # pragma: no cover
    from .challenge import Challenge

SPLITS = ("public", "private")


@dataclass(frozen=True)
class Labels:
    """The hidden labels of a challenge's test cases, in the labels file's case order."""

    challenge: Challenge
    frame: pd.DataFrame  # id column, target column(s), "split"
    path: Path

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ids(self) -> list[str]:
        return self.frame[self.challenge.spec.id_column].astype(str).tolist()

    @property
    def split(self) -> np.ndarray:
        """The split of every case (``public`` or ``private``)."""
        return self.frame["split"].to_numpy()

    def mask(self, split: str) -> np.ndarray:
        """Boolean mask of the cases of *split*."""
        if split not in SPLITS:
            raise KitError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
        return self.split == split

    def y_true(self, split: str | None = None) -> np.ndarray:
        """True values as the task's metrics take them (:meth:`kit.tasks.Task.y_true`; survival:
        two columns, event and time) of every case, or of *split*'s."""
        spec = self.challenge.spec
        y = spec.task_type.y_true(self.frame, spec)
        return y if split is None else y[self.mask(split)]


def read_labels(challenge: Challenge, path: str | os.PathLike[str] | None = None) -> Labels:
    """The labels of *challenge* (from *path*, default its ``labels`` file), checked for their columns."""
    spec = challenge.spec
    where = Path(path or challenge.path("labels"))
    try:
        frame = pd.read_csv(where, dtype={spec.id_column: str})
    except FileNotFoundError:
        raise KitError("the labels file does not exist", where=str(where), fix=f"run `kit prepare {spec.id}`") from None
    need = [spec.id_column, *spec.target, "split"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise KitError(
            f"labels file lacks column(s) {missing}",
            where=str(where),
            fix=f"run `kit prepare {spec.id}` to regenerate it",
        )
    bad = sorted(set(frame["split"].astype(str)) - set(SPLITS))
    if bad:
        raise KitError(
            f"labels file has unknown split value(s) {bad}",
            where=f"{where}: column 'split'",
            fix=f"use only {' and '.join(SPLITS)}; run `kit prepare {spec.id}` to regenerate it",
        )
    return Labels(challenge=challenge, frame=frame, path=where)


__all__ = ["SPLITS", "Labels", "read_labels"]
