"""A deterministic, model-free LLM backend for tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Unpack

from rag.llm.errors import LLMBadResponse
from rag.llm.protocol import Call


class EchoBackend:
    """Answers with the last user message (or a fixed ``reply``), streamed word by word.

    ``obedient=True`` echoes the whole prompt, system message included, as ``role: content`` blocks: the
    worst possible model, which repeats everything it was given. Prompt-injection tests use it to prove that
    what reaches the user never carries a secret the prompt did not need. Every call's messages are kept in
    :attr:`calls`.
    """

    name = "echo"

    def __init__(self, reply: str | None = None, *, obedient: bool = False, model: str = "echo") -> None:
        self.reply = reply
        self.obedient = obedient
        self.model = model
        self.calls: list[list[dict[str, str]]] = []

    def _answer(self, messages: list[dict[str, str]]) -> str:
        self.calls.append([dict(m) for m in messages])
        if self.reply is not None:
            return self.reply
        if self.obedient:
            text = "\n\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in messages)
        else:
            users = [m.get("content", "") for m in messages if m.get("role") == "user"]
            text = users[-1] if users else ""
        if not text.strip():
            raise LLMBadResponse("echo backend has nothing to echo")
        return text

    def complete(self, messages: list[dict[str, str]], **options: Unpack[Call]) -> str:
        """The echoed text at once (sampling parameters and deadline are ignored)."""
        return self._answer(messages)

    def stream(self, messages: list[dict[str, str]], **options: Unpack[Call]) -> Iterator[str]:
        """The echoed text, one word (with its trailing whitespace) per delta; they join to :meth:`complete`'s."""
        yield from re.findall(r"\S+\s*|\s+", self._answer(messages))

    def close(self) -> None:
        """Nothing to release."""
