"""Readers by name (``RAG_READER``), one shared instance per configuration: the model loads once per process."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rag.reader.cache import CachedReader
from rag.reader.fake import KeywordReader
from rag.reader.protocol import Reader
from rag.registry import Registry
from rag.settings import Settings
from rag.threads import thread_count


def _e5_piaf(s: Settings) -> Reader:
    from rag.reader.inference import E5Reader

    return E5Reader(
        s.reader_weights,
        threads=s.threads or None,
        dtype=s.reader_dtype,
        max_batch=s.reader_batch,
        engines=s.reader_engines or max(1, thread_count(s.threads) // s.workers),
        engine_threads=s.reader_engine_threads,
    )


def _keyword(s: Settings) -> Reader:
    return KeywordReader()


READERS: Registry[Callable[[Settings], Reader] | None] = Registry(
    "reader", {"e5-piaf": _e5_piaf, "keyword": _keyword, "none": None}
)
"""``none``: no reader; answers are whole sentences from the sentence scorer."""

_SHARED: dict[tuple[object, ...], CachedReader | None] = {}
_SHARED_LOCK = threading.Lock()


def get_reader(settings: Settings) -> CachedReader | None:
    """The configured reader (not yet warmed up), or None for ``none``; unknown names are a clear error. One
    instance per process and configuration: the model loads once."""
    factory = READERS.get(settings.reader)
    key = (
        settings.reader,
        settings.reader_weights,
        settings.threads,
        settings.reader_dtype,
        settings.reader_batch,
        settings.reader_engines,
        settings.reader_engine_threads,
        settings.workers,
    )
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = CachedReader(factory(settings)) if factory else None
        return _SHARED[key]
