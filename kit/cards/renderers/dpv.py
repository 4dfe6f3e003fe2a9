"""The card's data-protection section in the W3C Data Privacy Vocabulary (DPV 2), for the Croissant card.

:func:`dpv_properties` maps :class:`~kit.cards.protection.DataProtection` to properties of the
dataset node, each value a node typed with a DPV concept and described in the organiser's words.
A text given by language becomes JSON-LD values tagged with it (``{"@value": ..., "@language":
"fr"}``); a plain text stays a plain string (English, the @context's default language).

=================================  =====================================================================
card field                         property: type of the node
=================================  =====================================================================
controller                         ``dpv:hasDataController``: ``dpv:DataController``
legal_basis (a basis named)        ``dpv:hasLegalBasis``: the GDPR article, ``eu-gdpr:A6-1-e``, ``eu-gdpr:A9-2-j``
dpia (carried out)                 ``dpv:hasImpactAssessment``: ``dpv:DPIA``
patient_information                ``dpv:hasNotice``: ``dpv:PrivacyNotice``
cnil (a procedure named)           ``dpv:hasAuthority``: ``dpv:DataProtectionAuthority`` (the CNIL)
hosting, retention                 ``dpv:hasStorageCondition``: ``dpv:StorageLocation`` (the host),
                                   ``dpv:StorageCondition`` (the HDS certificate, or why none is
                                   needed), ``dpv:StorageDuration`` (the retention)
dpo_contact                        ``dpv:hasDataProtectionOfficer``: ``dpv:DataProtectionOfficer``
"not applicable", "not required"   ``dpv:hasJustification``: ``justifications:NotRequiredJustification``
=================================  =====================================================================

A code a draft has not written yet is left out (the card's description says it is a draft).
"""

from __future__ import annotations

from typing import Any

from ..fields import Localised
from ..protection import NOT_APPLICABLE, DataProtection

#: the prefixes the properties use, added to the Croissant @context
DPV_CONTEXT = {
    "dpv": "https://w3id.org/dpv#",
    "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
    "justifications": "https://w3id.org/dpv/justifications#",
}
CNIL = "Commission nationale de l'informatique et des libertés (CNIL)"
CNIL_URL = "https://www.cnil.fr/"
HDS = "Health-data host certificate (HDS, hébergeur de données de santé; Code de la santé publique, art. L.1111-8)"


def language_values(text: Localised) -> list[Any]:
    """JSON-LD values of a text: one per language, tagged; a plain text as a plain string."""
    if not text.tagged:
        return [str(text)]
    return [{"@value": value, "@language": code} for code, value in text.items()]


def _node(kind: str, text: Localised, name: str | None = None, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"@type": kind}
    if name:
        node["sc:name"] = name
    node.update(extra)
    node["sc:description"] = language_values(text)
    return node


def _not_required(name: str, text: Localised) -> dict[str, Any]:
    return _node("justifications:NotRequiredJustification", text, name)


def dpv_properties(dp: DataProtection) -> dict[str, Any]:
    """The properties of the dataset node, in a fixed order (see the module's docstring)."""
    bases: list[dict[str, Any]] = []
    not_required: list[dict[str, Any]] = []
    for basis in (dp.legal_basis.article_6, dp.legal_basis.article_9):
        article = f"GDPR art. {basis.article}({basis.paragraph})"
        if basis.dpv is not None and basis.title is not None:
            bases.append(_node(basis.dpv, basis.explanation, f"{article}({basis.letter}): {basis.title[0]}"))
        elif basis.basis == NOT_APPLICABLE:
            not_required.append(_not_required(f"{article}: not applicable", basis.explanation))
    out: dict[str, Any] = {"dpv:hasDataController": _node("dpv:DataController", dp.controller)}
    if bases:
        out["dpv:hasLegalBasis"] = bases
    if dp.dpia.status == "carried out":
        out["dpv:hasImpactAssessment"] = _node("dpv:DPIA", dp.dpia.details, "Data protection impact assessment")
    elif dp.dpia.status == "not required":
        not_required.append(
            _not_required("Data protection impact assessment (GDPR art. 35): not required", dp.dpia.details)
        )
    out["dpv:hasNotice"] = _node(
        "dpv:PrivacyNotice", dp.patient_information, "Information of the patients (GDPR art. 14)"
    )
    cnil = dp.cnil
    if cnil.methodology is not None or cnil.procedure == "authorisation":
        what = (
            f"reference methodology {cnil.procedure} ({cnil.methodology[0]})"
            if cnil.methodology is not None
            else "authorisation"
        )
        extra = {"sc:url": CNIL_URL} | ({"sc:identifier": cnil.reference} if cnil.reference else {})
        out["dpv:hasAuthority"] = _node("dpv:DataProtectionAuthority", cnil.explanation, f"{CNIL}: {what}", **extra)
    elif cnil.procedure == NOT_APPLICABLE:
        not_required.append(_not_required("CNIL formality: not applicable", cnil.explanation))
    out["dpv:hasStorageCondition"] = [
        _node("dpv:StorageLocation", dp.hosting.host, "Host of the data"),
        _node("dpv:StorageCondition", dp.hosting.hds, HDS),
        _node("dpv:StorageDuration", dp.retention, "Retention"),
    ]
    out["dpv:hasDataProtectionOfficer"] = _node("dpv:DataProtectionOfficer", dp.dpo_contact)
    if not_required:
        out["dpv:hasJustification"] = not_required
    return out


__all__ = ["CNIL", "DPV_CONTEXT", "dpv_properties", "language_values"]
