"""Batch ingestion at scale: streaming in bounded memory, resume from the embedding cache, passage dedup,
and IVF-PQ past the exact-search threshold (parameters in the manifest, vectors memory-mapped on reload)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from index.raw_vectors import RawVectors
from rag.corpus_index import CorpusIndex
from rag.embedders.cache import CachedEmbedder
from rag.embedders.hashing import HashingEmbedder
from rag.filters import Filters
from rag.ingest import iter_source, make_document
from rag.models import Document
from rag.settings import Settings

from .conftest import SEEDS

FLAGS = ("--embedder", "hashing", "--progress")
SHARED = "Le conseil municipal se réunit chaque premier lundi du mois à la mairie annexe."


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting what it embeds, and failing after ``fail_after`` calls when asked to."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.calls = 0
        self.texts: list[str] = []
        self.fail_after = fail_after

    @property
    def fingerprint(self) -> str:
        """Distinct from the plain hashing embedder's, so that the cache file is its own."""
        return "counting-hashing"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a build
        self.calls += 1
        self.texts.extend(texts)
        return super().embed_passages(texts)


def _corpus(n: int) -> list[Document]:
    return [
        make_document(f"doc{i:03d}", f"Document {i}. La commune numéro {i} publie son budget annuel de {i * 7} euros.")
        for i in range(n)
    ]


def _signature(index: CorpusIndex) -> list[tuple[str, float]]:
    return [(h.chunk.key, round(h.score, 5)) for h in index.search("budget annuel de la commune", top_k=10)]


def test_interrupted_build_resumes_without_re_embedding(settings: Settings, tmp_path: Path) -> None:
    # Counting passages only: the sentences' own embeddings are checked in test_sentence_vectors.py.
    s = settings.model_copy(update={"embed_batch_size": 4, "sentence_vectors": False})
    docs = _corpus(20)
    first = CachedEmbedder(CountingEmbedder(fail_after=3), tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        CorpusIndex(s, first).add_documents(iter(docs))
    done = first.inner.texts  # type: ignore[attr-defined]
    assert len(done) == 12  # three batches of four passages finished before the interruption
    resumed_inner = CountingEmbedder()
    resumed = CachedEmbedder(resumed_inner, tmp_path / "cache")
    index = CorpusIndex(s, resumed)
    stats = index.add_documents(iter(docs))
    assert stats.chunks == 20 and resumed.hits == 12 and resumed.misses == 8
    assert not set(resumed_inner.texts) & set(done)  # no finished batch is embedded again
    clean = CorpusIndex(s.model_copy(update={"index_dir": tmp_path / "clean"}), CountingEmbedder())
    clean.add_documents(iter(docs))
    assert _signature(index) == _signature(clean)


def test_build_streams_its_source(settings: Settings) -> None:
    """Documents are pulled one batch at a time: memory is bounded by the batch, not by the source."""
    s = settings.model_copy(update={"embed_batch_size": 4})
    pulled = 0
    embedded_when: list[int] = []

    class Spy(CountingEmbedder):
        def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
            embedded_when.append(pulled)
            return super().embed_passages(texts)

    def source() -> Iterator[Document]:
        nonlocal pulled
        for doc in _corpus(40):
            pulled += 1
            yield doc

    CorpusIndex(s, Spy()).add_documents(source(), save=False)
    assert embedded_when[0] <= 4 and len(embedded_when) >= 10
    assert all(b - a <= 4 for a, b in itertools.pairwise(embedded_when))


def test_identical_passages_are_stored_once(settings: Settings) -> None:
    docs = [
        make_document("alpha", SHARED, metadata={"published_at": "2020-01-01"}),
        make_document("beta", SHARED, metadata={"published_at": "2024-05-01"}),
        make_document("gamma", "Un texte différent sur la bibliothèque intercommunale de Brest."),
    ]
    embedder = CountingEmbedder()
    index = CorpusIndex(settings, embedder)
    stats = index.add_documents(docs)
    assert stats.chunks == 3 and stats.duplicates == 1
    assert SHARED in embedder.texts and embedder.texts.count(SHARED) == 1
    assert index.manifest is not None and index.manifest.counts["duplicates"] == 1
    assert index.manifest.counts["vectors"] == index.manifest.counts["lexical"] == 2
    hits = index.search("conseil municipal mairie annexe", top_k=5)
    assert [h.document.id for h in hits if h.chunk.text == SHARED] == ["alpha"]
    only_beta = index.search("conseil municipal mairie", top_k=5, filters=Filters(published_after="2024"))
    assert [h.document.id for h in only_beta] == ["beta"] and only_beta[0].chunk.text == SHARED
    assert CorpusIndex.load(settings, CountingEmbedder())._aliases == index._aliases  # survives a reload

    index.remove_document("alpha")  # the duplicate takes the stored passage's place
    reloaded = CorpusIndex.load(settings, CountingEmbedder())
    for idx in (index, reloaded):
        found = idx.search("conseil municipal mairie annexe", top_k=5)
        assert [h.document.id for h in found if h.chunk.text == SHARED] == ["beta"]
        assert len(idx.vectors or []) == len(idx.lexical) == 2 and not idx._aliases


def test_dedup_can_be_turned_off(settings: Settings) -> None:
    s = settings.model_copy(update={"dedup_passages": False})
    index = CorpusIndex(s, CountingEmbedder())
    stats = index.add_documents([make_document("a", SHARED), make_document("b", SHARED)])
    assert stats.duplicates == 0 and len(index.vectors or []) == 2


def test_ivfpq_past_the_threshold_records_its_parameters(settings: Settings) -> None:
    s = settings.model_copy(update={"exact_search_max": 10, "faiss_approximate": "ivfpq", "ivf_nprobe": 64})
    index = CorpusIndex(s)
    index.add_documents(iter_source(SEEDS))
    index.add_documents(_corpus(120))
    info = index.manifest.vector_store if index.manifest else {}
    assert info["backend"] == "faiss" and info["kind"] == "ivfpq"
    assert {"nlist", "nprobe", "pq_m", "pq_bits", "rerank", "trained_on"} <= set(info)
    assert info["count"] == len(index.chunks) - len(index._aliases)
    before = _signature(index)
    reloaded = CorpusIndex.load(s)
    raw = reloaded.vectors._raw  # type: ignore[union-attr]
    assert isinstance(raw, RawVectors) and isinstance(raw._base, np.memmap)  # full vectors stay on disk
    assert _signature(reloaded) == before
    hits = reloaded.search("Qui préside la CCI Hauts-de-France ?", top_k=3)
    assert hits[0].document.id.startswith("001")


def test_cli_build_prints_throughput_and_dedup(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    source = tmp_path / "corpus.jsonl"
    records = [
        {"id": f"d{i}", "text": SHARED if i % 2 else f"Texte numéro {i} sur les marchés publics."} for i in range(6)
    ]
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", "build", str(source), "--index", str(tmp_path / "idx"), *FLAGS],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "indexed 6 documents, 6 chunks (2 duplicates)" in proc.stdout and "passages/s" in proc.stdout
    assert "6/6" in proc.stderr and "passages/s" in proc.stderr  # the progress bar
