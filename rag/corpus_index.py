"""The corpus index: documents, their chunks, the vector store and the lexical index, kept in step.

State, loading and writing live in :mod:`rag.corpus`; this class adds reading and search. A search runs
through :class:`~rag.search.pipeline.SearchPipeline` (validate, embed, generate, fuse, filter, rerank) against
the in-memory state, which a lock keeps from being seen half-changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

import numpy as np

from rag.corpus.loading import LOAD_ATTEMPTS
from rag.corpus.state import DOCUMENTS_FILE
from rag.corpus.writing import BuildStats, IndexWriting, lexical_text
from rag.embedders import Embedder
from rag.errors import DocumentNotFoundError
from rag.filters import Filters
from rag.models import Chunk, Document, Hit
from rag.search.checks import MAX_QUERY_CHARS
from rag.search.pipeline import SearchPipeline
from rag.search.protocols import Fused, Reranker
from rag.settings import Method, Settings

__all__ = ["DOCUMENTS_FILE", "LOAD_ATTEMPTS", "MAX_QUERY_CHARS", "BuildStats", "CorpusIndex", "lexical_text"]
QUERY_CACHE_SIZE = 512


class CorpusIndex(IndexWriting):
    """Documents, chunks, vectors and BM25 terms, with hybrid search and durable generations."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, index_dir: Path | None = None) -> None:
        super().__init__(settings, embedder, index_dir)
        self.pipeline = SearchPipeline(self, settings)
        self._query_vectors: dict[str, np.ndarray] = {}

    def prime(self) -> None:
        """Pay the one-off costs of a first search now (the lexical matrix, the query model's first call, the
        answerer's term statistics), so that the server is ready only once its first request is as fast as the
        next: on 33k passages the first search otherwise took 1.2 s (``bench/scale.py``)."""
        if len(self.chunks):
            self.lexical.idf("")
            self.search("amorçage de l'index", top_k=1)
            self.clear_query_cache()

    def use_rerankers(self, rerankers: Sequence[Reranker]) -> None:
        """Rerank every search's fused hits with these stages, in order (e.g. a reader's relevance head)."""
        self.pipeline.rerankers = list(rerankers)

    # -- reading ---------------------------------------------------------------------------------

    def document(self, doc_id: str) -> Document:
        """A document by id."""
        try:
            return self.documents[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document {doc_id!r} in the index") from None

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """The chunks of a document, in order."""
        return [self.chunks[cid] for cid in self._doc_chunks.get(doc_id, [])]

    def search(
        self,
        query: str,
        *,
        top_k: int | None = None,
        method: Method | None = None,
        filters: Filters | None = None,
        rerank: bool = True,
    ) -> list[Hit]:
        """Hybrid (or dense, or lexical) search; each hit carries its per-stage ranks and scores."""
        return self.pipeline.run(query, top_k=top_k, method=method, filters=filters, rerank=rerank)

    def embed_query(self, query: str) -> np.ndarray:
        """The query's vector, remembered for the last few hundred queries (the answerer asks again)."""
        cached = self._query_vectors.get(query)
        if cached is None:
            cached = self.embedder.embed_query(query)
            self._query_vectors[query] = cached
            if len(self._query_vectors) > QUERY_CACHE_SIZE:
                # Readers run this concurrently: two may pick the same oldest key, or the dict may change.
                with suppress(StopIteration, RuntimeError):
                    self._query_vectors.pop(next(iter(self._query_vectors)), None)
        return cached

    def sentence_vector(self, chunk: Chunk, start: int, end: int) -> np.ndarray | None:
        """The stored vector of the sentence ``[start, end)`` (document offsets) of ``chunk``, if indexed."""
        owner = self._aliases.get(chunk.id, chunk.id)
        return self.sentences.vector(owner, start - chunk.start, end - chunk.start)

    def clear_query_cache(self) -> None:
        """Forget remembered query vectors (benchmarks measure the embedding cost of every query)."""
        self._query_vectors.clear()

    # -- the filter stage (called by the pipeline inside a snapshot) -------------------------------

    def allowed_ids(self, filters: Filters | None) -> np.ndarray | None:
        """The stored chunk ids whose documents pass ``filters`` (None: no restriction)."""
        if filters is None or filters.is_empty():
            return None
        aliases = self._aliases
        ids = [
            aliases.get(cid, cid)
            for doc in self.documents.values()
            if filters.accepts(doc)
            for cid in self._doc_chunks[doc.id]
        ]
        return np.array(ids, dtype=np.int64)

    def hits(self, fused: list[Fused], filters: Filters | None) -> list[Hit]:
        """Fused candidates as hits, each naming a chunk that passes the filters (a stored chunk's duplicate
        when only the duplicate's document does)."""
        shown = [(f, self._shown(f.id, filters)) for f in fused if f.id in self.chunks]
        return [
            Hit(chunk=chunk, score=f.score, document=self.documents[chunk.document_id], stages=f.stages)
            for f, chunk in shown
        ]

    def _shown(self, cid: int, filters: Filters | None) -> Chunk:
        chunk = self.chunks[cid]
        if filters is None or filters.is_empty() or filters.accepts(self.documents[chunk.document_id]):
            return chunk
        for alias, owner in self._aliases.items():
            if owner == cid and filters.accepts(self.documents[self.chunks[alias].document_id]):
                return self.chunks[alias]
        return chunk
