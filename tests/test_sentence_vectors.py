"""Sentence vectors are embedded at index time, stored with the generation, and read (not embedded) by an ask."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from rag.answering.extractive import ExtractiveAnswerer
from rag.chunking import sentence_spans
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.ingest import iter_source
from rag.settings import Settings

from .conftest import SEEDS


class CountingEmbedder(HashingEmbedder):
    """Hashing vectors; counts the passages it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.passages = 0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages += len(texts)
        return super().embed_passages(texts)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Sentence vectors stored at index time (``RAG_SENTENCE_VECTORS``, off by default)."""
    return settings.model_copy(update={"sentence_vectors": True})


def test_every_stored_chunk_has_its_sentences_and_they_survive_a_reload(
    seeds_index: CorpusIndex, settings: Settings
) -> None:
    stored = [c for cid, c in seeds_index.chunks.items() if cid not in seeds_index._aliases]
    assert seeds_index.sentences.chunks == len(stored)
    reference = HashingEmbedder()
    for chunk in stored[:5]:
        text = seeds_index.documents[chunk.document_id].text
        for start, end in sentence_spans(text, chunk.start, chunk.end):
            got = seeds_index.sentence_vector(chunk, start, end)
            want = reference.embed_passages([text[start:end]])[0]
            assert got is not None and float(got @ want) > 0.999
    reloaded = CorpusIndex.load(settings, HashingEmbedder())
    assert len(reloaded.sentences) == len(seeds_index.sentences) > 0
    doc = next(iter(reloaded.documents))
    reloaded.remove_document(doc)
    assert all(reloaded.sentences.vector(c.id, 0, 1) is None for c in seeds_index.chunks_of(doc))
    assert CorpusIndex.load(settings, HashingEmbedder()).sentences.chunks == reloaded.sentences.chunks


def test_an_ask_reads_stored_sentence_vectors_instead_of_embedding(settings: Settings) -> None:
    embedder = CountingEmbedder()
    index = CorpusIndex(settings, embedder)
    index.add_documents(iter_source(SEEDS))
    embedder.passages = 0
    answer = ExtractiveAnswerer(index).answer("Qui préside la CCI Hauts-de-France ?")
    assert answer.citations and embedder.passages == 0


def test_without_stored_sentences_an_ask_embeds_them(settings: Settings) -> None:
    embedder = CountingEmbedder()
    index = CorpusIndex(settings.model_copy(update={"sentence_vectors": False}), embedder)
    index.add_documents(iter_source(SEEDS))
    assert len(index.sentences) == 0
    embedder.passages = 0
    answer = ExtractiveAnswerer(index).answer("Qui préside la CCI Hauts-de-France ?")
    assert answer.citations and embedder.passages > 0
