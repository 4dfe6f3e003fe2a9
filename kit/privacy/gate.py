"""The privacy gate: every check, one report, and the decision to release or not.

:func:`check_release` runs the identifier scan (:mod:`kit.privacy.detectors`) and the
k-anonymity and l-diversity checks (:mod:`kit.privacy.risk`) over the tables that
would be released, and raises :class:`ReleaseBlocked` (one problem per reason) unless
nothing is found or an explicit :class:`~kit.cards.schema.PrivacyOverride` (a reason
and who decided) lets the release through; the returned :class:`PrivacyReport` then
carries the override, and the data card records it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import pandas as pd

from ..cards.schema import PrivacyOverride, PrivacyPolicy
from ..errors import KitError, Problem
from .detectors import DEFAULT_MAX_VALUES, Finding, _scan, categories, name_pattern, normalise_name
from .risk import AnonymityCheck, assess_anonymity


class ReleaseBlocked(KitError):
    """The privacy gate found reasons not to release the data (one problem per reason)."""

    kind = "release-blocked"

    def __init__(self, what, *, where="", fix="", problems=(), report=None):
        self.report = report
        super().__init__(what, where=where, fix=fix, problems=problems)

    def __reduce__(self):
        return (_rebuild_blocked, (self.what, self.where, self.fix, self.problems, self.report))


def _rebuild_blocked(what, where, fix, problems, report):
    return ReleaseBlocked(what, where=where, fix=fix, problems=problems, report=report)


# -- the report --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrivacyReport:
    """What the privacy gate found, where, and whether it blocks the release."""

    policy: PrivacyPolicy
    tables: tuple[tuple[str, int, int], ...]  # (name, rows, columns)
    findings: tuple[Finding, ...] = ()
    anonymity: AnonymityCheck | None = None
    policy_problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()
    override: PrivacyOverride | None = None

    @property
    def reasons(self) -> list[Problem]:
        out = list(self.policy_problems)
        out.extend(f.problem() for f in self.findings)
        if self.anonymity is not None:
            out.extend(self.anonymity.problems())
        return out

    @property
    def blocked(self) -> bool:
        """True when there is a reason not to release and no override."""
        return bool(self.reasons) and self.override is None

    @property
    def overridden(self) -> bool:
        return bool(self.reasons) and self.override is not None

    @property
    def status(self) -> str:
        return "blocked" if self.blocked else "released with override" if self.overridden else "passed"

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "policy": self.policy.model_dump(mode="json"),
            "tables": [{"name": n, "rows": r, "columns": c} for n, r, c in self.tables],
            "findings": [asdict(f) | {"label": f.label} for f in self.findings],
            "anonymity": asdict(self.anonymity) if self.anonymity else None,
            "reasons": [p.to_dict() for p in self.reasons],
            "warnings": list(self.warnings),
            "override": self.override.model_dump(mode="json") if self.override else None,
        }

    def summary(self) -> str:
        parts = [f"privacy gate: {self.status}"]
        if self.anonymity:
            a = self.anonymity
            parts.append(f"k = {a.k} (threshold {a.k_threshold})")
            if a.l is not None:
                parts.append(f"l = {a.l} (threshold {a.l_threshold})")
        parts.append(f"{len(self.findings)} identifier finding(s)")
        return "; ".join(parts)

    def _repr_html_(self) -> str:
        e = html.escape
        colour = {"passed": "#1a7f37", "blocked": "#cf222e", "released with override": "#9a6700"}[self.status]
        out = [
            f'<div class="kit-privacy"><p><b style="color:{colour}">Privacy gate: {e(self.status)}</b>'
            f" &mdash; {len(self.tables)} table(s): "
            + ", ".join(f"{e(n)} ({r}&times;{c})" for n, r, c in self.tables)
            + "</p>"
        ]
        if self.reasons:
            out.append("<table><thead><tr><th>where</th><th>reason</th><th>fix</th></tr></thead><tbody>")
            for p in self.reasons:
                out.append(f"<tr><td><code>{e(p.where)}</code></td><td>{e(p.what)}</td><td>{e(p.fix)}</td></tr>")
            out.append("</tbody></table>")
        if self.anonymity:
            a = self.anonymity
            out.append(
                f"<p>k-anonymity on ({e(', '.join(a.quasi_identifiers))}): k = {a.k} "
                f"(threshold {a.k_threshold}), {a.n_classes} groups of {a.n_records} records"
                + (
                    f"; l-diversity of ({e(', '.join(a.sensitive_attributes))}): l = {a.l} (threshold {a.l_threshold})"
                    if a.l is not None
                    else ""
                )
                + f"; computed with {e(a.engine)}.</p>"
            )
        for w in self.warnings:
            out.append(f"<p>&#9888; {e(w)}</p>")
        if self.override:
            o = self.override
            out.append(
                f"<p><b>Override</b> by {e(o.by)}" + (f" on {o.date}" if o.date else "") + f": {e(o.reason)}</p>"
            )
        out.append("</div>")
        return "".join(out)


def _warnings(frames, policy: PrivacyPolicy, sampled, max_values) -> list[str]:
    out = []
    if policy.quasi_identifiers and policy.k_anonymity == 1:
        out.append(
            "the k-anonymity threshold is 1: it imposes no protection; the measured k is reported for information only"
        )
    if policy.sensitive_attributes and policy.quasi_identifiers and policy.l_diversity == 1:
        out.append(
            "the l-diversity threshold is 1: it imposes no protection; the measured l is reported for information only"
        )
    declared = set(policy.quasi_identifiers) | set(policy.sensitive_attributes)
    demographic = name_pattern(r"age", r"sex", r"gender", r"ethnicity", r"race", r"year_?of_?birth", r"birth_?year")
    seen = sorted(
        {
            str(c)
            for f in frames.values()
            for c in f.columns
            if demographic.search(normalise_name(c)) and c not in declared
        }
    )
    if seen:
        out.append(f"column(s) {seen} look like quasi-identifiers but the policy does not declare them")
    fuzzy = ", ".join(c.label for c in categories() if not c.strict and c.content is not None)
    for where, n_distinct in sampled:
        out.append(
            f"{where}: {n_distinct} distinct values; the fuzzy patterns ({fuzzy}) checked a seeded "
            f"sample of {max_values} of them, every other pattern checked them all"
        )
    return out


def assess_release(
    frames: Mapping[str, pd.DataFrame],
    policy: PrivacyPolicy | None = None,
    *,
    key: str | None = None,
    max_values: int = DEFAULT_MAX_VALUES,
    seed: int = 0,
) -> PrivacyReport:
    """Run every check and return the report, without raising.

    ``frames``: the tables to release, by name. ``key``: the column that links the
    rows of one person across tables (e.g. the case id shared by test and labels),
    used to attach sensitive attributes kept in another table.
    """
    policy = policy or PrivacyPolicy()
    findings, sampled = _scan(frames, policy, max_values, seed)
    anonymity, problems = assess_anonymity(frames, policy, key=key)
    unknown = [c for c in policy.allowed_identifiers if not any(c in f.columns for f in frames.values())]
    warnings = _warnings(frames, policy, sampled, max_values)
    if unknown:
        warnings.append(f"allowed_identifiers {unknown} are not columns of any released table")
    return PrivacyReport(
        policy=policy,
        tables=tuple((n, int(frames[n].shape[0]), int(frames[n].shape[1])) for n in frames),
        findings=tuple(findings),
        anonymity=anonymity,
        policy_problems=tuple(problems),
        warnings=tuple(warnings),
    )


def check_release(
    frames: Mapping[str, pd.DataFrame],
    policy: PrivacyPolicy | dict | None = None,
    override: PrivacyOverride | dict | None = None,
    *,
    key: str | None = None,
    max_values: int = DEFAULT_MAX_VALUES,
    seed: int = 0,
) -> PrivacyReport:
    """The privacy gate: return the report, or raise :class:`ReleaseBlocked` listing every reason.

    With ``override`` (a reason and who decided) a blocked release goes through;
    the returned report carries the override so the data card records it.
    """
    if isinstance(policy, dict):
        policy = PrivacyPolicy.model_validate(policy)
    if isinstance(override, dict):
        override = PrivacyOverride.model_validate(override)
    report = assess_release(frames, policy, key=key, max_values=max_values, seed=seed)
    if not report.reasons:
        return report
    if override is None:
        reasons = report.reasons
        raise ReleaseBlocked(
            f"the release is blocked: {len(reasons)} privacy reason(s)",
            where="privacy gate",
            problems=reasons,
            report=report,
            fix="remove or generalise what is listed; or, if releasing is justified, pass "
            "override=PrivacyOverride(reason=..., by=...) (or write privacy_override in the card): "
            "the data card will record it",
        )
    return replace(report, override=override)
