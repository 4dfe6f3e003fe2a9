"""The data card schema: what organisers must write about a released dataset.

A card file lives beside the challenge spec, at ``starter_kits/<id>/card.yml``.
It holds only *prose*: what no program can compute (why the data exists, how it
was collected and labelled, ethics approval, consent, de-identification). Every
number a card shows (rows, columns, missingness, class balance, subgroup counts,
split sizes, checksums) is computed by :mod:`kit.cards.compute`, never typed.

The sections follow *Datasheets for Datasets* (Gebru et al., 2021): motivation,
composition, collection, preprocessing and labelling, uses, distribution,
maintenance; plus what a health dataset must state (ethics approval, consent and
its withdrawal, de-identification, annotation protocol and expertise,
inter-annotator agreement, patient demographics), the GDPR and French health-data
facts of the release (:mod:`kit.cards.protection`: controller, legal basis, DPIA,
patient information, CNIL formality, host, retention, data protection officer; their
texts in English, French or both) and the challenge itself.

Where a fact is unknown for a public dataset, the card must say so in words
("not reported by the dataset's authors"); an empty field is an error, and
:func:`parse_card` lists every missing or empty field in one :class:`CardError`.

A *draft* (``parse_card(..., draft=True)``, ``build_card(..., draft=True)``) lets an
organiser see the card of a new challenge before writing its prose (``kit new`` writes a
``card.yml`` whose fields are empty; there may be no card file at all yet): every missing
or empty prose field reads :data:`TO_WRITE`, and :attr:`Card.todo` names them. Fields
that are filled in are validated as always; a draft is never what a release publishes.

This module does not import :mod:`kit.challenge`, so the challenge spec can
import :class:`PrivacyPolicy` from here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import KitError, Problem
from .fields import TO_WRITE, Column, Text
from .fields import Section as _Section
from .protection import DataProtection

CARD_SCHEMA_VERSION = 1
CARD_FILENAME = "card.yml"
UNKNOWN_HINT = 'write what is known, or say so explicitly (e.g. "not reported by the dataset\'s authors")'


class CardError(KitError):
    """A card file that does not validate, or a card that cannot be built (one problem per field)."""

    kind = "card"


# -- privacy -------------------------------------------------------------------------
class PrivacyPolicy(_Section):
    """What the release gate (:mod:`kit.privacy`) checks, and against which thresholds.

    ``quasi_identifiers``: columns an attacker could know about a person (age, sex,
    postcode district, admission year); k-anonymity is measured on their combination.
    ``sensitive_attributes``: columns whose values must stay diverse inside each
    group of equal quasi-identifiers (l-diversity), and whose distribution in each
    group must stay close to the whole release's (t-closeness).
    ``allowed_identifiers``: columns that look like identifiers but are safe to
    release (e.g. the kit's random case ids); the gate skips them.
    """

    quasi_identifiers: list[Column] = Field(default_factory=list)
    sensitive_attributes: list[Column] = Field(default_factory=list)
    k_anonymity: int = Field(default=5, ge=1, description="smallest allowed group of equal quasi-identifiers")
    l_diversity: int = Field(default=2, ge=1, description="fewest distinct sensitive values allowed in a group")
    t_closeness: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="largest allowed distance (0 to 1) between the distribution of a sensitive attribute in a "
        "group and in the whole release; 1 imposes no protection",
    )
    allowed_identifiers: list[Column] = Field(default_factory=list)
    rationale: str = Field(default="", description="why these columns and thresholds")

    @model_validator(mode="after")
    def _consistent(self):
        problems = []
        for name in ("quasi_identifiers", "sensitive_attributes", "allowed_identifiers"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                problems.append(f"{name} lists a column twice; list each column once")
        both = sorted(set(self.quasi_identifiers) & set(self.sensitive_attributes))
        if both:
            problems.append(f"{both} are both quasi-identifiers and sensitive attributes; choose one role")
        if problems:
            raise ValueError("; ".join(problems))
        return self


#: the two people who sign a privacy override: field of :class:`PrivacyOverride` -> who they are
SIGNOFF_ROLES = {
    "organiser": "the challenge organiser",
    "dpo": "the data protection officer (DPO; délégué à la protection des données)",
}


class SignOff(_Section):
    """One signature on a :class:`PrivacyOverride`: who signed, and on which day."""

    name: Text = Field(description="the name of the person who signs (their function may follow in brackets)")
    date: dt.date = Field(description="the day they signed, YYYY-MM-DD; not in the future")

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> dt.date:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError("the date is empty; write the day the person signed, YYYY-MM-DD")
        if isinstance(value, dt.datetime):
            raise ValueError(f"{value} has a time; write the day only, YYYY-MM-DD")
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO date; write it as YYYY-MM-DD") from None
        elif not isinstance(value, dt.date):
            raise ValueError(f"{value!r} is not an ISO date; write it as YYYY-MM-DD")
        today = dt.date.today()
        if value > today:
            raise ValueError(f"{value} is in the future (today is {today}); write the day the person signed")
        return value


def _same_person(a: str, b: str) -> bool:
    def words(name: str) -> list[str]:
        return re.findall(r"\w+", name.casefold())

    return words(a) == words(b)


class PrivacyOverride(_Section):
    """A decision to release although the privacy gate found a residual re-identification risk.

    Only residual risk can be overridden (the k-anonymity, l-diversity, t-closeness and
    linkability checks); a direct identifier never can: it must be removed or transformed.
    Two different people sign, each by name and date: the challenge ``organiser`` and the
    data protection officer (``dpo``). The card and the ledger record the decision.
    """

    reason: Text = Field(description="why releasing is justified despite the residual risk")
    organiser: SignOff = Field(description=f"the signature of {SIGNOFF_ROLES['organiser']}")
    dpo: SignOff = Field(description=f"the signature of {SIGNOFF_ROLES['dpo']}")

    @model_validator(mode="before")
    @classmethod
    def _two_signoffs(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "by" in data or "date" in data:
            old = ", ".join(f"{k}: {data[k]}" for k in ("by", "date") if k in data)
            raise ValueError(
                f"privacy_override has one sign-off in the old form ({old}); an override now needs two "
                "dated sign-offs by different people: replace `by` and `date` with "
                "`organiser: {name: ..., date: YYYY-MM-DD}` and `dpo: {name: ..., date: YYYY-MM-DD}` "
                "(the data protection officer's); in the CLI: --override-reason, --organiser, --dpo, --date"
            )
        missing = [role for role in SIGNOFF_ROLES if data.get(role) is None]
        if missing:
            who = " and ".join(f"`{role}` ({SIGNOFF_ROLES[role]})" for role in missing)
            raise ValueError(
                f"a privacy override needs two sign-offs, the organiser's and the data protection officer's; "
                f"{who} did not sign: add "
                + " and ".join(f"`{role}: {{name: ..., date: YYYY-MM-DD}}`" for role in missing)
                + " (in the CLI: "
                + " ".join(f"--{role} NAME" for role in missing)
                + ")"
            )
        return data

    @model_validator(mode="after")
    def _different_people(self):
        if _same_person(self.organiser.name, self.dpo.name):
            raise ValueError(
                f"the organiser and the data protection officer are the same person ({self.dpo.name!r}); "
                "an override needs two different people: the data protection officer signs as `dpo`"
            )
        return self

    @property
    def signoffs(self) -> tuple[tuple[str, SignOff], ...]:
        """``((role, sign-off), ...)``: the organiser's, then the data protection officer's."""
        return tuple((role, getattr(self, role)) for role in SIGNOFF_ROLES)

    @property
    def by(self) -> str:
        """Who decided, in one line: ``organiser: <name>; data protection officer: <name>``."""
        return f"organiser: {self.organiser.name}; data protection officer: {self.dpo.name}"

    @property
    def date(self) -> dt.date:
        """The day the override took effect: the later of the two sign-offs."""
        return max(self.organiser.date, self.dpo.date)


# -- Datasheets sections ---------------------------------------------------------------
class Licence(_Section):
    id: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(other|[A-Za-z0-9.+-]+)$")] = Field(
        description="SPDX identifier (CC-BY-4.0, BSD-3-Clause) or 'other'"
    )
    name: Text
    url: Text | None = None
    statement: Text | None = Field(default=None, description="who grants it and what it covers")


class DatasetInfo(_Section):
    name: Text = Field(description="the dataset's name (pretty name)")
    summary: Text
    creators: list[Text] = Field(min_length=1)
    homepage: Text | None = None
    doi: Text | None = None
    version: Text = Field(description="version of this release of the data")
    keywords: list[Text] = Field(default_factory=list)


class Motivation(_Section):
    purpose: Text = Field(description="for what purpose was the dataset created?")
    funding: Text = Field(description="who funded its creation?")


class Composition(_Section):
    instances: Text = Field(description="what does one row represent?")
    target: Text = Field(description="what the label / target means and how it is coded")
    sampling: Text = Field(description="all possible instances, or a sample? how chosen?")
    missing_data: Text = Field(description="why values are missing (the amounts are computed)")
    noise: Text = Field(description="known errors, noise or redundancies")
    confidential: Text = Field(description="data that might be confidential or sensitive")
    columns: dict[Column, Text] = Field(default_factory=dict, description="column -> meaning")


class Collection(_Section):
    process: Text
    collected_by: Text
    timeframe: Text
    sites: Text = Field(description="where (countries, institutions)")
    raw_data: Text = Field(description="is the raw data kept, and where?")


class Preprocessing(_Section):
    by_source: Text = Field(description="cleaning and feature extraction done before the challenge")
    by_organisers: Text = Field(description="what the challenge organisers changed (the split is computed)")


class Labelling(_Section):
    protocol: Text = Field(description="how labels were obtained (the annotation protocol)")
    annotators: Text = Field(description="who labelled, with what expertise")
    agreement: Text = Field(description="inter-annotator agreement, or why none is reported")
    annotations_per_item: Text | None = None


class Uses(_Section):
    intended: list[Text] = Field(min_length=1)
    out_of_scope: list[Text] = Field(min_length=1)
    biases: list[Text] = Field(min_length=1)
    limitations: list[Text] = Field(min_length=1)
    social_impact: Text


class Distribution(_Section):
    licence: Licence
    citation: Text
    terms: Text | None = None


class Maintenance(_Section):
    maintainer: Text
    contact: Text
    updates: Text = Field(description="will the data be updated, corrected, retired? how is it announced?")


class Ethics(_Section):
    approval: Text = Field(description="ethics committee / IRB approval (body, reference)")
    consent: Text = Field(description="how consent was obtained, or the legal basis without consent")
    withdrawal: Text = Field(description="how a patient can withdraw consent and what happens to their data")


class DeIdentification(_Section):
    status: Literal["anonymised", "pseudonymised"] = Field(
        description="anonymised: no one can re-link rows to people; pseudonymised: someone holds a key or "
        "the rows can be re-linked with additional information"
    )
    method: Text
    notes: Text | None = None


class Demographics(_Section):
    population: Text = Field(description="who the patients are (the counts are computed)")
    notes: Text | None = None


class Winner(_Section):
    team: Text
    code_url: Text | None = None
    code_licence: Text = Field(description="licence of the team's code (SPDX id), or 'not released'")


class ChallengeInfo(_Section):
    organisers: list[Text] = Field(min_length=1)
    contact: Text
    winners: list[Winner] = Field(default_factory=list, description="code and licence of the winning teams")
    notes: Text | None = None


class Card(_Section):
    """The organiser-written part of a data card (schema version 1)."""

    schema_version: Literal[1] = Field(description="version of the card schema; 1")
    dataset: DatasetInfo
    motivation: Motivation
    composition: Composition
    collection: Collection
    preprocessing: Preprocessing
    labelling: Labelling
    uses: Uses
    distribution: Distribution
    maintenance: Maintenance
    ethics: Ethics
    data_protection: DataProtection = Field(
        description="the GDPR and French health-data facts of the release; each text in English, French "
        "({en: ..., fr: ...}) or both"
    )
    de_identification: DeIdentification
    demographics: Demographics
    challenge: ChallengeInfo
    privacy: PrivacyPolicy
    privacy_override: PrivacyOverride | None = Field(
        default=None, description="a recorded decision to release although the privacy gate blocked"
    )
    _todo: tuple[str, ...] = PrivateAttr(default=())

    @property
    def todo(self) -> tuple[str, ...]:
        """The prose fields still to be written (dotted paths): empty, except in a draft."""
        return self._todo

    @property
    def is_draft(self) -> bool:
        return bool(self._todo)


# -- parsing with one problem per field -------------------------------------------------
def _path(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def field_description(loc: tuple[str | int, ...], model: type[BaseModel] | None = None) -> str:
    """What the schema says to write in the field at ``loc`` (``("ethics", "consent")``); "" if it says nothing.

    ``model``: the model ``loc`` is relative to (default: :class:`Card`).
    """
    current: type[BaseModel] | None = Card if model is None else model
    description = ""
    for part in loc:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return ""
        field = current.model_fields[part]
        description = field.description or ""
        current = _section_type(field.annotation)
    return description


def card_problems(error: ValidationError, model: type[BaseModel] | None = None) -> list[Problem]:
    """One :class:`Problem` per invalid field, naming its dotted path and the fix.

    ``model``: the model that was validated; the fix of a missing or empty field then says what to
    write there (the field's description in the schema).
    """
    problems = []
    for e in error.errors():
        where = _path(e["loc"])
        kind = e["type"]
        msg = e["msg"].removeprefix("Value error, ")
        what = field_description(tuple(e["loc"]), model) if model is not None else ""
        teach = f": {what}" if what else ""
        if kind == "missing":
            problems.append(Problem("required field is missing", where=where, fix=f"add `{where}` to the card{teach}"))
        elif kind in ("string_too_short", "too_short") or (kind.endswith("_type") and e.get("input") is None):
            problems.append(Problem("required field is empty", where=where, fix=f"fill in `{where}`{teach}"))
        elif kind == "extra_forbidden":
            problems.append(
                Problem("unknown field", where=where, fix="remove it or check its spelling against kit/cards/schema.py")
            )
        elif kind == "literal_error":
            problems.append(Problem(msg, where=where, fix="use one of the allowed values"))
        else:
            problems.append(Problem(msg, where=where, fix="correct the value"))
    return problems


def _open_missing_sections(model: type[BaseModel], data: dict) -> dict:
    """A copy of ``data`` where each missing section with required fields is ``{}``.

    Validation then names every required field of a missing section
    (``ethics.approval``, ``ethics.consent``...) instead of just ``ethics``.
    """
    out = dict(data)
    for name, field in model.model_fields.items():
        sub = field.annotation
        if not (isinstance(sub, type) and issubclass(sub, _Section)):
            continue
        if not any(f.is_required() for f in sub.model_fields.values()):
            continue  # a section whose fields all have defaults must still be written on purpose
        if name not in out and field.is_required():
            out[name] = {}
        if isinstance(out.get(name), dict):
            out[name] = _open_missing_sections(sub, out[name])
    return out


#: constrained fields of a draft: (the value validated in its place, the value the draft shows)
_DRAFT_STANDINS: dict[tuple[str, ...], tuple[str, str]] = {
    ("distribution", "licence", "id"): ("other", "other"),  # an unnamed licence: its name reads TO_WRITE
    ("de_identification", "status"): ("pseudonymised", TO_WRITE),
}


def _blank(value: Any) -> bool:
    """An empty field: nothing, blanks, an empty list, or a text by language whose every text is empty."""
    if isinstance(value, dict):
        return all(_blank(v) for v in value.values())
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value)


def _section_type(annotation: Any) -> type[_Section] | None:
    for a in getattr(annotation, "__args__", (annotation,)):
        if isinstance(a, type) and issubclass(a, _Section):
            return a
    return None


def _fill_draft(model: type[BaseModel], data: dict, path: tuple[str, ...], todo: list[tuple[str, ...]]) -> dict:
    """A copy of ``data`` where every missing or empty required prose field reads :data:`TO_WRITE`."""
    out = dict(data)
    for name, field in model.model_fields.items():
        key = (*path, name)
        value = out.get(name)
        sub = _section_type(field.annotation)
        if sub is not None:
            if isinstance(value, dict):
                out[name] = _fill_draft(sub, value, key, todo)
            elif value is None and field.is_required():
                out[name] = _fill_draft(sub, {}, key, todo)
            continue
        if key == ("composition", "columns") and isinstance(value, dict):
            # a column whose meaning is not written yet is left out (the card shows its computed role)
            todo.extend((*key, str(c)) for c, text in value.items() if _blank(text))
            out[name] = {c: text for c, text in value.items() if not _blank(text)}
            continue
        if not field.is_required() or not _blank(value):
            continue
        out[name] = [TO_WRITE] if get_origin(field.annotation) is list else TO_WRITE
        todo.append(key)
    for key, (stand_in, _) in _DRAFT_STANDINS.items():
        if key[: len(path)] == path and len(key) == len(path) + 1 and key in todo:
            out[key[-1]] = stand_in
    return out


def _replace(model: BaseModel, path: tuple[str, ...], value: Any) -> Any:
    if len(path) == 1:
        return model.model_copy(update={path[0]: value})
    return model.model_copy(update={path[0]: _replace(getattr(model, path[0]), path[1:], value)})


def parse_card(data, *, source: str = "card", draft: bool = False) -> Card:
    """Validate card data (a mapping); raise one :class:`CardError` listing every problem.

    ``draft``: missing or empty prose fields read :data:`TO_WRITE` instead of being
    errors (see the module's docstring); ``data`` may then be empty or None.
    """
    if draft and data is None:
        data = {}
    if not isinstance(data, dict):
        raise CardError(
            "a card must be a YAML mapping of sections",
            where=source,
            fix="start from starter_kits/breast-cancer/card.yml",
        )
    todo: list[tuple[str, ...]] = []
    if draft:
        data = _fill_draft(Card, {"schema_version": CARD_SCHEMA_VERSION, **data}, (), todo)
    try:
        card = Card.model_validate(_open_missing_sections(Card, data), context={"draft": draft})
    except ValidationError as exc:
        problems = card_problems(exc, Card)
        raise CardError(
            f"{len(problems)} problem(s) in the data card",
            where=source,
            problems=problems,
            fix=f"fill in every field listed above: {UNKNOWN_HINT}"
            + ("" if draft else "; meanwhile, build_card(..., draft=True) shows the card with these fields marked"),
        ) from None
    for key in todo:
        stand_in, shown = _DRAFT_STANDINS.get(key, (None, None))
        if shown is not None and shown != stand_in:
            card = _replace(card, key, shown)
    card._todo = tuple(".".join(k) for k in todo)
    return card


def read_card(path: str | os.PathLike, *, draft: bool = False) -> Card:
    """Read and validate a card file (``draft``: a missing file or field is marked, see :func:`parse_card`)."""
    from ..yamlfile import read_yaml

    path = Path(path)
    if draft and not path.exists():
        return parse_card({}, source=str(path), draft=True)
    data = read_yaml(
        path,
        error=CardError,
        missing=CardError(
            f"no card file at {path}",
            where=str(path),
            fix=f"write {CARD_FILENAME} beside challenge.yml (start from starter_kits/breast-cancer/card.yml)",
        ),
    )
    return parse_card(data, source=str(path), draft=draft)


def card_json_schema() -> dict:
    """The JSON schema of card files (for editors and documentation)."""
    return Card.model_json_schema()
