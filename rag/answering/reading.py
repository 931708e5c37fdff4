"""The reading answerer: a short exact span (a name, a number, a date, a phrase) read by a trained reader.

The sentence scorer (``rag.answering.extractive``) ranks every sentence of the retrieved chunks; the reader
(``rag.reader``) then reads only the best ones, each with the sentence before it (``RAG_READER_WINDOWS=sentences``,
the default: about ``RAG_READER_CHARS`` characters in all, which keeps a 12-layer reader within the latency
budget), or the whole chunks (``chunks``). Each window gets a relevance (does it answer the question?) and its
best spans; the answer is the best span of the most relevant window, cited with its exact offsets and the
offsets of the sentence around it (``context``). When no window is relevant enough (``RAG_READER_THRESHOLD``, by
default the value calibrated on held-out PIAF with the weights) the answer is "not in the documents". Two
relevant windows about the same subject that give different numbers or dates for a number or date question are
shown side by side, flagged as a conflict.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Literal, Unpack

from rag.answering.citations import CONFLICT, verify_citations
from rag.answering.extractive import Candidate, ExtractiveAnswerer, RetrievingAnswerer, answer_language
from rag.answering.models import Answer, Citation
from rag.answering.protocol import FromHits
from rag.answering.question import QuestionType, question_type, values
from rag.chunking import sentence_spans
from rag.corpus_index import CorpusIndex
from rag.models import Hit
from rag.reader.protocol import Abstention, PassageReading, Reader, SpanCandidate

WindowMode = Literal["sentences", "chunks"]

CONFLICT_MARGIN = 0.15
"""A second source's relevance within this of the best one's makes a disagreement on a number or date worth
showing."""
CONFLICT_COVERAGE = 0.5
"""Both sources' sentences (with the sentence before and the title) must hold at least this share of the
question's (IDF-weighted) terms: the same subject, not merely two passages that hold numbers."""
MAX_WINDOWS = 6
"""At most this many windows are read for one question."""
ASKS_FIGURE = re.compile(
    r"\b(quel(le)?s? (est |sont |était |a été )?(l'|le |la |les )?(âge|somme|superficie|surface|taille|coût|"
    r"montant|budget|nombre|chiffre|effectif|population)|how (old|many|much)|what (amount|number|budget))",
    re.IGNORECASE,
)
"""Questions that ask for a figure without ``combien`` (which :func:`question_type` already calls ``number``). Not
``prix``: "quel prix a reçu …" asks for an award (a price is money: :data:`UNITS`)."""
STATES_FIGURE = re.compile(
    r"\d|%|\b(deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|vingt|trente|"
    r"quarante|cinquante|soixante|cent|cents|mille|dizaines?|douzaines?|vingtaines?|trentaines?|quarantaines?|"
    r"cinquantaines?|centaines?|milliers?|millions?|milliards?|moitié|tiers|quart|two|three|four|five|six|seven|"
    r"eight|nine|ten|twelve|twenty|thirty|forty|fifty|hundreds?|thousands?|millions?|billions?)\b",
    re.IGNORECASE,
)
"""A span that states a figure: digits, a percentage or a number word (not ``un``/``une``, mostly articles)."""
MONEY = r"€|\$|£|\beuros?\b|\bdollars?\b|\bfrancs?\b|\blivres? sterling\b|\b(eur|usd)\b"
UNITS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (
        re.compile(
            r"\b(budget|montant|co[uû]t|combien (coûte|coute|a coûté|a couté|coûtera)|à quel prix|au prix de|"
            r"(quel|le) prix (du|de la|de l'|des|d'|moyen|unitaire)|"
            r"chiffre d'affaires|how much money|how much (does|did|will) .{1,60} cost|what (budget|amount|cost))\b",
            re.IGNORECASE,
        ),
        re.compile(MONEY, re.IGNORECASE),
    ),
    (
        re.compile(r"\b(quel âge|how old|what age)\b", re.IGNORECASE),
        re.compile(r"\b(ans?|années?|years?|mois|months?)\b", re.IGNORECASE),
    ),
    (
        re.compile(
            r"\bsuperficie\b|\bquelle (est la )?surface\b|\b(what|which) area\b|\bhow large an area\b", re.IGNORECASE
        ),
        re.compile(
            r"m²|\bm2\b|km²|\bkm2\b|\b(mètres? carrés?|hectares?|ha|kilomètres? carrés?|acres?|square)\b",
            re.IGNORECASE,
        ),
    ),
]
"""A question asking for an amount of money, an age or an area is answered by a figure in that unit only (in the
span or right after it): a budget is not answered by an area, an age by a date."""
UNIT_REACH = 24
"""How many characters after the span the unit may stand in (``1,5 milliard`` ``d'euros``)."""


def figure_units(question: str) -> list[re.Pattern[str]] | None:
    """None when ``question`` does not ask for a figure; else the units the figure must be stated in (:data:`UNITS`;
    empty: any figure)."""
    plain = question.replace("’", "'")
    units = [unit for asked, unit in UNITS if asked.search(plain)]
    if units or question_type(question) == "number" or ASKS_FIGURE.search(plain):
        return units
    return None


@dataclass(frozen=True)
class ReadingWindow:
    """A stretch of one retrieved chunk given to the reader: absolute offsets in the document."""

    hit: Hit
    rank: int
    start: int
    end: int
    coverage: float = 1.0  # share of the question's terms in the window's sentences, previous one and title

    @property
    def text(self) -> str:
        """The window's text, as it stands in the document."""
        return self.hit.document.text[self.start : self.end]


@dataclass(frozen=True)
class Reading:
    """A window, and what the reader found in it."""

    window: ReadingWindow
    reading: PassageReading

    @property
    def hit(self) -> Hit:
        """The retrieved hit the window belongs to."""
        return self.window.hit

    @property
    def best(self) -> SpanCandidate | None:
        """The reader's best span in this window, if any."""
        return self.reading.spans[0] if self.reading.spans else None


@dataclass(frozen=True)
class Evidence:
    """What one question's answer is decided on."""

    readings: list[Reading]  # most relevant first
    best_sentence: float  # the sentence scorer's best score over the hits (-inf: no sentence)


def chunk_windows(hits: list[Hit]) -> list[ReadingWindow]:
    """Each hit's whole chunk."""
    return [ReadingWindow(h, rank, h.chunk.start, h.chunk.end) for rank, h in enumerate(hits)]


def sentence_windows(
    candidates: list[Candidate], max_chars: int, max_windows: int = MAX_WINDOWS
) -> list[ReadingWindow]:
    """Windows around the best-scored sentences, best first: each sentence with the one before it in its chunk
    (the subject is often named there), overlapping or adjacent windows of one document merged, until about
    ``max_chars`` characters are taken (the first window always, whatever its length)."""
    chosen: list[list[Any]] = []  # [hit, rank, start, end, coverage]
    total = 0
    for c in candidates:
        if len(chosen) >= max_windows or (chosen and total >= max_chars):
            break
        start = c.start if c.previous_start is None else c.previous_start
        if chosen and total + (c.end - start) > max_chars * 1.25:
            start = c.start  # no room for the sentence before
            if total + (c.end - start) > max_chars * 1.25:
                continue
        merged = False
        for w in chosen:
            if w[0].document.id == c.hit.document.id and start <= w[3] + 1 and w[2] <= c.end + 1:
                old = w[3] - w[2]
                w[2], w[3] = min(w[2], start), max(w[3], c.end)
                w[4] = max(w[4], c.context_coverage)
                total += (w[3] - w[2]) - old
                merged = True
                break
        if not merged:
            chosen.append([c.hit, c.rank, start, c.end, c.context_coverage])
            total += c.end - start
    return [ReadingWindow(h, rank, s, e, cov) for h, rank, s, e, cov in chosen]


class ReadingAnswerer(RetrievingAnswerer):
    """Short exact answers from a reader; falls back to the sentence scorer only where the reader finds a
    relevant window but no span in it."""

    mode = "extractive"

    def __init__(
        self,
        index: CorpusIndex,
        reader: Reader,
        sentences: ExtractiveAnswerer,
        threshold: float | None = None,
        *,
        windows: WindowMode = "sentences",
        max_chars: int = 900,
        abstention: Abstention | None = None,
    ) -> None:
        self.index = index
        self.reader = reader
        self.sentences = sentences
        self._threshold = threshold
        self._abstention = abstention
        self.windows = windows
        self.max_chars = max_chars

    @property
    def threshold(self) -> float:
        """``RAG_READER_THRESHOLD``, else the reader's calibrated value (on :meth:`answerability`)."""
        return self.reader.threshold if self._threshold is None else self._threshold

    def answerability(self, r: Reading, evidence: Evidence) -> float:
        """How likely the window answers the question: its relevance combined with the sentence scorer's best
        score (the reader's calibrated :class:`Abstention`)."""
        abstention = self.reader.abstention if self._abstention is None else self._abstention
        return abstention.probability(r.reading.relevance, evidence.best_sentence)

    def read(self, question: str, hits: list[Hit], query: str | None = None) -> list[Reading]:
        """The windows read for ``question`` (sentence windows or whole chunks), most relevant first."""
        return self.evidence(question, hits, query).readings

    def windows_for(
        self, question: str, hits: list[Hit], query: str | None = None
    ) -> tuple[list[ReadingWindow], float]:
        """What the reader reads for ``question`` (best sentence's window first, or the chunks in rank order) and
        the sentence scorer's best score (-inf: no sentence)."""
        candidates = self.sentences.candidates(query or question, hits, question_type(question))
        best_sentence = candidates[0].score if candidates else -math.inf
        windows = chunk_windows(hits) if self.windows == "chunks" else sentence_windows(candidates, self.max_chars)
        return windows, best_sentence

    def evidence(self, question: str, hits: list[Hit], query: str | None = None) -> Evidence:
        """What the answer is decided on: the readings, most relevant first, and the best sentence's score."""
        windows, best_sentence = self.windows_for(question, hits, query)
        readings = self.reader.read(question, [w.text for w in windows])
        order = sorted(
            range(len(windows)),
            key=lambda i: (-readings[i].relevance, -(readings[i].spans[0].score if readings[i].spans else -1e9)),
        )
        return Evidence([Reading(windows[i], readings[i]) for i in order], best_sentence)

    def answer_from_hits(self, question: str, hits: list[Hit], **options: Unpack[FromHits]) -> Answer:
        """Read the hits; answer with the best span of the most relevant window, or refuse."""
        lang = answer_language(question, options)
        if not hits:
            return self.refusal(question, hits, lang, "No passage was retrieved for this question.")
        query = options.get("query")
        evidence = self.evidence(question, hits, query)
        return self.decide(question, hits, evidence, lang, debug=options.get("debug", False), query=query)

    def decide(
        self,
        question: str,
        hits: list[Hit],
        evidence: Evidence,
        lang: str,
        *,
        debug: bool = False,
        query: str | None = None,
    ) -> Answer:
        """The answer the evidence supports: the best span of the most relevant window, or a refusal when its
        :meth:`answerability` is below the threshold (both calibrated together, ``scripts/calibrate_service.py``)."""
        ranked = evidence.readings
        kind = question_type(question)
        trace = _trace(ranked, kind, lang, self.threshold) if debug else None
        if not ranked:
            return self.refusal(question, hits, lang, "No retrieved passage has text to read.", trace)
        top = ranked[0]
        answerable = self.answerability(top, evidence)
        if trace is not None:
            trace["best_sentence_score"] = round(evidence.best_sentence, 3)
            trace["answerability"] = round(answerable, 4)
        if answerable < self.threshold:
            reason = (
                f"No retrieved passage answers the question (answerability {answerable:.2f} < "
                f"{self.threshold:.2f}: reader relevance {top.reading.relevance:.2f}, best sentence score "
                f"{evidence.best_sentence:.2f})."
            )
            return self.refusal(question, hits, lang, reason, trace)
        if top.best is None:
            return self.sentences.answer_from_hits(question, hits, debug=debug, language_=lang, query=query)
        units = figure_units(question)
        if units is not None:
            figure = self._stated_figure(units, ranked, evidence)
            if figure is None:
                reason = "No retrieved passage states the figure the question asks for."
                return self.refusal(question, hits, lang, reason, trace)
            ranked = [figure, *(r for r in ranked if r.window is not figure.window)]
            top = ranked[0]
        chosen = [top, *self._disagreeing(ranked, kind, evidence)]
        return _compose(chosen, lang, trace)

    def _stated_figure(self, units: list[re.Pattern[str]], ranked: list[Reading], evidence: Evidence) -> Reading | None:
        """The first answerable window's first span that states a figure (that span first), in every one of
        ``units`` (:func:`figure_units`), or None: a question asking how many, how much or how old is not answered
        by a name or a phrase, nor a budget by an area."""
        for r in ranked:
            if self.answerability(r, evidence) < self.threshold:
                return None
            for k, span in enumerate(r.reading.spans):
                text = r.window.text[span.start : span.end]
                after = r.window.text[span.start : span.end + UNIT_REACH]
                if STATES_FIGURE.search(text) and all(u.search(after) for u in units):
                    spans = [span, *r.reading.spans[:k], *r.reading.spans[k + 1 :]]
                    return Reading(r.window, replace(r.reading, spans=spans))
        return None

    def _disagreeing(self, ranked: list[Reading], kind: QuestionType, evidence: Evidence) -> list[Reading]:
        """A second relevant source about the same subject that states another number or date, for a number or
        date question."""
        if kind not in ("number", "date"):
            return []
        best = ranked[0]
        stated = values(_span_text(best), kind)
        if not stated or not self._same_subject(best):
            return []
        for other in ranked[1:]:
            if other.reading.relevance < best.reading.relevance - CONFLICT_MARGIN:
                break
            if self.answerability(other, evidence) < self.threshold:
                break
            if other.best is None or _same_place(best, other) or not self._same_subject(other):
                continue
            theirs = values(_span_text(other), kind)
            if theirs and not (theirs & stated):
                return [other]
        return []

    def _same_subject(self, r: Reading) -> bool:
        """Whether the window's sentences (with the one before and the title) hold most of the question's
        terms. Windows cut from sentence candidates carry that coverage; whole chunks always count."""
        return r.window.coverage >= CONFLICT_COVERAGE


def _span_text(r: Reading) -> str:
    assert r.best is not None
    return r.window.text[r.best.start : r.best.end]


def _doc_span(r: Reading) -> tuple[int, int]:
    assert r.best is not None
    return r.window.start + r.best.start, r.window.start + r.best.end


def _same_place(a: Reading, b: Reading) -> bool:
    """Two readings pointing at the same document text (overlapping windows read the same sentence twice)."""
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


def _compose(chosen: list[Reading], lang: str, trace: dict[str, Any] | None) -> Answer:
    citations: list[Citation] = []
    parts: list[str] = []
    for n, r in enumerate(chosen, 1):
        doc = r.hit.document
        start, end = _doc_span(r)
        context_start, context_end = enclosing_sentences(r)
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
                "rank": r.window.rank,
                "start": r.window.start,
                "end": r.window.end,
                "relevance": round(r.reading.relevance, 4),
                "spans": [
                    {
                        "text": r.window.text[s.start : s.end],
                        "score": round(s.score, 3) if math.isfinite(s.score) else None,
                    }
                    for s in r.reading.spans
                ],
            }
            for r in ranked
        ],
    }
