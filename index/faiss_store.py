"""FAISS vector store: exact inner-product search while small, HNSW once it grows past a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.protocols import ScoredIds
from rag.errors import IndexCorruptError

VECTORS_FILE = "vectors.faiss"
TOMBSTONES_FILE = "vectors.deleted.npy"


class FaissVectorStore:
    """ID-mapped FAISS index over normalised vectors (inner product = cosine).

    Below ``exact_max`` vectors the search is exact (``IndexFlatIP``); above it the store moves to
    ``IndexHNSWFlat``. HNSW cannot delete, so removed ids become tombstones that searches skip, and the
    graph is rebuilt from its own stored vectors once a fifth of it is dead.
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_max: int = 50_000,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
    ) -> None:
        self.dim = dim
        self.exact_max = exact_max
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self._index: faiss.IndexIDMap2 = self._empty(approximate=False)
        self._dead: set[int] = set()

    @property
    def approximate(self) -> bool:
        """Whether the current index is HNSW."""
        return isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSWFlat)

    def _empty(self, approximate: bool) -> faiss.IndexIDMap2:
        inner: Any
        if approximate:
            inner = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.ef_construction
            inner.hnsw.efSearch = self.ef_search
        else:
            inner = faiss.IndexFlatIP(self.dim)
        return faiss.IndexIDMap2(inner)

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self._dead)

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        n = int(self._index.ntotal)
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        vectors = self._index.index.reconstruct_n(0, n) if n else np.zeros((0, self.dim), np.float32)
        if self._dead:
            keep = ~np.isin(ids, np.fromiter(self._dead, np.int64))
            ids, vectors = ids[keep], vectors[keep]
        return ids, vectors

    def _rebuild(self, approximate: bool) -> None:
        ids, vectors = self._all()
        self._index = self._empty(approximate)
        self._dead.clear()
        if len(ids):
            self._index.add_with_ids(vectors, ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors (n, dim) under new int64 ids; switches to HNSW when the size passes the threshold."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(ids) != len(vectors):
            raise ValueError(f"expected {len(ids)} vectors of dimension {self.dim}, got {vectors.shape}")
        if not len(ids):
            return
        if not self.approximate and len(self) + len(ids) > self.exact_max:
            self._rebuild(approximate=True)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: Sequence[int]) -> int:
        """Remove ids; exact indexes delete in place, HNSW marks tombstones."""
        arr = np.asarray(list(ids), dtype=np.int64)
        if not len(arr):
            return 0
        if not self.approximate:
            return int(self._index.remove_ids(arr))  # type: ignore[arg-type]  # SWIG overload takes arrays
        known = set(faiss.vector_to_array(self._index.id_map).tolist())
        fresh = {int(i) for i in arr if int(i) in known and int(i) not in self._dead}
        self._dead |= fresh
        if len(self._dead) * 5 > self._index.ntotal:
            self._rebuild(approximate=len(self) > self.exact_max)
        return len(fresh)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> ScoredIds:
        """Best ``k`` (id, cosine) pairs for one normalised query vector."""
        if k <= 0 or len(self) == 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        selector = None
        if allowed is not None:
            if not len(allowed):
                return []
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        fetch = min(k + len(self._dead), int(self._index.ntotal))
        if self.approximate:
            params: Any = faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.ef_search, fetch))  # type: ignore[attr-defined]
        else:
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, found = self._index.search(q, fetch, params=params)
        hits = [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if i >= 0]
        return [h for h in hits if h[0] not in self._dead][:k]

    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact inner products of the query with the stored vectors of ``ids`` (all must be live)."""
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        vectors = np.stack([self._index.reconstruct(int(i)) for i in ids])
        return vectors @ np.asarray(query, dtype=np.float32).reshape(self.dim)

    def save(self, directory: Path) -> list[str]:
        """Write ``vectors.faiss`` (FAISS's own format) and the tombstones as ``.npy``."""
        faiss.write_index(self._index, str(directory / VECTORS_FILE))
        dead = np.array(sorted(self._dead), dtype=np.int64)
        np.save(directory / TOMBSTONES_FILE, dead, allow_pickle=False)
        return [VECTORS_FILE, TOMBSTONES_FILE]

    def load(self, directory: Path) -> None:
        """Replace the contents with the files written by :meth:`save`."""
        try:
            index = faiss.read_index(str(directory / VECTORS_FILE))
            dead = np.load(directory / TOMBSTONES_FILE, allow_pickle=False)
        except (RuntimeError, ValueError, OSError) as exc:
            raise IndexCorruptError(f"cannot read the vector index in {directory}: {exc}") from exc
        if not isinstance(index, faiss.IndexIDMap2) or index.d != self.dim:
            raise IndexCorruptError(f"vector index in {directory} is not an id-mapped index of dimension {self.dim}")
        self._index = index
        self._dead = {int(i) for i in dead}
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexHNSWFlat):
            inner.hnsw.efSearch = self.ef_search

    def ids(self) -> np.ndarray:
        """Every live id."""
        return self._all()[0]

    def info(self) -> dict[str, Any]:
        """Kind and parameters, recorded in the manifest."""
        if self.approximate:
            return {
                "kind": "hnsw",
                "m": self.hnsw_m,
                "ef_construction": self.ef_construction,
                "ef_search": self.ef_search,
                "count": len(self),
                "tombstones": len(self._dead),
            }
        return {"kind": "flat", "count": len(self)}
