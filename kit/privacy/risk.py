"""Re-identification risk of the released records: k-anonymity and l-diversity.

On the columns the challenge's :class:`~kit.cards.schema.PrivacyPolicy` declares
(quasi-identifiers, sensitive attributes), :func:`assess_anonymity` measures k (the
smallest group of records with equal quasi-identifiers) and l (the fewest distinct
sensitive values in a group) over all released records, and the k that numeric
quasi-identifiers would reach in bands of a few widths (to suggest a remedy).
k and l are computed with pycanon when it is installed, else with pandas (the same
definitions); pycanon is optional and imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..cards.schema import PrivacyPolicy
from ..errors import Problem
from .detectors import MAX_EXAMPLES

BAND_WIDTHS = (2, 5, 10, 20)


# -- k-anonymity and l-diversity ----------------------------------------------------------------
@dataclass(frozen=True)
class AnonymityCheck:
    """k-anonymity and l-diversity of the released records on the policy's columns."""

    quasi_identifiers: tuple[str, ...]
    sensitive_attributes: tuple[str, ...]
    n_records: int
    n_classes: int
    k: int
    k_threshold: int
    records_below_k: int
    records_unique: int  # records alone in their group (k = 1 for them)
    k_examples: tuple[str, ...]  # "frame:row" of records in classes smaller than the threshold
    #: the measure's own name (also a key of :meth:`kit.privacy.PrivacyReport.to_dict`)
    l: int | None  # noqa: E741
    l_threshold: int
    classes_below_l: int
    l_examples: tuple[str, ...]
    engine: str
    suggestion: str = ""
    #: k after generalising numeric quasi-identifiers to bands of these widths
    banded_k: tuple[tuple[int, int], ...] = ()

    @property
    def k_ok(self) -> bool:
        return self.k >= self.k_threshold

    @property
    def l_ok(self) -> bool:
        return self.l is None or self.l >= self.l_threshold

    def problems(self) -> list[Problem]:
        out = []
        qi = ", ".join(self.quasi_identifiers)
        if not self.k_ok:
            out.append(
                Problem(
                    f"k-anonymity: k = {self.k} on ({qi}), the policy requires k >= {self.k_threshold}; "
                    f"{self.records_below_k} of {self.n_records} records are in smaller groups, "
                    f"e.g. {', '.join(self.k_examples)}",
                    where="privacy.k_anonymity",
                    fix=self.suggestion or "generalise or drop quasi-identifiers until every group is large enough",
                )
            )
        if not self.l_ok:
            out.append(
                Problem(
                    f"l-diversity: l = {self.l} for ({', '.join(self.sensitive_attributes)}) within groups of ({qi}), "
                    f"the policy requires l >= {self.l_threshold}; {self.classes_below_l} group(s) fall short, "
                    f"e.g. records {', '.join(self.l_examples)}",
                    where="privacy.l_diversity",
                    fix="generalise the quasi-identifiers so that each group mixes more sensitive values",
                )
            )
        return out


def _release_table(frames: Mapping[str, pd.DataFrame], policy: PrivacyPolicy, key: str | None):
    """One row per released person with the quasi-identifiers and sensitive attributes."""
    qi = list(policy.quasi_identifiers)
    sa = list(policy.sensitive_attributes)
    problems = []
    people = [n for n in frames if all(c in frames[n].columns for c in qi)]
    if not people:
        missing = [c for c in qi if not any(c in f.columns for f in frames.values())]
        problems.append(
            Problem(
                f"quasi-identifier(s) {missing or qi} are not together in any released table",
                where="privacy.quasi_identifiers",
                fix="name columns that exist in the released tables (check the spelling)",
            )
        )
        return None, problems
    parts = []
    for name in people:
        f = frames[name]
        part = f[[c for c in dict.fromkeys(qi + sa + ([key] if key else [])) if c in f.columns]].copy()
        part["_where"] = [f"{name}:{i}" for i in range(len(f))]
        for s in sa:
            if s in part.columns:
                continue
            sources = [
                frames[o][[key, s]]
                for o in frames
                if key and o != name and key in frames[o].columns and s in frames[o].columns
            ]
            if key in part.columns and sources:
                lookup = pd.concat(sources).drop_duplicates(key)
                part = part.merge(lookup, on=key, how="left")
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    if key and key in table.columns:
        table = table.drop_duplicates(subset=key, keep="first").reset_index(drop=True)
    for s in sa:
        if s not in table.columns:
            problems.append(
                Problem(
                    f"sensitive attribute {s!r} is not in any released table "
                    f"{'linked by ' + repr(key) if key else ''}".rstrip(),
                    where="privacy.sensitive_attributes",
                    fix="name columns that exist in the released tables (check the spelling)",
                )
            )
    return table, problems


def _k_l(table: pd.DataFrame, qi: list[str], sa: list[str]):
    """(k, l, engine) computed with pycanon when it is installed, else with pandas (same definitions)."""
    try:
        import pycanon
        from pycanon import anonymity
    except ImportError:
        anonymity = None
    if anonymity is not None:
        k = int(anonymity.k_anonymity(table, qi))
        l_value = int(anonymity.l_diversity(table, qi, sa)) if sa else None
        return k, l_value, f"pycanon {getattr(pycanon, '__version__', '')}".strip()
    groups = table.groupby(qi, dropna=False, sort=False)
    k = int(groups.size().min())
    l_value = int(groups[sa].nunique().min(axis=1).min()) if sa else None
    return k, l_value, "pandas"


def _strings(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Columns as strings, missing values as their own value: equality as an attacker sees it."""
    return pd.DataFrame({c: table[c].astype("string").fillna("<missing>").astype(str) for c in columns})


def _banded_k(table: pd.DataFrame, qi: list[str], width: int) -> int | None:
    numeric = [c for c in qi if pd.api.types.is_numeric_dtype(table[c]) and table[c].nunique() > 2]
    if not numeric:
        return None
    banded = table[qi].copy()
    for c in numeric:
        banded[c] = np.floor(table[c] / width) * width
    return int(_strings(banded, qi).groupby(qi, sort=False).size().min())


def assess_anonymity(
    frames: Mapping[str, pd.DataFrame], policy: PrivacyPolicy, *, key: str | None = None
) -> tuple[AnonymityCheck | None, list[Problem]]:
    """k-anonymity and l-diversity on the policy's columns over all released records."""
    qi = list(policy.quasi_identifiers)
    sa = list(policy.sensitive_attributes)
    if not qi:
        return None, []
    table, problems = _release_table(frames, policy, key)
    if table is None or problems:
        return None, problems
    strings = _strings(table, qi + sa)
    groups = strings.groupby(qi, sort=False)
    sizes = groups[qi[0]].transform("size").to_numpy()
    where = table["_where"].to_numpy()
    small = sizes < policy.k_anonymity
    l_rows = np.zeros(len(table), dtype=bool)
    classes_below_l = 0
    with_sa = strings
    if sa:
        # records without a sensitive value say nothing about it; l is measured on the others
        keep = table[sa].notna().all(axis=1).to_numpy()
        with_sa = strings[keep]
        distinct = with_sa.groupby(qi, sort=False)[sa].transform("nunique").min(axis=1).to_numpy()
        below = distinct < policy.l_diversity
        l_rows[np.flatnonzero(keep)[below]] = True
        classes_below_l = int(with_sa[below].groupby(qi, sort=False).ngroups) if below.any() else 0
    k, l_value, engine = _k_l(strings.reset_index(drop=True), qi, [])
    if sa:
        _, l_value, _ = _k_l(with_sa.reset_index(drop=True), qi, sa)
    banded = tuple((w, bk) for w in BAND_WIDTHS if (bk := _banded_k(table, qi, w)) is not None)
    suggestion = ""
    if k < policy.k_anonymity:
        reach = next(((w, bk) for w, bk in banded if bk >= policy.k_anonymity), None)
        numeric = [c for c in qi if pd.api.types.is_numeric_dtype(table[c]) and table[c].nunique() > 2]
        if reach:
            suggestion = (
                f"generalise {', '.join(numeric)} to bands of width {reach[0]} (gives k = {reach[1]}), "
                "or drop a quasi-identifier"
            )
        else:
            suggestion = "drop or coarsen quasi-identifiers (bands of width up to 20 are not enough)"
    check = AnonymityCheck(
        quasi_identifiers=tuple(qi),
        sensitive_attributes=tuple(sa),
        n_records=len(table),
        n_classes=int(groups.ngroups),
        k=k,
        k_threshold=policy.k_anonymity,
        records_below_k=int(small.sum()),
        records_unique=int((sizes == 1).sum()),
        k_examples=tuple(where[small][:MAX_EXAMPLES]),
        l=l_value,
        l_threshold=policy.l_diversity,
        classes_below_l=classes_below_l,
        l_examples=tuple(where[l_rows][:MAX_EXAMPLES]),
        engine=engine,
        suggestion=suggestion,
        banded_k=banded,
    )
    return check, []
