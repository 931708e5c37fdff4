"""Pluggable LLM backends: the protocol, typed errors, an OpenAI-compatible client, a test double,
a circuit breaker, the registry and the grounded-answer prompts."""

from __future__ import annotations

from rag.llm.breaker import BreakerState, CircuitBreaker, GuardedBackend
from rag.llm.echo import EchoBackend
from rag.llm.errors import LLMBadResponse, LLMError, LLMMalformedResponse, LLMTimeout, LLMUnavailable
from rag.llm.openai_backend import OpenAIBackend
from rag.llm.prompt import NOT_FOUND, build_messages, rewrite_messages
from rag.llm.protocol import LLMBackend
from rag.llm.registry import LLM_BACKENDS, configured_llm, get_llm

__all__ = [
    "LLM_BACKENDS",
    "NOT_FOUND",
    "BreakerState",
    "CircuitBreaker",
    "EchoBackend",
    "GuardedBackend",
    "LLMBackend",
    "LLMBadResponse",
    "LLMError",
    "LLMMalformedResponse",
    "LLMTimeout",
    "LLMUnavailable",
    "OpenAIBackend",
    "build_messages",
    "configured_llm",
    "get_llm",
    "rewrite_messages",
]
