"""The answerer protocol: what the service, the chat route and the generative fallback call."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from rag.answering.models import Answer
from rag.filters import Filters
from rag.models import Hit
from rag.settings import Method


@runtime_checkable
class Answerer(Protocol):
    """Turns a question and retrieved hits into a cited :class:`Answer`, or an honest refusal."""

    mode: str

    def answer(
        self,
        question: str,
        *,
        top_k: int = 5,
        method: Method | None = None,
        filters: Filters | None = None,
        debug: bool = False,
        query: str | None = None,
    ) -> Answer:
        """Retrieve with ``query`` (default: the question), then answer ``question`` from the hits."""

    def answer_from_hits(
        self,
        question: str,
        hits: list[Hit],
        *,
        debug: bool = False,
        language_: str | None = None,
        query: str | None = None,
    ) -> Answer:
        """Compose the answer from already retrieved hits."""

    def refusal(
        self,
        question: str,
        hits: list[Hit],
        lang: str,
        reason: str | None = None,
        trace: dict[str, Any] | None = None,
    ) -> Answer:
        """'Not in the documents', with the closest passages as "see also"."""
