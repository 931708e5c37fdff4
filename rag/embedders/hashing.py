"""A deterministic, model-free embedder for tests: signed feature hashing of analysed terms."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from rag.analyzer import get_analyzer


class HashingEmbedder:
    """Bag-of-terms hashed into ``dim`` signed buckets, normalised. Same text → same vector, on any machine."""

    name = "hashing"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    @property
    def fingerprint(self) -> str:
        """Name and dimension."""
        return f"hashing-{self.dim}"

    def warm_up(self) -> None:
        """Nothing to load."""

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        terms = get_analyzer()(text) or [text.strip().casefold() or "\x00"]
        for term in terms:
            digest = hashlib.blake2b(term.encode("utf-8", "replace"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            vec[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:  # terms cancelled out: fall back to a fixed unit vector
            vec[0], norm = 1.0, 1.0
        return vec / norm

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """One hashed vector per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._one(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        """Queries and passages share one space."""
        return self._one(text)
