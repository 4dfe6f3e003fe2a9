"""The privacy gate in front of an open-data release.

:func:`check_release` looks at every table that would be released and blocks the
release (raises :class:`ReleaseBlocked`, one problem per reason) when it finds:

- **direct identifiers** (the HIPAA Safe Harbor categories: names, e-mail
  addresses, phone numbers, dates finer than the year, ages over 89, addresses
  and postcodes, record or account numbers, URLs, IP addresses), found by column
  name and by content patterns over text columns, including free text;
- **quasi-identifier groups that are too small** (k-anonymity) or whose
  sensitive values are not diverse enough (l-diversity), on the columns and
  against the thresholds of the challenge's :class:`~kit.cards.schema.PrivacyPolicy`.

An explicit :class:`~kit.cards.schema.PrivacyOverride` (a reason and who decided)
lets a blocked release through; the data card then records it.

Content patterns run over the *distinct* values of a column, so every row is
checked at the cost of its distinct values. Categories marked ``strict`` (all but
the two fuzzy heuristics: honorific + name, street address) always see every
value; the fuzzy ones see a seeded sample of at most ``max_values`` distinct
values per column. Reports never echo an identifying value in full: examples are
masked (first character of each word kept) and rows are given by position.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from .cards.schema import PrivacyOverride, PrivacyPolicy
from .errors import KitError, Problem

MAX_EXAMPLES = 5
DEFAULT_MAX_VALUES = 100_000
BAND_WIDTHS = (2, 5, 10, 20)


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


# -- identifier categories (a registry keyed by name) ---------------------------------------
@dataclass(frozen=True)
class IdentifierCategory:
    """One kind of direct identifier: how to recognise it by column name and by content."""

    key: str
    label: str
    names: re.Pattern | None = None
    content: re.Pattern | None = None
    strict: bool = True
    #: keeps a content match only when it returns True (e.g. enough digits for a phone number)
    accept: Callable[[str], bool] | None = None
    #: for name matches: True when the column's values really are identifying
    name_check: Callable[[pd.Series], bool] | None = None


_CATEGORIES: dict[str, IdentifierCategory] = {}


def register_category(category: IdentifierCategory) -> IdentifierCategory:
    if category.key in _CATEGORIES:
        raise KitError(f"identifier category {category.key!r} is already registered", fix="choose another key")
    _CATEGORIES[category.key] = category
    return category


def get_category(key: str) -> IdentifierCategory:
    try:
        return _CATEGORIES[key]
    except KeyError:
        raise KitError(
            f"{key!r} is not an identifier category", fix=f"use one of: {', '.join(get_category_names())}"
        ) from None


def get_category_names() -> list[str]:
    return sorted(_CATEGORIES)


def _names(*alternatives: str) -> re.Pattern:
    """A pattern over normalised column names: each alternative as a whole ``_`` token run."""
    return re.compile(r"(?:^|_)(?:" + "|".join(alternatives) + r")(?:_|$)")


def _digits_between(low: int, high: int) -> Callable[[str], bool]:
    return lambda text: low <= sum(ch.isdigit() for ch in text) <= high


def _is_year(values: pd.Series) -> bool:
    """True when every value is a four-digit year (dates at year precision are allowed)."""
    v = pd.to_numeric(values.dropna().astype(str).str.strip(), errors="coerce")
    return bool(len(v)) and bool(v.notna().all()) and bool(((v % 1 == 0) & v.between(1800, 2200)).all())


def _not_year_only(values: pd.Series) -> bool:
    return not _is_year(values)


_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"

register_category(
    IdentifierCategory(
        "person_name",
        "names",
        names=_names(
            r"(?:(?:first|last|given|family|full|middle|maiden|patient|person|nurse|doctor|physician|"
            r"mother|father|contact|kin|owner|user)_?)?names?",
            "surname",
            "forename",
            "initials",
        ),
        content=re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+[A-Z][a-z]+(?:[\s-][A-Z][a-z]+)?"),
        strict=False,
    )
)
register_category(
    IdentifierCategory(
        "email",
        "e-mail addresses",
        names=_names(r"e_?mails?(?:_?address(?:es)?)?"),
        content=re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    )
)
register_category(
    IdentifierCategory(
        "phone",
        "telephone and fax numbers",
        names=_names(r"(?:tel|telephone|phone|mobile|cell|cellphone|fax|pager)(?:_?(?:no|number|num))?"),
        content=re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{2,5}[\s.-]\d{2,4}[\s.-]?\d{3,4}(?![\w])"
        ),
        accept=_digits_between(9, 15),
    )
)
register_category(
    IdentifierCategory(
        "date",
        "dates finer than the year",
        names=_names(
            r"dob",
            r"d_?o_?b",
            r"birth_?date",
            r"date_?of_?birth",
            r"birthday",
            r"dod",
            r"date_?of_?death",
            r"date",
            r"datetime",
            r"timestamp",
            r"\w+_date",
            r"date_\w+",
            r"\w+_dt",
        ),
        content=re.compile(
            r"\b(?:1[89]|20|21)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])\b"  # 2001-03-14
            r"|\b(?:0?[1-9]|[12]\d|3[01])[-/](?:0?[1-9]|1[0-2])[-/](?:\d{4}|\d{2})\b"  # 14/03/2001
            r"|\b(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.\d{4}\b"  # 14.03.2001
            r"|\b\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTH + r"\.?,?\s+\d{4}\b"  # 14 March 2001
            r"|\b" + _MONTH + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b",  # March 14, 2001
            re.IGNORECASE,
        ),
        name_check=_not_year_only,
    )
)
register_category(
    IdentifierCategory(
        "age_over_89",
        "ages over 89",
        content=re.compile(
            r"\b(?:9\d|1[0-4]\d)[\s-]*(?:years?|yrs?|y/?o)\b(?:[\s-]*old)?|\baged?\s+(?:9\d|1[0-4]\d)\b", re.IGNORECASE
        ),
    )
)
register_category(
    IdentifierCategory(
        "address",
        "street addresses and places smaller than a state",
        names=_names(
            r"address(?:_?line_?\d*)?",
            r"addr",
            r"street",
            r"house_?(?:no|number)",
            r"city",
            r"town",
            r"county",
            r"municipality",
            r"village",
            r"neighbou?rhood",
            r"residence",
            r"geolocation",
            r"latitude",
            r"longitude",
            r"lat",
            r"lon",
            r"lng",
        ),
        content=re.compile(
            r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|"
            r"Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace|Close|Crescent|Square|Sq)\b\.?"
        ),
        strict=False,
    )
)
register_category(
    IdentifierCategory(
        "postcode",
        "postcodes and ZIP codes",
        names=_names(r"zip", r"zip_?code", r"zipcode", r"post_?code", r"postal_?code", r"postcode_?district"),
        content=re.compile(
            r"\b(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})\b"  # UK postcode
            r"|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"  # MA 02115
            r"|\b\d{5}-\d{4}\b"
        ),
    )
)  # ZIP+4
register_category(
    IdentifierCategory(
        "record_number",
        "medical record, account and other identifying numbers",
        names=_names(
            r"mrn",
            r"ssn",
            r"nhs(?:_?(?:no|number))?",
            r"medical_?record(?:_?(?:no|number|id))?",
            r"record_?(?:no|number|num|id)",
            r"hospital_?(?:no|number|id)",
            r"patient_?(?:no|number|id)",
            r"account(?:_?(?:no|number|id))?",
            r"insurance(?:_?(?:no|number|id))?",
            r"health_?plan(?:_?(?:no|number|id))?",
            r"beneficiary(?:_?(?:no|number|id))?",
            r"member_?(?:no|number|id)",
            r"social_?security(?:_?(?:no|number))?",
            r"passport(?:_?(?:no|number))?",
            r"licen[cs]e_?(?:no|number)",
            r"certificate_?(?:no|number)",
            r"device_?(?:serial|id)",
            r"serial_?(?:no|number)",
            r"vehicle_?id",
            r"vin",
            r"licen[cs]e_?plate",
        ),
        content=re.compile(
            r"\b\d{3}-\d{2}-\d{4}\b"  # US SSN
            r"|\b(?:MRN|NHS|SSN|CHI|record|patient|account|hospital)\s*(?:no\.?|number|num|id|#)?"
            r"\s*[:#]?\s*[A-Z]{0,3}\d{5,}\b",
            re.IGNORECASE,
        ),
    )
)
register_category(
    IdentifierCategory(
        "url",
        "web addresses (URLs)",
        names=_names(r"url", r"uri", r"website", r"web_?site", r"web_?page", r"homepage", r"link"),
        content=re.compile(r"\b(?:https?|ftp)://[^\s<>\"']+|\bwww\.[A-Za-z0-9-]+\.[^\s<>\"']+", re.IGNORECASE),
    )
)
register_category(
    IdentifierCategory(
        "ip_address",
        "IP addresses",
        names=_names(r"ip", r"ip_?addr(?:ess)?", r"ipv4", r"ipv6"),
        content=re.compile(
            r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"
        ),
    )
)

#: columns holding ages; values over 89 are identifying (HIPAA Safe Harbor)
AGE_NAMES = _names(r"age", r"age_?(?:years|yrs|in_years)", r"age_?at_?\w+", r"patient_?age")


def normalise_name(name) -> str:
    """``DateOfBirth`` -> ``date_of_birth``; ``E-mail`` -> ``e_mail``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def mask(value, limit: int = 40) -> str:
    """Show the shape of a value, never the value: the first character of each word is kept."""
    text = str(value)
    cut = len(text) > limit
    text = re.sub(r"[^\W_]+", lambda m: m.group(0)[0] + "*" * (len(m.group(0)) - 1), text[:limit])
    return text + ("…" if cut else "")


# -- findings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """A direct identifier found in one column of one released table."""

    frame: str
    column: str
    category: str
    detected_by: tuple[str, ...]  # "column name", "content", "values"
    n_rows: int
    rows: tuple[int, ...]  # example row positions (0-based data rows)
    example: str  # masked
    free_text: bool = False
    sampled: bool = False

    @property
    def label(self) -> str:
        return get_category(self.category).label

    @property
    def where(self) -> str:
        return f"{self.frame}.{self.column}"

    def problem(self) -> Problem:
        how = " and ".join(self.detected_by)
        text = " (free text)" if self.free_text else ""
        rows = ", ".join(str(r) for r in self.rows)
        more = f" and {self.n_rows - len(self.rows)} more" if self.n_rows > len(self.rows) else ""
        what = (
            f"{self.label}{text}: found by {how} in {self.n_rows} row(s), e.g. rows {rows}{more}"
            f" (values like {self.example!r})"
        )
        if self.category == "age_over_89":
            fix = "top-code ages at 90 (write '90 or older') or generalise them to bands"
        elif self.category == "date":
            fix = "keep the year only, or replace dates by intervals from a reference event"
        elif self.free_text:
            fix = "remove the free-text column or redact the identifiers in it"
        else:
            fix = (
                "drop the column (or generalise it); if it is safe (e.g. random ids), list it in "
                "privacy.allowed_identifiers"
            )
        return Problem(what, where=self.where, fix=fix)


def _is_text(series: pd.Series) -> bool:
    return (
        pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
    )


def _looks_free_text(values: pd.Series) -> bool:
    if values.empty:
        return False
    return bool(values.str.len().mean() >= 20 and values.str.contains(r"\s", regex=True).mean() >= 0.5)


def _examples(positions: np.ndarray) -> tuple[int, ...]:
    return tuple(int(p) for p in positions[:MAX_EXAMPLES])


def _scan_column(
    frame_name: str, column: str, series: pd.Series, *, max_values: int, seed: int
) -> tuple[list[Finding], int]:
    """Findings in one column, and its number of distinct text values when only a sample was checked."""
    found: dict[str, Finding] = {}
    norm = normalise_name(column)
    present = series.notna().to_numpy()
    positions = np.flatnonzero(present)
    sampled_from = 0
    if positions.size == 0:
        return [], 0

    def add(cat: str, how: str, pos: np.ndarray, example: str, *, free_text=False, sampled=False):
        old = found.get(cat)
        if old is None:
            found[cat] = Finding(
                frame_name, column, cat, (how,), int(pos.size), _examples(pos), example, free_text, sampled
            )
        else:
            merged = np.union1d(np.asarray(old.rows), pos)
            found[cat] = replace(
                old,
                detected_by=old.detected_by + (how,),
                n_rows=max(old.n_rows, int(pos.size)),
                rows=_examples(merged),
                sampled=old.sampled or sampled,
            )

    nonnull = series[present]
    # 1. by column name
    for cat in _CATEGORIES.values():
        if cat.names is not None and cat.names.search(norm):
            if cat.name_check is None or cat.name_check(nonnull):
                add(cat.key, "column name", positions, mask(nonnull.iloc[0]))
    # 2. dates stored as dates
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = pd.to_datetime(nonnull)
        finer = ~((stamps.dt.month == 1) & (stamps.dt.day == 1) & (stamps.dt.normalize() == stamps))
        if finer.any():
            add("date", "values", positions[finer.to_numpy()], mask(stamps[finer].iloc[0].date()))
    # 3. ages over 89
    if AGE_NAMES.search(norm):
        ages = pd.to_numeric(nonnull, errors="coerce")
        old = (ages > 89).to_numpy()
        if old.any():
            add("age_over_89", "values", positions[old], "over 89")
    # 4. content patterns over the distinct values of text columns
    if _is_text(series):
        text = nonnull.astype(str)
        distinct = pd.Series(text.unique())
        free_text = _looks_free_text(distinct)
        sample = distinct
        if len(distinct) > max_values:
            sample = distinct.sample(n=max_values, random_state=seed).reset_index(drop=True)
            sampled_from = len(distinct)
        for cat in _CATEGORIES.values():
            if cat.content is None:
                continue
            pool = distinct if cat.strict else sample
            hits = pool[pool.str.contains(cat.content, regex=True)]
            if cat.accept is not None and len(hits):
                hits = hits[hits.map(lambda v, c=cat: any(c.accept(m.group(0)) for m in c.content.finditer(v)))]
            if len(hits) == 0:
                continue
            rows = positions[text.isin(set(hits)).to_numpy()]
            first = text.iloc[int(np.flatnonzero(text.isin(set(hits)).to_numpy())[0])]
            match = next(
                m.group(0) for m in cat.content.finditer(first) if cat.accept is None or cat.accept(m.group(0))
            )
            add(cat.key, "content", rows, mask(match), free_text=free_text, sampled=pool is sample and sampled_from > 0)
    return list(found.values()), sampled_from


def _scan(frames, policy: PrivacyPolicy, max_values: int, seed: int):
    allowed = set(policy.allowed_identifiers)
    findings, sampled = [], []
    for name in frames:
        frame = frames[name]
        for column in frame.columns:
            if column in allowed:
                continue
            found, n_distinct = _scan_column(name, str(column), frame[column], max_values=max_values, seed=seed)
            findings.extend(found)
            if n_distinct:
                sampled.append((f"{name}.{column}", n_distinct))
    return findings, sampled


def scan_identifiers(
    frames: Mapping[str, pd.DataFrame],
    policy: PrivacyPolicy | None = None,
    *,
    max_values: int = DEFAULT_MAX_VALUES,
    seed: int = 0,
) -> list[Finding]:
    """Direct identifiers in every column of every frame, except the policy's allowed columns."""
    return _scan(frames, policy or PrivacyPolicy(), max_values, seed)[0]


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
    l: int | None
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
    demographic = _names(r"age", r"sex", r"gender", r"ethnicity", r"race", r"year_?of_?birth", r"birth_?year")
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
    fuzzy = ", ".join(c.label for c in _CATEGORIES.values() if not c.strict and c.content is not None)
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
