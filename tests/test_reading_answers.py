"""Short span answers through the reader protocol, on the deterministic keyword reader (no model).

The trained reader (``e5-piaf``) is tested on the real weights in ``test_reader_model.py`` / ``test_reader_slow.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.answering.extractive import CitationMismatch, verify_citations
from rag.answering.models import Citation
from rag.answering.service import AnswerService
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.errors import UnknownComponentError
from rag.models import Document
from rag.reader.cache import CachedReader
from rag.reader.fake import KeywordReader
from rag.reader.inference import PassageReading
from rag.reader.registry import get_reader
from rag.settings import Settings

QUESTION = "Combien d'emplois le projet Alpha crée-t-il à Lyon ?"


def small_index(settings: Settings, *docs: tuple[str, str]) -> CorpusIndex:
    index = CorpusIndex(settings, HashingEmbedder())
    index.add_documents([Document(id=i, text=t, title=i) for i, t in docs])
    return index


@pytest.fixture
def keyword(settings: Settings) -> Settings:
    return settings.model_copy(update={"reader": "keyword", "reader_threshold": 0.3})


def test_the_answer_is_the_span_with_its_sentence(keyword: Settings) -> None:
    text = "Un article sur Lyon. Le projet Alpha crée 120 emplois à Lyon selon la mairie. Autre chose ici."
    index = small_index(keyword, ("a", text), ("b", "La météo de demain à Paris sera pluvieuse et fraîche."))
    answer = AnswerService(index, keyword).ask(QUESTION)
    assert answer.answerable and answer.answer == "120 [1]"
    cite = answer.citations[0]
    assert (cite.quote, text[cite.start : cite.end]) == ("120", "120")
    assert (
        cite.context
        == text[cite.context_start : cite.context_end]
        == "Le projet Alpha crée 120 emplois à Lyon selon la mairie."
    )
    assert answer.context == cite.context


def test_below_the_threshold_it_says_not_in_the_documents(keyword: Settings) -> None:
    index = small_index(keyword, ("a", "Le projet Alpha crée 120 emplois à Lyon."))
    strict = keyword.model_copy(update={"reader_threshold": 0.95})
    answer = AnswerService(index, strict).ask(QUESTION)
    assert not answer.answerable and not answer.citations
    assert "relevance" in (answer.reason or "") and answer.see_also


def test_two_sources_disagreeing_on_a_number_are_shown_side_by_side(keyword: Settings) -> None:
    index = small_index(
        keyword,
        ("a", "Le projet Alpha crée 120 emplois à Lyon."),
        ("b", "Le projet Alpha crée 150 emplois à Lyon, dit la région."),
    )
    answer = AnswerService(index, keyword).ask(QUESTION)
    assert answer.conflict and len(answer.citations) == 2
    assert {c.quote for c in answer.citations} == {"120", "150"}
    assert answer.answer.startswith("Les sources divergent")


def test_reranker_orders_search_hits_by_relevance(keyword: Settings) -> None:
    reranked = keyword.model_copy(update={"rerank_depth": 10})
    index = small_index(
        reranked,
        ("a", "Alpha Alpha Alpha Alpha Alpha à Lyon."),
        ("b", "Le projet Alpha crée 120 emplois à Lyon."),
    )
    AnswerService(index, reranked)  # installs the reader's reranker on the index's pipeline
    hits = index.search(QUESTION, top_k=2)
    relevances = [h.stages["reader"]["score"] for h in hits]
    assert relevances == sorted(relevances, reverse=True) and [h.stages["reader"]["rank"] for h in hits] == [1, 2]
    assert hits[0].document.id == "b" and hits[0].score == relevances[0]
    assert "reader" not in index.search(QUESTION, top_k=2, rerank=False)[0].stages


class CountingReader(KeywordReader):
    def __init__(self) -> None:
        super().__init__()
        self.passages_read = 0

    def read(self, question: str, passages: Sequence[str], **kwargs: int) -> list[PassageReading]:
        self.passages_read += len(passages)
        return super().read(question, passages, **kwargs)


def test_cached_reader_reads_each_passage_once_per_question() -> None:
    inner = CountingReader()
    reader = CachedReader(inner, size=3)
    first = reader.read("Qui dirige Alpha ?", ["a b", "Alpha est dirigé par Jean Dupont."])
    again = reader.read("Qui dirige Alpha ?", ["Alpha est dirigé par Jean Dupont.", "c d", "a b"])
    assert inner.passages_read == 3 and again[0] == first[1] and again[2] == first[0]
    reader.read("Autre question ?", ["a b"])
    assert inner.passages_read == 4  # another question reads again


def test_registry() -> None:
    assert get_reader(Settings(reader="none", _env_file=None)) is None
    assert get_reader(Settings(reader="keyword", _env_file=None)) is get_reader(
        Settings(reader="keyword", _env_file=None)
    )
    with pytest.raises(UnknownComponentError, match=r"unknown reader 'bert'.*e5-piaf"):
        get_reader(Settings(reader="bert", _env_file=None))


def test_a_context_that_does_not_enclose_the_quote_is_a_bug() -> None:
    text = "Le projet Alpha crée 120 emplois."
    good = Citation(
        n=1,
        document_id="a",
        chunk_id="a#0",
        start=21,
        end=24,
        quote="120",
        score=1,
        title="a",
        context_start=0,
        context_end=len(text),
        context=text,
    )
    verify_citations([good], {"a": text})
    for bad in ({"context_start": 22}, {"context": text.upper()}, {"context_end": None}):
        with pytest.raises(CitationMismatch):
            verify_citations([good.model_copy(update=bad)], {"a": text})


def test_api_returns_the_span_and_its_context(keyword: Settings) -> None:
    text = "Le projet Alpha crée 120 emplois à Lyon selon la mairie."
    index = small_index(keyword, ("a", text))
    with TestClient(create_app(keyword, index)) as client:
        body = client.post("/v1/ask", json={"question": QUESTION}).json()
    cite = body["citations"][0]
    assert body["answer"] == "120 [1]" and body["context"] == text
    assert (
        text[cite["start"] : cite["end"]] == cite["quote"]
        and text[cite["context_start"] : cite["context_end"]] == cite["context"]
    )
