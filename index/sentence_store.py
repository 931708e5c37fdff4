"""Sentence vectors, computed when a chunk is indexed and stored with the generation.

The extractive answerer scores each retrieved sentence by its cosine to the question. Embedding those sentences
on the request path cost up to ten passage embeddings per ask; stored here, an ask only looks them up. Per stored
chunk: the sentences' ``[start, end)`` offsets relative to the chunk, and their vectors in float16 (half the
memory; a cosine moves by < 1e-3). On disk, two ``.npy`` files (no pickle); the vectors are memory-mapped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import IndexCorruptError

SPANS_FILE = "sentence_spans.npy"
VECTORS_FILE = "sentence_vectors.npy"


class SentenceStore:
    """Chunk id -> (relative starts, relative ends, float16 vectors) of the chunk's sentences."""

    def __init__(self) -> None:
        self._by_chunk: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return sum(len(starts) for starts, _, _ in self._by_chunk.values())

    @property
    def chunks(self) -> int:
        """Chunks whose sentences are stored."""
        return len(self._by_chunk)

    def add(self, chunk_id: int, spans: list[tuple[int, int]], vectors: np.ndarray) -> None:
        """Store one chunk's sentences (offsets relative to the chunk) and their vectors."""
        if len(spans) != len(vectors):
            raise ValueError(f"{len(spans)} sentence spans but {len(vectors)} vectors")
        arr = np.asarray(spans, dtype=np.int32).reshape(-1, 2)
        self._by_chunk[int(chunk_id)] = (arr[:, 0].copy(), arr[:, 1].copy(), np.asarray(vectors, dtype=np.float16))

    def remove(self, chunk_ids: Iterable[int]) -> None:
        """Forget these chunks' sentences (absent ones are ignored)."""
        for cid in chunk_ids:
            self._by_chunk.pop(int(cid), None)

    def vector(self, chunk_id: int, start: int, end: int) -> np.ndarray | None:
        """The unit float32 vector of the sentence ``[start, end)`` (relative to the chunk), or None."""
        entry = self._by_chunk.get(int(chunk_id))
        if entry is None:
            return None
        starts, ends, vectors = entry
        rows = np.flatnonzero((starts == start) & (ends == end))
        if not len(rows):
            return None
        v = np.asarray(vectors[rows[0]], dtype=np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def save(self, directory: Path) -> list[str]:
        """Write the spans (chunk id, start, end) and the vectors."""
        ids = sorted(self._by_chunk)
        parts = [self._by_chunk[c] for c in ids]
        counts = [len(p[0]) for p in parts]
        spans = np.zeros((sum(counts), 3), dtype=np.int64)
        dim = next((p[2].shape[1] for p in parts if p[2].ndim == 2 and len(p[2])), 0)
        vectors = np.zeros((sum(counts), dim), dtype=np.float16)
        at = 0
        for cid, (starts, ends, vecs), n in zip(ids, parts, counts, strict=True):
            spans[at : at + n] = np.stack([np.full(n, cid), starts, ends], axis=1)
            if n:
                vectors[at : at + n] = vecs
            at += n
        np.save(directory / SPANS_FILE, spans, allow_pickle=False)
        np.save(directory / VECTORS_FILE, vectors, allow_pickle=False)
        return [SPANS_FILE, VECTORS_FILE]

    def load(self, directory: Path) -> None:
        """Replace the contents with what :meth:`save` wrote there (nothing, for a generation written before
        sentence vectors were stored: the answerer then embeds sentences as it needs them)."""
        self._by_chunk = {}
        if not (directory / SPANS_FILE).exists():
            return
        try:
            spans = np.load(directory / SPANS_FILE, allow_pickle=False)
            vectors = np.load(directory / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"cannot read the sentence vectors in {directory}: {exc}") from exc
        if spans.ndim != 2 or spans.shape[1] != 3 or len(spans) != len(vectors) or vectors.dtype != np.float16:
            raise IndexCorruptError(f"{directory}: sentence spans and vectors do not match")
        if not len(spans):
            return
        cuts = np.flatnonzero(np.diff(spans[:, 0])) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(spans)], strict=True):
            block = spans[lo:hi]
            self._by_chunk[int(block[0, 0])] = (
                block[:, 1].astype(np.int32),
                block[:, 2].astype(np.int32),
                vectors[lo:hi],
            )

    def info(self) -> dict[str, Any]:
        """Recorded in the manifest."""
        return {"kind": "sentence-vectors", "dtype": "float16", "count": len(self), "chunks": self.chunks}
