"""Opening a published index generation: checksums, compatibility, and falling back past a damaged one."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Self

from index.generations import current, generation_dirs, read_generation, verify_files
from index.manifest import Manifest, read_manifest
from rag.chunking import Chunker
from rag.corpus.records import read_record
from rag.corpus.state import DOCUMENTS_FILE, IndexState
from rag.corpus.stores import check_backend
from rag.embedders import Embedder
from rag.errors import IndexCorruptError, IndexIncompatibleError, IndexMissingError, RagError
from rag.settings import Settings

LOAD_ATTEMPTS = 3
"""Loads retried when another process published (and pruned) generations while this one was reading."""
log = logging.getLogger(__name__)


class IndexLoading(IndexState):
    """Reads a verified generation into memory (:meth:`load`), or puts the state back to one (:meth:`_restore`)."""

    @classmethod
    def load(
        cls,
        settings: Settings,
        embedder: Embedder | None = None,
        index_dir: Path | None = None,
        *,
        fallback: bool = False,
    ) -> Self:
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
    def _fall_back(cls, settings: Settings, first: Self, problem: RagError, named: Manifest | None) -> Self:
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
        self.sentences.load(gen_dir)
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
                    doc, chunks, aliases = read_record(json.loads(line))
                    self.documents[doc.id] = doc
                    self.chunks.update((c.id, c) for c in chunks)
                    self._aliases.update(aliases)
                    self._doc_chunks[doc.id] = [c.id for c in chunks]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc}") from exc

    def _restore(self, latest: bool = False) -> None:
        """Put the in-memory state back to the generation it was loaded from (empty if none was), or with
        ``latest`` to the one published now."""
        fresh = type(self)(self.settings, self.embedder, self.index_dir)
        try:
            if latest:
                fresh._open(*current(self.index_dir))
            elif self.manifest is not None:
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
        self._adopt(fresh)

    def _adopt(self, fresh: IndexState) -> None:
        """Take ``fresh``'s documents, chunks and stores as this index's, in one step for searches."""
        with self._rw.write():
            self.chunker = fresh.chunker
            self.documents, self.chunks, self._doc_chunks = fresh.documents, fresh.chunks, fresh._doc_chunks
            self._aliases, self._by_text = fresh._aliases, None
            self.vectors, self.lexical, self.sentences = fresh.vectors, fresh.lexical, fresh.sentences
            self.manifest, self._next_id = fresh.manifest, fresh._next_id

    def refresh_due(self) -> bool:
        """Whether :meth:`refresh` would look at the folder now (cheap: a clock check)."""
        return self.settings.refresh_seconds > 0 and time.monotonic() >= self._next_refresh

    def refresh(self) -> bool:
        """Serve the generation another process published since this one loaded, if any (checked at most every
        ``RAG_REFRESH_SECONDS``): server workers and a ``rag index add`` from a shell all see each other's
        changes. Loads beside the served state and swaps it in, so searches wait only for the swap. Skipped
        inside a search or a change of this process, and while changes are unsaved or the index is read-only.
        True when a newer generation was taken."""
        interval = self.settings.refresh_seconds
        now = time.monotonic()
        if interval <= 0 or now < self._next_refresh or self.manifest is None:
            return False
        self._next_refresh = now + interval
        if self._unsaved or self.read_only is not None or self._rw.held() or self._writer_depth:
            return False
        try:
            if read_manifest(self.index_dir).generation == self.manifest.generation:
                return False
        except RagError:
            return False
        if not self._lock.acquire(blocking=False):  # a change of this process is under way: it catches up itself
            return False
        try:
            fresh = type(self)(self.settings, self.embedder, self.index_dir)
            try:
                fresh._open(*current(self.index_dir))
            except RagError as exc:
                log.warning(
                    "a newer index generation was published but cannot be read, still serving %s: %s", self.version, exc
                )
                return False
            log.info("serving generation %s, published by another process", fresh.version)
            self._adopt(fresh)
            return True
        finally:
            self._lock.release()
