"""What every vector store shares: checking inputs, the empty cases, exact rescoring and tie order.

A backend implements the four primitives (:meth:`_add`, :meth:`_remove`, :meth:`_search`, :meth:`vectors`) plus
``__len__``, ``save``, ``load`` and ``info``; the public :class:`~index.protocols.VectorStore` methods here call
them only with validated, non-empty input. The contract suite (``tests/test_store_contracts.py``) holds every
backend to the same behaviour.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from index.ann_params import HnswParams, auto_ef_search
from index.protocols import ScoredIds


class VectorStoreBase(ABC):
    """Inner-product search over L2-normalised vectors addressed by int64 ids; backends fill in the primitives."""

    dim: int
    hnsw_m: int = 64
    ef_construction: int = 128
    ef_search: int = 0
    """HNSW candidates per search; 0: :func:`~index.ann_params.auto_ef_search` of the current size."""

    def _hnsw(self, params: HnswParams) -> None:
        self.hnsw_m, self.ef_construction, self.ef_search = params.m, params.ef_construction, params.ef_search

    @property
    def ef(self) -> int:
        """HNSW candidates per search: ``ef_search``, or :func:`~index.ann_params.auto_ef_search` of the size."""
        return self.ef_search or auto_ef_search(len(self))

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store ``vectors`` (n, dim) float32 under new ``ids`` (n,) int64; n ≥ 1."""

    @abstractmethod
    def _remove(self, ids: np.ndarray) -> int:
        """Remove the given unique ids that are present; returns how many were."""

    @abstractmethod
    def _search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> ScoredIds:
        """The ``k`` best for a (dim,) query; the store is not empty, ``k`` ≥ 1, ``allowed`` is None or non-empty."""

    @abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (all live), in the order given."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors (n, dim) under int64 ids that are not in the store yet."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(ids) != len(vectors):
            raise ValueError(f"expected {len(ids)} vectors of dimension {self.dim}, got {vectors.shape}")
        if len(ids):
            self._add(ids, vectors)

    def remove(self, ids: Sequence[int]) -> int:
        """Remove ids (unknown ids are ignored); returns how many were removed."""
        arr = np.unique(np.asarray(list(ids), dtype=np.int64))
        return self._remove(arr) if len(arr) else 0

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> ScoredIds:
        """The best ``k`` (id, inner product) pairs for one normalised query vector, ties by id, restricted to
        ``allowed`` ids when given."""
        if k <= 0 or len(self) == 0 or (allowed is not None and not len(allowed)):
            return []
        return self._search(self._query(query), k, allowed)

    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact inner products of the query with the stored vectors of ``ids`` (all must be live)."""
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        return self.vectors(np.ascontiguousarray(ids, dtype=np.int64)) @ self._query(query)

    def _query(self, query: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(query, dtype=np.float32).reshape(self.dim)

    @staticmethod
    def ranked(ids: np.ndarray, scores: np.ndarray, k: int) -> ScoredIds:
        """The ``k`` best (id, score) pairs, best first, ties by id (as every backend orders them)."""
        order = np.lexsort((ids, -scores))[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    @staticmethod
    def best(hits: ScoredIds, k: int) -> ScoredIds:
        """``hits`` sorted best first, ties by id, cut to ``k``."""
        return sorted(hits, key=lambda h: (-h[1], h[0]))[:k]
