"""The reader protocol: question + passages → relevance, no-answer probability and exact answer spans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from rag.reader.inference import PassageReading


@runtime_checkable
class Reader(Protocol):
    """Reads passages for a question. Spans are character offsets into the passage strings given."""

    name: str

    @property
    def threshold(self) -> float:
        """The calibrated relevance below which an answer is withheld (``RAG_READER_THRESHOLD`` overrides it)."""

    def warm_up(self) -> None:
        """Load what the reader needs, once; a missing or corrupt file is a :class:`ReaderWeightsError`."""

    def read(
        self, question: str, passages: Sequence[str], *, top_spans: int = 3, max_answer_tokens: int = 30
    ) -> list[PassageReading]:
        """One reading per passage, in the order given."""
