"""Opening the index the way every entry point needs it: load it, or build it from the seeds."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rag.corpus_index import BuildStats, CorpusIndex
from rag.embedders import Embedder
from rag.errors import IndexCorruptError, IndexMissingError, SourceError
from rag.formats import Limits
from rag.ingest import iter_source
from rag.models import Document
from rag.settings import Settings

log = logging.getLogger(__name__)


def unique(docs: Iterable[Document]) -> Iterator[Document]:
    """Pass documents through, refusing a repeated id within one source (``a.txt`` and ``a.md``)."""
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise SourceError(f"document id {doc.id!r} appears twice in the source")
        seen.add(doc.id)
        yield doc


def build_index(
    settings: Settings,
    source: Path,
    *,
    embedder: Embedder | None = None,
    progress: bool | Callable[[BuildStats], None] = False,
) -> tuple[CorpusIndex, BuildStats]:
    """Build a fresh index of ``source`` and publish it; the previous index stays served until then."""
    index = CorpusIndex(settings, embedder)
    stats = index.add_documents(unique(iter_source(source, Limits.of(settings))), progress=progress)
    return index, stats


def open_index(
    settings: Settings, *, embedder: Embedder | None = None, build_if_missing: bool = False, fallback: bool = False
) -> CorpusIndex:
    """Load the published index; with ``build_if_missing``, build it from the seeds when there is none. With
    ``fallback``, a damaged index is served from its newest sound generation (``CorpusIndex.load``)."""
    if settings.index_dir.exists() and not settings.index_dir.is_dir():
        raise IndexCorruptError(f"{settings.index_dir} is not a directory: point RAG_INDEX_DIR at an index folder")
    try:
        return CorpusIndex.load(settings, embedder, fallback=fallback)
    except IndexMissingError:
        if not build_if_missing:
            raise
    log.info("no index in %s: building it from %s", settings.index_dir, settings.seeds_dir)
    index, _ = build_index(settings, settings.seeds_dir, embedder=embedder)
    return index
