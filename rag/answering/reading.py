"""The reading answerer: a short exact span (a name, a number, a date, a phrase) read by a trained reader.

The reader (``rag.reader``) reads the retrieved chunks and gives each a relevance (does it answer the question?)
and its best spans. The answer is the best span of the most relevant chunk, cited with its exact offsets and the
offsets of the sentence around it (``context``). When no chunk is relevant enough (``RAG_READER_THRESHOLD``, by
default the value calibrated on held-out PIAF with the weights) the answer is "not in the documents". Two
relevant chunks that state different numbers or dates for a number or date question are shown side by side,
flagged as a conflict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rag.answering.extractive import CONFLICT, ExtractiveAnswerer, retrieve_and_answer, verify_citations
from rag.answering.models import Answer, Citation
from rag.answering.question import QuestionType, language, question_type, values
from rag.chunking import sentence_spans
from rag.corpus_index import CorpusIndex
from rag.filters import Filters
from rag.models import Hit
from rag.reader.inference import PassageReading, SpanCandidate
from rag.reader.protocol import Reader
from rag.settings import Method

CONFLICT_MARGIN = 0.15
"""A second source's relevance within this of the best one's makes a disagreement on a number or date worth
showing."""


@dataclass(frozen=True)
class Reading:
    """A retrieved hit, its rank and what the reader found in it."""

    hit: Hit
    rank: int
    reading: PassageReading

    @property
    def best(self) -> SpanCandidate | None:
        """The reader's best span in this hit, if any."""
        return self.reading.spans[0] if self.reading.spans else None


class ReadingAnswerer:
    """Short exact answers from a reader; falls back to the sentence scorer only where the reader finds a
    relevant passage but no span in it."""

    mode = "extractive"

    def __init__(
        self, index: CorpusIndex, reader: Reader, sentences: ExtractiveAnswerer, threshold: float | None = None
    ) -> None:
        self.index = index
        self.reader = reader
        self.sentences = sentences
        self._threshold = threshold

    @property
    def threshold(self) -> float:
        """``RAG_READER_THRESHOLD``, else the reader's calibrated value."""
        return self.reader.threshold if self._threshold is None else self._threshold

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
        """Retrieve with ``query`` (default: the question) and read the answer from the hits."""
        return retrieve_and_answer(self, self.index, question, top_k, method, filters, debug=debug, query=query)

    def refusal(
        self,
        question: str,
        hits: list[Hit],
        lang: str,
        reason: str | None = None,
        trace: dict[str, Any] | None = None,
    ) -> Answer:
        """'Not in the documents', with the closest passages as "see also"."""
        return self.sentences.refusal(question, hits, lang, reason, trace)

    def answer_from_hits(
        self,
        question: str,
        hits: list[Hit],
        *,
        debug: bool = False,
        language_: str | None = None,
        query: str | None = None,
    ) -> Answer:
        """Read the hits; answer with the best span of the most relevant one, or refuse."""
        lang = language_ if language_ in ("fr", "en") else language(question)
        if not hits:
            return self.refusal(question, hits, lang, "No passage was retrieved for this question.")
        readings = self.reader.read(question, [h.chunk.text for h in hits])
        ranked = sorted(
            (Reading(h, rank, r) for rank, (h, r) in enumerate(zip(hits, readings, strict=True))),
            key=lambda r: (-r.reading.relevance, r.rank),
        )
        kind = question_type(question)
        trace = _trace(ranked, kind, lang, self.threshold) if debug else None
        top = ranked[0]
        if top.reading.relevance < self.threshold:
            reason = (
                f"No retrieved passage answers the question (best reader relevance {top.reading.relevance:.2f} "
                f"< {self.threshold:.2f})."
            )
            return self.refusal(question, hits, lang, reason, trace)
        if top.best is None:
            return self.sentences.answer_from_hits(question, hits, debug=debug, language_=lang, query=query)
        chosen = [top, *self._disagreeing(ranked, kind)]
        return _compose(chosen, kind, lang, trace)

    def _disagreeing(self, ranked: list[Reading], kind: QuestionType) -> list[Reading]:
        """A second relevant source stating another number or date, for a number or date question."""
        if kind not in ("number", "date"):
            return []
        best = ranked[0]
        assert best.best is not None
        stated = values(_span_text(best), kind)
        if not stated:
            return []
        floor = max(self.threshold, best.reading.relevance - CONFLICT_MARGIN)
        for other in ranked[1:]:
            if other.reading.relevance < floor:
                break
            if other.best is None or _same_place(best, other):
                continue
            theirs = values(_span_text(other), kind)
            if theirs and theirs != stated:
                return [other]
        return []


def _span_text(r: Reading) -> str:
    assert r.best is not None
    return r.hit.chunk.text[r.best.start : r.best.end]


def _doc_span(r: Reading) -> tuple[int, int]:
    assert r.best is not None
    return r.hit.chunk.start + r.best.start, r.hit.chunk.start + r.best.end


def _same_place(a: Reading, b: Reading) -> bool:
    """Two readings pointing at the same document text (overlapping chunks read the same sentence twice)."""
    (a0, a1), (b0, b1) = _doc_span(a), _doc_span(b)
    return a.hit.document.id == b.hit.document.id and a0 < b1 and b0 < a1


def enclosing_sentences(r: Reading) -> tuple[int, int]:
    """The sentence(s) of the chunk that hold the span, as absolute offsets (the span itself when none does)."""
    start, end = _doc_span(r)
    chunk = r.hit.chunk
    touched = [(s, e) for s, e in sentence_spans(r.hit.document.text, chunk.start, chunk.end) if s < end and start < e]
    if not touched:
        return start, end
    return min(start, touched[0][0]), max(end, touched[-1][1])


def _compose(chosen: list[Reading], kind: QuestionType, lang: str, trace: dict[str, Any] | None) -> Answer:
    citations: list[Citation] = []
    parts: list[str] = []
    for n, r in enumerate(chosen, 1):
        doc = r.hit.document
        start, end = _doc_span(r)
        context_start, context_end = enclosing_sentences(r)
        assert r.best is not None
        citations.append(
            Citation(
                n=n,
                document_id=doc.id,
                chunk_id=r.hit.chunk.key,
                start=start,
                end=end,
                quote=doc.text[start:end],
                score=round(r.reading.relevance, 4),
                title=doc.title,
                published_at=doc.metadata.get("published_at"),
                context_start=context_start,
                context_end=context_end,
                context=doc.text[context_start:context_end],
            )
        )
        parts.append(f"{' '.join(doc.text[start:end].split())} [{n}]")
    conflict = len(chosen) > 1
    text = f"{CONFLICT[lang]} {' ; '.join(parts)}" if conflict else parts[0]
    verify_citations(citations, {r.hit.document.id: r.hit.document.text for r in chosen})
    return Answer(
        answer=text,
        answerable=True,
        citations=citations,
        context=citations[0].context,
        mode="extractive",
        conflict=conflict,
        language=lang,
        debug=trace,
    )


def _trace(ranked: list[Reading], kind: QuestionType, lang: str, threshold: float) -> dict[str, Any]:
    return {
        "question_type": kind,
        "language": lang,
        "reader_threshold": threshold,
        "readings": [
            {
                "chunk_id": r.hit.chunk.key,
                "rank": r.rank,
                "relevance": round(r.reading.relevance, 4),
                "spans": [
                    {
                        "text": r.hit.chunk.text[s.start : s.end],
                        "score": round(s.score, 3) if math.isfinite(s.score) else None,
                    }
                    for s in r.reading.spans
                ],
            }
            for r in ranked
        ],
    }
