"""The LLM backend protocol: chat messages in, text (whole or as deltas) out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class LLMBackend(Protocol):
    """A chat-completion backend. Messages are OpenAI-style ``{"role": ..., "content": ...}`` dicts.

    ``deadline`` is a total wall-clock budget in seconds for the whole call (``None``: the backend's default).
    Failures raise :class:`~rag.llm.errors.LLMError` subclasses, never transport exceptions.
    """

    name: str
    model: str

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        deadline: float | None = None,
    ) -> str:
        """The whole completion text."""
        ...

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        deadline: float | None = None,
    ) -> Iterator[str]:
        """The completion as text deltas, in order; their concatenation is the whole text."""
        ...

    def close(self) -> None:
        """Release connections (idempotent)."""
        ...
