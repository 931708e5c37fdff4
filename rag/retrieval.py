"""Fusion of ranked lists: reciprocal-rank fusion or a convex combination of min-max normalised scores."""

from __future__ import annotations

from dataclasses import dataclass, field

from index.protocols import ScoredIds


@dataclass
class Fused:
    """A fused candidate: its score and, per stage, its 1-based rank and raw score."""

    id: int
    score: float
    stages: dict[str, dict[str, float]] = field(default_factory=dict)


def rrf(lists: dict[str, ScoredIds], weights: dict[str, float], k: int = 60) -> list[Fused]:
    """Weighted reciprocal-rank fusion: ``sum_i w_i / (k + rank_i)``, best first."""
    fused: dict[int, Fused] = {}
    for stage, hits in lists.items():
        weight = weights.get(stage, 1.0)
        for rank, (cid, score) in enumerate(hits, 1):
            item = fused.setdefault(cid, Fused(cid, 0.0))
            item.score += weight / (k + rank)
            item.stages[stage] = {"rank": rank, "score": score}
    return sorted(fused.values(), key=lambda f: (-f.score, f.id))


def convex(lists: dict[str, ScoredIds], weights: dict[str, float]) -> list[Fused]:
    """``sum_i w_i * minmax_i(score)`` over the union of candidates (a missing stage counts 0), best first."""
    fused: dict[int, Fused] = {}
    total = sum(weights.get(stage, 1.0) for stage in lists) or 1.0
    for stage, hits in lists.items():
        if not hits:
            continue
        weight = weights.get(stage, 1.0) / total
        scores = [s for _, s in hits]
        low, high = min(scores), max(scores)
        spread = high - low
        for rank, (cid, score) in enumerate(hits, 1):
            item = fused.setdefault(cid, Fused(cid, 0.0))
            item.score += weight * ((score - low) / spread if spread > 0 else 1.0)
            item.stages[stage] = {"rank": rank, "score": score}
    return sorted(fused.values(), key=lambda f: (-f.score, f.id))


def single(stage: str, hits: ScoredIds) -> list[Fused]:
    """One retriever's list in the fused shape."""
    return [Fused(cid, score, {stage: {"rank": rank, "score": score}}) for rank, (cid, score) in enumerate(hits, 1)]
