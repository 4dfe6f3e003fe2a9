"""The three anonymisation criteria of the EDPB (opinion 05/2014 of the Article 29 Working Party), assessed.

The CNIL and the EDPB call data anonymous when none of these three risks remains:

- **singling out** (*individualisation*): can a record be isolated? Quasi-identifiers are
  found automatically (:func:`~kit.privacy.risk.candidate_kind`: ages, sex, dates,
  geography, low-cardinality categories and codes; not identifiers, free text, or the
  columns in ``exclude`` such as the target) and every combination of up to
  ``max_combination`` of them is ranked by the share of records it makes unique; the
  riskiest are reported, with the declared quasi-identifiers. k-anonymity is measured on
  the declared quasi-identifiers, or else on the riskiest combination found, with the
  records at risk (in groups smaller than the policy's k).
- **inference**: can a sensitive value be deduced? Within the groups of equal
  quasi-identifiers: l-diversity (distinct sensitive values) and t-closeness (the
  distance of a group's distribution to the whole release's: the earth mover's distance
  over ordered values for numeric or ordered attributes, the variational distance for
  categorical ones, as in Li, Li and Venkatasubramanian 2007). Homogeneous groups (two or
  more records sharing one sensitive value: the real inference risk) are reported apart
  from singletons (one record: a singling-out risk that also discloses its value).
- **linkability**: can a record be linked to another dataset about the same person?
  With a ``reference`` table of population counts per quasi-identifier combination
  (e.g. census marginals), the share of released records whose combination is held by
  fewer than k people in the population (population uniqueness); without one, the share
  of records unique on the quasi-identifiers in the release itself (sample uniqueness, a
  conservative stand-in). The method used is named in the report.

:func:`assess_risk` returns a :class:`RiskAssessment`: one part per criterion, each with
its measure, threshold, status, records at risk (counts, and rows as ``"table:row"``,
never values) and method; :meth:`RiskAssessment.problems` gives one actionable
:class:`~kit.errors.Problem` per failed criterion (homogeneous groups and singletons
apart). Thresholds: the policy's ``k_anonymity``, ``l_diversity`` and ``t_closeness``
(default :data:`DEFAULT_T_CLOSENESS`), and ``max_linkable_share`` (default 0: no record
rarer than k in the population, or unique in the release).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from ..cards.schema import PrivacyPolicy
from ..errors import Problem
from .detectors import MAX_EXAMPLES
from .risk import (
    SEARCH_ROWS,
    Combination,
    Search,
    banded_suggestion,
    candidate_kind,
    combination,
    distinct_per_class,
    encode,
    encoded,
    group_ids,
    is_ordered,
    normalised,
    ordered_distance,
    ranks,
    release_records,
    search_quasi_identifiers,
    variational_distance,
)

#: the t-closeness threshold when the policy has none (Li et al. 2007 discuss 0.15 to 0.2)
DEFAULT_T_CLOSENESS = 0.2
#: the share of records allowed to be linkable (rarer than k in the population, or unique in the release)
DEFAULT_MAX_LINKABLE_SHARE = 0.0
#: the column of a reference table that holds the population count of each combination
REFERENCE_COUNT = "count"

PASSED, FAILED, NOT_ASSESSED = "passed", "failed", "not assessed"
_EPS = 1e-9  # distances within this of the threshold meet it (floating point)


def _examples(where: np.ndarray, mask: np.ndarray) -> tuple[str, ...]:
    return tuple(str(w) for w in where[mask][:MAX_EXAMPLES])


def _cols(columns: Iterable[str]) -> str:
    return ", ".join(columns)


# -- the criteria -------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Criterion:
    """What every criterion reports: status, method, records at risk (count and ``"table:row"`` examples)."""

    name: ClassVar[str] = ""
    status: str  # passed, failed or not assessed
    method: str
    records_at_risk: int = 0
    examples: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def headline(self) -> str:
        """The measure against its threshold, in a few words."""
        return self.method

    def problems(self) -> list[Problem]:
        return []

    def to_dict(self) -> dict:
        return {"criterion": self.name, "headline": self.headline()} | asdict(self)


@dataclass(frozen=True, kw_only=True)
class SinglingOut(Criterion):
    """Can a record be isolated? k-anonymity on the declared or the riskiest found quasi-identifiers."""

    name: ClassVar[str] = "singling out"
    quasi_identifiers: tuple[str, ...] = ()
    source: str = "none"  # declared, search (the riskiest combination found) or none
    n_records: int = 0
    n_classes: int = 0
    k: int | None = None
    k_threshold: int = 1
    records_unique: int = 0
    #: the riskiest combinations found (riskiest first), then the declared one when it is not among them
    combinations: tuple[Combination, ...] = ()
    candidates: tuple[tuple[str, str], ...] = ()  # (column, kind) the search considered
    suggestion: str = ""
    banded_k: tuple[tuple[int, int], ...] = ()

    @property
    def undeclared(self) -> tuple[str, ...]:
        """Columns of the riskiest combinations found that the policy does not declare (when it declares some)."""
        if self.source != "declared":
            return ()
        declared = set(self.quasi_identifiers)
        found = [c for comb in self.combinations if not comb.declared for c in comb.columns]
        return tuple(c for c in dict.fromkeys(found) if c not in declared)

    def headline(self) -> str:
        if self.k is None:
            return self.method
        return (
            f"k = {self.k} on ({_cols(self.quasi_identifiers)}), threshold {self.k_threshold}; "
            f"{self.records_at_risk} of {self.n_records} records at risk, {self.records_unique} unique"
        )

    def problems(self) -> list[Problem]:
        if not self.failed:
            return []
        how = "the declared quasi-identifiers" if self.source == "declared" else "the riskiest combination found"
        riskier = (
            f"; the search found riskier combinations with ({_cols(self.undeclared)}): declare them if an "
            "outsider could know them"
            if self.undeclared
            else ""
        )
        return [
            Problem(
                f"singling out: k = {self.k} on ({_cols(self.quasi_identifiers)}) ({how}), the policy requires "
                f"k >= {self.k_threshold}; {self.records_at_risk} of {self.n_records} records are in smaller "
                f"groups ({self.records_unique} alone), e.g. {', '.join(self.examples)}{riskier}",
                where="privacy.k_anonymity",
                fix=self.suggestion or "generalise or drop quasi-identifiers until every group is large enough",
            )
        ]

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["combinations"] = [c.to_dict() for c in self.combinations]
        out["undeclared"] = list(self.undeclared)
        return out


@dataclass(frozen=True, kw_only=True)
class Inference(Criterion):
    """Can a sensitive value be deduced? l-diversity and t-closeness within groups of equal quasi-identifiers."""

    name: ClassVar[str] = "inference"
    quasi_identifiers: tuple[str, ...] = ()
    sensitive_attributes: tuple[str, ...] = ()
    #: (attribute, distance): "earth mover's (ordered)" or "variational"
    distances: tuple[tuple[str, str], ...] = ()
    n_records: int = 0  # records with every sensitive value
    n_classes: int = 0
    l: int | None = None  # noqa: E741
    l_threshold: int = 1
    t: float | None = None  # the largest distance over every group, singletons included (Li et al.)
    t_threshold: float = DEFAULT_T_CLOSENESS
    t_without_singletons: float | None = None  # over groups of two or more records
    #: groups of two or more records that share one sensitive value
    homogeneous_classes: int = 0
    homogeneous_records: int = 0
    homogeneous_examples: tuple[str, ...] = ()
    #: records alone in their group (their sensitive value goes with singling them out)
    singletons: int = 0
    singleton_examples: tuple[str, ...] = ()
    singletons_fail: bool = False  # singletons break l or t
    #: groups of two or more records with 2 to l-1 distinct sensitive values
    low_diversity_classes: int = 0
    low_diversity_records: int = 0
    #: groups of two or more records farther than t from the whole
    classes_above_t: int = 0
    records_above_t: int = 0
    t_examples: tuple[str, ...] = ()

    def headline(self) -> str:
        if self.l is None or self.t is None:
            return self.method
        return (
            f"l = {self.l} (threshold {self.l_threshold}), t = {self.t:.3f} (threshold {self.t_threshold}); "
            f"{self.homogeneous_classes} homogeneous group(s) ({self.homogeneous_records} records), "
            f"{self.singletons} singleton(s)"
        )

    def problems(self) -> list[Problem]:
        if not self.failed:
            return []
        qi, sa = _cols(self.quasi_identifiers), _cols(self.sensitive_attributes)
        out = []
        if self.homogeneous_classes or self.low_diversity_classes:
            parts = []
            if self.homogeneous_classes:
                parts.append(
                    f"{self.homogeneous_classes} group(s) of two or more records with equal ({qi}) share one value "
                    f"of ({sa}) ({self.homogeneous_records} records, e.g. {', '.join(self.homogeneous_examples)}): "
                    f"whoever knows a person's ({qi}) learns it"
                )
            if self.low_diversity_classes:
                parts.append(
                    f"{self.low_diversity_classes} group(s) ({self.low_diversity_records} records) have fewer than "
                    f"{self.l_threshold} distinct values"
                )
            out.append(
                Problem(
                    f"inference (homogeneous groups): {'; '.join(parts)}; l = {self.l}, the policy requires "
                    f"l >= {self.l_threshold}",
                    where="privacy.l_diversity",
                    fix=f"generalise ({qi}) so that each group mixes at least {self.l_threshold} values of ({sa}), "
                    "or suppress these groups",
                )
            )
        if self.singletons and self.singletons_fail:
            out.append(
                Problem(
                    f"inference (singletons): {self.singletons} record(s) are alone in their group of ({qi}), so "
                    f"whoever singles one out also learns its ({sa}), e.g. {', '.join(self.singleton_examples)}",
                    where="privacy.l_diversity",
                    fix=f"merge them into larger groups: generalise ({qi}) (the singling-out fix) or suppress them",
                )
            )
        if self.classes_above_t:
            out.append(
                Problem(
                    f"inference (t-closeness): {self.classes_above_t} group(s) of two or more records "
                    f"({self.records_above_t} records, e.g. {', '.join(self.t_examples)}) have a distribution of "
                    f"({sa}) farther than {self.t_threshold} from the whole release's (largest "
                    f"{self.t_without_singletons:.3f}; {self._distance_names()})",
                    where="privacy.t_closeness",
                    fix=f"generalise ({qi}) so that each group's ({sa}) looks like the whole release's, "
                    "or coarsen the sensitive values",
                )
            )
        return out

    def _distance_names(self) -> str:
        return ", ".join(f"{a}: {d} distance" for a, d in self.distances)


@dataclass(frozen=True, kw_only=True)
class Linkability(Criterion):
    """Can a record be linked to another dataset? Population uniqueness against a reference, else sample uniqueness."""

    name: ClassVar[str] = "linkability"
    quasi_identifiers: tuple[str, ...] = ()
    reference: bool = False  # True: against a reference table of population counts
    n_records: int = 0
    share: float | None = None  # the share of records at risk
    threshold: float = DEFAULT_MAX_LINKABLE_SHARE
    k_threshold: int = 1
    population: int | None = None  # the reference's total count
    records_population_unique: int = 0  # held by one person in the reference
    records_not_in_reference: int = 0  # combinations the reference does not hold

    def headline(self) -> str:
        if self.share is None:
            return self.method
        what = f"rarer than k = {self.k_threshold} in the population" if self.reference else "unique in the release"
        return (
            f"{self.share:.1%} of records {what} on ({_cols(self.quasi_identifiers)}) "
            f"(threshold {self.threshold:.1%}); {self.records_at_risk} of {self.n_records} records at risk"
        )

    def problems(self) -> list[Problem]:
        if not self.failed:
            return []
        qi = _cols(self.quasi_identifiers)
        head = f"linkability: {self.records_at_risk} of {self.n_records} records ({self.share:.1%})"
        if self.reference:
            what = (
                f"{head} have a combination of ({qi}) held by fewer than {self.k_threshold} people in the reference "
                f"population ({self.records_population_unique} by one person, {self.records_not_in_reference} "
                "by nobody)"
            )
            fix = f"generalise ({qi}) until every released combination is held by at least {self.k_threshold} people"
        else:
            what = (
                f"{head} are unique on ({qi}) in the release, so another dataset holding these columns links them "
                "(sample uniqueness: no population reference given)"
            )
            fix = (
                f"generalise or drop ({qi}); or measure population uniqueness with a reference table of "
                f"population counts (assess_risk(..., reference=...))"
            )
        return [
            Problem(
                f"{what}, e.g. {', '.join(self.examples)}; the policy allows {self.threshold:.1%}",
                where="privacy.linkability",
                fix=fix,
            )
        ]


# -- the assessment -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RiskAssessment:
    """The three EDPB criteria over the released records: singling out, linkability, inference."""

    n_records: int
    singling_out: SinglingOut
    linkability: Linkability
    inference: Inference
    policy_problems: tuple[Problem, ...] = ()  # columns named that the release does not have

    @property
    def criteria(self) -> tuple[SinglingOut, Linkability, Inference]:
        """In the EDPB's order: singling out, linkability, inference."""
        return (self.singling_out, self.linkability, self.inference)

    def problems(self) -> list[Problem]:
        """The policy's problems, then one per failed criterion (homogeneous groups and singletons apart)."""
        out = list(self.policy_problems)
        for c in self.criteria:
            out.extend(c.problems())
        return out

    @property
    def passed(self) -> bool:
        return not self.problems()

    @property
    def status(self) -> str:
        return PASSED if self.passed else FAILED

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "n_records": self.n_records,
            "singling_out": self.singling_out.to_dict(),
            "linkability": self.linkability.to_dict(),
            "inference": self.inference.to_dict(),
            "problems": [p.to_dict() for p in self.problems()],
        }

    def summary(self) -> str:
        lines = [f"re-identification risk over {self.n_records} records: {self.status}"]
        lines += [f"- {c.name}: {c.status}; {c.headline()}" for c in self.criteria]
        lines += [f"- {p}" for p in self.policy_problems]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def change_from(self, before: RiskAssessment) -> str:
        """What a remedy changed: the records at risk of each criterion, *before* then now."""
        parts = [
            f"{now.name} {was.records_at_risk} -> {now.records_at_risk} records at risk ({was.status} -> {now.status})"
            for was, now in zip(before.criteria, self.criteria, strict=True)
        ]
        return "; ".join(parts)

    def _repr_html_(self) -> str:
        e = html.escape
        colour = {PASSED: "#1a7f37", FAILED: "#cf222e", NOT_ASSESSED: "#57606a"}
        out = [
            f'<div class="kit-privacy-risk"><p><b style="color:{colour[self.status]}">Re-identification risk: '
            f"{e(self.status)}</b> &mdash; {self.n_records} records, the three EDPB criteria</p>",
            "<table><thead><tr><th>criterion</th><th>status</th><th>measure</th><th>records at risk</th>"
            "<th>method</th></tr></thead><tbody>",
        ]
        for c in self.criteria:
            out.append(
                f"<tr><td>{e(c.name)}</td><td style='color:{colour[c.status]}'>{e(c.status)}</td>"
                f"<td>{e(c.headline())}</td><td>{c.records_at_risk}</td><td>{e(c.method)}</td></tr>"
            )
        out.append("</tbody></table>")
        if self.singling_out.combinations:
            out.append(
                "<table><thead><tr><th>quasi-identifiers</th><th>records unique</th><th>k</th>"
                "<th>records below k</th></tr></thead><tbody>"
            )
            for comb in self.singling_out.combinations:
                tag = " (declared)" if comb.declared else ""
                out.append(
                    f"<tr><td>{e(_cols(comb.columns))}{tag}</td><td>{comb.records_unique} "
                    f"({comb.unique_share:.1%})</td><td>{comb.k}</td><td>{comb.records_below_k}</td></tr>"
                )
            out.append("</tbody></table>")
        problems = self.problems()
        if problems:
            out.append("<ul>" + "".join(f"<li>{e(p.what)} <i>Fix: {e(p.fix)}</i></li>" for p in problems) + "</ul>")
        out.append("</div>")
        return "".join(out)


# -- the three criteria -------------------------------------------------------------------------
def _singling_out(
    table: pd.DataFrame,
    qi: tuple[str, ...],
    source: str,
    search: Search | None,
    declared: Combination | None,
    k_threshold: int,
    why: str,
) -> SinglingOut:
    combos = list(search.combinations) if search else []
    if declared is not None and all(c.columns != declared.columns for c in combos):
        combos.append(declared)
    elif declared is not None:
        combos = [declared if c.columns == declared.columns else c for c in combos]
    candidates = search.candidates if search else ()
    if not qi:
        return SinglingOut(
            status=NOT_ASSESSED,
            method=why,
            k_threshold=k_threshold,
            n_records=len(table),
        )
    ids, sizes = group_ids(*encoded(table, qi))
    record_sizes = sizes[ids]
    below = record_sizes < k_threshold
    k = int(sizes.min())
    banded, suggestion = banded_suggestion(table, list(qi), k, k_threshold)
    if source == "declared":
        method = "k-anonymity on the declared quasi-identifiers"
        if search:
            method += "; riskiest combinations found by the search: " + search.method
    else:
        assert search is not None  # the riskiest combination found comes from the search
        method = "k-anonymity on the riskiest combination found by the search: " + search.method
    return SinglingOut(
        status=FAILED if k < k_threshold else PASSED,
        method=method,
        records_at_risk=int(below.sum()),
        examples=_examples(table["_where"].to_numpy(), below),
        quasi_identifiers=tuple(qi),
        source=source,
        n_records=len(table),
        n_classes=int(sizes.size),
        k=k,
        k_threshold=k_threshold,
        records_unique=int((record_sizes == 1).sum()),
        combinations=tuple(combos),
        candidates=candidates,
        suggestion=suggestion,
        banded_k=banded,
    )


def _inference(table, qi, sa, l_threshold: int, t_threshold: float) -> Inference:
    if not sa or not qi:
        why = "no sensitive attribute declared" if not sa else "no quasi-identifiers to form groups"
        return Inference(status=NOT_ASSESSED, method=why, l_threshold=l_threshold, t_threshold=t_threshold)
    # records without a sensitive value say nothing about it; the groups are formed over the others
    rows = table[list(sa)].notna().all(axis=1).to_numpy()
    sub = table[rows].reset_index(drop=True)
    if sub.empty:
        return Inference(
            status=NOT_ASSESSED,
            method=f"no released record has a value of every sensitive attribute ({_cols(sa)})",
            l_threshold=l_threshold,
            t_threshold=t_threshold,
        )
    ids, sizes = group_ids(*encoded(sub, qi))
    g = sizes.size
    distinct = np.full(g, np.iinfo(np.int64).max)
    distance = np.zeros(g)
    names = []
    for s in sa:
        values = sub[s]
        codes, _ = encode(values)
        distinct = np.minimum(distinct, distinct_per_class(ids, codes, g))
        if is_ordered(values):
            rank, m = ranks(values)
            d = ordered_distance(ids, rank, m, g)
            names.append((s, "earth mover's (ordered)"))
        else:
            d = variational_distance(ids, codes, g)
            names.append((s, "variational"))
        distance = np.maximum(distance, d)
    single = sizes == 1
    homogeneous = ~single & (distinct == 1)
    low = ~single & (distinct > 1) & (distinct < l_threshold)
    far = ~single & (distance > t_threshold + _EPS)
    singletons_fail = bool(single.any()) and (l_threshold > 1 or bool((distance[single] > t_threshold + _EPS).any()))
    l_value = int(distinct.min())
    t_value = float(distance.max())
    where = sub["_where"].to_numpy()
    at_risk = homogeneous | low | far | (single if singletons_fail else np.zeros(g, dtype=bool))
    failed = l_value < l_threshold or t_value > t_threshold + _EPS
    return Inference(
        status=FAILED if failed else PASSED,
        method=f"l-diversity and t-closeness of ({_cols(sa)}) within groups of equal ({_cols(qi)}); t: "
        + ", ".join(f"{a}: {d} distance" for a, d in names)
        + " (Li et al. 2007)",
        records_at_risk=int(at_risk[ids].sum()),
        examples=_examples(where, at_risk[ids]),
        quasi_identifiers=tuple(qi),
        sensitive_attributes=tuple(sa),
        distances=tuple(names),
        n_records=len(sub),
        n_classes=g,
        l=l_value,
        l_threshold=l_threshold,
        t=t_value,
        t_threshold=t_threshold,
        t_without_singletons=float(distance[~single].max()) if (~single).any() else None,
        homogeneous_classes=int(homogeneous.sum()),
        homogeneous_records=int(sizes[homogeneous].sum()),
        homogeneous_examples=_examples(where, homogeneous[ids]),
        singletons=int(single.sum()),
        singleton_examples=_examples(where, single[ids]),
        singletons_fail=singletons_fail,
        low_diversity_classes=int(low.sum()),
        low_diversity_records=int(sizes[low].sum()),
        classes_above_t=int(far.sum()),
        records_above_t=int(sizes[far].sum()),
        t_examples=_examples(where, far[ids]),
    )


def _reference_counts(reference) -> tuple[pd.DataFrame | None, list[Problem]]:
    if isinstance(reference, pd.Series):
        if any(n is None for n in reference.index.names):
            return None, [
                Problem(
                    "the reference series has an unnamed index level",
                    where="privacy.reference",
                    fix="name its index by the quasi-identifiers, e.g. population.value_counts(['age', 'sex'])",
                )
            ]
        reference = reference.rename(REFERENCE_COUNT).reset_index()
    if REFERENCE_COUNT not in reference.columns or len(reference.columns) < 2:
        return None, [
            Problem(
                f"the reference table needs quasi-identifier columns and a {REFERENCE_COUNT!r} column of "
                f"population counts; it has {list(reference.columns)}",
                where="privacy.reference",
                fix="pass population counts per combination, e.g. population.value_counts(['age', 'sex']) "
                "or census marginals with a 'count' column",
            )
        ]
    return reference, []


def _linkability(table, qi, reference, k_threshold: int, max_share: float) -> tuple[Linkability, list[Problem]]:
    n = len(table)
    if reference is not None:
        ref, problems = _reference_counts(reference)
        if ref is None:
            return Linkability(status=NOT_ASSESSED, method="the reference table is not usable"), problems
        cols = [c for c in ref.columns if c != REFERENCE_COUNT]
        missing = [c for c in cols if c not in table.columns]
        if missing:
            return Linkability(status=NOT_ASSESSED, method="the reference's columns are not released"), [
                Problem(
                    f"reference column(s) {missing} are not in the released tables",
                    where="privacy.reference",
                    fix="give population counts over released quasi-identifiers (check the spelling)",
                )
            ]
        counts = normalised(ref, cols).assign(**{REFERENCE_COUNT: ref[REFERENCE_COUNT].to_numpy()})
        counts = counts.groupby(cols, sort=False, as_index=False)[REFERENCE_COUNT].sum()
        population = normalised(table, cols).merge(counts, how="left", on=cols)[REFERENCE_COUNT]
        population = population.fillna(0).to_numpy()
        at_risk = population < k_threshold
        share = float(at_risk.mean()) if n else 0.0
        return Linkability(
            status=FAILED if share > max_share + _EPS else PASSED,
            method=f"population uniqueness: released records whose ({_cols(cols)}) is held by fewer than "
            f"k = {k_threshold} people in the reference table of population counts",
            records_at_risk=int(at_risk.sum()),
            examples=_examples(table["_where"].to_numpy(), at_risk),
            quasi_identifiers=tuple(cols),
            reference=True,
            n_records=n,
            share=share,
            threshold=max_share,
            k_threshold=k_threshold,
            population=int(ref[REFERENCE_COUNT].sum()),
            records_population_unique=int((population == 1).sum()),
            records_not_in_reference=int((population == 0).sum()),
        ), []
    if not qi:
        return Linkability(status=NOT_ASSESSED, method="no quasi-identifiers to link on, and no reference table"), []
    ids, sizes = group_ids(*encoded(table, qi))
    unique = sizes[ids] == 1
    share = float(unique.mean()) if n else 0.0
    return Linkability(
        status=FAILED if share > max_share + _EPS else PASSED,
        method=f"sample uniqueness: released records unique on ({_cols(qi)}) in the release itself "
        "(no reference table of population counts given; a conservative stand-in for population uniqueness)",
        records_at_risk=int(unique.sum()),
        examples=_examples(table["_where"].to_numpy(), unique),
        quasi_identifiers=tuple(qi),
        n_records=n,
        share=share,
        threshold=max_share,
        k_threshold=k_threshold,
    ), []


def assess_risk(
    frames: Mapping[str, pd.DataFrame],
    policy: PrivacyPolicy | None = None,
    *,
    key: str | None = None,
    reference: pd.DataFrame | pd.Series | None = None,
    exclude: Sequence[str] = (),
    max_combination: int = 3,
    t_closeness: float | None = None,
    max_linkable_share: float = DEFAULT_MAX_LINKABLE_SHARE,
    top: int = 5,
    search_rows: int = SEARCH_ROWS,
    seed: int = 0,
) -> RiskAssessment:
    """Assess singling out, inference and linkability over the released tables (see the module's doc).

    ``frames``: the tables to release, by name. ``key``: the column linking the rows of one
    person across tables (the case id shared by test and labels). ``reference``: population
    counts per quasi-identifier combination, a frame with a ``count`` column or a series such
    as ``population.value_counts(["age", "sex"])``. ``exclude``: columns that are not
    quasi-identifiers (the target, the kit's ``split`` column) unless the policy declares
    them. ``max_combination``: the largest combination searched. ``t_closeness``: the
    threshold, by default the policy's (or :data:`DEFAULT_T_CLOSENESS`). ``top``: the riskiest
    combinations reported. ``search_rows``, ``seed``: above ``search_rows`` records the
    combinations are ranked on a seeded sample of that many (figures always on every record).
    """
    policy = policy or PrivacyPolicy()
    k_threshold, l_threshold = policy.k_anonymity, policy.l_diversity
    if t_closeness is None:
        t_closeness = float(getattr(policy, "t_closeness", DEFAULT_T_CLOSENESS))
    declared_qi = list(policy.quasi_identifiers)
    sa = list(policy.sensitive_attributes)
    table = release_records(frames, key=key, keep=declared_qi + sa)
    problems = []
    missing_qi = [c for c in declared_qi if c not in table.columns]
    if missing_qi:
        problems.append(
            Problem(
                f"quasi-identifier(s) {missing_qi} are not in any released table",
                where="privacy.quasi_identifiers",
                fix="name columns that exist in the released tables (check the spelling)",
            )
        )
    missing_sa = [c for c in sa if c not in table.columns]
    if missing_sa:
        problems.append(
            Problem(
                f"sensitive attribute(s) {missing_sa} are not in any released table"
                + (f" linked by {key!r}" if key else ""),
                where="privacy.sensitive_attributes",
                fix="name columns that exist in the released tables (check the spelling)",
            )
        )
        sa = [c for c in sa if c in table.columns]
    skip = {"_where", key, *policy.allowed_identifiers, *exclude, *sa}
    candidates = []
    for c in table.columns:
        if c in skip and c not in declared_qi:
            continue
        kind = candidate_kind(c, table[c]) or ("declared" if c in declared_qi else "")
        if kind:
            candidates.append((c, kind))
    search = None
    if candidates and not table.empty:
        search = search_quasi_identifiers(
            table,
            candidates,
            k_threshold=k_threshold,
            max_combination=max_combination,
            top=top,
            search_rows=search_rows,
            seed=seed,
        )
    declared = None
    if declared_qi and not missing_qi and not table.empty:
        declared = combination(table, declared_qi, k_threshold=k_threshold, declared=True)
    qi: tuple[str, ...] = ()
    source, why = "none", ""
    if table.empty:
        why = "no released record"
    elif missing_qi:
        why = "the declared quasi-identifiers are not all released (see the policy's problems)"
    elif declared is not None:
        qi, source = tuple(declared_qi), "declared"
    elif search is not None and search.riskiest is not None:
        qi, source = search.riskiest.columns, "search"
    else:
        why = (
            "no quasi-identifier declared, and no candidate column found (ages, sex, dates, geography, "
            "categories, codes): nothing singles a record out"
        )
    singling_out = _singling_out(table, qi, source, search, declared, k_threshold, why)
    inference = _inference(table, qi, sa, l_threshold, t_closeness)
    linkability, link_problems = _linkability(table, qi, reference, k_threshold, max_linkable_share)
    return RiskAssessment(
        n_records=len(table),
        singling_out=singling_out,
        linkability=linkability,
        inference=inference,
        policy_problems=tuple(problems + link_problems),
    )
