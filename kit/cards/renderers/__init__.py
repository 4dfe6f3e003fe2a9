"""Card renderers: a registry keyed by name (``markdown``, ``html``, ``croissant``).

A renderer turns a :class:`~kit.cards.document.CardDocument` (the organiser's card,
the challenge spec, the computed statistics, the privacy report and the leaderboard
summary) into the bytes of one file. Rendering is deterministic: the same document
gives the same bytes (no clock, no random ids; the only dates are the spec's).

Markdown (:mod:`.markdown`) and HTML (:mod:`.html`) serialise the blocks of
:func:`kit.cards.document.card_blocks`, escaping every piece of organiser- or
team-supplied text for their format. Croissant JSON-LD (:mod:`.croissant`) is built
with ``mlcroissant`` objects and validated with ``mlcroissant`` before it is written.

The built-in renderers are registered lazily: listing the names imports none of them.
A plug-in is a :class:`Renderer` subclass (or instance) registered with
:func:`register_card_renderer` or named by an entry point of the group
``challenge_kit.card_renderers``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...registry import Registry
from .. import DEFAULT_RENDERERS
from ..schema import CardError

if TYPE_CHECKING:
    from ..document import CardDocument


class Renderer(ABC):
    """One output format of a card. Subclasses set ``name`` and ``filename`` and implement ``render``."""

    name: str = ""
    filename: str = ""
    media_type: str = "text/plain"

    @abstractmethod
    def render(self, doc: CardDocument) -> bytes:
        """The bytes of the file, the same for the same document."""


def _instance(renderer: Renderer | type[Renderer]) -> Renderer:
    """A registered class becomes an instance; a renderer needs a name and a filename."""
    instance = renderer() if isinstance(renderer, type) else renderer
    if not instance.name or not instance.filename:
        raise CardError(
            "a renderer needs a name and a filename",
            where=type(instance).__name__,
            fix="set the class attributes name and filename",
        )
    return instance


#: the card renderers, by name
CARD_RENDERERS: Registry[Renderer] = Registry(
    "card renderer", error=CardError, coerce=_instance, hint="kit.cards.get_card_renderer_names()"
)
CARD_RENDERERS.register_lazy("markdown", "kit.cards.renderers.markdown:MarkdownRenderer")
CARD_RENDERERS.register_lazy("html", "kit.cards.renderers.html:HtmlRenderer")
CARD_RENDERERS.register_lazy("croissant", "kit.cards.renderers.croissant:CroissantRenderer")


def register_card_renderer(renderer: Any = None, *, name: str | None = None, replace: bool = False) -> Any:
    """Register a renderer (a :class:`Renderer` subclass, instantiated, or an instance); usable as a decorator.

    The name is the renderer's ``name`` unless ``name=`` is given. A name taken already is
    refused (:class:`~kit.cards.CardError`) unless ``replace=True``.
    """
    return CARD_RENDERERS.register(renderer, name=name, replace=replace)


def get_card_renderer(name: str) -> Renderer:
    """The renderer registered as *name*; raises :class:`~kit.cards.CardError` listing the registered ones."""
    return CARD_RENDERERS.get(name)


def get_card_renderer_names() -> list[str]:
    """The names of every card renderer, sorted."""
    return CARD_RENDERERS.names()


def render(doc: CardDocument, names: Sequence[str] = DEFAULT_RENDERERS) -> dict[str, bytes]:
    """Render a document with the named renderers: ``{filename: bytes}``."""
    return {get_card_renderer(n).filename: get_card_renderer(n).render(doc) for n in names}


__all__ = [
    "CARD_RENDERERS",
    "Renderer",
    "get_card_renderer",
    "get_card_renderer_names",
    "register_card_renderer",
    "render",
]
