"""The reader protocol: question + passages → relevance, no-answer probability and exact answer spans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SpanCandidate:
    """One answer span a reader proposes in a passage."""

    start: int  # char offset in the passage text given (original text, not normalised)
    end: int
    score: float  # start_logit + end_logit of the span (higher is better)


@dataclass(frozen=True)
class PassageReading:
    """What a reader found in one passage: its relevance and its best spans."""

    relevance: float  # probability in [0,1] that this passage answers the question (max over its windows)
    no_answer: float  # 1 - relevance
    # relevance is sigmoid(relevance head), or with ``relevance_score: span-margin`` in the weights' json,
    # sigmoid(best span score - null answer score); the json's default_threshold is calibrated on the one used
    spans: list[SpanCandidate]  # best spans across its windows, best first


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
