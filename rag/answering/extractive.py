"""The extractive answerer: the best one to three sentences of the retrieved passages, cited exactly.

Each candidate sentence is scored on the passage's retrieval rank, its coverage of the question's terms
(IDF-weighted, after French analysis), its embedding similarity to the question, and whether it contains
the kind of entity the question asks for. The evidence must clear calibrated thresholds, or the answer
says that the documents do not contain it.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Unpack

import numpy as np

from rag.answering.citations import CONFLICT, NOT_FOUND, REFUSED, verify_citations
from rag.answering.models import Answer, Citation, SeeAlso
from rag.answering.protocol import FromHits, Retrieval
from rag.answering.question import QuestionType, language, new_entity, probes_the_service, question_type, values
from rag.chunking import sentence_spans
from rag.corpus_index import CorpusIndex
from rag.models import Hit

MAX_SENTENCE_CHARS = 400


@dataclass
class Thresholds:
    """Abstention and selection thresholds on the learned sentence score (``_score``), set on PIAF."""

    # Learned on PIAF (external), see ``_score``: 6.0 refuses ~4 % of answerable PIAF questions (train and
    # held-out) and abstains on ~27 % of PIAF questions whose relevant passage was removed from the hits.
    min_score: float = 6.0
    # A second sentence only when its softmax probability is at least half the best's.
    second_gap: float = math.log(2)
    # Kinds whose best sentence must state a new entity of that kind: ("number",) abstains on more gold
    # unanswerables but needs number words ("trois", "cinq") recognised by question.new_entity first.
    typed_kinds: tuple[str, ...] = ()
    # For a typed question (qui, combien, quand, où), a sentence that states a new entity of the asked type
    # goes first when its score is within this margin of the best one's (probability ≥ e^-1.5 ≈ 22 % of it):
    # the learned weight of ``typed`` alone is too small to lift "38 implantations…" over the sentence before
    # it that only repeats the question's words. Neutral on PIAF (containment 64.0 % either way).
    typed_margin: float = 1.5


@dataclass
class Candidate:
    """A sentence of a retrieved chunk with its evidence features."""

    hit: Hit
    rank: int
    start: int
    end: int
    coverage: float = 0.0
    context_coverage: float = 0.0
    previous_start: int | None = None  # where the sentence before it in its chunk starts (None: the first)
    chunk_coverage: float = 0.0
    novelty: float = 0.0
    dense: float = 0.0
    typed: bool = False
    score: float = 0.0
    features: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The sentence, as it stands in the document."""
        return self.hit.document.text[self.start : self.end]


def answer_language(question: str, options: FromHits) -> str:
    """``language_`` when it is one the service answers in (fr, en), else the question's."""
    given = options.get("language_")
    return given if given in ("fr", "en") else language(question)


def retrieve(index: CorpusIndex, question: str, options: Retrieval) -> list[Hit]:
    """The hits for ``options``' query (default: the question), top k, method and filters."""
    return index.search(
        options.get("query") or question,
        top_k=options.get("top_k", 5),
        method=options.get("method"),
        filters=options.get("filters"),
    )


class RetrievingAnswerer:
    """What the extractive answerers share: ``answer`` retrieves from ``self.index``, then answers from the hits
    (:meth:`answer_from_hits`, each subclass's own)."""

    index: CorpusIndex

    def answer(self, question: str, **options: Unpack[Retrieval]) -> Answer:
        """Refuse a question that probes for the service's instructions, keys or configuration, else search the
        index with ``query`` (default: the question) and answer ``question`` from the hits."""
        lang = language(question)
        if probes_the_service(question):
            return Answer(
                answer=REFUSED[lang],
                answerable=False,
                language=lang,
                reason="The question asks for the service's instructions, keys or configuration.",
            )
        hits = retrieve(self.index, question, options)
        return self.answer_from_hits(
            question, hits, debug=options.get("debug", False), language_=lang, query=options.get("query")
        )

    def answer_from_hits(self, question: str, hits: list[Hit], **options: Unpack[FromHits]) -> Answer:
        """The answer to ``question`` from already retrieved ``hits``."""
        raise NotImplementedError

    def refusal(
        self,
        question: str,
        hits: list[Hit],
        lang: str,
        reason: str | None = None,
        trace: dict[str, Any] | None = None,
    ) -> Answer:
        """'Not in the documents', with the closest passages as "see also"."""
        return Answer(
            answer=NOT_FOUND[lang],
            answerable=False,
            language=lang,
            reason=reason or "The passages do not contain the answer.",
            see_also=_see_also(hits),
            debug=trace,
        )


class ExtractiveAnswerer(RetrievingAnswerer):
    """Answers from the retrieved sentences themselves; needs no LLM."""

    mode = "extractive"

    def __init__(self, index: CorpusIndex, thresholds: Thresholds | None = None, dense_candidates: int = 10) -> None:
        self.index = index
        self.thresholds = thresholds or Thresholds()
        self.dense_candidates = dense_candidates
        self._sentence_vectors: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def answer_from_hits(self, question: str, hits: list[Hit], **options: Unpack[FromHits]) -> Answer:
        """Compose the answer from already retrieved hits."""
        lang = answer_language(question, options)
        debug = options.get("debug", False)
        kind = question_type(question)
        candidates = self._candidates(options.get("query") or question, hits, kind)
        trace: dict[str, Any] | None = None
        if debug:
            trace = {
                "question_type": kind,
                "language": lang,
                "hits": [{"chunk_id": h.chunk.key, "score": h.score, "stages": h.stages} for h in hits],
            }
        best = candidates[0] if candidates else None
        verdict = self._verdict(best, kind)
        if trace is not None:
            trace["candidates"] = [
                {"chunk_id": c.hit.chunk.key, "start": c.start, "end": c.end, "score": round(c.score, 4), **c.features}
                for c in candidates[:8]
            ]
        if best is None or verdict is not None:
            return self.refusal(question, hits, lang, verdict or "No passage was retrieved for this question.", trace)
        chosen = self._select(candidates, kind)
        return _compose(chosen, kind, lang, trace)

    # -- scoring ---------------------------------------------------------------------------------

    def candidates(self, question: str, hits: list[Hit], kind: QuestionType) -> list[Candidate]:
        """Every sentence of the hits' chunks, scored, best first (the reading answerer reads the best ones).
        Sentence vectors count only where the index stores them (``RAG_SENTENCE_VECTORS``): none is embedded on
        the request path, the reader re-reads the best sentences anyway (``bench/reader_windows.py``)."""
        return self._candidates(question, hits, kind, embed=False)

    def _candidates(self, question: str, hits: list[Hit], kind: QuestionType, embed: bool = True) -> list[Candidate]:
        analyzer = self.index.analyzer
        lexical = self.index.lexical
        q_terms = set(analyzer(question))
        with self.index.snapshot():  # a concurrent write changes the lexical index these read
            weights = {t: lexical.idf(t) for t in q_terms}
            chunk_terms = {hit.chunk.id: set(lexical.terms(hit.chunk.id)) for hit in hits}
        total = sum(weights.values()) or 1.0

        def coverage(terms: set[str]) -> float:
            return sum(w for t, w in weights.items() if t in terms) / total

        candidates: list[Candidate] = []
        for rank, hit in enumerate(hits):
            title_terms = set(analyzer(hit.document.title))
            chunk_cov = coverage(title_terms | chunk_terms[hit.chunk.id])
            previous: set[str] = set()
            previous_start: int | None = None
            for start, end in sentence_spans(hit.document.text, hit.chunk.start, hit.chunk.end):
                text = hit.document.text[start:end]
                terms = set(analyzer(text))
                novel = len(terms - q_terms)
                c = Candidate(
                    hit,
                    rank,
                    start,
                    end,
                    coverage=coverage(terms),
                    chunk_coverage=chunk_cov,
                    typed=new_entity(text, kind, question),
                    previous_start=previous_start,
                )
                # The subject is often named in the sentence before ("Un projet baptisé X. Il …").
                c.context_coverage = coverage(terms | previous | title_terms)
                c.novelty = min(1.0, novel / 3)
                previous, previous_start = terms, start
                candidates.append(c)
        for c in candidates:
            c.score = self._score(c, with_dense=False, kind=kind)
        candidates.sort(key=lambda c: -c.score)
        top = candidates[: self.dense_candidates]
        vectors = self._vectors(top, embed) if top else None
        if vectors is not None:  # None: the sentences' vectors are not stored, rank on the other features
            q_vec = self.index.embed_query(question)
            band = DENSE_BANDS.get(self.index.embedder.name, DENSE_BANDS["e5"])
            for c, vec in zip(top, vectors, strict=True):
                c.dense = _stretch(float(vec @ q_vec), band)
        for c in candidates:
            c.score = self._score(c, with_dense=True, kind=kind)
            c.features = {
                "coverage": round(c.coverage, 3),
                "context_coverage": round(c.context_coverage, 3),
                "chunk_coverage": round(c.chunk_coverage, 3),
                "dense": round(c.dense, 3),
                "typed": float(c.typed),
                "novelty": round(c.novelty, 3),
                "rank": c.rank,
                "hit_score": round(_hit_score(c), 3),
            }
        candidates.sort(key=lambda c: -c.score)
        return self._typed_first(candidates, kind)

    def _typed_first(self, candidates: list[Candidate], kind: QuestionType) -> list[Candidate]:
        """Move the best sentence stating the asked entity type to the front when it is nearly as likely as
        the best sentence (see ``Thresholds.typed_margin``)."""
        if kind == "other" or not candidates or candidates[0].typed:
            return candidates
        floor = candidates[0].score - self.thresholds.typed_margin
        for c in candidates[1:]:
            if c.score < floor:
                break
            if c.typed:
                return [c, *(o for o in candidates if o is not c)]
        return candidates

    @staticmethod
    def _score(c: Candidate, with_dense: bool, kind: QuestionType = "other") -> float:
        """Conditional-logit utility learned on 1,500 PIAF questions: a softmax over each question's candidate
        sentences, positives = sentences that contain a reference answer, L2 0.3. ``c.dense`` is the stretched
        cosine (0-1); the raw-cosine feature ``(cos - 0.80) / 0.05`` is ``5 * dense - 2`` for e5. The first pass
        imputes the PIAF mean (0.44); candidates left out of the dense pass keep 0 and sink."""
        dense = c.dense if with_dense else 0.44
        typed = float(c.typed) if kind != "other" else 0.0  # for "other", every sentence counts as typed
        return (
            0.165 * c.coverage
            + 3.251 * c.context_coverage
            + 3.009 * c.chunk_coverage
            + 1.503 * (5.0 * dense - 2.0)
            + 0.789 / (1 + c.rank)
            + 0.929 * typed
            + 0.779 * c.novelty
            + 0.187 * (math.log(max(c.end - c.start, 1)) - 5.0)
            + 0.716 * _hit_score(c)
        )

    def _vectors(self, candidates: list[Candidate], embed: bool = True) -> list[np.ndarray] | None:
        """The sentences' vectors: stored with the index (``RAG_SENTENCE_VECTORS``), else embedded here and
        remembered (or, without ``embed``, None)."""
        stored = [self.index.sentence_vector(c.hit.chunk, c.start, c.end) for c in candidates]
        if all(v is not None for v in stored):
            return [v for v in stored if v is not None]
        if not embed:
            return None
        keys = [(c.hit.document.id, c.start, c.end) for c in candidates]
        with self._lock:
            missing = [i for i, k in enumerate(keys) if stored[i] is None and k not in self._sentence_vectors]
        if missing:
            fresh = self.index.embedder.embed_passages([candidates[i].text for i in missing])
            with self._lock:
                for i, vec in zip(missing, fresh, strict=True):
                    self._sentence_vectors[keys[i]] = vec
                while len(self._sentence_vectors) > 20_000:
                    self._sentence_vectors.popitem(last=False)
        with self._lock:
            return [v if v is not None else self._sentence_vectors[k] for v, k in zip(stored, keys, strict=True)]

    def _verdict(self, best: Candidate | None, kind: QuestionType) -> str | None:
        """None when the evidence is strong enough, else the one-line reason to abstain."""
        if best is None:
            return None
        if best.score < self.thresholds.min_score:
            return "The best evidence is too weak to answer."
        if kind in self.thresholds.typed_kinds and not best.typed:
            return f"No retrieved sentence states the {kind} that the question asks for."
        return None

    def _select(self, candidates: list[Candidate], kind: QuestionType) -> list[Candidate]:
        """The best sentence, plus the next one (not overlapping it) when it is nearly as likely."""
        best = candidates[0]
        chosen = [best]
        for c in candidates[1:]:
            if len(chosen) == 2 or c.score < best.score - self.thresholds.second_gap:
                break
            if any(c.hit.document.id == o.hit.document.id and c.start < o.end and o.start < c.end for o in chosen):
                continue
            chosen.append(c)
        return chosen


# Where each embedder's question/sentence cosines live (e5's are famously compressed near the top).
DENSE_BANDS = {"e5": (0.70, 0.95), "sentence-transformers": (0.10, 0.80), "hashing": (0.0, 0.8)}


def _stretch(cosine: float, band: tuple[float, float] = DENSE_BANDS["e5"]) -> float:
    """Map an embedder's typical cosine band onto [0, 1], so that weights and thresholds carry over."""
    low, high = band
    return min(1.0, max(0.0, (cosine - low) / (high - low)))


def _hit_score(c: Candidate) -> float:
    """The chunk's fused score when both retrievers saw it (a z-score under the default fusion; RRF and
    min-max scores are small and weigh little); 0 for single-method searches."""
    return c.hit.score if {"dense", "lexical"} <= c.hit.stages.keys() else 0.0


def _compose(chosen: list[Candidate], kind: QuestionType, lang: str, trace: dict[str, Any] | None) -> Answer:
    """Order the chosen sentences as they appear, number the citations and check every quote."""
    conflict = False
    if kind in ("number", "date") and len(chosen) > 1:
        stated = [values(c.text, kind) for c in chosen]
        conflict = len({frozenset(v) for v in stated if v}) > 1 and all(c.typed for c in chosen)
    if not conflict:
        chosen = chosen[:2]
    citations: list[Citation] = []
    parts: list[str] = []
    for n, c in enumerate(chosen, 1):
        doc = c.hit.document
        quote = doc.text[c.start : c.end]
        citations.append(
            Citation(
                n=n,
                document_id=doc.id,
                chunk_id=c.hit.chunk.key,
                start=c.start,
                end=c.end,
                quote=quote,
                score=round(c.score, 4),
                title=doc.title,
                published_at=doc.metadata.get("published_at"),
            )
        )
        shown = quote if len(quote) <= MAX_SENTENCE_CHARS else quote[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + " …"
        parts.append(f"{' '.join(shown.split())} [{n}]")
    text = " ".join(parts)
    if conflict:
        text = f"{CONFLICT[lang]} {text}"
    verify_citations(citations, {c.hit.document.id: c.hit.document.text for c in chosen})
    return Answer(
        answer=text,
        answerable=True,
        citations=citations,
        mode="extractive",
        conflict=conflict,
        language=lang,
        debug=trace,
    )


def _see_also(hits: list[Hit]) -> list[SeeAlso]:
    return [
        SeeAlso(
            document_id=h.document.id,
            chunk_id=h.chunk.key,
            start=h.chunk.start,
            end=h.chunk.end,
            title=h.document.title,
            score=h.score,
            text=h.chunk.text,
        )
        for h in hits[:3]
    ]
