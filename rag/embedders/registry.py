"""Embedders by name, as a plain dict of factories taking the settings."""

from __future__ import annotations

from collections.abc import Callable

from rag.embedders.cache import CachedEmbedder
from rag.embedders.e5 import E5Embedder
from rag.embedders.hashing import HashingEmbedder
from rag.embedders.protocol import Embedder
from rag.embedders.sentence_transformers import SentenceTransformerEmbedder
from rag.errors import UnknownComponentError
from rag.settings import Settings

EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    "e5": lambda s: E5Embedder(batch_size=s.embed_batch_size),
    "sentence-transformers": lambda s: SentenceTransformerEmbedder(
        s.embedder_model,
        query_prefix=s.query_prefix,
        passage_prefix=s.passage_prefix,
        batch_size=s.embed_batch_size,
        threads=s.threads,
    ),
    "hashing": lambda s: HashingEmbedder(),
}


def get_embedder(name: str, settings: Settings, *, cached: bool = True) -> Embedder:
    """A new, not yet warmed-up embedder; real models get the on-disk vector cache when one is configured."""
    try:
        factory = EMBEDDERS[name]
    except KeyError:
        raise UnknownComponentError(f"unknown embedder {name!r} (known: {', '.join(sorted(EMBEDDERS))})") from None
    embedder = factory(settings)
    if cached and settings.embed_cache_dir and name != "hashing":
        return CachedEmbedder(embedder, settings.embed_cache_dir)
    return embedder
