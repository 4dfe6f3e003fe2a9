"""Direct identifiers, French and English, found by column name, by validated content and by NER.

An :class:`IdentifierCategory` is one kind of direct identifier (names, e-mail addresses,
phone numbers, dates finer than the year, ages over 89, addresses, postcodes and commune
codes, social security numbers, hospital and record numbers, URLs, IP addresses). It
says how to recognise it: a dictionary of column names (French and English, over
:func:`normalise_name`: lower case, accents stripped, ``_`` between words), the Presidio
entities that count as it (:mod:`kit.privacy.recognizers`), and, for plug-ins, a regex
over values. Categories are kept in a registry keyed by name (:data:`CATEGORIES`); a
plug-in adds one with :func:`register_category` or an entry point of the group
``challenge_kit.identifier_categories``. Findings carry the category's key.

:func:`scan_identifiers` checks every column of every released table, in this order:

1. **column name**: a name in a category's dictionary finds the column (all its rows);
   a few ambiguous names (``cp``, ``insee``) only when the values confirm it (``weak_names``).
2. **values**: datetime columns with dates finer than the year; ages over 89 in age columns.
3. **content**, over the *distinct* values of the column, every one of them: Presidio
   pattern recognizers validate what they match (a NIR's key with ``stdnum``, a phone
   number against its country's numbering plan with ``phonenumbers``, a postcode's
   département). Numbers are read as text too (integers without ``.0``), so a NIR
   stored as an integer is found; a number is an identifier by content alone only when
   it is long enough to be a NIR with its key (15 digits) — shorter ones (lab values,
   postcodes, phone numbers that lost their leading 0) only when the column's name
   says so. A match counts on its own from :data:`ALONE_SCORE` (a spaced NIR, ``+33 6
   …``, ``Mme Bernard``); a bare valid number (a compact NIR, ``0614216563``) counts in
   free text, in a column named for its category, or when such numbers are at least
   :data:`SHARE` of the column's distinct values.
4. **NER** (spaCy's French pipeline, NER only, ``nlp.pipe`` in batches), the expensive
   part, only where it can find something. In free-text columns (long strings with
   spaces), over the values that may hold a name or a place (a capitalised word that
   does not start a sentence, or two in a row): ``NER: PER``, ``NER: LOC``; it sees all
   of them up to ``max_values`` (:data:`DEFAULT_MAX_VALUES`), above that a seeded sample
   of ``max_values`` (a rate of ``max_values / candidates``), and the report's warnings
   say so. In columns whose values look like names (one to four capitalised words, no
   digit; at least :data:`MIN_NAME_VALUES` distinct values and :data:`NAME_DISTINCT_RATE`
   of the rows, so not a category): each value is put in three carrier sentences
   (:func:`kit.privacy.recognizers.names_tagged`), and the column is a column of names
   when the NER tags its values as persons :data:`PERSON_SHARE` of the time or more
   (``NER: PER on 69% of the values``), measured on a seeded sample of at most
   :data:`NAME_SAMPLE` distinct values: a decision about the whole column, which then
   counts all its rows. A column named for names (``nom``, ``prenom``, ``last_name``)
   is found by its name without the NER.

Findings never echo an identifying value in full: examples are masked (:func:`mask`, the
first character of each word kept) and rows are given by position.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..cards.schema import PrivacyPolicy
from ..errors import KitError, Problem
from ..registry import Registry

if TYPE_CHECKING:  # pragma: no cover - Presidio is imported when a scan runs
    from .recognizers import ValueHit

MAX_EXAMPLES = 5
#: the NER sees at most this many distinct values of a free-text column (a seeded sample above)
DEFAULT_MAX_VALUES = 5_000
#: a content match scored this high counts on its own (see kit.privacy.recognizers)
ALONE_SCORE = 0.5
#: a bare valid number scores from here: it counts in free text, in a column named for its
#: category, or when such numbers are at least SHARE of the column's distinct values
MEDIUM_SCORE = 0.3
SHARE = 0.5
#: a column of names: this many distinct values at least (and NAME_DISTINCT_RATE of its rows: not a
#: category), NAME_SHAPED of them shaped like names, and the NER tags them as persons PERSON_SHARE of the time
MIN_NAME_VALUES = 5
NAME_DISTINCT_RATE = 0.02
#: the share of names is measured on a seeded sample of at most this many distinct values
NAME_SAMPLE = 1_000
NAME_SHAPED = 0.8
PERSON_SHARE = 0.5
#: free text: distinct values this long on average, with a space in at least half of them
FREE_TEXT_CHARS = 20


# -- identifier categories (a registry keyed by name) ---------------------------------------
@dataclass(frozen=True)
class IdentifierCategory:
    """One kind of direct identifier: how to recognise it by column name and by content.

    ``names``: a pattern over normalised column names (a match finds the column).
    ``weak_names``: names that find the column only when at least :data:`SHARE` of its
    distinct values are recognised as this category. ``entities``: the Presidio entities
    (:mod:`kit.privacy.recognizers`) that count as this category. ``content``: a regex
    over values; plug-in categories without entities are found by it (every distinct
    value, filtered by ``accept``); for the built-in fuzzy categories (``strict=False``:
    names and addresses, partly found by NER over a sample) it is the pattern their
    recognizer uses. ``name_check``: for name matches, True when the values really are
    identifying (e.g. not years only).
    """

    key: str
    label: str
    names: re.Pattern | None = None
    content: re.Pattern | None = None
    strict: bool = True
    #: keeps a content match only when it returns True (plug-in content patterns)
    accept: Callable[[str], bool] | None = None
    #: for name matches: True when the column's values really are identifying
    name_check: Callable[[pd.Series], bool] | None = None
    entities: tuple[str, ...] = ()
    weak_names: re.Pattern | None = None


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


def _is_year(values: pd.Series) -> bool:
    """True when every value is a four-digit year (dates at year precision are allowed)."""
    v = pd.to_numeric(values.dropna().astype(str).str.strip(), errors="coerce")
    return bool(len(v)) and bool(v.notna().all()) and bool(((v % 1 == 0) & v.between(1800, 2200)).all())


def _not_year_only(values: pd.Series) -> bool:
    return not _is_year(values)


#: an honorific and a name: Mme Bernard, M. Dupont, Dr Martin, Pr Leroy, Mrs Smith, Dr. Smith
HONORIFIC_NAME = re.compile(
    r"(?<![\w.])(?:M\.|MM\.|Mmes?|Mlles?|Mr|Mrs|Ms|Miss|Mx|Drs?|Dre|Pr|Prof|Monsieur|Madame|Mademoiselle"
    r"|Docteur|Professeur)\.?\s+(?:(?:de|du|des|le|la|van|von|d['’])\s*)?[A-ZÀ-ÖØ-Þ][A-Za-zÀ-ÖØ-öø-ÿ'’-]+"
)
#: a street address: 12 rue de la Paix, 3 bis avenue Foch, 221 Baker Street
STREET_ADDRESS = re.compile(
    r"\b\d{1,4}(?:\s?(?i:bis|ter))?,?\s+(?i:rue|avenue|av\.|bd|boulevard|place|impasse|all[ée]e|chemin|route|quai"
    r"|cours|square|passage|r[ée]sidence|lotissement|lieu-dit|hameau|voie|sentier|esplanade|promenade|faubourg"
    r"|cit[ée])\s+(?:(?i:de\s+la|de\s+l['’]|de|du|des|d['’])\s*)?[A-ZÀ-ÖØ-Þ][\w'’-]+"
    r"|\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct"
    r"|Way|Place|Pl|Terrace|Close|Crescent|Square|Sq)\b\.?"
)

# The column-name dictionaries, over normalise_name(): English, then French. Each alternative
# matches a whole run of "_"-separated words; "nom" alone, or with whose name it is (not nom_service).
register_category(
    IdentifierCategory(
        "person_name",
        "names",
        names=re.compile(
            r"(?:^|_)(?:(?:first|last|given|family|full|middle|maiden|patient|person|nurse|doctor|physician|"
            r"mother|father|contact|kin|owner|user)_?)?names?(?:_|$)"
            r"|(?:^|_)(?:surname|forename|initials|initiales|patronyme|prenoms?)(?:_|$)"
            r"|(?:^|_)noms?(?:_(?:de_|du_|d_)?(?:naissance|usage|famille|jeune_fille|marital|maritale|epoux|epouse"
            r"|patient|patiente|malade|medecin|mere|pere|complet|prenoms?))?$"
        ),
        content=HONORIFIC_NAME,
        strict=False,
        entities=("PERSON",),
    )
)
register_category(
    IdentifierCategory(
        "email",
        "e-mail addresses",
        names=name_pattern(
            r"e_?mails?(?:_?address(?:es)?)?",
            r"courriels?|mails?|mel|adresse_?(?:e_?)?mail|adresse_?electronique",
        ),
        entities=("EMAIL_ADDRESS",),
    )
)
register_category(
    IdentifierCategory(
        "phone",
        "telephone and fax numbers",
        names=name_pattern(
            r"(?:tel|telephone|phone|mobile|cell|cellphone|fax|pager|portable|gsm|telecopie)(?:_?(?:no|number|num))?",
            r"(?:num|numero|no|n)_?(?:de_)?(?:tel|telephone|portable|mobile|fax)|telephones",
        ),
        entities=("PHONE_NUMBER",),
    )
)
register_category(
    IdentifierCategory(
        "date",
        "dates finer than the year",
        names=name_pattern(
            r"dob|d_?o_?b|birth_?date|date_?of_?birth|birthday|dod|date_?of_?death|date|datetime|timestamp",
            r"\w+_date|date_\w+|\w+_dt",
            r"ddn|horodatage",
        ),
        name_check=_not_year_only,
        entities=("DATE_TIME",),
    )
)
register_category(IdentifierCategory("age_over_89", "ages over 89", entities=("AGE_OVER_89",)))
register_category(
    IdentifierCategory(
        "address",
        "street addresses and places smaller than a state",
        names=name_pattern(
            r"address(?:_?line_?\d*)?|addr|street|house_?(?:no|number)|city|town|county|municipality|village",
            r"neighbou?rhood|residence|geolocation|latitude|longitude|lat|lon|lng",
            # not adresse_mail, adresse_ip (e-mail, IP), not code_commune (a commune code: postcode)
            r"adresses?(?!_?(?:e_?)?mail|_?ip(?:_|$)|_?electronique)(?:_?postale)?|rue|voie|ville|localite|domicile",
            r"(?<!code_)communes?(?:_?(?:de_)?(?:naissance|residence|domicile))?",
            r"lieu_?(?:de_)?(?:naissance|residence|domicile|vie)|coordonnees(?:_?gps)?|gps",
        ),
        content=STREET_ADDRESS,
        strict=False,
        entities=("LOCATION",),
    )
)
register_category(
    IdentifierCategory(
        "postcode",
        "postcodes, ZIP codes and commune codes",
        names=name_pattern(
            r"zip|zip_?code|zipcode|post_?code|postal_?code|postcode_?district",
            r"code_?postal|codes_?postaux|code_?commune|code_?insee_?commune|code_?geo(?:graphique)?",
        ),
        weak_names=name_pattern(r"cp|insee|code_?insee"),
        entities=("FR_POSTCODE", "FR_COMMUNE_CODE", "POSTCODE"),
    )
)
register_category(
    IdentifierCategory(
        "national_id",
        "social security and national identity numbers",
        names=name_pattern(
            r"ssn|social_?security(?:_?(?:no|number))?",
            r"nir|ins(?:_?nir)?|secu|securite_?sociale|nss|matricule_?(?:secu|assure|ins)",
            r"(?:num|numero|no|n)_?(?:de_)?(?:secu|securite_?sociale|insee|ss)",
        ),
        entities=("FR_NIR", "US_SSN"),
    )
)
register_category(
    IdentifierCategory(
        "record_number",
        "medical record, account and other identifying numbers",
        names=name_pattern(
            r"mrn|nhs(?:_?(?:no|number))?|medical_?record(?:_?(?:no|number|id))?|record_?(?:no|number|num|id)",
            r"(?:hospital|patient)_?(?:no|number|id)|member_?(?:no|number|id)",
            r"(?:account|insurance|health_?plan|beneficiary)(?:_?(?:no|number|id))?",
            r"passport(?:_?(?:no|number))?|(?:licen[cs]e|certificate|serial)_?(?:no|number)|licen[cs]e_?plate",
            r"device_?(?:serial|id)|vehicle_?id|vin",
            # hospital patient (IPP, NIP), stay (NDA, IEP) and file numbers; bank accounts
            r"ipp|nip|nda|iep|dossier(?:_?(?:patient|medical|num|numero))?|id_?(?:patient|sejour|dossier)",
            r"(?:num|numero|no|n)_?(?:de_)?(?:dossier|sejour|venue|patient|admission|hospitalisation|passeport)",
            r"passeport|matricule|iban|rib",
        ),
        entities=("HOSPITAL_NUMBER", "IBAN_CODE"),
    )
)
register_category(
    IdentifierCategory(
        "url",
        "web addresses (URLs)",
        names=name_pattern(r"url|uri|website|web_?site|web_?page|homepage|link", r"site_?web|lien|page_?web"),
        entities=("URL",),
    )
)
register_category(
    IdentifierCategory(
        "ip_address",
        "IP addresses",
        names=name_pattern(r"ip|ip_?addr(?:ess)?|ipv4|ipv6", r"adresse_?ip"),
        entities=("IP_ADDRESS",),
    )
)

#: columns holding ages; values over 89 are identifying (HIPAA Safe Harbor)
AGE_NAMES = name_pattern(r"age", r"age_?(?:years|yrs|in_years)", r"age_?at_?\w+", r"patient_?age")


def normalise_name(name) -> str:
    """A column name in the form the dictionaries are written in: lower case, accents stripped, ``_`` between words.

    ``DateOfBirth`` -> ``date_of_birth``; ``E-mail`` -> ``e_mail``; ``Prénom`` -> ``prenom``; ``N° Sécu`` -> ``n_secu``.
    """
    text = str(name).replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae").replace("Æ", "Ae").replace("ß", "ss")
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def mask(value, limit: int = 40) -> str:
    """Show the shape of a value, never the value: the first character of each word is kept."""
    text = str(value)
    cut = len(text) > limit
    text = re.sub(r"[^\W_]+", lambda m: m.group(0)[0] + "*" * (len(m.group(0)) - 1), text[:limit])
    return text + ("…" if cut else "")


# -- findings --------------------------------------------------------------------------------
#: ``Finding.detected_by`` of a finding made by the column's name
BY_NAME = "column name"


@dataclass(frozen=True)
class Finding:
    """A direct identifier found in one column of one released table.

    ``detected_by`` says how: ``"column name"``, ``"values"`` (datetime values, ages),
    ``"content: <what was validated>"`` (e.g. ``"content: NIR key valid"``), ``"NER: PER"``.
    """

    frame: str
    column: str
    category: str
    detected_by: tuple[str, ...]
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


# -- the scan ------------------------------------------------------------------------------------
class _Timer:
    """Seconds spent per phase of the scan, when the caller asks for them."""

    def __init__(self, into: dict[str, float] | None):
        self.into = into

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.into is not None:
                self.into[name] = self.into.get(name, 0.0) + time.perf_counter() - start


#: one to four capitalised words (or words in capitals), no digit: Dupont, Jean-Pierre, LE GOFF, N'Diaye
_NAME_WORD = r"(?:[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+|[A-ZÀ-ÖØ-Þ]{2,})(?:['’-](?:[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+|[A-ZÀ-ÖØ-Þ]{2,}))*"
_NAME_SHAPE = re.compile(
    rf"^(?:(?:de|du|des|le|la|van|von|d['’])\s?)?{_NAME_WORD}(?:\s+(?:(?:de|du|des|le|la|van|von|d['’])\s?)?{_NAME_WORD}){{0,3}}$"
)


def _as_text(value) -> str:
    """A value as text; an integral float without its ``.0``."""
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _looks_free_text(values: Sequence[str]) -> bool:
    if not values:
        return False
    sample = values[:2000]
    mean = sum(len(v) for v in sample) / len(sample)
    spaced = sum(" " in v.strip() for v in sample) / len(sample)
    return mean >= FREE_TEXT_CHARS and spaced >= 0.5


def _sample(n: int, max_values: int, seed: int) -> np.ndarray:
    """Indices of the values the NER sees: all of them up to max_values, else a seeded sample of max_values."""
    if n <= max_values:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_values, replace=False))


def _numbers_as_text(uniques, *, every: bool) -> tuple[list[str | None], np.ndarray]:
    """Distinct numbers as text (integers without ``.0``; None for the others), and which of them can be a NIR.

    Only the integers of 15 digits are written out, unless *every* integer is wanted.
    """
    nums = pd.Series(uniques).astype("float64").to_numpy()
    integral = np.isfinite(nums) & (nums == np.floor(nums))
    long = integral & (np.abs(nums) >= 1e14) & (np.abs(nums) < 1e15)
    raw = np.asarray(uniques)
    texts: list[str | None] = [None] * len(nums)
    for i in np.flatnonzero(integral if every else long):
        texts[i] = str(int(raw[i])) if raw.dtype.kind in "iu" else str(int(nums[i]))
    return texts, np.flatnonzero(long)


def _strings(uniques) -> list[str]:
    """Distinct values as text: strings as they are, integral floats without ``.0``."""
    values = list(uniques)
    if all(type(v) is str for v in values):
        return values
    return [_as_text(v) for v in values]


def _counted(hits: list[ValueHit], *, named: bool, free_text: bool, n_values: int) -> list[ValueHit]:
    """The hits of one category that count in a column (see ALONE_SCORE, MEDIUM_SCORE, SHARE)."""
    strong = [h for h in hits if h.score >= ALONE_SCORE]
    medium = [h for h in hits if MEDIUM_SCORE <= h.score < ALONE_SCORE]
    out = list(strong)
    if medium and (named or free_text or len({h.value for h in medium + strong}) >= SHARE * n_values):
        out += medium
    if named:
        out += [h for h in hits if h.score < MEDIUM_SCORE]
    return out


class _ColumnScan:
    """One column: its non-null rows, its distinct values, and the findings so far, step by step."""

    def __init__(self, frame: str, column: str, series: pd.Series, cats: Sequence[IdentifierCategory]):
        self.frame, self.column, self.series, self.cats = frame, column, series, cats
        present = series.notna().to_numpy()
        self.positions = np.flatnonzero(present)
        self.values = series[present]
        self.norm = normalise_name(column)
        self.found: dict[str, Finding] = {}
        self.free_text = False
        self.sampled_from = 0
        self.codes = np.zeros(0, dtype=np.int64)
        self.named: set[str] = set()
        self.weakly: set[str] = set()

    def add(self, cat: str, how: str, pos: np.ndarray, example: str, *, sampled: bool = False) -> None:
        old = self.found.get(cat)
        if old is None:
            rows = tuple(int(p) for p in pos[:MAX_EXAMPLES])
            self.found[cat] = Finding(
                self.frame, self.column, cat, (how,), int(pos.size), rows, example, self.free_text, sampled
            )
            return
        merged = np.union1d(np.asarray(old.rows), pos)
        self.found[cat] = replace(
            old,
            detected_by=old.detected_by + ((how,) if how not in old.detected_by else ()),
            n_rows=max(old.n_rows, int(pos.size)),
            rows=tuple(int(p) for p in merged[:MAX_EXAMPLES]),
            free_text=old.free_text or self.free_text,
            sampled=old.sampled or sampled,
        )

    def findings(self) -> list[Finding]:
        order = {k: i for i, k in enumerate(_ORDER)}
        return sorted(self.found.values(), key=lambda f: order.get(f.category, len(order)))

    def rows_of(self, index: Iterable[int]) -> np.ndarray:
        """Row positions of the rows holding one of the distinct values *index*."""
        return self.positions[np.isin(self.codes, np.fromiter(index, dtype=np.int64))]

    def named_for(self, key: str) -> bool:
        """True when the column was found for this category by its name."""
        return key in self.found and BY_NAME in self.found[key].detected_by

    # 1. the column's name ----------------------------------------------------------------------
    def by_name(self) -> None:
        first = mask(_as_text(self.values.iloc[0]))
        for cat in self.cats:
            if cat.names is not None and cat.names.search(self.norm):
                self.named.add(cat.key)
                if cat.name_check is None or cat.name_check(self.values):
                    self.add(cat.key, BY_NAME, self.positions, first)
            elif cat.weak_names is not None and cat.weak_names.search(self.norm):
                self.weakly.add(cat.key)

    # 2. dates stored as dates, ages over 89 ------------------------------------------------------
    def by_values(self) -> None:
        if pd.api.types.is_datetime64_any_dtype(self.series):
            stamps = pd.to_datetime(self.values)
            finer = ~((stamps.dt.month == 1) & (stamps.dt.day == 1) & (stamps.dt.normalize() == stamps))
            if finer.any():
                self.add("date", "values", self.positions[finer.to_numpy()], mask(stamps[finer].iloc[0].date()))
        if AGE_NAMES.search(self.norm):
            ages = pd.to_numeric(self.values, errors="coerce")
            old = (ages > 89).to_numpy()
            if old.any():
                self.add("age_over_89", "values", self.positions[old], "over 89")

    # 3. content, over every distinct value --------------------------------------------------------
    def by_content(self, rec) -> list[str] | None:
        """Run the recognizers over the distinct values; returns them as text (None for a numeric column)."""
        self.codes, uniques = pd.factorize(self.values, sort=False)
        context = self.named | self.weakly
        wanted = {e for c in self.cats if c.key in context for e in c.entities}
        ctx = [r for r in rec.context_recognizers() if set(r.supported_entities) & wanted]
        strings: list[str] | None = None
        if pd.api.types.is_numeric_dtype(self.series):
            # a number alone is an identifier only when it can be a NIR with its key (15 digits);
            # shorter ones are read only when the column's name points to a category
            texts, content_idx = _numbers_as_text(uniques, every=bool(ctx))
        else:
            strings = _strings(uniques)
            texts, content_idx = [*strings], np.arange(len(strings))
            self.free_text = _looks_free_text(strings)
        ids = [int(i) for i in content_idx]
        hits = rec.analyze_values([texts[i] for i in ids], rec.content_recognizers(), ids=ids)
        if ctx:
            ids = [i for i, t in enumerate(texts) if t is not None]
            hits += rec.analyze_values([texts[i] for i in ids], ctx, ids=ids)
        by_entity: dict[str, list[ValueHit]] = {}
        for h in hits:
            by_entity.setdefault(h.entity, []).append(h)
        for cat in self.cats:
            if cat.entities:
                mine = [h for e in cat.entities for h in by_entity.get(e, ())]
            elif cat.content is not None:  # a plug-in's regex
                mine = [
                    rec.ValueHit(i, cat.key, 1.0, "", m.group(0))
                    for i, t in enumerate(texts)
                    if t is not None
                    for m in cat.content.finditer(t)
                    if cat.accept is None or cat.accept(m.group(0))
                ]
            else:
                continue
            if mine:
                self._add_content(cat, mine, len(texts))
        return strings

    def _add_content(self, cat: IdentifierCategory, hits: list[ValueHit], n_values: int) -> None:
        if cat.key in self.weakly and len({h.value for h in hits}) >= SHARE * n_values:
            self.add(cat.key, BY_NAME, self.positions, mask(_as_text(self.values.iloc[0])))
        kept = _counted(hits, named=self.named_for(cat.key), free_text=self.free_text, n_values=n_values)
        if not kept:
            return
        best: dict[int, ValueHit] = {}
        for h in kept:  # the best evidence in each value
            if h.value not in best or h.score > best[h.value].score:
                best[h.value] = h
        rows = self.rows_of(sorted(best))
        example = best[int(self.codes[np.searchsorted(self.positions, rows[0])])].text
        for how, _ in Counter(h.how for h in best.values()).most_common(2):
            self.add(cat.key, f"content: {how}" if how else "content", rows, mask(example))

    # 4. NER, where it can find something ----------------------------------------------------------
    def by_ner_in_free_text(self, strings: list[str], rec, *, max_values: int, seed: int, timer: _Timer) -> None:
        """Persons and places in the values that may hold one (a capital that does not start a sentence)."""
        candidates = [i for i, t in enumerate(strings) if rec.name_signal(t)]
        chosen = [candidates[k] for k in _sample(len(candidates), max_values, seed)]
        if not chosen:
            return
        sampled = len(chosen) < len(candidates)
        with timer.phase("load NER model"):
            rec.load_nlp()
        with timer.phase("NER (free text)"):
            results = rec.ner_entities([strings[i] for i in chosen])
        for entity, label in (("PERSON", "PER"), ("LOCATION", "LOC")):
            keys = [c.key for c in self.cats if entity in c.entities]
            tagged = [(i, r) for i, rs in zip(chosen, results, strict=True) for r in rs if r.entity_type == entity]
            if not tagged:
                continue
            rows = self.rows_of({i for i, _ in tagged})
            i, r = tagged[0]
            for key in keys:
                self.add(key, f"NER: {label}", rows, mask(strings[i][r.start : r.end]), sampled=sampled)
        self.sampled_from = len(strings) if sampled else 0

    def by_ner_on_names(self, strings: list[str], rec, *, max_values: int, seed: int, timer: _Timer) -> None:
        """A column of names: values shaped like names that the NER tags as persons (a seeded sample of them)."""
        person = [c.key for c in self.cats if "PERSON" in c.entities]
        if not person or set(person) & set(self.found):
            return
        if len(strings) < max(MIN_NAME_VALUES, NAME_DISTINCT_RATE * self.positions.size):
            return  # too few distinct values: a category, not names
        chosen = _sample(len(strings), min(max_values, NAME_SAMPLE), seed)
        shaped = [strings[i].strip() for i in chosen if _NAME_SHAPE.match(strings[i].strip())]
        if len(shaped) < max(MIN_NAME_VALUES, NAME_SHAPED * len(chosen)):
            return
        with timer.phase("load NER model"):
            rec.load_nlp()
        with timer.phase("NER (names)"):
            tagged = rec.names_tagged(shaped)
        share = sum(tagged) / len(shaped)
        if share >= PERSON_SHARE:
            example = mask(shaped[int(np.argmax(tagged))])
            for key in person:
                how = f"NER: PER on {share:.0%} of the values"
                self.add(key, how, self.positions, example, sampled=len(chosen) < len(strings))


def _scan_column(
    frame_name: str,
    column: str,
    series: pd.Series,
    *,
    max_values: int,
    seed: int,
    cats: Sequence[IdentifierCategory],
    timer: _Timer,
) -> tuple[list[Finding], int]:
    """Findings in one column, and its number of distinct values when the NER saw only a sample of them."""
    col = _ColumnScan(frame_name, column, series, cats)
    if col.positions.size == 0:
        return [], 0
    with timer.phase("column names"):
        col.by_name()
    with timer.phase("values"):
        col.by_values()
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_bool_dtype(series):
        return col.findings(), 0
    from . import recognizers as rec  # Presidio: imported when a scan needs it

    with timer.phase("patterns"):
        strings = col.by_content(rec)
    if strings is not None:
        ner = col.by_ner_in_free_text if col.free_text else col.by_ner_on_names
        ner(strings, rec, max_values=max_values, seed=seed, timer=timer)
    return col.findings(), col.sampled_from


def _scan(
    frames: Mapping[str, pd.DataFrame],
    policy: PrivacyPolicy,
    max_values: int,
    seed: int,
    *,
    timings: dict[str, float] | None = None,
) -> tuple[list[Finding], list[tuple[str, int]]]:
    """The findings in every column not allowed by the policy, and the (column, distinct values) the NER sampled.

    ``timings``, when given, receives the seconds spent per phase (column names, values,
    patterns, NER on free text, NER on names, loading the NER model).
    """
    allowed = set(policy.allowed_identifiers)
    cats = categories()
    timer = _Timer(timings)
    findings: list[Finding] = []
    sampled: list[tuple[str, int]] = []
    with timer.phase("load recognizers"):
        from . import recognizers as rec

        rec.content_recognizers()
    for name in frames:
        frame = frames[name]
        for column in frame.columns:
            if column in allowed:
                continue
            found, n_distinct = _scan_column(
                name, str(column), frame[column], max_values=max_values, seed=seed, cats=cats, timer=timer
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
    timings: dict[str, float] | None = None,
) -> list[Finding]:
    """Direct identifiers in every column of every frame, except the policy's allowed columns.

    ``max_values``: the NER sees at most this many distinct values per column (a sample
    seeded by ``seed`` above). ``timings``: a dict that receives the seconds per phase.
    """
    return _scan(frames, policy or PrivacyPolicy(), max_values, seed, timings=timings)[0]
