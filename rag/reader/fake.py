"""A deterministic keyword reader: no model, for unit tests and as the reference behaviour of the protocol."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from rag.reader.protocol import Abstention, PassageReading, SpanCandidate

WORD = re.compile(r"\w+(?:[-']\w+)*")
NUMBER = re.compile(r"\d(?:[\d\s.,]*\d)?")
NAME = re.compile(r"(?<=\s)[A-ZÀ-Ý][\w'-]*(?:\s+[A-ZÀ-Ý][\w'-]*)*")


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word.lower()) if not unicodedata.combining(c))


class KeywordReader:
    """Relevance: the share of the question's longer words found in the passage. Span: the first number, else the
    first capitalised name not opening the sentence, of the passage's best-covered sentence that the question
    does not already contain."""

    name = "keyword"

    def __init__(self, threshold: float = 0.5) -> None:
        self._threshold = threshold

    @property
    def threshold(self) -> float:
        """Half the question's content words must appear."""
        return self._threshold

    @property
    def abstention(self) -> Abstention:
        """The relevance alone: the keyword overlap is the whole test."""
        return Abstention()

    def warm_up(self) -> None:
        """Nothing to load."""

    def read(
        self, question: str, passages: Sequence[str], *, top_spans: int = 3, max_answer_tokens: int = 30
    ) -> list[PassageReading]:
        """One reading per passage, deterministic."""
        asked = {_fold(w) for w in WORD.findall(question) if len(w) > 3}
        return [self._read(asked, passage, top_spans) for passage in passages]

    @staticmethod
    def _read(asked: set[str], passage: str, top_spans: int) -> PassageReading:
        words = {_fold(w) for w in WORD.findall(passage)}
        relevance = len(asked & words) / len(asked) if asked else 0.0
        spans: list[SpanCandidate] = []
        best_cover = -1
        for sentence in re.finditer(r"[^.!?]+[.!?]?", passage):
            cover = len(asked & {_fold(w) for w in WORD.findall(sentence.group())})
            first = sentence.start() + len(sentence.group()) - len(sentence.group().lstrip())
            found = [
                (m.start(), m.end())
                for pattern in (NUMBER, NAME)
                for m in pattern.finditer(passage, first, sentence.end())
                if (pattern is NUMBER or m.start() > first) and not {_fold(w) for w in WORD.findall(m.group())} <= asked
            ]
            if found and cover > best_cover:
                best_cover = cover
                spans = [SpanCandidate(a, b, float(cover) - i) for i, (a, b) in enumerate(found[:top_spans])]
        return PassageReading(relevance=relevance, no_answer=1.0 - relevance, spans=spans)
