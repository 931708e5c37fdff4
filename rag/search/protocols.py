"""One small Protocol per search stage: candidate generators, fusion, rerankers.

A question travels ``api/routes`` → :class:`~rag.search.pipeline.SearchPipeline` (validate, embed, generate
candidates, fuse, filter, rerank) → an answerer (:mod:`rag.answering`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from index.protocols import LexicalIndex, ScoredIds, VectorStore
from rag.filters import Filters
from rag.models import Hit


@dataclass
class Query:
    """A validated query: its text, its analysed terms and (for the dense stage) its vector.

    The vector is computed by :meth:`vector` on first need, from ``embed``; the pipeline asks for it before it
    takes the index snapshot, so embedding never runs inside the index lock.
    """

    text: str
    terms: list[str]
    embed: Callable[[str], np.ndarray] | None = None
    _vector: np.ndarray | None = field(default=None, repr=False)

    def vector(self) -> np.ndarray:
        """The query's embedding (computed once)."""
        if self._vector is None:
            if self.embed is None:
                raise ValueError("this query has no embedder")
            self._vector = self.embed(self.text)
        return self._vector


@dataclass
class Fused:
    """A fused candidate: its score and, per stage, its 1-based rank and raw score."""

    id: int
    score: float
    stages: dict[str, dict[str, float]] = field(default_factory=dict)


@runtime_checkable
class CandidateGenerator(Protocol):
    """Proposes chunk ids for a query (dense, lexical…) and scores any given ids exactly."""

    name: str

    def candidates(self, query: Query, k: int, allowed: np.ndarray | None) -> ScoredIds:
        """The ``k`` best (id, score) pairs, best first, among ``allowed`` ids when given."""

    def score(self, query: Query, ids: np.ndarray) -> np.ndarray:
        """This stage's score of each given id, in the order given."""


@runtime_checkable
class Fusion(Protocol):
    """Merges the candidate lists of several generators into one ranking, best first."""

    name: str

    def fuse(self, query: Query, lists: dict[str, ScoredIds], generators: dict[str, CandidateGenerator]) -> list[Fused]:
        """One list of fused candidates; ``generators`` can rescore any candidate a list missed."""


@runtime_checkable
class Reranker(Protocol):
    """Reorders (and rescores) the fused hits, e.g. with a reader's relevance head."""

    name: str
    depth: int
    """How many fused hits it wants to see (the pipeline fetches at least that many)."""

    def rerank(self, question: str, hits: list[Hit]) -> list[Hit]:
        """The same hits (or a prefix of them), best first."""


class SearchableIndex(Protocol):
    """What :class:`~rag.search.pipeline.SearchPipeline` reads of an index (``rag.corpus_index.CorpusIndex``
    is one): its analyzer and query embedding, its stores, a consistent snapshot, filters and hits."""

    @property
    def analyzer(self) -> Callable[[str], list[str]]: ...

    @property
    def vectors(self) -> VectorStore | None: ...

    @property
    def lexical(self) -> LexicalIndex: ...

    def embed_query(self, query: str) -> np.ndarray: ...

    def warm_up(self) -> None: ...

    def refresh(self) -> bool: ...

    def snapshot(self) -> AbstractContextManager[str]: ...

    def remember_version(self, version: str) -> None: ...

    def allowed_ids(self, filters: Filters | None) -> np.ndarray | None: ...

    def hits(self, fused: list[Fused], filters: Filters | None) -> list[Hit]: ...
