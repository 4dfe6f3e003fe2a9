"""One small registry for everything the kit looks up by name.

Metrics, task types, sandboxes, executors, submission sources, board formats, card renderers,
identifier categories and datasets are all kept in a :class:`Registry`: the same rules
for every one of them.

- ``register(obj)`` adds an object under its ``name`` (or ``name=``); it also works as a
  decorator, bare (``@REG.register``) or with arguments (``@REG.register(name="x")``).
  A name taken already is refused unless ``replace=True``: nothing is overwritten silently.
- ``register_lazy(name, "module:attr")`` adds one that is imported on first use, so that
  listing the names (the CLI's choices) imports nothing heavy.
- ``get(name)`` returns it, or raises the registry's error with the "use one of …" fix.
- ``names()`` lists them, sorted.
- Plug-ins: every registry reads the entry points of its group
  (``challenge_kit.<kind>s``, e.g. ``challenge_kit.metrics``) when it is first listed or
  asked for a name it does not hold. An entry point names an object (``pkg.mod:obj``),
  registered under the entry point's name. A broken plug-in never breaks ``import kit``:
  it is reported when it is asked for, and skipped (with a warning) when names are listed.
  A plug-in cannot shadow a built-in name.

:func:`registries` lists every registry created so far, keyed by kind (the common tests
run over all of them).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from .errors import KitError

T = TypeVar("T")
log = logging.getLogger(__name__)

ENTRY_POINT_PREFIX = "challenge_kit."
_ALL: dict[str, Registry[Any]] = {}


def _import_target(target: str) -> Any:
    """``"package.module:attr.sub"`` -> the object."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Objects of one kind, keyed by name.

    Parameters
    ----------
    kind : str
        What is registered, in the singular ("metric", "sandbox"): used in messages.
    plural : str, optional
        Its plural (default: *kind* + "s"), which names the entry-point group
        ``challenge_kit.<plural>`` (spaces become underscores).
    error : KitError subclass
        Raised for unknown and duplicate names.
    coerce : callable, optional
        Turns what is registered into what is kept (e.g. a class into an instance).
    hint : str
        Where users can list the names, appended to the fix ("kit.metrics.get_metric_names()").
    """

    def __init__(
        self,
        kind: str,
        *,
        error: type[KitError] = KitError,
        coerce: Callable[[Any], T] | None = None,
        hint: str = "",
        plural: str | None = None,
        group: str | None = None,
    ):
        if kind in _ALL:
            raise KitError(f"a registry of {plural or kind + 's'} exists already", where="kit.registry", fix="reuse it")
        self.kind = kind
        self.plural = plural or kind + "s"
        self.group = group or ENTRY_POINT_PREFIX + self.plural.replace(" ", "_")
        self.error = error
        self.hint = hint
        self._coerce = coerce
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._plugins: dict[str, str] = {}  # name -> "module:attr", from entry points
        self._broken: dict[str, str] = {}  # name -> why a plug-in could not be loaded
        self._scanned = False
        self._lock = threading.RLock()
        _ALL[kind] = self

    # -- adding ----------------------------------------------------------------------
    @overload
    def register(self, obj: None = None, *, name: str | None = None, replace: bool = False) -> Callable[[Any], Any]: ...

    @overload
    def register(self, obj: Any, *, name: str | None = None, replace: bool = False) -> Any: ...

    def register(self, obj: Any = None, *, name: str | None = None, replace: bool = False) -> Any:
        """Add *obj* under *name* (default: its ``name`` attribute, else its ``__name__``).

        Returns *obj* unchanged, so it works as a decorator; without *obj*, returns one.
        """
        if obj is None:
            return lambda target: self.register(target, name=name, replace=replace)
        key = name or getattr(obj, "name", None) or getattr(obj, "__name__", None)
        if not isinstance(key, str) or not key:
            raise self.error(
                f"a {self.kind} needs a name to be registered",
                where=repr(obj),
                fix="give it a 'name' attribute or pass name=...",
            )
        value = self._coerce(obj) if self._coerce is not None else obj
        with self._lock:
            self._check_free(key, replace)
            self._lazy.pop(key, None)
            self._items[key] = value
        return obj

    def register_lazy(self, name: str, target: str, *, replace: bool = False) -> None:
        """Add the object at *target* (``"module:attr"``), imported when first asked for."""
        with self._lock:
            self._check_free(name, replace)
            self._items.pop(name, None)
            self._lazy[name] = target

    def unregister(self, name: str) -> None:
        """Remove *name* (a plug-in or a test double); unknown names raise."""
        with self._lock:
            if name in self._items:
                del self._items[name]
            elif name in self._lazy:
                del self._lazy[name]
            elif name in self._plugins:
                del self._plugins[name]
            else:
                raise self._unknown(name)

    def _check_free(self, name: str, replace: bool) -> None:
        if not replace and (name in self._items or name in self._lazy):
            raise self.error(
                f"a {self.kind} named {name!r} is already registered",
                where=f"registry of {self.plural}",
                fix="choose another name, or pass replace=True to replace it",
            )

    # -- looking up ------------------------------------------------------------------
    def get(self, name: str) -> T:
        """The object registered as *name*; raises the registry's error naming the choices."""
        with self._lock:
            if name in self._items:
                return self._items[name]
            if name not in self._lazy and name not in self._plugins:
                self._scan()
            target = self._lazy.get(name) or self._plugins.get(name)
            if target is None:
                raise self._unknown(name)
            try:
                obj = _import_target(target)
            except Exception as exc:
                plugin = name in self._plugins
                raise self.error(
                    f"the {self.kind} {name!r} could not be loaded from {target!r}: {exc.__class__.__name__}: {exc}",
                    where=f"entry point {self.group}" if plugin else f"registry of {self.plural}",
                    fix="install the plug-in's dependencies, or uninstall it" if plugin else "reinstall challenge-kit",
                ) from exc
            value = self._coerce(obj) if self._coerce is not None else obj
            self._lazy.pop(name, None)
            self._plugins.pop(name, None)
            self._items[name] = value
            return value

    def names(self) -> list[str]:
        """Every registered name, sorted (plug-ins included)."""
        with self._lock:
            self._scan()
            return sorted({*self._items, *self._lazy, *self._plugins})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, T]]:
        """(name, object) pairs, every lazy entry and plug-in loaded (broken plug-ins skipped)."""
        out = []
        for name in self.names():
            try:
                out.append((name, self.get(name)))
            except KitError as exc:
                log.warning("%s", exc)
        return out

    def _unknown(self, name: str) -> KitError:
        hint = f" ({self.hint})" if self.hint else ""
        return self.error(
            f"{name!r} is not a registered {self.kind}", fix=f"use one of: {', '.join(self.names())}{hint}"
        )

    # -- plug-ins ------------------------------------------------------------------------
    def _scan(self) -> None:
        """Read this registry's entry points once (cheap: no plug-in is imported here)."""
        if self._scanned:
            return
        self._scanned = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            if ep.name in self._items or ep.name in self._lazy:
                log.warning(
                    "the plug-in %s = %s (entry point group %s) is ignored: %r is a built-in %s",
                    ep.name,
                    ep.value,
                    self.group,
                    ep.name,
                    self.kind,
                )
                continue
            self._plugins[ep.name] = ep.value

    def rescan(self) -> None:
        """Read the entry points again (after installing a plug-in in a running process)."""
        with self._lock:
            self._scanned = False
            self._scan()

    def __repr__(self) -> str:
        return f"<Registry of {self.plural}: {', '.join(self.names())}>"


def registries() -> dict[str, Registry[Any]]:
    """Every registry created so far, keyed by kind."""
    return dict(_ALL)


#: Modules that create the kit's registries (imported by :func:`all_registries`).
REGISTRY_MODULES = (
    "kit.metrics",
    "kit.execution.sandbox",
    "kit.grading.executors",
    "kit.grading.sources",
    "kit.leaderboard.render",
    "kit.cards.renderers",
    "kit.privacy",
    "kit.datasets",
    "kit.tasks",
    "kit.remedies",
    "kit.leaderboard.stats",
)


def all_registries() -> dict[str, Registry[Any]]:
    """Every registry of the kit (their modules are imported)."""
    for module in REGISTRY_MODULES:
        importlib.import_module(module)
    return registries()


__all__ = ["Registry", "all_registries", "registries", "REGISTRY_MODULES"]
