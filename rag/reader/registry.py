"""Readers by name (``RAG_READER``), one shared instance per configuration: the model loads once per process."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from rag.errors import UnknownComponentError
from rag.reader.cache import CachedReader
from rag.reader.fake import KeywordReader
from rag.reader.protocol import Reader
from rag.settings import Settings


def _e5_piaf(weights: Path | None, threads: int) -> Reader:
    from rag.reader.inference import E5Reader

    return E5Reader(weights, threads=threads or None)


def _keyword(weights: Path | None, threads: int) -> Reader:
    return KeywordReader()


READERS: dict[str, Callable[[Path | None, int], Reader] | None] = {
    "e5-piaf": _e5_piaf,
    "keyword": _keyword,
    "none": None,
}
"""``none``: no reader; answers are whole sentences from the sentence scorer."""


def get_reader(settings: Settings) -> CachedReader | None:
    """The configured reader (not yet warmed up), or None for ``none``; unknown names are a clear error."""
    if settings.reader not in READERS:
        known = ", ".join(sorted(READERS))
        raise UnknownComponentError(f"unknown reader {settings.reader!r} (known: {known})")
    return _shared(settings.reader, settings.reader_weights, settings.threads)


@lru_cache(maxsize=8)
def _shared(name: str, weights: Path | None, threads: int) -> CachedReader | None:
    factory = READERS[name]
    return CachedReader(factory(weights, threads)) if factory else None
