"""Evaluation metrics: ranking metrics over ids (binary relevance), span-level retrieval against evidence,
answer matching (containment, SQuAD-style token F1 / exact match), citations, abstention and percentiles."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


def dedupe(ranked: Sequence[str]) -> list[str]:
    """Keep each id at its best rank (several chunks of one document count once)."""
    seen: set[str] = set()
    return [x for x in ranked if not (x in seen or seen.add(x))]  # type: ignore[func-returns-value]


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of relevant ids found in the first ``k``."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & relevant) / len(relevant)


def mrr_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Reciprocal rank of the first relevant id within ``k`` (0 if none)."""
    for rank, x in enumerate(ranked[:k], 1):
        if x in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-gain nDCG@k."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, x in enumerate(ranked[:k], 1) if x in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal if ideal else 0.0


def retrieval_metrics(ranked: Sequence[str], relevant: set[str]) -> dict[str, float]:
    """nDCG@10, R@1/5/10 and MRR@10 of one ranking."""
    ranked = dedupe(ranked)
    return {
        "ndcg@10": ndcg_at(ranked, relevant, 10),
        "r@1": recall_at(ranked, relevant, 1),
        "r@5": recall_at(ranked, relevant, 5),
        "r@10": recall_at(ranked, relevant, 10),
        "mrr@10": mrr_at(ranked, relevant, 10),
    }


def mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Average each metric over queries."""
    if not rows:
        return {}
    return {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}


def normalize_answer(text: str) -> str:
    """Case-, accent- and apostrophe-insensitive form with collapsed whitespace, for answer matching."""
    from rag.analyzer import fold

    return " ".join(fold(text).split())


def contains_answer(answer: str, accepted: Sequence[str], required: Sequence[str] = ()) -> bool:
    """Whether ``answer`` contains every ``required`` string, or else at least one ``accepted`` string."""
    text = normalize_answer(answer)
    if required:
        return all(normalize_answer(r) in text for r in required)
    return any(normalize_answer(a) in text for a in accepted)


# -- span-level retrieval ----------------------------------------------------------------------------

EVIDENCE_SHARE = 0.5
"""A retrieved chunk finds an evidence span when it covers at least this share of the evidence."""


@dataclass(frozen=True)
class SpanRef:
    """A half-open character range ``[start, end)`` of one document."""

    document_id: str
    start: int
    end: int


def locate_evidence(text: str, evidence: str, document_id: str) -> SpanRef | None:
    """The evidence's span in ``text`` (first occurrence, ``str.find``), or ``None`` when absent or empty."""
    if not evidence:
        return None
    start = text.find(evidence)
    return SpanRef(document_id, start, start + len(evidence)) if start >= 0 else None


def overlap(a: SpanRef, b: SpanRef) -> int:
    """Characters shared by two spans (0 when they are in different documents or disjoint)."""
    if a.document_id != b.document_id:
        return 0
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def covers_evidence(chunk: SpanRef, evidence: SpanRef, share: float = EVIDENCE_SHARE) -> bool:
    """Whether ``chunk`` overlaps at least ``share`` of ``evidence`` (an empty evidence is never covered)."""
    length = evidence.end - evidence.start
    return length > 0 and overlap(chunk, evidence) >= share * length


def evidence_labels(ranked: Sequence[SpanRef], evidence: Sequence[SpanRef]) -> list[str]:
    """Map a ranking of chunks to labels for the id-based metrics above.

    Each evidence span is one relevant item (``"e0"``, ``"e1"``…). A chunk takes the label of the first
    evidence it covers that no better-ranked chunk has taken yet; any other chunk gets a unique miss label,
    so a relevant item counts once, at its best rank."""
    taken: set[int] = set()
    labels: list[str] = []
    for rank, chunk in enumerate(ranked):
        label = f"miss{rank}"
        for i, ev in enumerate(evidence):
            if i not in taken and covers_evidence(chunk, ev):
                taken.add(i)
                label = f"e{i}"
                break
        labels.append(label)
    return labels


def span_retrieval_metrics(ranked: Sequence[SpanRef], evidence: Sequence[SpanRef]) -> dict[str, float]:
    """nDCG@10, R@1/5/10 and MRR@10 of ranked chunk spans against evidence spans (each one relevant item)."""
    labels = evidence_labels(ranked, evidence)
    return retrieval_metrics(labels, {f"e{i}" for i in range(len(evidence))})


# -- answers -----------------------------------------------------------------------------------------

_MARKER = re.compile(r"\[\d+\]")
_TOKEN = re.compile(r"\w+")
ARTICLES: frozenset[str] = frozenset({"le", "la", "les", "l", "un", "une", "des", "du", "de", "d", "the", "a", "an"})
"""Dropped before token F1 / exact match (SQuAD drops English articles; FQuAD-style French ones here)."""


def answer_tokens(text: str) -> list[str]:
    """SQuAD-style tokens: ``[n]`` markers removed, case/accent/apostrophe folded (``normalize_answer``),
    punctuation dropped, articles dropped."""
    folded = normalize_answer(_MARKER.sub(" ", text))
    return [t for t in _TOKEN.findall(folded) if t not in ARTICLES]


def token_f1(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """Bag-of-tokens F1 between two token lists (SQuAD); 1.0 when both are empty, 0.0 when one is."""
    if not prediction or not reference:
        return float(not prediction and not reference)
    common = sum((Counter(prediction) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(prediction), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def shortest_span(answer: str, reference: str) -> tuple[list[str], float]:
    """The shortest answer span for ``reference``: among the contiguous token windows of the answer whose
    length is the reference's ±50 % (at least one token), the one with the best F1 (the shortest on ties,
    then the first). Returns the window and its F1. An answer shorter than the window is taken whole."""
    tokens, ref = answer_tokens(answer), answer_tokens(reference)
    if not tokens or not ref:
        return tokens, token_f1(tokens, ref)
    low = max(1, math.floor(len(ref) * 0.5))
    high = max(low, math.ceil(len(ref) * 1.5))
    best: tuple[list[str], float] = ([], -1.0)
    for size in range(low, min(high, len(tokens)) + 1):
        for i in range(len(tokens) - size + 1):
            window = tokens[i : i + size]
            f1 = token_f1(window, ref)
            if f1 > best[1]:
                best = (window, f1)
    if best[1] < 0:  # the answer has fewer tokens than the smallest window
        return tokens, token_f1(tokens, ref)
    return best


def squad_scores(answer: str, references: Sequence[str]) -> tuple[float, float]:
    """``(F1, EM)`` of the answer's shortest span, each the best over the references (0, 0 without any)."""
    f1 = em = 0.0
    for reference in references:
        window, score = shortest_span(answer, reference)
        f1 = max(f1, score)
        em = max(em, float(window == answer_tokens(reference) and bool(window)))
    return f1, em


def span_scores(answer: str, references: Sequence[str]) -> tuple[float, float]:
    """``(F1, EM)`` of the whole answer (``[n]`` markers removed) against the best reference: SQuAD's own
    measure, for answers that are short spans rather than sentences."""
    tokens = answer_tokens(answer)
    f1 = max((token_f1(tokens, answer_tokens(r)) for r in references), default=0.0)
    em = max((float(bool(tokens) and tokens == answer_tokens(r)) for r in references), default=0.0)
    return f1, em


def citation_precision(citations: Sequence[SpanRef], evidence: Sequence[SpanRef]) -> tuple[int, int]:
    """``(precise, total)``: how many citations overlap (by at least one character) an evidence span."""
    precise = sum(1 for c in citations if any(overlap(c, ev) > 0 for ev in evidence))
    return precise, len(citations)


def abstention_scores(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> dict[str, float | None]:
    """Precision and recall of abstaining (positive: abstained; relevant: unanswerable). ``None`` when the
    ratio is undefined (no abstention, or no unanswerable question)."""
    tp = sum(1 for a, u in zip(abstained, unanswerable, strict=True) if a and u)
    predicted, relevant = sum(abstained), sum(unanswerable)
    return {
        "abstention_precision": tp / predicted if predicted else None,
        "abstention_recall": tp / relevant if relevant else None,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation between closest ranks; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lower = math.floor(pos)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (pos - lower)
