"""Presidio recognizers for direct identifiers in French and English, and the engine that runs them.

:func:`get_analyzer` is a Presidio :class:`~presidio_analyzer.AnalyzerEngine` for French and
English: spaCy's French pipeline ``fr_core_news_sm`` (loaded once, on first use, NER only)
finds persons and places; pattern recognizers work in both languages. Nothing is
downloaded: the NLP engine is given the installed model, and the e-mail recognizer checks
domains against tldextract's bundled snapshot of the public suffix list.

===================  ==================================================================
entity               recognised by (:func:`content_recognizers`)
===================  ==================================================================
``FR_NIR``           the French social security number (NIR), spaced, dotted or compact,
                     Corsica 2A/2B, its key checked by ``stdnum.fr.nir``
``PHONE_NUMBER``     numbers valid in the plan of France (``06 14 21 65 63``, ``06.14.21.65.63``,
                     ``+33 6 …``, ``0033 6 …``), of another European country or the US
                     (``phonenumbers``)
``FR_POSTCODE``      a postcode (valid département) before a town, or after "code postal"
``POSTCODE``         UK postcodes, US ZIP codes
``HOSPITAL_NUMBER``  patient and stay numbers with their prefix (``IPP85893910``, ``NDA
                     123456``), record numbers with their label (``MRN 12345``)
``PERSON``           an honorific and a name (``Mme Bernard``, ``M. Dupont``, ``Dr Martin``);
                     persons from the NER (``PER``)
``LOCATION``         street addresses (``12 rue de la Paix``); places from the NER (``LOC``)
``DATE_TIME``        dates finer than the year, in French or English
``AGE_OVER_89``      ages over 89 (``93 ans``, ``aged 93``)
``EMAIL_ADDRESS``,   Presidio's: e-mail addresses (domain checked offline), URLs (with a
``URL``, ...         scheme or ``www.``), IP addresses, US SSNs (grouped), IBANs (checksum)
===================  ==================================================================

Scores say how much a match alone is worth: from 0.5 it identifies on its own (a spaced
NIR with a valid key, ``+33 6 …``, ``Mme Bernard``); between 0.3 and 0.5 it is a bare
number, valid but perhaps a coincidence (a compact NIR, ``0614216563``); below 0.3 it is
an identifier only when its column's name says so (:func:`context_recognizers`: a bare
5-digit postcode, an INSEE commune code, a bare hospital number).
:mod:`kit.privacy.detectors` decides what counts.

:func:`analyze_values` runs recognizers over many short values at once (one joined text
per chunk, offsets mapped back to the values): it costs what scanning the text costs,
not a Presidio call per value. :func:`ner_entities` runs the NER over free text with
``nlp.pipe`` batching; :func:`names_tagged` asks it whether bare values are persons.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import phonenumbers
from presidio_analyzer import (
    AnalysisExplanation,
    AnalyzerEngine,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)
from stdnum.fr import nir as stdnum_nir

from .detectors import ALONE_SCORE, HONORIFIC_NAME, STREET_ADDRESS

#: the spaCy pipeline of the NER, and the components it does not need (the NER has its own tok2vec)
NER_MODEL = "fr_core_news_sm"
NER_EXCLUDE = ("tok2vec", "morphologizer", "parser", "senter", "attribute_ruler", "lemmatizer")
LANGUAGES = ("fr", "en")
#: the NER labels kept, as Presidio entities (the French model's labels: PER, LOC, ORG, MISC)
NER_LABELS = {"PER": "PERSON", "LOC": "LOCATION"}
NER_ENTITIES = tuple(NER_LABELS.values())
NER_SCORE = 0.85
#: a value put in these sentences is tagged PERSON by the NER more often when it is a name (see names_tagged)
NAME_CARRIERS = ("{}, né le 3 mars.", "{} est arrivé.", "{} a été vu en consultation.")

# -- French administrative codes --------------------------------------------------------------
#: départements: 01-19, 2A, 2B, 21-95, overseas 971-976
DEPARTEMENTS = frozenset([f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B"] + [f"97{d}" for d in range(1, 7)])


def is_fr_postcode(code: str) -> bool:
    """Five digits whose first two (three overseas) are a département; Corsica's are 20xxx, Monaco 98000."""
    code = code.strip()
    if len(code) == 4 and code.isdigit():  # an integer column lost the leading zero
        code = "0" + code
    if len(code) != 5 or not code.isdigit() or code == "00000":
        return False
    return (
        code[:2] in DEPARTEMENTS
        or code[:2] == "20"
        or code[:3] in DEPARTEMENTS
        or code[:3] in {"980", "986", "987", "988"}
    )


def is_commune_code(code: str) -> bool:
    """An INSEE commune code: the département (2A/2B for Corsica, 97x overseas) and the commune's number."""
    code = code.strip().upper()
    if len(code) != 5 or not code[2:].isdigit():
        return False
    return code[:2] in DEPARTEMENTS or code[:3] in DEPARTEMENTS


_NIR_SHAPE = re.compile(r"[1-478]\d{4}(?:\d{2}|2[AB])\d{8}")
_NO_SEPARATORS = str.maketrans("", "", " .")


def is_nir(text: str) -> bool:
    """A NIR: 15 characters, sex 1/2 (3, 4, 7, 8 for provisional numbers), a possible month, and a valid
    key (``stdnum.fr.nir``'s, Corsica's 2A/2B counted as it says)."""
    number = text.translate(_NO_SEPARATORS).upper()
    if not _NIR_SHAPE.fullmatch(number):
        return False
    month = int(number[3:5])
    return (1 <= month <= 12 or month >= 20) and stdnum_nir.calc_check_digits(number) == number[13:]


# -- recognizers --------------------------------------------------------------------------------
class ScoredPatternRecognizer(PatternRecognizer):
    """A pattern recognizer that keeps its patterns' scores (Presidio raises a validated match to 1.0).

    ``check`` validates the match; a failed check drops it. Case matters unless a pattern
    says otherwise (``(?i:…)``). ``prefilter``: a cheap regex every value holding a match
    contains (see :func:`analyze_values`).
    """

    name: str
    patterns: list[Pattern]

    def __init__(
        self,
        entity: str,
        patterns: list[Pattern],
        *,
        language: str,
        name: str,
        context=None,
        check=None,
        prefilter: str | None = None,
    ):
        self._check = check
        self._compiled: dict[str, re.Pattern] = {}
        self.prefilter = re.compile(prefilter) if prefilter else None
        super().__init__(
            supported_entity=entity,
            patterns=patterns,
            context=context,
            supported_language=language,
            name=name,
            global_regex_flags=re.MULTILINE,
        )

    def invalidate_result(self, pattern_text: str) -> bool | None:
        if self._check is None:
            return None
        return not self._check(pattern_text)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        """Presidio's pattern matching, lighter per match: many values are scanned at once."""
        results = []
        for pattern in self.patterns:
            compiled = self._compiled.get(pattern.regex)
            if compiled is None:
                compiled = self._compiled[pattern.regex] = re.compile(pattern.regex, re.MULTILINE)
            why = AnalysisExplanation(self.name, pattern.score, pattern_name=pattern.name, pattern=pattern.regex)
            for m in compiled.finditer(text):
                start, end = m.span()
                if start == end or (self._check is not None and not self._check(m.group(0))):
                    continue
                results.append(RecognizerResult(self.supported_entities[0], start, end, pattern.score, why))
        return _dedupe(results) if len(self.patterns) > 1 else results


def _dedupe(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Drop a result contained in the one kept before it with a score as high (sorted by start, longest first)."""
    results.sort(key=lambda r: (r.start, r.start - r.end, -r.score))
    out: list[RecognizerResult] = []
    for r in results:
        if out and out[-1].start <= r.start and r.end <= out[-1].end and r.score <= out[-1].score:
            continue
        out.append(r)
    return out


class NirRecognizer(ScoredPatternRecognizer):
    """The French social security number (NIR), its key checked: grouped, it identifies on its own."""

    PATTERN = r"(?<![\w.+])[1-478][ .]?\d{2}[ .]?\d{2}[ .]?(?:\d{2}|2[ABab])[ .]?\d{3}[ .]?\d{3}[ .]?\d{2}(?!\w|[.,]\d)"
    CONTEXT = ["nir", "secu", "sécu", "sécurité", "securite", "sociale", "insee", "ssn", "social", "security"]
    GROUPED, COMPACT = 0.95, 0.45

    def __init__(self, language: str = "fr"):
        super().__init__(
            "FR_NIR",
            [Pattern("NIR key valid", self.PATTERN, self.GROUPED)],
            language=language,
            name="FrNirRecognizer",
            context=self.CONTEXT,
            check=is_nir,
        )

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for r in results:
            if not re.search(r"[ .]", text[r.start : r.end]):
                r.score = self.COMPACT
        return results


class EuropeanPhoneRecognizer(PhoneRecognizer):
    """Phone numbers valid in the numbering plan of France first, then of other countries.

    A number written with separators or an international prefix identifies on its own; a
    compact national number (``0614216563``) scores lower: a column of them still counts.
    Only spans shaped like phone numbers are parsed, so long texts cost little.
    """

    name: str

    #: France first; Italy, whose plan accepts the most lengths, last of Europe
    REGIONS = ("FR", "BE", "CH", "LU", "MC", "GB", "IE", "DE", "NL", "ES", "PT", "IT", "US")
    SHAPE = re.compile(
        r"(?<![\w+])(?<!\d[ .,\-])(?:"
        r"(?:\+|00)\s?[1-9]\d{0,2}(?:[\s.\-]?\(0\))?(?:[\s.\-]?\d){6,12}"  # international: +33 6 14 21 65 63
        r"|\(?0\d{1,4}\)?(?:[\s.\-]?\d){6,10}"  # national, trunk prefix 0: 06 14 21 65 63, 0161 496 0000
        r"|\(?\d{3}\)?[\s.\-]\d{3}[\s.\-]\d{4}"  # North American: (555) 123-4567
        r")(?!\w|[.,]\d)"
    )
    SEPARATED, COMPACT = 0.75, 0.4
    CONTEXT = ["phone", "telephone", "téléphone", "tel", "tél", "portable", "mobile", "cell", "fax", "appeler", "call"]

    def __init__(self, language: str = "fr"):
        super().__init__(context=self.CONTEXT, supported_language=language, supported_regions=self.REGIONS, leniency=1)
        self.name = "EuropeanPhoneRecognizer"

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for m in self.SHAPE.finditer(text):
            span = m.group(0)
            international = span.startswith(("+", "00"))
            for region in ("FR",) if international else self.supported_regions:
                number = _french_number(span) if region == "FR" else None
                if number is None:
                    try:
                        number = phonenumbers.parse(span, region)
                    except phonenumbers.NumberParseException:
                        continue
                if not phonenumbers.is_valid_number(number):
                    continue
                grouped = international or re.search(r"[\s.\-()]", span) is not None
                score = self.SEPARATED if grouped else self.COMPACT
                where = phonenumbers.region_code_for_number(number) or region
                results.append(
                    RecognizerResult(
                        self.supported_entities[0],
                        m.start(),
                        m.end(),
                        score,
                        AnalysisExplanation(self.name, score, textual_explanation=f"valid {where} phone number"),
                        {
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        },
                    )
                )
                break
        return results


_FRENCH = re.compile(r"(?:\+33|0033|0)([1-9]\d{8})")
_SEPARATORS = str.maketrans("", "", " .-()")


def _french_number(span: str) -> phonenumbers.PhoneNumber | None:
    """A French number written 0X XX XX XX XX, +33 X… or 0033 X…, without parsing it (parsing is the slow part)."""
    digits = span.replace("(0)", "").translate(_SEPARATORS)
    m = _FRENCH.fullmatch(digits)
    return phonenumbers.PhoneNumber(country_code=33, national_number=int(m.group(1))) if m else None


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, its top-level domains checked against tldextract's bundled snapshot."""

    prefilter = re.compile("@")

    def __init__(self, language: str = "fr"):
        super().__init__(
            patterns=[Pattern("e-mail address", EmailRecognizer.PATTERNS[0].regex, 0.5)],
            context=["email", "e-mail", "mail", "courriel", "mél"],
            supported_language=language,
        )

    def validate_result(self, pattern_text: str):
        return _has_public_suffix(pattern_text.rpartition("@")[2].lower())


@functools.lru_cache(maxsize=100_000)
def _has_public_suffix(domain: str) -> bool:
    return _tld_extractor()(domain).fqdn != ""


@functools.lru_cache(maxsize=1)
def _tld_extractor():
    """tldextract without the network: no suffix-list URL, no cache directory, the snapshot in the package."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


_FR_MONTH = (
    r"(?:janv(?:ier)?|f[ée]vr?(?:ier)?|mars|avr(?:il)?|mai|juin|juil(?:let)?|ao[uû]t|sept(?:embre)?"
    r"|oct(?:obre)?|nov(?:embre)?|d[ée]c(?:embre)?)"
)
_EN_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
#: dates finer than the year (a year alone, or a month and a year, are allowed)
DATE_PATTERNS = (
    r"(?<!\d)(?:1[89]|20|21)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])(?!\d)",  # 2001-03-14
    r"(?<![\d.])(?:0?[1-9]|[12]\d|3[01])[-/](?:0?[1-9]|1[0-2])[-/](?:\d{4}|\d{2})(?!\d)",  # 14/03/2001
    r"(?<![\d.])(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.\d{4}(?!\d)",  # 14.03.2001
    r"(?i:\b\d{1,2}(?:er|st|nd|rd|th)?\s+(?:" + _FR_MONTH + "|" + _EN_MONTH + r")\.?,?\s+\d{4}\b)",  # 14 mars 2001
    r"(?i:\b" + _EN_MONTH + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b)",  # March 14, 2001
)
AGE_PATTERNS = (
    r"(?i:\b(?:9\d|1[0-4]\d)[\s-]*(?:years?|yrs?|y/?o)\b(?:[\s-]*old)?|\baged?\s+(?:9\d|1[0-4]\d)\b)",
    r"(?i:\b(?:9\d|1[0-4]\d)\s*ans\b|\b[âa]g[ée]e?s?\s+de\s+(?:9\d|1[0-4]\d)\b)",
)
#: a prefix that makes a number a hospital patient (IPP, NIP), stay (NDA, IEP) or record number
HOSPITAL_PREFIX = r"(?i:IPP|NIP|NDA|IEP|PID|MRN|N°\s*dossier|dossier|s[ée]jour|venue)"


def _postcode_in(text: str) -> bool:
    m = re.search(r"\d{5}", text)
    return m is not None and is_fr_postcode(m.group(0))


def _build_content(language: str) -> list[EntityRecognizer]:
    return [
        NirRecognizer(language),
        EuropeanPhoneRecognizer(language),
        OfflineEmailRecognizer(language),
        ScoredPatternRecognizer(
            "PERSON",
            [Pattern("honorific + name", HONORIFIC_NAME.pattern, 0.85)],
            language=language,
            name="HonorificNameRecognizer",
        ),
        ScoredPatternRecognizer(
            "LOCATION",
            [Pattern("street address", STREET_ADDRESS.pattern, 0.7)],
            language=language,
            name="StreetAddressRecognizer",
            context=["adresse", "address", "domicile", "rue", "street"],
            prefilter=r"(?i:\d,?\s+(?:bis\s+|ter\s+)?(?:rue|av|bd|bou|pl|imp|all|ch|rou|qua|cou|sq|pas|r[ée]s|lot|lie"
            r"|ham|voi|sen|esp|pro|fau|cit))|\d\s+[A-Z][a-z]+\s",
        ),
        ScoredPatternRecognizer(
            "FR_POSTCODE",
            [
                Pattern("French postcode after 'code postal'", r"(?i:\bcode\s+postal|\bCP)\s*:?\s*\d{5}\b", 0.8),
                Pattern(
                    "French postcode before a town",
                    r"(?<![\w.,])\d{5}\s+(?:CEDEX\s+)?[A-ZÀ-ÖØ-Þ](?:[a-zà-öø-ÿ'’-]{2,}|[A-ZÀ-ÖØ-Þ'’-]{2,})",
                    0.6,
                ),
            ],
            language=language,
            name="FrPostcodeRecognizer",
            context=["code", "postal", "cp", "ville", "commune"],
            check=_postcode_in,
            prefilter=r"\d{5}",
        ),
        ScoredPatternRecognizer(
            "POSTCODE",
            [
                Pattern(
                    "UK postcode",
                    r"\b(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})\b",
                    0.6,
                ),
                Pattern("US ZIP code", r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b|\b\d{5}-\d{4}\b", 0.6),
            ],
            language=language,
            name="UkUsPostcodeRecognizer",
            context=["postcode", "zip"],
            prefilter=r"\d[A-Z]{2}\b|\d{5}",
        ),
        ScoredPatternRecognizer(
            "HOSPITAL_NUMBER",
            [
                Pattern(
                    "hospital number with its prefix",
                    r"(?<!\w)" + HOSPITAL_PREFIX + r"\s*(?:n[°o]\.?\s*)?[:#-]?\s*\d{6,12}(?!\w)",
                    0.85,
                ),
                Pattern(
                    "record number with its label",
                    r"(?<![\w.@])(?i:(?:MRN|NHS|CHI)|(?:record|patient|account|hospital)\b)\s*"
                    r"(?i:no\.?|number|num|id|#)?\s*[:#]?\s*[A-Z]{0,3}\d{5,}\b",
                    0.7,
                ),
            ],
            language=language,
            name="HospitalNumberRecognizer",
            context=["ipp", "nda", "dossier", "séjour", "sejour", "mrn", "record"],
            prefilter=r"(?i:ipp|nip|nda|iep|pid|mrn|nhs|chi|dossier|s[ée]jour|venue|record|patient|account|hospital)",
        ),
        ScoredPatternRecognizer(
            "DATE_TIME",
            [Pattern("date finer than the year", p, 0.6) for p in DATE_PATTERNS],
            language=language,
            name="DayDateRecognizer",
            prefilter=r"\d[-/.]\d{1,2}[-/.]\d|(?:[^\W\d_]|[.,])\s+\d{4}(?!\d)",
        ),
        ScoredPatternRecognizer(
            "AGE_OVER_89",
            [Pattern("age over 89", p, 0.6) for p in AGE_PATTERNS],
            language=language,
            name="AgeOver89Recognizer",
            prefilter=r"(?<!\d)(?:9\d|1[0-4]\d)(?!\d)",
        ),
        _prefiltered(
            UrlRecognizer(
                patterns=[
                    Pattern("URL", r"(?i:\b(?:https?|ftp)://[^\s<>\"']+|\bwww\.[A-Za-z0-9-]+\.[^\s<>\"']+)", 0.6)
                ],
                supported_language=language,
            ),
            r"(?i:://|www\.)",
        ),
        _prefiltered(
            IpRecognizer(
                patterns=[p for p in IpRecognizer.PATTERNS if p.score >= ALONE_SCORE], supported_language=language
            ),
            r"(?<![\d.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])|[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:",
        ),
        _prefiltered(
            UsSsnRecognizer(
                # Presidio's grouped pattern (its others are bare digits, scored 0.05), as sure as a spaced NIR
                patterns=[Pattern("US SSN", p.regex, 0.8) for p in UsSsnRecognizer.PATTERNS if p.score >= ALONE_SCORE],
                supported_language=language,
            ),
            r"\d{3}[- .]\d{2}[- .]\d{4}",
        ),
        _prefiltered(IbanRecognizer(supported_language=language), r"[A-Z]{2}\d{2}"),
    ]


def _prefiltered(recognizer: EntityRecognizer, prefilter: str) -> EntityRecognizer:
    """Give one of Presidio's recognizers the cheap regex that every value it can match contains."""
    recognizer.prefilter = re.compile(prefilter)  # type: ignore[attr-defined]
    return recognizer


def _build_context(language: str) -> list[EntityRecognizer]:
    return [
        ScoredPatternRecognizer(
            "FR_POSTCODE",
            [Pattern("French postcode", r"^\s*\d{4,5}\s*$", 0.1)],
            language=language,
            name="FrPostcodeValueRecognizer",
            check=is_fr_postcode,
        ),
        ScoredPatternRecognizer(
            "FR_COMMUNE_CODE",
            [Pattern("INSEE commune code", r"^\s*(?:\d{2}|2[ABab])\d{3}\s*$", 0.1)],
            language=language,
            name="FrCommuneCodeRecognizer",
            check=is_commune_code,
        ),
        ScoredPatternRecognizer(
            "HOSPITAL_NUMBER",
            [Pattern("hospital number", r"^\s*[A-Z]{0,4}\d{6,12}\s*$", 0.1)],
            language=language,
            name="HospitalNumberValueRecognizer",
        ),
    ]


@functools.cache
def content_recognizers(language: str = "fr") -> tuple[EntityRecognizer, ...]:
    """The pattern recognizers run over every value (the same in French and English)."""
    return tuple(_build_content(language))


@functools.cache
def context_recognizers(language: str = "fr") -> tuple[EntityRecognizer, ...]:
    """The recognizers of values that are identifiers only when their column's name says so."""
    return tuple(_build_context(language))


# -- the NLP engine and the analyzer -----------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def load_nlp():
    """spaCy's French pipeline with only its NER, loaded once (nothing is downloaded)."""
    import spacy

    return spacy.load(NER_MODEL, exclude=list(NER_EXCLUDE))


class FrenchNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine on the one French pipeline, for every language; NER only.

    Without a lemmatizer, context words are matched on the lower-case words.
    """

    def __init__(self, languages: Sequence[str] = LANGUAGES):
        super().__init__(
            models=[{"lang_code": lang, "model_name": NER_MODEL} for lang in languages],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping={**NER_LABELS, "ORG": "ORGANIZATION", "MISC": "MISC"},
                labels_to_ignore=["ORGANIZATION", "MISC"],
            ),
        )

    def load(self) -> None:
        nlp = load_nlp()
        self.nlp = {model["lang_code"]: nlp for model in self.models}  # type: ignore[assignment]

    def _doc_to_nlp_artifact(self, doc, language: str) -> NlpArtifacts:
        entities, scores = self._get_updated_entities(self._get_entities(doc), self._get_scores_for_entities(doc))
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[t.idx for t in doc],
            lemmas=[t.lemma_ or t.lower_ for t in doc],
            nlp_engine=self,
            language=language,
            scores=scores,
        )


#: a capitalised word (not a word in capitals: acronyms are not names)
_TITLE_WORD = re.compile(r"(?<![\w'’-])[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ'’-]+")


def _initial(text: str, at: int) -> bool:
    """True when the word at *at* starts the text or a sentence: its capital says nothing."""
    before = text[:at].rstrip()
    return not before or before[-1] in '.!?:;\n•-–—(«"'


def name_signal(text: str) -> bool:
    """True when *text* may hold a name or a place the NER would keep (see :func:`keep_entity`).

    That is: a capitalised word that does not start a sentence, or two capitalised words
    in a row. Free text without one (lower case, acronyms, lab values) is not given to the NER.
    """
    words = list(_TITLE_WORD.finditer(text))
    for k, m in enumerate(words):
        if not _initial(text, m.start()):
            return True
        if k + 1 < len(words) and not text[m.end() : words[k + 1].start()].strip():
            return True
    return False


def keep_entity(text: str, start: int, end: int) -> bool:
    """Whether an entity the NER found in free text is kept: it must have a capitalised word that does
    not start a sentence, or two capitalised words.

    The small French model also tags acronyms, lower-case words and the first word of a
    sentence (``Dyspnée``, ``Hospitalisation``); a name or a place has a capital of its own.
    """
    words = list(_TITLE_WORD.finditer(text, start, end))
    return len(words) >= 2 or any(not _initial(text, m.start()) for m in words)


class FrenchNerRecognizer(SpacyRecognizer):
    """Persons (``PER``) and places (``LOC``) from the French NER, filtered by :func:`keep_entity`."""

    name: str

    def __init__(self, language: str = "fr"):
        super().__init__(supported_language=language, supported_entities=list(NER_ENTITIES), ner_strength=NER_SCORE)
        self.name = "FrenchNerRecognizer"

    def analyze(self, text, entities, nlp_artifacts=None):
        results = super().analyze(text, entities, nlp_artifacts)
        return [r for r in results if keep_entity(text, r.start, r.end)]


@functools.lru_cache(maxsize=1)
def get_analyzer() -> AnalyzerEngine:
    """Presidio's analyzer for French and English: every recognizer above, NER on the French pipeline."""
    registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
    for language in LANGUAGES:
        for rec in content_recognizers(language):
            registry.add_recognizer(rec)
    registry.add_recognizer(FrenchNerRecognizer("fr"))
    return AnalyzerEngine(registry=registry, nlp_engine=FrenchNlpEngine(), supported_languages=list(LANGUAGES))


# -- running recognizers over many values ---------------------------------------------------------
class ValueHit(NamedTuple):
    """A recognizer's match in one value: which value, what, how sure, how found, and the matched text."""

    value: int  # which value: its position, or its id (analyze_values)
    entity: str
    score: float
    how: str
    text: str
    start: int = 0  # in the value
    end: int = 0


#: joins values into one text: no pattern crosses it (it is neither a word, a digit, a space nor a separator)
_JOIN = "\n\x00\n"
CHUNK_CHARS = 2_000_000


def explain(result: RecognizerResult) -> str:
    """How a result was found, in a few words: the pattern's name, or the recognizer's explanation."""
    e = result.analysis_explanation
    if e is None:
        return result.entity_type
    if e.pattern_name:
        return e.pattern_name
    return e.textual_explanation or result.entity_type


def analyze_values(
    values: Sequence[str], recognizers: Iterable[EntityRecognizer], *, ids: Sequence[int] | None = None
) -> list[ValueHit]:
    """Every match of *recognizers* in each of *values*, as :class:`ValueHit` s.

    The values are joined into texts of about :data:`CHUNK_CHARS` characters, so that a
    recognizer runs once per chunk instead of once per value; each match is mapped back
    to its value, and a match that would span two values is dropped. Where matches of
    different entities overlap in a value, the best scored wins (the digits of a spaced
    NIR are not also a phone number). ``ids``: what to call the values in the hits (their
    positions by default).
    """
    recognizers = list(recognizers)
    hits: list[ValueHit] = []
    first = 0
    while first < len(values):
        size, last = 0, first
        while last < len(values) and (size < CHUNK_CHARS or last == first):
            size += len(values[last]) + len(_JOIN)
            last += 1
        chunk = [v.replace("\n", " ").replace("\r", " ").replace("\x00", " ") for v in values[first:last]]
        starts, at = [], 0
        for v in chunk:
            starts.append(at)
            at += len(v) + len(_JOIN)
        text = _JOIN.join(chunk)
        for rec in recognizers:
            prefilter = getattr(rec, "prefilter", None)
            index: Sequence[int] = range(len(chunk))
            if prefilter is not None:  # only the values holding what every match holds
                index = _holding(prefilter, text, starts)
                if not index:
                    continue
            if len(index) == len(chunk):
                sub, sub_starts = text, starts
            else:
                sub = _JOIN.join(chunk[i] for i in index)
                sub_starts, at = [], 0
                for i in index:
                    sub_starts.append(at)
                    at += len(chunk[i]) + len(_JOIN)
            for r in rec.analyze(sub, rec.supported_entities, None):  # type: ignore[arg-type]
                k = bisect_right(sub_starts, r.start) - 1
                i, at = index[k], sub_starts[k]
                if r.end > at + len(chunk[i]) or r.score <= 0:
                    continue
                name = first + i if ids is None else ids[first + i]
                hits.append(
                    ValueHit(
                        name, r.entity_type, float(r.score), explain(r), sub[r.start : r.end], r.start - at, r.end - at
                    )
                )
        first = last
    return _best_of_overlaps(hits)


def _holding(prefilter: re.Pattern, text: str, starts: list[int]) -> list[int]:
    """The values of a joined text in which *prefilter* matches (one search per value found)."""
    index: list[int] = []
    pos = 0
    while True:
        m = prefilter.search(text, pos)
        if m is None:
            return index
        i = bisect_right(starts, m.start()) - 1
        index.append(i)
        if i + 1 >= len(starts):
            return index
        pos = starts[i + 1]


def _best_of_overlaps(hits: list[ValueHit]) -> list[ValueHit]:
    """Drop a match overlapped, in its value, by a better scored match of another entity."""
    hits.sort(key=lambda h: h.value)
    out: list[ValueHit] = []
    k = 0
    while k < len(hits):
        j = k + 1
        while j < len(hits) and hits[j].value == hits[k].value:
            j += 1
        group = hits[k:j]
        if len(group) == 1:
            out.append(group[0])
        else:
            out.extend(
                h
                for h in group
                if not any(
                    o.entity != h.entity and o.score > h.score and o.start < h.end and h.start < o.end for o in group
                )
            )
        k = j
    return out


def ner_entities(texts: Sequence[str], *, batch_size: int = 256, filtered: bool = True) -> list[list[RecognizerResult]]:
    """The persons and places the NER finds in each text, kept by :func:`keep_entity` when *filtered*.

    The pipeline is the analyzer's (:func:`load_nlp`), run with ``nlp.pipe`` in batches;
    results are Presidio's, entities named as the analyzer names them (``PER`` ->
    ``PERSON``, ``LOC`` -> ``LOCATION``), explained as ``NER: PER``.
    """
    nlp = load_nlp()
    out = []
    for text, doc in zip(texts, nlp.pipe(texts, batch_size=batch_size), strict=True):
        found = []
        for e in doc.ents:
            entity = NER_LABELS.get(e.label_)
            if entity is None or (filtered and not keep_entity(text, e.start_char, e.end_char)):
                continue
            why = AnalysisExplanation("FrenchNerRecognizer", NER_SCORE, textual_explanation=f"NER: {e.label_}")
            found.append(RecognizerResult(entity, e.start_char, e.end_char, NER_SCORE, why))
        out.append(found)
    return out


def names_tagged(values: Sequence[str], *, batch_size: int = 512) -> list[float]:
    """For each bare value, the share of :data:`NAME_CARRIERS` in which the NER tags it as a person.

    A bare word gives the model little to go on; in each of these sentences it tags six to
    eight French surnames or first names in ten as persons, one or two other words in ten
    (diagnoses, departments, statuses), no town, and half of the drug brand names (they
    are names). Averaged over the three, a column of 6 names reaches a share of 0.5 about
    9 times in 10, a column of 6 diagnoses or statuses about once in 30; of 10 values,
    92 in 100 and 1 in 500 (measured on 70 surnames, 40 first names, 85 diagnoses and
    statuses, 21 drugs, 10 towns). Values in capitals (``DUPONT``) are given in title
    case: the model reads case.
    """
    words = [v.title() if v.isupper() else v for v in values]
    share = [0.0] * len(words)
    for carrier in NAME_CARRIERS:
        prefix = carrier.index("{}")
        found = ner_entities([carrier.format(w) for w in words], batch_size=batch_size, filtered=False)
        for k, (word, results) in enumerate(zip(words, found, strict=True)):
            end = prefix + len(word)
            if any(r.entity_type == "PERSON" and r.start < end and r.end > prefix for r in results):
                share[k] += 1 / len(NAME_CARRIERS)
    return share
