"""Short span answers through the reader protocol, on the deterministic keyword reader (no model).

The trained reader (``e5-piaf``) is tested on the real weights in ``test_reader_model.py`` / ``test_reader_slow.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.answering.answer_service import AnswerService
from rag.answering.citations import CitationMismatch, verify_citations
from rag.answering.models import Citation
from rag.answering.reading import ReadingAnswerer, sentence_windows
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.errors import UnknownComponentError
from rag.models import Document
from rag.reader.cache import CachedReader
from rag.reader.fake import KeywordReader
from rag.reader.protocol import PassageReading
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


def test_answerability_combines_relevance_and_sentence_evidence(keyword: Settings) -> None:
    import math

    from rag.reader.protocol import Abstention

    assert Abstention().probability(0.42, -3.0) == 0.42  # the default: the reader's relevance alone
    fitted = Abstention(relevance_logit=0.5, sentence_score=0.4, bias=-2.0)
    expected = 1 / (1 + math.exp(-(0.5 * math.log(0.6 / 0.4) + 0.4 * 5.0 - 2.0)))
    assert fitted.probability(0.6, 5.0) == pytest.approx(expected)
    assert fitted.probability(0.6, 1.0) < fitted.probability(0.6, 5.0)  # weaker sentences, less answerable
    assert fitted.probability(0.6, -math.inf) == pytest.approx(fitted.probability(0.6, -20.0))  # no sentence

    index = small_index(keyword, ("a", "Le projet Alpha crée 120 emplois à Lyon."))
    service = AnswerService(index, keyword)
    reader = service.extractive.reader  # type: ignore[attr-defined]
    lenient = ReadingAnswerer(index, reader, service.sentences, 0.3)
    assert lenient.answer(QUESTION).answerable
    doubting = ReadingAnswerer(index, reader, service.sentences, 0.3, abstention=Abstention(1.0, 0.0, -30.0))
    refused = doubting.answer(QUESTION)
    assert not refused.answerable and "answerability" in (refused.reason or "")


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


def test_reader_engines_default_to_one_per_core_and_worker() -> None:
    from rag.reader.inference import E5Reader
    from rag.threads import thread_count

    def inner(**kw: object) -> E5Reader:
        reader = get_reader(Settings(reader="e5-piaf", _env_file=None, **kw))  # type: ignore[arg-type]
        assert reader is not None and isinstance(reader.inner, E5Reader)  # not loaded: the constructor is cheap
        return reader.inner

    assert inner().engines == thread_count() and inner().engine_threads == 1
    assert inner(workers=2 * thread_count()).engines == 1  # never fewer than one
    custom = inner(reader_engines=3, reader_engine_threads=2)
    assert (custom.engines, custom.engine_threads) == (3, 2)


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


class RecordingReader(KeywordReader):
    """The keyword reader, remembering the passages it was given."""

    def __init__(self, threshold: float = 0.3) -> None:
        super().__init__(threshold)
        self.given: list[str] = []

    def read(self, question: str, passages: Sequence[str], **kwargs: int) -> list[PassageReading]:
        self.given.extend(passages)
        return super().read(question, passages, **kwargs)


LONG = (
    "Le musée ouvre ses portes au printemps. Les visiteurs y découvrent des collections anciennes. "
    "La ville de Lyon accueille le projet Alpha depuis deux ans. Il crée 120 emplois selon la mairie. "
    "Le parking compte 300 places. La météo était clémente ce jour-là. Les écoles ferment en juillet."
)


def test_the_reader_reads_the_best_sentences_with_the_one_before(keyword: Settings) -> None:
    index = small_index(keyword, ("a", LONG))
    reader = RecordingReader()
    service = AnswerService(index, keyword)
    answerer = ReadingAnswerer(index, reader, service.sentences, 0.3, max_chars=100)
    answer = answerer.answer(QUESTION)
    assert answer.answerable and answer.answer == "120 [1]"
    cite = answer.citations[0]
    assert LONG[cite.start : cite.end] == "120" and cite.context == "Il crée 120 emplois selon la mairie."
    # the answer's sentence and the one naming the subject were read, not the whole passage
    assert any("projet Alpha depuis deux ans. Il crée 120 emplois" in p for p in reader.given)
    assert all(len(p) < len(LONG) for p in reader.given)


def test_chunk_windows_read_whole_chunks(keyword: Settings) -> None:
    index = small_index(keyword, ("a", LONG))
    reader = RecordingReader()
    answerer = ReadingAnswerer(index, reader, AnswerService(index, keyword).sentences, 0.3, windows="chunks")
    assert answerer.answer(QUESTION).answer == "120 [1]"
    assert reader.given == [LONG]


def test_sentence_windows_merge_and_respect_the_budget(keyword: Settings) -> None:
    index = small_index(keyword, ("a", LONG), ("b", "Le projet Alpha crée 150 emplois à Lyon, dit la région."))
    hits = index.search(QUESTION, top_k=5)
    cands = AnswerService(index, keyword).sentences.candidates(QUESTION, hits, "number")
    windows = sentence_windows(cands, max_chars=120)
    assert windows and sum(w.end - w.start for w in windows[1:]) <= 150
    for w in windows:
        assert w.text == w.hit.document.text[w.start : w.end]
        assert w.hit.chunk.start <= w.start < w.end <= w.hit.chunk.end
    starts = [(w.hit.document.id, w.start, w.end) for w in windows]
    for i, (d, s, e) in enumerate(starts):  # no two windows of one document overlap
        assert not any(d == d2 and s < e2 and s2 < e for d2, s2, e2 in starts[i + 1 :])


class ConfidentReader(KeywordReader):
    """The keyword reader's spans, every passage fully relevant: only the subject test can tell them apart."""

    def read(self, question: str, passages: Sequence[str], **kwargs: int) -> list[PassageReading]:
        return [PassageReading(0.9, 0.1, r.spans) for r in super().read(question, passages, **kwargs)]


@pytest.mark.parametrize(
    ("other", "conflict"),
    [
        ("Le projet Alpha crée 150 emplois à Lyon, dit la région.", True),
        ("Au stade, le parking compte 150 places.", False),
    ],
)
def test_a_conflict_needs_the_same_subject_in_both_sources(keyword: Settings, other: str, conflict: bool) -> None:
    index = small_index(keyword, ("a", "Le projet Alpha crée 120 emplois à Lyon."), ("b", other))
    answerer = ReadingAnswerer(index, ConfidentReader(), AnswerService(index, keyword).sentences, 0.3)
    answer = answerer.answer(QUESTION)
    assert answer.answerable and answer.conflict is conflict
    assert [c.quote for c in answer.citations] == (["120", "150"] if conflict else ["120"])


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("L'entreprise Alpha compte 40 salariés dirigés par Jean Dupont.", "40 [1]"),
        ("L'entreprise Alpha compte des salariés dirigés par Jean Dupont.", None),
    ],
)
def test_a_question_asking_for_a_figure_is_not_answered_by_a_name(
    keyword: Settings, text: str, answer: str | None
) -> None:
    index = small_index(keyword, ("a", text))
    got = AnswerService(index, keyword).ask("Combien de salariés compte l'entreprise Alpha ?")
    if answer is None:
        assert not got.answerable and "figure" in (got.reason or "")
    else:
        assert got.answerable and got.answer == answer


@pytest.mark.parametrize(
    ("question", "text", "answer"),
    [
        ("Quel est le budget du projet Alpha ?", "Le projet Alpha occupe 300 mètres carrés à Lyon.", None),
        ("Quel est le budget du projet Alpha ?", "Le projet Alpha dispose de 2 millions d'euros.", "2 [1]"),
        ("Quel âge a Jean Dupont ?", "Jean Dupont dirige Alpha depuis 2019.", None),
        ("Quel âge a Jean Dupont ?", "Jean Dupont, 52 ans, dirige Alpha.", "52"),
        ("Quelle est la superficie du parc Alpha ?", "Le parc Alpha a coûté 12 millions d'euros.", None),
        ("Quel prix a reçu le projet Alpha ?", "Le projet Alpha a reçu le prix Goncourt de la data.", "Goncourt"),
        ("Quel est le prix du ticket Alpha ?", "Le ticket Alpha est vendu à Lyon depuis 2019.", None),
        ("Quel est le prix du ticket Alpha ?", "Le ticket Alpha coûte 2 euros à Lyon.", "2 [1]"),
    ],
)
def test_money_ages_and_areas_are_answered_in_their_unit_only(
    keyword: Settings, question: str, text: str, answer: str | None
) -> None:
    index = small_index(keyword, ("a", text))
    got = ReadingAnswerer(index, ConfidentReader(), AnswerService(index, keyword).sentences, 0.3).answer(question)
    if answer is None:
        assert not got.answerable and "figure" in (got.reason or "")
    else:
        assert got.answerable and answer in got.answer
