"""The OpenAI-compatible surface: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Any OpenAI client can talk to the service: the model picks the answer mode (``rag-extractive``, or
``rag-<llm_model>`` for generative answers when an LLM backend is configured), the last user message is the
question and the earlier user/assistant turns are the conversation. Every response carries the citations
(``quote == document.text[start:end]``) at the top level, next to the OpenAI fields.

Streaming uses sse-starlette's ``EventSourceResponse``: it sends keep-alive pings while the LLM thinks, stops
the producer when the client goes away and sets the no-buffering headers proxies need. Retrieval runs before
the stream opens, so a bad question or an unready index is still a plain JSON error with its status; once the
stream is open it always ends with the citations chunk and ``data: [DONE]``, falling back to the extractive
answer (``degraded: true``) if the LLM fails.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
from fastapi import APIRouter
from sse_starlette import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.chat_schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    FinalChunk,
    ModelCard,
    ModelList,
    Usage,
)
from api.deps import AnswersDep, ServingState, StateDep
from api.errors import ERROR_SCHEMA
from rag.answering.answer_service import check_question
from rag.answering.citations import locate_citations
from rag.answering.generative import GenerativeAnswerer, Prepared, degrade
from rag.answering.models import Answer, Mode
from rag.answering.safety import StreamGuard
from rag.errors import RagError
from rag.llm.errors import LLMError
from rag.tokens import count_tokens

log = logging.getLogger("rag.api.chat")
router = APIRouter(tags=["openai"])

EXTRACTIVE_MODEL = "rag-extractive"
WORDS_PER_DELTA = 6
"""Words per content delta when an already complete answer is streamed."""
DONE = "[DONE]"
_CREATED = int(time.time())
_WORDS = re.compile(r"\S+\s*|\s+")


class ModelNotFound(RagError):
    """A chat request named a model this service does not serve."""

    code = "model_not_found"
    status = 404


def served_models(state: ServingState) -> dict[str, Mode]:
    """Model id → answer mode: ``rag-extractive`` always, ``rag-<llm_model>`` when an LLM backend is set."""
    models: dict[str, Mode] = {EXTRACTIVE_MODEL: "extractive"}
    has_llm = state.answers.llm is not None if state.answers is not None else bool(state.settings.llm_backend)
    if has_llm:
        models.setdefault(f"rag-{state.settings.llm_model}", "generative")
    return models


def mode_of(model: str, state: ServingState) -> Mode:
    """The answer mode of ``model``, or a 404 ``model_not_found``."""
    models = served_models(state)
    if model not in models:
        raise ModelNotFound(f"the model {model!r} does not exist; available: {', '.join(models)}")
    return models[model]


@router.get("/v1/models", response_model=ModelList)
async def list_models(state: StateDep) -> ModelList:
    """The models this service answers as, in OpenAI's list shape."""
    return ModelList(data=[ModelCard(id=model, created=_CREATED) for model in served_models(state)])


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    response_model_exclude_none=True,
    responses={
        200: {
            "description": "A chat.completion object, or with `stream: true` server-sent chat.completion.chunk "
            "events ending with a chunk that carries `answer` and the citations, then `data: [DONE]`.",
            "content": {"text/event-stream": {}},
        },
        400: ERROR_SCHEMA,
        404: ERROR_SCHEMA,
        422: ERROR_SCHEMA,
        503: ERROR_SCHEMA,
    },
)
async def chat_completions(body: ChatCompletionRequest, state: StateDep, answers: AnswersDep) -> Any:
    """Answer the last user message of an OpenAI chat conversation, with citations.

    RAG extras (``top_k``, ``filters``, ``method``) are top-level fields, e.g. the OpenAI SDK's ``extra_body``.
    """
    mode = mode_of(body.model, state)
    question = check_question(body.question)
    history = body.history
    chunks = await run_in_threadpool(Chunks, body, answers.index.version)  # counts the prompt tokens
    temperature = body.temperature if body.temperature is not None else 0.0

    if mode == "extractive" or not body.stream:
        answer = await run_in_threadpool(
            answers.ask,
            question,
            mode=mode,
            history=history,
            top_k=body.top_k,
            method=body.method,
            filters=body.filters,
            temperature=temperature,
            max_tokens=body.completion_budget,
        )
        return (
            EventSourceResponse(_in_thread(replayed(chunks, answer)), sep="\n") if body.stream else chunks.whole(answer)
        )

    generator = answers.generator()
    prepared = await run_in_threadpool(
        answers.prepare_generation,
        question,
        history=history,
        top_k=body.top_k,
        method=body.method,
        filters=body.filters,
    )
    events = (
        replayed(chunks, prepared)
        if isinstance(prepared, Answer)
        else generated(chunks, generator, prepared, temperature=temperature, max_tokens=body.completion_budget)
    )
    return EventSourceResponse(_in_thread(events), sep="\n")


class Chunks:
    """Builds the OpenAI objects of one completion (its id, creation time and model are shared)."""

    def __init__(self, body: ChatCompletionRequest, index_version: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = body.model
        self.index_version = index_version
        self.prompt_tokens = sum(count_tokens(m.content) for m in body.messages)

    def usage(self, answer: Answer) -> Usage:
        """Token counts: the request's message contents in, the answer text out."""
        completion = count_tokens(answer.answer)
        return Usage(
            prompt_tokens=self.prompt_tokens, completion_tokens=completion, total_tokens=self.prompt_tokens + completion
        )

    def grounding(self, answer: Answer) -> dict[str, Any]:
        """The answer's citations and verdict, as top-level fields."""
        return {
            "citations": answer.citations,
            "answerable": answer.answerable,
            "reason": answer.reason,
            "degraded": answer.degraded,
            "conflict": answer.conflict,
            "unsupported_sentences": answer.unsupported_sentences,
            "see_also": answer.see_also,
            "index_version": self.index_version,
        }

    def whole(self, answer: Answer) -> ChatCompletion:
        """A non-streamed ``chat.completion``."""
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[Choice(message=AssistantMessage(content=answer.answer))],
            usage=self.usage(answer),
            **self.grounding(answer),
        )

    def _chunk(self, delta: Delta) -> str:
        chunk = ChatCompletionChunk(
            id=self.id, created=self.created, model=self.model, choices=[ChunkChoice(delta=delta)]
        )
        return chunk.model_dump_json(exclude_none=True)

    def first(self) -> str:
        """The opening chunk: ``delta: {"role": "assistant"}``."""
        return self._chunk(Delta(role="assistant"))

    def delta(self, text: str) -> str:
        """A content chunk."""
        return self._chunk(Delta(content=text))

    def final(self, answer: Answer) -> str:
        """The closing chunk: ``finish_reason: "stop"``, the checked ``answer`` text and the citations."""
        chunk = FinalChunk(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[ChunkChoice(delta=Delta(), finish_reason="stop")],
            answer=answer.answer,
            usage=self.usage(answer),
            **self.grounding(answer),
        )
        return chunk.model_dump_json(exclude_none=True)


def word_groups(text: str, size: int = WORDS_PER_DELTA) -> Iterator[str]:
    """``text`` in pieces of ``size`` words (whitespace kept); the pieces join back to ``text``."""
    words = _WORDS.findall(text)
    for start in range(0, len(words), size):
        yield "".join(words[start : start + size])


def replayed(chunks: Chunks, answer: Answer) -> Iterator[str]:
    """The events of an already complete answer: role, its text in word groups, the final chunk, [DONE]."""
    yield chunks.first()
    for piece in word_groups(answer.answer):
        yield chunks.delta(piece)
    yield chunks.final(answer)
    yield DONE


def generated(
    chunks: Chunks,
    generator: GenerativeAnswerer,
    prepared: Prepared,
    *,
    temperature: float,
    max_tokens: int,
) -> Iterator[str]:
    """The events of a generative answer: the LLM's deltas as they come, then the checked answer's final chunk.

    If the LLM fails before or during its answer, the extractive answer is sent instead (``degraded: true``):
    as deltas when nothing was streamed yet, otherwise only in the final chunk's ``answer``. The final chunk
    and ``[DONE]`` are always sent. Deltas go through a :class:`~rag.answering.safety.StreamGuard` (no URL,
    markup or ungrounded identifier reaches the client), which holds back at most a partial word.
    """
    yield chunks.first()
    streamed: list[str] = []
    guard = StreamGuard(prepared.grounded)
    try:
        for delta in generator.stream_text(prepared, temperature=temperature, max_tokens=max_tokens):
            if delta:
                streamed.append(delta)
                if shown := guard.feed(delta):
                    yield chunks.delta(shown)
        if tail := guard.flush():
            yield chunks.delta(tail)
        answer = generator.finish(prepared, "".join(streamed))
    except LLMError as exc:
        log.warning("LLM stream failed after %d deltas, extractive fallback: %s", len(streamed), exc.code)
        answer = degrade(prepared.fallback)
    except Exception:  # the stream is open: no error status can be sent any more, the fallback is
        log.exception("generative stream failed after %d deltas, extractive fallback", len(streamed))
        answer = degrade(prepared.fallback)
    answer = locate_citations(answer, generator.index.documents)  # what AnswerService.ask does for the others
    if not "".join(streamed).strip():
        for piece in word_groups(answer.answer):
            yield chunks.delta(piece)
    yield chunks.final(answer)
    yield DONE


async def _in_thread(events: Iterator[str]) -> AsyncIterator[str]:
    """``events`` pulled one by one in the threadpool (the LLM call blocks), closed however the stream ends.

    Closing matters when the client goes away mid-answer: it closes the LLM stream, and so its connection.
    """
    try:
        async for event in iterate_in_threadpool(events):
            yield event
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close)
