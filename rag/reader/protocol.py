"""The reader protocol: question + passages → relevance, no-answer probability and exact answer spans."""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class Abstention:
    """How answerable a question is, from the most relevant window's relevance and the sentence scorer's best
    score: ``sigmoid(relevance_logit * logit(relevance) + sentence_score * best_sentence + bias)``. The identity
    (the default) is the relevance alone; ``scripts/calibrate_service.py`` fits the weights on held-out PIAF."""

    relevance_logit: float = 1.0
    sentence_score: float = 0.0
    bias: float = 0.0

    def probability(self, relevance: float, best_sentence: float) -> float:
        """The answerability in [0, 1] that the reader's threshold applies to."""
        if self.sentence_score == 0.0 and self.bias == 0.0 and self.relevance_logit == 1.0:
            return relevance
        p = min(max(relevance, 1e-6), 1 - 1e-6)
        sentence = best_sentence if math.isfinite(best_sentence) else -20.0
        z = self.relevance_logit * math.log(p / (1 - p)) + self.sentence_score * sentence + self.bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@runtime_checkable
class Reader(Protocol):
    """Reads passages for a question. Spans are character offsets into the passage strings given."""

    name: str

    @property
    def threshold(self) -> float:
        """The calibrated relevance below which an answer is withheld (``RAG_READER_THRESHOLD`` overrides it)."""

    @property
    def abstention(self) -> Abstention:
        """How relevance and sentence evidence combine into the answerability :attr:`threshold` applies to."""

    def warm_up(self) -> None:
        """Load what the reader needs, once; a missing or corrupt file is a :class:`ReaderWeightsError`."""

    def read(
        self, question: str, passages: Sequence[str], *, top_spans: int = 3, max_answer_tokens: int = 30
    ) -> list[PassageReading]:
        """One reading per passage, in the order given."""
