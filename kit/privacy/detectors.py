"""Direct identifiers: the HIPAA Safe Harbor categories, found by column name and by content.

An :class:`IdentifierCategory` says how to recognise one kind of direct identifier
(names, e-mail addresses, phone numbers, dates finer than the year, ages over 89,
addresses and postcodes, record or account numbers, URLs, IP addresses): a pattern
over normalised column names, a pattern over the values of text columns, or both.
Categories are kept in a registry keyed by name (:data:`CATEGORIES`); a plug-in adds
one with :func:`register_category` or an entry point of the group
``challenge_kit.identifier_categories``.

:func:`scan_identifiers` checks every column of every released table. Content
patterns run over the *distinct* values of a column, so every row is checked at the
cost of its distinct values. Categories marked ``strict`` (all but the two fuzzy
heuristics: honorific + name, street address) always see every value; the fuzzy ones
see a seeded sample of at most ``max_values`` distinct values per column. Findings
never echo an identifying value in full: examples are masked (:func:`mask`, the first
character of each word kept) and rows are given by position.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..cards.schema import PrivacyPolicy
from ..errors import KitError, Problem
from ..registry import Registry

MAX_EXAMPLES = 5
DEFAULT_MAX_VALUES = 100_000


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


#: the identifier categories, by key
CATEGORIES: Registry[IdentifierCategory] = Registry(
    "identifier category",
    error=KitError,
    hint="kit.privacy.get_category_names()",
    plural="identifier categories",
)
#: keys in the order they were registered: the order of the scan, and of the findings in a column
_ORDER: list[str] = []


def register_category(category: IdentifierCategory, *, replace: bool = False) -> IdentifierCategory:
    """Add a category under its ``key``; a key taken already is refused unless ``replace=True``."""
    CATEGORIES.register(category, name=category.key, replace=replace)
    if category.key not in _ORDER:
        _ORDER.append(category.key)
    return category


def get_category(key: str) -> IdentifierCategory:
    """The category registered as *key*; raises :class:`~kit.errors.KitError` listing the registered ones."""
    return CATEGORIES.get(key)


def get_category_names() -> list[str]:
    """The keys of every identifier category, sorted."""
    return CATEGORIES.names()


def categories() -> list[IdentifierCategory]:
    """Every category: those registered in this process in registration order, then plug-ins by name."""
    loaded = dict(CATEGORIES.items())
    return [loaded[k] for k in _ORDER if k in loaded] + [c for k, c in loaded.items() if k not in _ORDER]


def name_pattern(*alternatives: str) -> re.Pattern:
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


_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)

register_category(
    IdentifierCategory(
        "person_name",
        "names",
        names=name_pattern(
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
        names=name_pattern(r"e_?mails?(?:_?address(?:es)?)?"),
        content=re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    )
)
register_category(
    IdentifierCategory(
        "phone",
        "telephone and fax numbers",
        names=name_pattern(r"(?:tel|telephone|phone|mobile|cell|cellphone|fax|pager)(?:_?(?:no|number|num))?"),
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
        names=name_pattern(
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
        names=name_pattern(
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
        names=name_pattern(r"zip", r"zip_?code", r"zipcode", r"post_?code", r"postal_?code", r"postcode_?district"),
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
        names=name_pattern(
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
        names=name_pattern(r"url", r"uri", r"website", r"web_?site", r"web_?page", r"homepage", r"link"),
        content=re.compile(r"\b(?:https?|ftp)://[^\s<>\"']+|\bwww\.[A-Za-z0-9-]+\.[^\s<>\"']+", re.IGNORECASE),
    )
)
register_category(
    IdentifierCategory(
        "ip_address",
        "IP addresses",
        names=name_pattern(r"ip", r"ip_?addr(?:ess)?", r"ipv4", r"ipv6"),
        content=re.compile(
            r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"
        ),
    )
)

#: columns holding ages; values over 89 are identifying (HIPAA Safe Harbor)
AGE_NAMES = name_pattern(r"age", r"age_?(?:years|yrs|in_years)", r"age_?at_?\w+", r"patient_?age")


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
    frame_name: str,
    column: str,
    series: pd.Series,
    *,
    max_values: int,
    seed: int,
    cats: Sequence[IdentifierCategory],
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
    for cat in cats:
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
        for cat in cats:
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


def _scan(
    frames: Mapping[str, pd.DataFrame], policy: PrivacyPolicy, max_values: int, seed: int
) -> tuple[list[Finding], list[tuple[str, int]]]:
    """The findings in every column not allowed by the policy, and the (column, distinct values) only sampled."""
    allowed = set(policy.allowed_identifiers)
    cats = categories()
    findings: list[Finding] = []
    sampled: list[tuple[str, int]] = []
    for name in frames:
        frame = frames[name]
        for column in frame.columns:
            if column in allowed:
                continue
            found, n_distinct = _scan_column(
                name, str(column), frame[column], max_values=max_values, seed=seed, cats=cats
            )
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
