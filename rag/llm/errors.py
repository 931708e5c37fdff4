"""Typed errors of the LLM layer; each is a :class:`~rag.errors.RagError` fit for an HTTP error body."""

from __future__ import annotations

from rag.errors import RagError


class LLMError(RagError):
    """Base class of every error an LLM backend raises on purpose."""

    code = "llm_error"
    status = 502


class LLMUnavailable(LLMError):
    """The LLM server cannot be reached: connection refused or reset, a 5xx answer, or the circuit breaker is open."""

    code = "llm_unavailable"
    status = 503


class LLMTimeout(LLMError):
    """The total deadline of a request passed before the answer was complete."""

    code = "llm_timeout"
    status = 504


class LLMBadResponse(LLMError):
    """The server answered, but not with a usable completion (malformed JSON, missing or empty content, 4xx)."""

    code = "llm_bad_response"
    status = 502


class LLMMalformedResponse(LLMBadResponse):
    """The server answered bytes that are not the protocol at all (not JSON, not UTF-8, not SSE): a broken
    server or a proxy's error page, unlike a refused prompt or an empty completion, so the breaker counts it."""
