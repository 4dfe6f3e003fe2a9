"""The privacy gate: every check, one report, and the decision to release or not.

:func:`check_release` runs the identifier scan (:mod:`kit.privacy.detectors`) and the
re-identification risk checks (:mod:`kit.privacy.risk`) over the tables that would
be released, and raises :class:`ReleaseBlocked` (one problem per reason) unless nothing
is found or an explicit :class:`~kit.cards.schema.PrivacyOverride` lets the release
through; the returned :class:`PrivacyReport` then carries the override, the data card
records it, and :func:`record_override` writes the decision into the ledger's audit table.

An override only covers *residual risk*: the problems whose ``where`` is one of
:data:`RESIDUAL_RISKS` (k-anonymity, l-diversity, t-closeness, linkability). A direct
identifier, or a policy that names columns the release does not have, is never
overridable: it must be removed or transformed (drop the column, generalise), or the
policy corrected. Any other kind of problem a check may add is not overridable either,
until it is listed in :data:`RESIDUAL_RISKS`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from ..cards.schema import SIGNOFF_ROLES, PrivacyOverride, PrivacyPolicy, card_problems
from ..errors import KitError, Problem
from .criteria import RiskAssessment
from .detectors import BY_NAME, DEFAULT_MAX_VALUES, Finding, _scan, categories, name_pattern, normalise_name
from .risk import AnonymityCheck, assess_anonymity

if TYPE_CHECKING:  # pragma: no cover - the ledger is opened by the caller
    from ..ledger.store import Ledger

#: the ``where`` of the problems an override may cover: residual re-identification risk
RESIDUAL_RISKS = frozenset({"privacy.k_anonymity", "privacy.l_diversity", "privacy.t_closeness", "privacy.linkability"})
#: what to do with a reason an override cannot cover
NEVER_OVERRIDDEN = (
    "direct identifiers are never overridden: remove or transform them (drop the column, or generalise it: "
    "the year instead of a date, bands instead of exact ages) and prepare the data again; a policy that "
    "names missing columns must be corrected"
)


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


class OverrideRefused(KitError):
    """A privacy override that is not valid: old form, a sign-off missing, one person signing twice, a future date."""

    kind = "override-refused"


def as_override(value: PrivacyOverride | Mapping | None, *, where: str = "privacy_override") -> PrivacyOverride | None:
    """``value`` as a :class:`PrivacyOverride` (None stays None); :class:`OverrideRefused` lists each problem."""
    if value is None or isinstance(value, PrivacyOverride):
        return value
    try:
        return PrivacyOverride.model_validate(dict(value))
    except ValidationError as exc:
        problems = [
            replace(p, where=f"{where}.{p.where}" if p.where != "(top level)" else where) for p in card_problems(exc)
        ]
        roles = ", ".join(f"{role} ({who})" for role, who in SIGNOFF_ROLES.items())
        raise OverrideRefused(
            f"the privacy override is not valid: {len(problems)} problem(s)",
            where=where,
            problems=problems,
            fix=f"an override needs a reason and two dated sign-offs by different people: {roles}",
        ) from None


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
    #: the three criteria (singling out, linkability, inference: :mod:`kit.privacy.criteria`)
    risk: RiskAssessment | None = None

    @property
    def reasons(self) -> list[Problem]:
        """Every reason not to release: policy errors, direct identifiers, then re-identification risk."""
        out = list(self.policy_problems)
        out.extend(f.problem() for f in self.findings)
        if self.risk is not None:  # its own policy problems, then one per failed criterion
            out.extend(self.risk.problems())
        elif self.anonymity is not None:
            out.extend(self.anonymity.problems())
        return out

    @property
    def residual_risks(self) -> list[Problem]:
        """The reasons an override may cover: residual re-identification risk (see :data:`RESIDUAL_RISKS`)."""
        return [p for p in self.reasons if p.where in RESIDUAL_RISKS]  # findings are "table.column"

    @property
    def must_fix(self) -> list[Problem]:
        """The reasons no override covers: direct identifiers, policy errors, any check not listed as residual."""
        return [p for p in self.reasons if p.where not in RESIDUAL_RISKS]

    @property
    def blocked(self) -> bool:
        """True when a reason must be fixed, or residual risk remains with no override."""
        return bool(self.must_fix) or (bool(self.residual_risks) and self.override is None)

    @property
    def overridden(self) -> bool:
        """True when residual risk remains and the override lets the release through."""
        return not self.must_fix and bool(self.residual_risks) and self.override is not None

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
            "risk": self.risk.to_dict() if self.risk else None,
            "reasons": [p.to_dict() for p in self.reasons],
            "overridable": [p.to_dict() for p in self.residual_risks],
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
        out = "; ".join(parts)
        return out + ("\n" + self.risk.summary() if self.risk else "")

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
            signed = "; ".join(f"{e(SIGNOFF_ROLES[role])}: {e(s.name)} on {s.date}" for role, s in o.signoffs)
            verdict = "" if self.overridden else " (refused: direct identifiers and policy errors are never overridden)"
            out.append(f"<p><b>Override</b>{verdict}, signed by {signed}: {e(o.reason)}</p>")
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


#: what the report's warnings say of a finding set aside because a remedy generalised its column
GENERALISED = "generalised by a remedy"


def spec_options(spec) -> dict[str, Any]:
    """What the gate knows of a challenge (keyword arguments of :func:`assess_release` and
    :func:`check_release`): the case id linking its tables, the columns that are not
    quasi-identifiers (the target, the board's split), and the columns its remedies generalised."""
    from ..remedies import generalised

    return {"key": spec.id_column, "exclude": [*spec.target, "split"], "generalised": generalised(spec.source.remedies)}


def assess_release(
    frames: Mapping[str, pd.DataFrame],
    policy: PrivacyPolicy | None = None,
    *,
    key: str | None = None,
    max_values: int = DEFAULT_MAX_VALUES,
    seed: int = 0,
    exclude: Sequence[str] = (),
    reference=None,
    criteria: bool = True,
    generalised: Mapping[str, Sequence[str]] | None = None,
) -> PrivacyReport:
    """Run every check and return the report, without raising.

    ``frames``: the tables to release, by name. ``key``: the column that links the
    rows of one person across tables (e.g. the case id shared by test and labels),
    used to attach sensitive attributes kept in another table. ``exclude``: columns
    that are not quasi-identifiers (the target, the leaderboard split), left out of the
    automatic search. ``reference``: population counts for linkability
    (:func:`kit.privacy.criteria.assess_risk`). ``criteria=False`` skips the three
    criteria (direct identifiers and the declared k and l only). ``generalised``: column ->
    identifier categories a remedy of the spec cleared (:func:`kit.remedies.generalised`): a
    finding of one of them on that column, made by the column's name alone, is set aside and
    the report's warnings say so (a ``code_postal`` column that holds départements).
    """
    policy = policy or PrivacyPolicy()
    findings, sampled = _scan(frames, policy, max_values, seed)
    warnings_: list[str] = []
    if generalised:
        kept = []
        for f in findings:
            if f.category in generalised.get(f.column, ()) and f.detected_by == (BY_NAME,):
                warnings_.append(
                    f"{f.frame}.{f.column}: named like a {f.category} column, but {GENERALISED} "
                    "(source.remedies): not an identifier of that kind"
                )
            else:
                kept.append(f)
        findings = kept
    anonymity, problems = assess_anonymity(frames, policy, key=key)
    risk = None
    if criteria:
        from .criteria import assess_risk

        risk = assess_risk(frames, policy, key=key, reference=reference, exclude=list(exclude), seed=seed)
        problems = []  # the assessment reports the policy's problems itself
    unknown = [c for c in policy.allowed_identifiers if not any(c in f.columns for f in frames.values())]
    warnings = _warnings(frames, policy, sampled, max_values) + warnings_
    if unknown:
        warnings.append(f"allowed_identifiers {unknown} are not columns of any released table")
    return PrivacyReport(
        policy=policy,
        tables=tuple((n, int(frames[n].shape[0]), int(frames[n].shape[1])) for n in frames),
        findings=tuple(findings),
        anonymity=anonymity,
        policy_problems=tuple(problems),
        warnings=tuple(warnings),
        risk=risk,
    )


def check_release(
    frames: Mapping[str, pd.DataFrame],
    policy: PrivacyPolicy | dict | None = None,
    override: PrivacyOverride | dict | None = None,
    *,
    key: str | None = None,
    max_values: int = DEFAULT_MAX_VALUES,
    seed: int = 0,
    ledger: Ledger | None = None,
    challenge: str | None = None,
    exclude: Sequence[str] = (),
    reference=None,
    criteria: bool = True,
    generalised: Mapping[str, Sequence[str]] | None = None,
) -> PrivacyReport:
    """The privacy gate: return the report, or raise :class:`ReleaseBlocked` listing every reason.

    ``exclude``, ``reference``, ``criteria``, ``generalised``: as for :func:`assess_release`.

    ``override`` (a :class:`~kit.cards.schema.PrivacyOverride` or its mapping: a reason and
    the dated sign-offs of the organiser and the data protection officer) lets residual
    re-identification risk through; the returned report carries it so the data card records
    it. A direct identifier is never overridden: with one, the release stays blocked and
    the exception lists what must be removed or transformed. An override that is not valid
    raises :class:`OverrideRefused`.

    ``ledger`` and ``challenge``: when given, the decision an override takes (released, or
    refused because direct identifiers remain) is recorded in the ledger's append-only
    audit table (:func:`record_override`).
    """
    if isinstance(policy, dict):
        policy = PrivacyPolicy.model_validate(policy)
    override = as_override(override)
    if ledger is not None and not challenge:
        raise KitError(
            "recording an override in the ledger needs the challenge's id",
            where="check_release",
            fix="pass challenge=<id> together with ledger=",
        )
    report = assess_release(
        frames,
        policy,
        key=key,
        max_values=max_values,
        seed=seed,
        exclude=exclude,
        reference=reference,
        criteria=criteria,
        generalised=generalised,
    )
    if not report.reasons:
        return report
    if override is None:
        reasons = report.reasons
        fix = "remove or generalise what is listed"
        if report.residual_risks:
            fix += (
                "; or, if releasing despite the residual re-identification risk is justified, pass "
                "override=PrivacyOverride(reason=..., organiser={'name': ..., 'date': ...}, dpo={'name': ..., "
                "'date': ...}) (or write privacy_override in the card): the card and the ledger record it"
            )
        if report.must_fix:
            fix += f"; {NEVER_OVERRIDDEN}"
        raise ReleaseBlocked(
            f"the release is blocked: {len(reasons)} privacy reason(s)",
            where="privacy gate",
            problems=reasons,
            report=report,
            fix=fix,
        )
    report = replace(report, override=override)
    if ledger is not None and challenge:
        record_override(ledger, challenge, report)
    if report.must_fix:
        must_fix = report.must_fix
        raise ReleaseBlocked(
            f"the release is blocked: {len(must_fix)} reason(s) that no override can cover "
            f"(the override covers only residual re-identification risk)",
            where="privacy gate",
            problems=must_fix,
            report=report,
            fix=NEVER_OVERRIDDEN,
        )
    return report


def record_override(ledger: Ledger, challenge: str, report: PrivacyReport, *, at: str | None = None) -> int | None:
    """Append the override decision of ``report`` to the ledger's audit table; return its row id.

    Records the challenge, the time (``at``, ISO 8601; default: now, UTC), the reasons
    overridden, the reasons that refused the override (direct identifiers), both
    sign-offs and the report's status. Returns None, recording nothing, when the report
    carries no override or nothing needed one.
    """
    from ..ledger.store import OverrideRecord

    o = report.override
    if o is None or not report.reasons:
        return None
    record = OverrideRecord(
        challenge=challenge,
        status=report.status,
        reason=o.reason,
        overridden=[p.to_dict() for p in report.residual_risks],
        refused=[p.to_dict() for p in report.must_fix],
        organiser=o.organiser.name,
        organiser_date=o.organiser.date.isoformat(),
        dpo=o.dpo.name,
        dpo_date=o.dpo.date.isoformat(),
    )
    if at is not None:
        record = replace(record, recorded_at=at)
    return ledger.add_override(record)
