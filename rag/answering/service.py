"""One entry point for answering: picks the extractive or generative answerer and handles conversations."""

from __future__ import annotations

from rag.answering.conversation import standalone_query
from rag.answering.extractive import ExtractiveAnswerer
from rag.answering.generative import GenerativeAnswerer
from rag.answering.models import Answer, Mode
from rag.answering.protocol import Answerer
from rag.answering.reading import ReadingAnswerer
from rag.corpus_index import MAX_QUERY_CHARS, CorpusIndex
from rag.errors import InvalidQueryError, RagError
from rag.filters import Filters
from rag.llm.protocol import LLMBackend
from rag.llm.registry import configured_llm
from rag.reader.registry import get_reader
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
            self.extractive = ReadingAnswerer(index, self.reader, self.sentences, settings.reader_threshold)
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
    ) -> Answer:
        """Answer ``question``; ``history`` holds the earlier turns of a conversation (OpenAI message dicts)."""
        question = check_question(question)
        messages = [*(history or []), {"role": "user", "content": question}]
        query = standalone_query(messages)
        mode = mode or self.settings.answer_mode
        if mode == "generative":
            return self.generator().answer(
                question, query=query, history=history, top_k=top_k, method=method, filters=filters, debug=debug
            )
        return self.extractive.answer(question, query=query, top_k=top_k, method=method, filters=filters, debug=debug)

    def generator(self) -> GenerativeAnswerer:
        """The generative answerer, or a clear error when no LLM backend is configured."""
        if self.generative is None:
            raise NoLLMConfigured("generative mode needs an LLM backend: set RAG_LLM_BACKEND (e.g. openai)")
        return self.generative


def check_question(question: str) -> str:
    """The stripped question; empty or over-long questions are refused."""
    question = question.strip()
    if not question:
        raise InvalidQueryError("the question is empty")
    if len(question) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"the question is longer than {MAX_QUERY_CHARS} characters")
    return question
