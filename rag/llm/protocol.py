"""The LLM backend protocol: chat messages in, text (whole or as deltas) out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypedDict, Unpack, runtime_checkable


class Call(TypedDict, total=False):
    """A call's options, all optional: ``temperature`` (default 0.0), ``max_tokens`` (512) and ``deadline``, a
    total wall-clock budget in seconds for the whole call (absent or None: the backend's default)."""

    temperature: float
    max_tokens: int
    deadline: float | None


def sampling(options: Call) -> tuple[float, int]:
    """``(temperature, max_tokens)`` with their defaults."""
    return options.get("temperature", 0.0), options.get("max_tokens", 512)


@runtime_checkable
class LLMBackend(Protocol):
    """A chat-completion backend. Messages are OpenAI-style ``{"role": ..., "content": ...}`` dicts.

    Both calls take the same keyword options (:class:`Call`: temperature, max_tokens, deadline). Failures raise
    :class:`~rag.llm.errors.LLMError` subclasses, never transport exceptions.
    """

    name: str
    model: str

    def complete(self, messages: list[dict[str, str]], **options: Unpack[Call]) -> str:
        """The whole completion text."""
        ...

    def stream(self, messages: list[dict[str, str]], **options: Unpack[Call]) -> Iterator[str]:
        """The completion as text deltas, in order; their concatenation is the whole text."""
        ...

    def close(self) -> None:
        """Release connections (idempotent)."""
        ...
