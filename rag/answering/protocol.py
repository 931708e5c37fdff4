"""The answerer protocol: what the service, the chat route and the generative fallback call."""

from __future__ import annotations

from typing import Any, Protocol, TypedDict, Unpack, runtime_checkable

from rag.answering.models import Answer
from rag.filters import Filters
from rag.models import Hit
from rag.settings import Method


class FromHits(TypedDict, total=False):
    """Options of :meth:`Answerer.answer_from_hits`: ``debug`` (False: no trace), ``language_`` (the answer's
    language, ``fr`` or ``en``; None: the question's) and ``query`` (the text the hits were searched with, when it
    is not the question: a follow-up's standalone query)."""

    debug: bool
    language_: str | None
    query: str | None


class Retrieval(TypedDict, total=False):
    """Options of :meth:`Answerer.answer`: ``top_k`` (5), ``method`` (None: the configured one), ``filters``,
    ``debug`` (False) and ``query`` (what to search with; None: the question)."""

    top_k: int
    method: Method | None
    filters: Filters | None
    debug: bool
    query: str | None


class Conversation(Retrieval, total=False):
    """Retrieval options plus ``history``: the earlier turns (OpenAI message dicts) the prompt carries."""

    history: list[dict[str, str]] | None


@runtime_checkable
class Answerer(Protocol):
    """Turns a question and retrieved hits into a cited :class:`Answer`, or an honest refusal."""

    mode: str

    def answer(self, question: str, **options: Unpack[Retrieval]) -> Answer:
        """Retrieve with ``query`` (default: the question), then answer ``question`` from the hits."""

    def answer_from_hits(self, question: str, hits: list[Hit], **options: Unpack[FromHits]) -> Answer:
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
