"""Ranking metrics over document ids (binary relevance)."""

from __future__ import annotations

import math
from collections.abc import Sequence


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
