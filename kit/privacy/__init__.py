"""The privacy gate in front of an open-data release.

:func:`check_release` looks at every table that would be released and blocks the
release (raises :class:`ReleaseBlocked`, one problem per reason) when it finds:

- **direct identifiers**, French and English (the HIPAA Safe Harbor categories and
  their French forms: names, e-mail addresses, phone numbers, dates finer than the
  year, ages over 89, addresses, postcodes and commune codes, social security
  numbers (NIR), hospital patient and stay numbers (IPP, NDA), record and account
  numbers, URLs, IP addresses), found by column name (French and English
  dictionaries), by content validated by the field's libraries (Presidio's
  recognizers, the NIR's key with ``stdnum``, phone numbering plans with
  ``phonenumbers``) over every column, numbers included, and by spaCy's French NER
  over free text and columns of names (:mod:`kit.privacy.detectors`,
  :mod:`kit.privacy.recognizers`);
- **quasi-identifier groups that are too small** (k-anonymity) or whose
  sensitive values are not diverse enough (l-diversity), on the columns and
  against the thresholds of the challenge's :class:`~kit.cards.schema.PrivacyPolicy`
  (:mod:`kit.privacy.risk`).

An explicit :class:`~kit.cards.schema.PrivacyOverride` (a reason and who decided)
lets a blocked release through; the data card then records it (:mod:`kit.privacy.gate`).

Content recognizers run over the *distinct* values of a column, every one of them,
so every row is checked at the cost of its distinct values. The NER, the expensive
part, sees the free-text values that may hold a name or a place, all of them up to
``max_values`` per column and a seeded sample above (the report's warnings say so).
Nothing is downloaded: spaCy's installed French pipeline, tldextract's bundled suffix
list. Reports never echo an identifying value in full: examples are masked (first
character of each word kept) and rows are given by position.

The identifier categories are a registry keyed by name (:data:`CATEGORIES`,
:func:`register_category`, :func:`get_category`, :func:`get_category_names`).
:func:`get_analyzer` is the Presidio analyzer the scan is built on, for French and
English text (imported on first use: Presidio and spaCy are not loaded by ``import kit``).
"""

from __future__ import annotations

from .detectors import (
    AGE_NAMES,
    CATEGORIES,
    DEFAULT_MAX_VALUES,
    MAX_EXAMPLES,
    Finding,
    IdentifierCategory,
    categories,
    get_category,
    get_category_names,
    mask,
    name_pattern,
    normalise_name,
    register_category,
    scan_identifiers,
)
from .gate import PrivacyReport, ReleaseBlocked, assess_release, check_release
from .risk import BAND_WIDTHS, AnonymityCheck, assess_anonymity


def __getattr__(name: str):
    """PEP 562: Presidio (about a second to import) only when its analyzer is asked for."""
    if name == "get_analyzer":
        from .recognizers import get_analyzer

        return get_analyzer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AGE_NAMES",
    "BAND_WIDTHS",
    "CATEGORIES",
    "DEFAULT_MAX_VALUES",
    "MAX_EXAMPLES",
    "AnonymityCheck",
    "Finding",
    "IdentifierCategory",
    "PrivacyReport",
    "ReleaseBlocked",
    "assess_anonymity",
    "assess_release",
    "categories",
    "check_release",
    "get_category",
    "get_analyzer",
    "get_category_names",
    "mask",
    "name_pattern",
    "normalise_name",
    "register_category",
    "scan_identifiers",
]
