"""The in-memory state of a corpus index: documents, chunks, the stores, the locks and the published version.

:class:`~rag.corpus.loading.IndexLoading` reads a generation into it, :class:`~rag.corpus.writing.IndexWriting`
changes and publishes it, :class:`~rag.corpus_index.CorpusIndex` searches it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.bm25_store import Bm25LexicalIndex
from index.manifest import Manifest
from index.protocols import LexicalIndex, VectorStore
from index.sentence_store import SentenceStore
from rag.analyzer import get_analyzer
from rag.chunking import Chunker
from rag.corpus.rwlock import ReadWriteLock
from rag.corpus.stores import make_vector_store
from rag.embedders import Embedder, get_embedder
from rag.models import Chunk, Document
from rag.settings import Settings

DOCUMENTS_FILE = "documents.jsonl"


class IndexState:
    """Documents, chunks, vectors and BM25 terms kept in step, and the locks that keep a reader from seeing half
    a change: searches share :attr:`_rw`'s read side; a change takes its write side only to apply what it has
    already embedded and publish it. :attr:`_lock` orders the writers of this process (the index folder's
    ``.writer.lock`` orders them across processes)."""

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
        self.lexical: LexicalIndex = Bm25LexicalIndex(settings.bm25_k1, settings.bm25_b)
        self.sentences = SentenceStore()
        self.manifest: Manifest | None = None
        self._next_id = 0
        self._lock = threading.RLock()
        self._rw = ReadWriteLock()
        self._writer_depth = 0
        """Nesting of :meth:`~rag.corpus.writing.IndexWriting._writing` (the folder lock is taken once)."""
        self._unsaved = False
        """A change was applied with ``save=False`` and not published yet."""
        self._seen = threading.local()
        self._next_refresh = 0.0
        """When :meth:`~rag.corpus.loading.IndexLoading.refresh` next looks for a newer generation."""
        self.read_only: str | None = None
        """Why writes are refused (an earlier generation is served because the published one is damaged)."""
        self.load_problem: str | None = None
        """What was wrong with the published generation when :meth:`load` had to fall back, if anything."""

    def warm_up(self) -> None:
        """Load the embedder and create the (empty) vector store."""
        self.embedder.warm_up()
        if self.vectors is None:
            self.vectors = make_vector_store(self.settings, self.embedder.dim, self.index_dir)

    @property
    def version(self) -> str:
        """The published index version (``<generation>-<fingerprint>``), or ``unsaved``."""
        return self.manifest.version if self.manifest else "unsaved"

    @contextmanager
    def snapshot(self) -> Iterator[str]:
        """Hold the index still: every read inside sees one generation, whose version is yielded. Other reads go
        on at the same time; a change waits, so keep it short (never around an LLM call)."""
        with self._rw.read():
            yield self.version

    def note_version(self) -> str:
        """Record the current version as the calling thread's latest read (before work that may not search)."""
        with self.snapshot() as version:
            self.remember_version(version)
            return version

    def remember_version(self, version: str) -> None:
        """Record ``version`` as what the calling thread read (see :meth:`seen_version`)."""
        self._seen.version = version

    def seen_version(self) -> str:
        """The version the calling thread's latest search (or :meth:`note_version`) read: the version to report
        with its results, even if a write published a newer one since."""
        return getattr(self._seen, "version", None) or self.version
