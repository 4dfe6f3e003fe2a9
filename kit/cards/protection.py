"""The data-protection section of a card: the GDPR and the French rules on health data.

What a release of health data must state, each in the organiser's words (in English, French
or both, see :class:`~kit.cards.fields.Localised`): the data controller; the legal basis
(a GDPR art. 6(1) basis and, for health data, an art. 9(2) exception, or "not applicable":
anonymous data are outside the GDPR, recital 26); the data protection impact assessment
(art. 35); how patients were informed (art. 14) or the exemption relied on; the CNIL
formality (a reference methodology MR-001 to MR-006, an authorisation, or "not applicable");
the host, and its certificate of health-data host (HDS, French Public Health Code,
art. L.1111-8) or why none is needed; the retention; the data protection officer.

Codes are validated (``6(1)(e)``, ``9(2)(j)``, ``MR-004``) and written in one canonical form;
each error says what may be written instead. In a draft (validation context ``draft``),
:data:`~kit.cards.fields.TO_WRITE` stands for a code not written yet.
:func:`data_protection_items` gives the section as labelled texts for the card's renderers.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .fields import TO_WRITE, Localised, Section, Text

NOT_APPLICABLE = "not applicable"
#: GDPR art. 6(1): letter -> (English, French)
ARTICLE_6 = {
    "a": ("consent", "consentement"),
    "b": ("performance of a contract", "exécution d'un contrat"),
    "c": ("legal obligation", "obligation légale"),
    "d": ("vital interests", "sauvegarde des intérêts vitaux"),
    "e": (
        "task in the public interest or official authority",
        "mission d'intérêt public ou exercice de l'autorité publique",
    ),
    "f": ("legitimate interests", "intérêts légitimes"),
}
#: GDPR art. 9(2), the exceptions to the ban on processing health data: letter -> (English, French)
ARTICLE_9 = {
    "a": ("explicit consent", "consentement explicite"),
    "b": ("employment and social protection law", "droit du travail et de la protection sociale"),
    "c": ("vital interests", "sauvegarde des intérêts vitaux"),
    "d": ("not-for-profit body", "organisme à but non lucratif"),
    "e": (
        "made manifestly public by the data subject",
        "données manifestement rendues publiques par la personne concernée",
    ),
    "f": ("legal claims", "droits en justice"),
    "g": ("substantial public interest", "motif d'intérêt public important"),
    "h": ("medicine, health or social care", "médecine, prise en charge sanitaire ou sociale"),
    "i": ("public interest in public health", "intérêt public dans le domaine de la santé publique"),
    "j": (
        "archiving, scientific or historical research, or statistics",
        "archivage, recherche scientifique ou historique, ou statistiques",
    ),
}
#: the CNIL's reference methodologies for health research: code -> (English, French)
CNIL_METHODOLOGIES = {
    "MR-001": ("research involving the human person, with consent", "recherches impliquant la personne humaine"),
    "MR-002": (
        "performance studies of in vitro diagnostic medical devices",
        "études de performances des dispositifs médicaux de diagnostic in vitro",
    ),
    "MR-003": (
        "research involving the human person, without consent (right to object)",
        "recherches impliquant la personne humaine, sans recueil du consentement",
    ),
    "MR-004": ("research not involving the human person", "recherches n'impliquant pas la personne humaine"),
    "MR-005": (
        "studies of PMSI and RPU data by health establishments",
        "études sur les données du PMSI et des RPU par les établissements de santé",
    ),
    "MR-006": (
        "studies of PMSI data by health-product companies",
        "études sur les données du PMSI par les industriels",
    ),
}
CNIL_AUTHORISATION = "authorisation"
#: the words each language puts before a text
_NOT_APPLICABLE = {"en": "Not applicable. ", "fr": "Non applicable. "}
_TO_WRITE = {"en": f"{TO_WRITE}. ", "fr": f"{TO_WRITE}. "}


def _words(value: Any) -> str:
    return " ".join(str(value).split()).lower()


def _draft(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("draft"))


class _Basis(Section):
    """One article's legal basis: a code of the article's paragraph, or "not applicable", with the reason."""

    article: ClassVar[str]
    paragraph: ClassVar[str]
    letters: ClassVar[dict[str, tuple[str, str]]]
    basis: str
    explanation: Localised

    @field_validator("basis", mode="before")
    @classmethod
    def _code(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return value  # left to the type: "required field is empty"
        if value == TO_WRITE and _draft(info):
            return value
        if _words(value) == NOT_APPLICABLE:
            return NOT_APPLICABLE
        compact = re.sub(r"^(art(icle)?\.?)", "", re.sub(r"\s+", "", str(value)).lower())
        m = re.fullmatch(rf"{cls.article}\({cls.paragraph}\)\(([a-z])\)", compact)
        if m and m.group(1) in cls.letters:
            return f"{cls.article}({cls.paragraph})({m.group(1)})"
        choices = "; ".join(f"{cls.article}({cls.paragraph})({k}) {en}" for k, (en, _) in cls.letters.items())
        raise ValueError(
            f"{value!r} is not a basis of GDPR art. {cls.article}({cls.paragraph}): write one of {choices} "
            f"(e.g. '{cls.article}({cls.paragraph})({'e' if cls.article == '6' else 'j'})'), or 'not applicable' "
            "with the reason in `explanation` (anonymous data are outside the GDPR, recital 26)"
        )

    @property
    def applicable(self) -> bool:
        """Whether a basis of the article is named (not "not applicable", nor a draft's placeholder)."""
        return self.basis not in (NOT_APPLICABLE, TO_WRITE)

    @property
    def letter(self) -> str | None:
        return self.basis[-2] if self.applicable else None

    @property
    def title(self) -> tuple[str, str] | None:
        """What the basis is, in English and French (None when none is named)."""
        return self.letters[self.basis[-2]] if self.applicable else None

    @property
    def dpv(self) -> str | None:
        """The basis in the GDPR extension of the W3C Data Privacy Vocabulary (``eu-gdpr:A6-1-e``)."""
        return f"eu-gdpr:A{self.article}-{self.paragraph}-{self.basis[-2]}" if self.applicable else None

    def statement(self) -> Localised:
        """The basis and its explanation, in each language the explanation is written in."""
        if self.basis == TO_WRITE:
            return self.explanation.prefixed(_TO_WRITE)
        if self.title is None:
            return self.explanation.prefixed(_NOT_APPLICABLE)
        en, fr = self.title
        return self.explanation.prefixed({"en": f"{self.basis}, {en}. ", "fr": f"{self.basis}, {fr}. "})


class Article6Basis(_Basis):
    article = "6"
    paragraph = "1"
    letters = ARTICLE_6
    basis: str = Field(
        description="the lawful basis of GDPR art. 6(1), from 6(1)(a) consent to 6(1)(f) legitimate interests "
        "(research by a public body is usually 6(1)(e), a task in the public interest), or 'not applicable'"
    )
    explanation: Localised = Field(
        description="why this basis applies (the task or the interest, the law that sets it), or why none is "
        "needed (e.g. the data are anonymous: outside the GDPR, recital 26)"
    )


class Article9Basis(_Basis):
    article = "9"
    paragraph = "2"
    letters = ARTICLE_9
    basis: str = Field(
        description="the exception of GDPR art. 9(2) that lifts the ban on processing health data, from 9(2)(a) "
        "explicit consent to 9(2)(j) scientific research (with art. 89), or 'not applicable'"
    )
    explanation: Localised = Field(
        description="why this exception applies (for 9(2)(j): the research, its safeguards, the law that provides "
        "for it), or why none is needed (e.g. anonymous data)"
    )


class LegalBasis(Section):
    """The two articles a release of health data rests on: art. 6 and, for health data, art. 9."""

    article_6: Article6Basis = Field(description="GDPR art. 6(1): the lawful basis of the processing")
    article_9: Article9Basis = Field(description="GDPR art. 9(2): the exception for health data")

    @model_validator(mode="after")
    def _agree(self):
        six, nine = self.article_6.basis, self.article_9.basis
        if TO_WRITE in (six, nine) or self.article_6.applicable == self.article_9.applicable:
            return self
        raise ValueError(
            f"article_6 is {six!r} but article_9 is {nine!r}: make them agree. Either the data are personal data "
            "(health data then need both an art. 6(1) basis and an art. 9(2) exception), or they are not "
            "(anonymous data, recital 26: both 'not applicable')"
        )


class Dpia(Section):
    """The data protection impact assessment (DPIA; analyse d'impact, AIPD; GDPR art. 35)."""

    status: str = Field(
        description="'carried out' or 'not required': a DPIA is required before processing likely to result in a "
        "high risk, such as health data on a large scale (GDPR art. 35(3)(b))"
    )
    details: Localised = Field(
        description="carried out: its reference, date and who holds it; not required: why (e.g. the data are "
        "anonymous, or the processing is small and low-risk)"
    )

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return value
        if value == TO_WRITE and _draft(info):
            return value
        words = _words(value)
        if words in ("carried out", "not required"):
            return words
        raise ValueError(
            f"{value!r} is not a DPIA status: write 'carried out' (and its reference in `details`) or "
            "'not required' (and why in `details`)"
        )

    def statement(self) -> Localised:
        prefix = {
            "carried out": {"en": "Carried out. ", "fr": "Réalisée. "},
            "not required": {"en": "Not required. ", "fr": "Non requise. "},
        }.get(self.status, _TO_WRITE)
        return self.details.prefixed(prefix)


class CnilFormality(Section):
    """What the CNIL (the French data protection authority) was told or allowed for health data."""

    procedure: str = Field(
        description="a CNIL reference methodology MR-001 to MR-006 the processing complies with (e.g. MR-004, "
        "research on existing data), 'authorisation' (its decision number in `reference`), or 'not applicable'"
    )
    reference: Text | None = Field(
        default=None,
        description="the CNIL's decision or authorisation number (needed for 'authorisation'), or the receipt of "
        "the declaration of compliance with the methodology",
    )
    explanation: Localised = Field(
        description="what the formality covers, or why none applies (e.g. anonymous data, or no processing in France)"
    )

    @field_validator("procedure", mode="before")
    @classmethod
    def _procedure(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return value
        if value == TO_WRITE and _draft(info):
            return value
        words = _words(value)
        if words == NOT_APPLICABLE:
            return NOT_APPLICABLE
        if words in ("authorisation", "authorization"):
            return CNIL_AUTHORISATION
        m = re.fullmatch(r"mr[\s-]*(\d+)", words)
        if m and f"MR-{int(m.group(1)):03d}" in CNIL_METHODOLOGIES:
            return f"MR-{int(m.group(1)):03d}"
        known = "; ".join(f"{code} {en}" for code, (en, _) in CNIL_METHODOLOGIES.items())
        what = "not one of the CNIL's reference methodologies" if m or words.startswith("mr") else "not a procedure"
        raise ValueError(
            f"{value!r} is {what}: write a reference methodology ({known}), 'authorisation' with the CNIL's "
            "decision number in `reference`, or 'not applicable' with the reason in `explanation`"
        )

    @model_validator(mode="after")
    def _reference(self):
        if self.procedure == CNIL_AUTHORISATION and self.reference is None:
            raise ValueError(
                "an authorisation needs its number: write the CNIL's decision number in `reference` "
                "(e.g. the number of the deliberation or of the authorisation letter)"
            )
        if self.procedure == NOT_APPLICABLE and self.reference is not None:
            raise ValueError(
                f"`reference` is {self.reference!r} but the procedure is 'not applicable': remove the reference, "
                "or name the procedure it belongs to"
            )
        return self

    @property
    def methodology(self) -> tuple[str, str] | None:
        """What the reference methodology is about, in English and French (None for another procedure)."""
        return CNIL_METHODOLOGIES.get(self.procedure)

    def statement(self) -> Localised:
        ref = self.reference
        if self.methodology is not None:
            en, fr = self.methodology
            prefix = {
                "en": f"Reference methodology {self.procedure} ({en})" + (f", declaration {ref}" if ref else "") + ". ",
                "fr": f"Méthodologie de référence {self.procedure} ({fr})"
                + (f", déclaration {ref}" if ref else "")
                + ". ",
            }
        elif self.procedure == CNIL_AUTHORISATION:
            prefix = {"en": f"CNIL authorisation {ref}. ", "fr": f"Autorisation de la CNIL {ref}. "}
        else:
            prefix = _NOT_APPLICABLE if self.procedure == NOT_APPLICABLE else _TO_WRITE
        return self.explanation.prefixed(prefix)


class Hosting(Section):
    """Where the data are stored, and the host's certificate for health data."""

    host: Localised = Field(
        description="who stores the data and where: the organisation, the service (server, cloud, repository) "
        "and the country"
    )
    hds: Localised = Field(
        description="in France a host that stores health data for others must be certified 'hébergeur de données "
        "de santé' (HDS; Code de la santé publique, art. L.1111-8): its certificate (certifier, number, "
        "validity), or why none is needed (e.g. anonymous data, or the controller hosts the data itself)"
    )


class DataProtection(Section):
    """The GDPR and French health-data facts of a release (see the module's docstring)."""

    controller: Localised = Field(
        description="the data controller (responsable du traitement, GDPR art. 4(7)), who decides why and how the "
        "data are processed for this challenge: the organisation and its contact; and the controller of the "
        "original collection if it is another"
    )
    legal_basis: LegalBasis = Field(description="the GDPR articles the processing rests on")
    dpia: Dpia = Field(description="the data protection impact assessment (DPIA, AIPD; GDPR art. 35)")
    patient_information: Localised = Field(
        description="how patients were told of this use of their data (GDPR art. 14: a notice, a web page, the "
        "right to object, when), or the exemption relied on (art. 14(5)(b): impossible or disproportionate, with "
        "the measures taken instead), or why not applicable (anonymous data)"
    )
    cnil: CnilFormality = Field(description="the formality done with the CNIL for health data")
    hosting: Hosting = Field(description="where the data are stored")
    retention: Localised = Field(
        description="how long the data are kept, from when (e.g. two years after the challenge closes), and what "
        "happens then (deletion, archiving, anonymisation); for the released files and the hidden test labels"
    )
    dpo_contact: Localised = Field(
        description="how to reach the controller's data protection officer (DPO, délégué à la protection des "
        "données): name or function and an address; if none is appointed, say so and give who answers instead"
    )


def data_protection_items(dp: DataProtection) -> tuple[tuple[str, Localised], ...]:
    """The section as ``(label, text)`` pairs, each text in every language the organiser wrote it in."""
    return (
        ("Data controller", dp.controller),
        ("Legal basis (GDPR art. 6)", dp.legal_basis.article_6.statement()),
        ("Exception for health data (GDPR art. 9)", dp.legal_basis.article_9.statement()),
        ("Impact assessment (DPIA, GDPR art. 35)", dp.dpia.statement()),
        ("Patient information (GDPR art. 14)", dp.patient_information),
        ("CNIL formality", dp.cnil.statement()),
        ("Host", dp.hosting.host),
        ("Health-data host certificate (HDS)", dp.hosting.hds),
        ("Retention", dp.retention),
        ("Data protection officer", dp.dpo_contact),
    )


def data_protection_summary(dp: DataProtection) -> str:
    """One English sentence of the section's codes (for Croissant's rai:personalSensitiveInformation)."""
    six, nine = dp.legal_basis.article_6, dp.legal_basis.article_9
    cnil = dp.cnil.procedure + (f" {dp.cnil.reference}" if dp.cnil.reference else "")
    return (
        f"Data protection (GDPR): legal basis art. 6: {six.basis}; art. 9: {nine.basis}; DPIA: {dp.dpia.status}; "
        f"CNIL: {cnil}. The controller, the explanations, patient information, host and HDS certificate, "
        "retention and data protection officer are given with the W3C Data Privacy Vocabulary (dpv: properties)."
    )


__all__ = [
    "ARTICLE_6",
    "ARTICLE_9",
    "CNIL_AUTHORISATION",
    "CNIL_METHODOLOGIES",
    "NOT_APPLICABLE",
    "Article6Basis",
    "Article9Basis",
    "CnilFormality",
    "DataProtection",
    "Dpia",
    "Hosting",
    "LegalBasis",
    "data_protection_items",
    "data_protection_summary",
]
