"""Candidate generators: the dense (vector store) and lexical (BM25) retrievers as pipeline stages.

Each reads its store from the index at call time, so a store swapped by a load or a rollback is picked up.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from index.protocols import LexicalIndex, ScoredIds, VectorStore
from rag.search.protocols import Query


class HasStores(Protocol):
    """What the generators read: the index's current vector store and lexical index."""

    @property
    def vectors(self) -> VectorStore | None: ...

    @property
    def lexical(self) -> LexicalIndex: ...


class DenseGenerator:
    """Nearest passages to the query's embedding."""

    name = "dense"

    def __init__(self, source: HasStores) -> None:
        self.source = source

    def _store(self) -> VectorStore:
        store = self.source.vectors
        if store is None:
            raise RuntimeError("the vector store is not loaded (call warm_up first)")
        return store

    def candidates(self, query: Query, k: int, allowed: np.ndarray | None) -> ScoredIds:
        """The ``k`` nearest stored vectors, by inner product."""
        return self._store().search(query.vector(), k, allowed)

    def score(self, query: Query, ids: np.ndarray) -> np.ndarray:
        """Exact inner products with the given ids' vectors."""
        return self._store().score(query.vector(), ids)


class LexicalGenerator:
    """BM25 over the query's analysed French terms."""

    name = "lexical"

    def __init__(self, source: HasStores) -> None:
        self.source = source

    def candidates(self, query: Query, k: int, allowed: np.ndarray | None) -> ScoredIds:
        """The ``k`` best BM25 matches with a positive score."""
        return self.source.lexical.search(query.terms, k, allowed)

    def score(self, query: Query, ids: np.ndarray) -> np.ndarray:
        """BM25 scores of the given ids (0 where nothing matches)."""
        return self.source.lexical.score(query.terms, ids)
