"""The privacy gate in front of an open-data release.

:func:`check_release` looks at every table that would be released and blocks the
release (raises :class:`ReleaseBlocked`, one problem per reason) when it finds:

- **direct identifiers** (the HIPAA Safe Harbor categories: names, e-mail
  addresses, phone numbers, dates finer than the year, ages over 89, addresses
  and postcodes, record or account numbers, URLs, IP addresses), found by column
  name and by content patterns over text columns, including free text
  (:mod:`kit.privacy.detectors`);
- **quasi-identifier groups that are too small** (k-anonymity) or whose
  sensitive values are not diverse enough (l-diversity), on the columns and
  against the thresholds of the challenge's :class:`~kit.cards.schema.PrivacyPolicy`
  (:mod:`kit.privacy.risk`).

An explicit :class:`~kit.cards.schema.PrivacyOverride` (a reason and who decided)
lets a blocked release through; the data card then records it (:mod:`kit.privacy.gate`).

Content patterns run over the *distinct* values of a column, so every row is
checked at the cost of its distinct values. Categories marked ``strict`` (all but
the two fuzzy heuristics: honorific + name, street address) always see every
value; the fuzzy ones see a seeded sample of at most ``max_values`` distinct
values per column. Reports never echo an identifying value in full: examples are
masked (first character of each word kept) and rows are given by position.

The identifier categories are a registry keyed by name (:data:`CATEGORIES`,
:func:`register_category`, :func:`get_category`, :func:`get_category_names`).
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
    "get_category_names",
    "mask",
    "name_pattern",
    "normalise_name",
    "register_category",
    "scan_identifiers",
]
