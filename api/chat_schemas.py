"""Bodies of the OpenAI-compatible surface: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Requests follow OpenAI's chat-completion shape; unknown fields (``stream_options``, ``seed``,
``presence_penalty``…) are accepted and ignored so the official SDKs and other OpenAI clients work unchanged.
The RAG knobs travel as top-level extra fields (what the OpenAI SDK's ``extra_body`` sends): ``top_k``,
``filters`` and ``method``. Responses are OpenAI objects with the answer's citations and verdict added at the
top level.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from api.schemas import JsonInt
from rag.answering.models import Citation, SeeAlso
from rag.corpus_index import MAX_QUERY_CHARS
from rag.filters import Filters
from rag.settings import Method

MAX_MESSAGES = 50
"""Messages in one request, system messages included."""
MAX_MESSAGE_CHARS = 32_000
"""Characters of any one message (the question itself is held to ``MAX_QUERY_CHARS``)."""


class TextPart(BaseModel):
    """A text content part (``{"type": "text", "text": ...}``), the list form of ``content``."""

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One conversation turn. ``developer`` (OpenAI's newer name for ``system``) is read as ``system``;
    list-form content is joined into one string."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)

    @field_validator("role", mode="after")
    @classmethod
    def _developer_is_system(cls, role: str) -> str:
        return "system" if role == "developer" else role

    @field_validator("content", mode="before")
    @classmethod
    def _join_parts(cls, content: Any) -> Any:
        if content is None:
            return ""  # an assistant turn that only called tools
        if isinstance(content, list):
            return "".join(TextPart.model_validate(part).text for part in content)
        return content


class ChatCompletionRequest(BaseModel):
    """Body of ``POST /v1/chat/completions``.

    The question is the last message, which must come from the user; the earlier user and assistant turns
    are the conversation history (system messages never reach retrieval). ``temperature`` and ``max_tokens``
    (or ``max_completion_tokens``) go to the LLM in generative mode; ``top_p``, ``stop``, ``user`` and ``seed``
    are accepted and ignored, and ``n`` may only be 1.
    """

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: StrictBool = False
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    n: int | None = Field(None, ge=1, le=1, description="Only one choice is ever generated")
    top_p: float | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    user: str | None = None

    top_k: JsonInt = Field(5, ge=1, le=50, description="Passages retrieved (RAG extra)")
    filters: Filters | None = Field(None, description="Document ids and publication dates (RAG extra)")
    method: Method | None = Field(None, description="hybrid, dense or lexical; default: the service's (RAG extra)")

    @model_validator(mode="after")
    def _conversation(self) -> ChatCompletionRequest:
        if not any(m.role == "user" for m in self.messages):
            raise ValueError("messages must contain at least one user message")
        last = self.messages[-1]
        if last.role != "user":
            raise ValueError("the last message must be from the user")
        if not last.content.strip():
            raise ValueError("the last user message is empty")
        if len(last.content.strip()) > MAX_QUERY_CHARS:
            raise ValueError(f"the last user message is longer than {MAX_QUERY_CHARS} characters")
        return self

    @property
    def question(self) -> str:
        """The last user message."""
        return self.messages[-1].content

    @property
    def history(self) -> list[dict[str, str]]:
        """The user and assistant turns before the question, as OpenAI message dicts."""
        return [{"role": m.role, "content": m.content} for m in self.messages[:-1] if m.role in ("user", "assistant")]

    @property
    def completion_budget(self) -> int:
        """Tokens the LLM may generate."""
        return self.max_completion_tokens or self.max_tokens or 512


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "rag"


class ModelList(BaseModel):
    """Body of ``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class AssistantMessage(BaseModel):
    """The generated message."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The single choice of a completion."""

    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    """cl100k token counts: the request's message contents, and the answer text."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Grounding(BaseModel):
    """What the service adds to OpenAI objects: the citations and verdict, as ``POST /v1/ask`` returns them."""

    citations: list[Citation] = Field(default_factory=list)
    answerable: bool
    reason: str | None = None
    degraded: bool = False
    conflict: bool = False
    unsupported_sentences: list[str] = Field(default_factory=list)
    see_also: list[SeeAlso] = Field(default_factory=list)
    index_version: str


class ChatCompletion(Grounding):
    """Body of a non-streamed ``POST /v1/chat/completions``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class Delta(BaseModel):
    """A piece of the streamed message."""

    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    """The single choice of a stream chunk."""

    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One ``data:`` event of a streamed completion."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]


class FinalChunk(ChatCompletionChunk, Grounding):
    """The last chunk before ``data: [DONE]``: ``finish_reason: "stop"``, the citations, and ``answer``.

    ``answer`` is the checked answer text, the one the citations' ``[n]`` markers refer to. In generative mode
    it can differ from the streamed deltas (markers renumbered, unsupported sentences stripped of theirs, or the
    extractive answer when the LLM failed mid-stream: then ``degraded`` is true); clients should display it in
    place of the streamed text once it arrives.
    """

    answer: str
    usage: Usage
