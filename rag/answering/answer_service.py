"""One entry point for answering: picks the extractive or generative answerer and handles conversations."""

from __future__ import annotations

from rag.answering.citations import locate_citations
from rag.answering.conversation import standalone_query
from rag.answering.extractive import ExtractiveAnswerer
from rag.answering.generative import GenerativeAnswerer, Prepared
from rag.answering.models import Answer, Mode
from rag.answering.protocol import Answerer
from rag.answering.reading import ReadingAnswerer
from rag.corpus_index import CorpusIndex
from rag.errors import RagError
from rag.filters import Filters
from rag.llm.protocol import LLMBackend
from rag.llm.registry import configured_llm
from rag.reader.registry import get_reader
from rag.search.checks import checked_text
from rag.search.protocols import Reranker
from rag.search.rerank import ReaderReranker
from rag.settings import Method, Settings


class NoLLMConfigured(RagError):
    """Generative mode was asked for but no LLM backend is configured."""

    code = "no_llm_backend"
    status = 400


class AnswerService:
    """Answers questions and conversations over an index, extractively or through the configured LLM."""

    def __init__(self, index: CorpusIndex, settings: Settings, llm: LLMBackend | None = None) -> None:
        self.index = index
        self.settings = settings
        self.reader = get_reader(settings)
        self.sentences = ExtractiveAnswerer(index)
        self.extractive: Answerer = self.sentences
        self.rerankers: list[Reranker] = []
        if self.reader is not None:
            self.extractive = ReadingAnswerer(
                index,
                self.reader,
                self.sentences,
                settings.reader_threshold,
                windows=settings.reader_windows,
                max_chars=settings.reader_chars,
            )
            if settings.rerank_depth:
                self.rerankers.append(ReaderReranker(self.reader, settings.rerank_depth))
        index.use_rerankers(self.rerankers)  # the index's searches (/v1/search too) rerank as configured
        self.llm = llm if llm is not None else configured_llm(settings)
        self.generative = (
            GenerativeAnswerer(index, self.llm, self.extractive, settings.llm_deadline) if self.llm else None
        )

    def warm_up(self) -> None:
        """Load the reader once (a missing or corrupt weights file raises here, naming the file)."""
        if self.reader is not None:
            self.reader.warm_up()

    def ask(
        self,
        question: str,
        *,
        mode: Mode | None = None,
        top_k: int = 5,
        method: Method | None = None,
        filters: Filters | None = None,
        debug: bool = False,
        history: list[dict[str, str]] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
    ) -> Answer:
        """Answer ``question`` in ``mode`` (default ``RAG_ANSWER_MODE``); ``history`` holds the earlier turns of a
        conversation (OpenAI message dicts), from which a standalone search query is built. ``temperature`` and
        ``max_tokens`` reach the LLM in generative mode."""
        question = check_question(question)
        query = standalone_query([*(history or []), {"role": "user", "content": question}])
        if (mode or self.settings.answer_mode) == "generative":
            answer = self.generator().answer(
                question,
                query=query,
                history=history,
                top_k=top_k,
                method=method,
                filters=filters,
                debug=debug,
                temperature=temperature,
                max_tokens=max_tokens,
            )
        else:
            answer = self.extractive.answer(
                question, query=query, top_k=top_k, method=method, filters=filters, debug=debug
            )
        return locate_citations(answer, self.index.documents)  # pages and sections, once composed

    def prepare_generation(
        self,
        question: str,
        *,
        history: list[dict[str, str]] | None = None,
        top_k: int = 5,
        method: Method | None = None,
        filters: Filters | None = None,
    ) -> Prepared | Answer:
        """What a streamed generative answer starts from (retrieval done, the prompt built), or the answer
        itself when there is nothing to generate (a refusal, no passage): the conversation handled as in
        :meth:`ask`."""
        question = check_question(question)
        query = standalone_query([*(history or []), {"role": "user", "content": question}])
        return self.generator().prepare(
            question, query=query, history=history, top_k=top_k, method=method, filters=filters
        )

    def generator(self) -> GenerativeAnswerer:
        """The generative answerer, or a clear error when no LLM backend is configured."""
        if self.generative is None:
            raise NoLLMConfigured("generative mode needs an LLM backend: set RAG_LLM_BACKEND (e.g. openai)")
        return self.generative


def check_question(question: str) -> str:
    """The stripped question; empty or over-long questions are refused."""
    return checked_text(question, "question")
