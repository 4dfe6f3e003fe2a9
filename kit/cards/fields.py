"""The building blocks of card sections: the frozen section base, a non-empty text, a text in English and French.

:class:`Localised` is the prose of a section that may be written in English, in French or in both:
either a plain string (read as English, the language of the rest of the card) or a mapping
``{en: ..., fr: ...}`` with at least one of the two. Renderers show every language given:
Markdown and HTML label each text EN or FR, Croissant writes JSON-LD values tagged with their
language (``{"@value": ..., "@language": "fr"}``).

This module imports nothing of the kit, so that every section module can build on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

#: what a draft card shows in place of a prose field the organiser has not written yet
TO_WRITE = "[to be written by the organiser]"
#: the languages a :class:`Localised` text may be written in, in the order they are shown: code -> name
LANGUAGES = {"en": "English", "fr": "French"}

#: a statement: a non-empty string (leading and trailing blanks removed)
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
#: a column name
Column = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Section(BaseModel):
    """A section of a card: unknown fields are refused, and a parsed section never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Localised:
    """A text in English, in French or in both (see the module's docstring); immutable and hashable.

    ``Localised("text")`` is a plain string (English, unlabelled when shown);
    ``Localised(en="...", fr="...")`` gives each language. :meth:`items` yields
    ``(language, text)`` in the order of :data:`LANGUAGES`.
    """

    __slots__ = ("_plain", "_texts")

    def __init__(self, plain: str | None = None, /, **texts: str) -> None:
        if (plain is None) == (not texts):
            raise TypeError("give either one plain text or texts by language code (en=..., fr=...)")
        unknown = sorted(set(texts) - set(LANGUAGES))
        if unknown:
            raise TypeError(f"unknown language code(s) {unknown}; use {', '.join(LANGUAGES)}")
        self._plain = plain is not None
        pairs = {"en": plain} if plain is not None else texts
        self._texts = tuple((code, pairs[code]) for code in LANGUAGES if code in pairs)

    @property
    def tagged(self) -> bool:
        """Whether the organiser named the language(s) (a mapping), rather than writing a plain string."""
        return not self._plain

    def items(self) -> Iterator[tuple[str, str]]:
        """``(language code, text)`` of every language given, in the order of :data:`LANGUAGES`."""
        return iter(self._texts)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self._texts)

    def get(self, language: str) -> str | None:
        return dict(self._texts).get(language)

    def prefixed(self, prefix: Mapping[str, str]) -> Localised:
        """This text with ``prefix[language]`` before each language's text (a plain text takes the English one)."""
        if self._plain:
            return Localised(prefix["en"] + self._texts[0][1])
        return Localised(**{code: prefix[code] + text for code, text in self._texts})

    def __str__(self) -> str:
        """The English text, or the first one given."""
        return self.get("en") or self._texts[0][1]

    def __repr__(self) -> str:
        if self._plain:
            return f"Localised({self._texts[0][1]!r})"
        return "Localised(" + ", ".join(f"{code}={text!r}" for code, text in self._texts) + ")"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Localised):
            return NotImplemented
        return (self._plain, self._texts) == (other._plain, other._texts)

    def __hash__(self) -> int:
        return hash((self._plain, self._texts))

    # -- pydantic ----------------------------------------------------------------------------------
    @classmethod
    def parse(cls, value: Any) -> Localised:
        """A :class:`Localised` from a card value; raises a pydantic error naming what to write."""
        if isinstance(value, Localised):
            return value
        if value is None or (isinstance(value, str) and not value.strip()):
            raise PydanticCustomError("string_too_short", "the text is empty")
        if isinstance(value, str):
            return cls(value.strip())
        if not isinstance(value, Mapping):
            raise ValueError(
                f"{value!r} is not a text: write a text (English), or the text by language: "
                "{en: <English text>, fr: <texte en français>}"
            )
        unknown = sorted(str(k) for k in value if k not in LANGUAGES)
        if unknown:
            raise ValueError(
                f"unknown language {', '.join(repr(k) for k in unknown)}: write the text in English (`en`) and/or "
                "French (`fr`), e.g. {en: ..., fr: ...}"
            )
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in value.values()):
            raise PydanticCustomError("string_too_short", "the text is empty")
        texts: dict[str, str] = {}
        for code, text in value.items():
            if not isinstance(text, str) or not text.strip():
                raise ValueError(
                    f"the {LANGUAGES[code]} text (`{code}`) is empty or not a text: write it, or remove `{code}`"
                )
            texts[code] = text.strip()
        return cls(**texts)

    def dump(self) -> str | dict[str, str]:
        """The card value: a plain string, or ``{language: text}``."""
        return self._texts[0][1] if self._plain else dict(self._texts)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.dump())
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        text = {"type": "string", "minLength": 1}
        return {
            "anyOf": [
                {**text, "description": "a text in English"},
                {
                    "type": "object",
                    "description": "the text by language (at least one)",
                    "properties": {code: {**text, "description": f"in {name}"} for code, name in LANGUAGES.items()},
                    "additionalProperties": False,
                    "minProperties": 1,
                },
            ]
        }
