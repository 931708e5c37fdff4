"""One registry helper for every pluggable part: implementations by name, one error for an unknown name.

As simonw/llm's ``get_model(name)`` / ``UnknownModelError``: a plain mapping of names to factories, each factory
taking the :class:`~rag.settings.Settings` (stores also take the dimension and the index folder), cheap to call;
heavy loading waits for the component's ``warm_up``. ``get`` returns the factory or raises
:class:`~rag.errors.UnknownComponentError` naming the kind and the known names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from rag.errors import UnknownComponentError

F = TypeVar("F")


class Registry(Generic[F]):
    """Factories of one kind of component (``embedder``, ``reader``…), by name."""

    def __init__(self, kind: str, factories: Mapping[str, F]) -> None:
        self.kind = kind
        self._factories = dict(factories)

    def get(self, name: str) -> F:
        """The factory registered as ``name``; an unknown name is an :class:`UnknownComponentError`."""
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories))
            raise UnknownComponentError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def register(self, name: str, factory: F) -> None:
        """Add (or replace) an implementation: one line per new component."""
        self._factories[name] = factory

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)
