"""Fusion strategies, chosen by name (``RAG_FUSION``) from :data:`FUSIONS`; every one sees the same inputs.

* ``zscore`` (default): every candidate of any list is scored exactly by every generator, each stage's scores
  are z-normalised over the candidates, then combined with the stage weights.
* ``rrf``: weighted reciprocal-rank fusion, ``sum_i w_i / (k + rank_i)``.
* ``convex``: ``sum_i w_i * minmax_i(score)`` over the union (a missing stage counts 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from index.protocols import ScoredIds
from rag.registry import Registry
from rag.search.protocols import CandidateGenerator, Fused, Fusion, Query
from rag.settings import Settings


def _by_score(fused: dict[int, Fused] | list[Fused]) -> list[Fused]:
    items = fused.values() if isinstance(fused, dict) else fused
    return sorted(items, key=lambda f: (-f.score, f.id))


class RRFFusion:
    """Weighted reciprocal-rank fusion: ``sum_i w_i / (k + rank_i)``, best first."""

    name = "rrf"

    def __init__(self, weights: dict[str, float], k: int = 60) -> None:
        self.weights = weights
        self.k = k

    def fuse(self, query: Query, lists: dict[str, ScoredIds], generators: dict[str, CandidateGenerator]) -> list[Fused]:
        """Ranks only: the raw scores are kept in each candidate's stages."""
        fused: dict[int, Fused] = {}
        for stage, hits in lists.items():
            weight = self.weights.get(stage, 1.0)
            for rank, (cid, score) in enumerate(hits, 1):
                item = fused.setdefault(cid, Fused(cid, 0.0))
                item.score += weight / (self.k + rank)
                item.stages[stage] = {"rank": rank, "score": score}
        return _by_score(fused)


class ConvexFusion:
    """``sum_i w_i * minmax_i(score)`` over the union of candidates (a missing stage counts 0), best first."""

    name = "convex"

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = weights

    def fuse(self, query: Query, lists: dict[str, ScoredIds], generators: dict[str, CandidateGenerator]) -> list[Fused]:
        """Min-max normalises each list's own scores."""
        fused: dict[int, Fused] = {}
        total = sum(self.weights.get(stage, 1.0) for stage in lists) or 1.0
        for stage, hits in lists.items():
            if not hits:
                continue
            weight = self.weights.get(stage, 1.0) / total
            scores = [s for _, s in hits]
            low, high = min(scores), max(scores)
            spread = high - low
            for rank, (cid, score) in enumerate(hits, 1):
                item = fused.setdefault(cid, Fused(cid, 0.0))
                item.score += weight * ((score - low) / spread if spread > 0 else 1.0)
                item.stages[stage] = {"rank": rank, "score": score}
        return _by_score(fused)


class ZScoreFusion:
    """Convex combination of z-scored stage scores over the union of the candidate lists, each candidate scored
    exactly by every generator (a chunk missing from one list still has that stage's score)."""

    name = "zscore"

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = weights

    def fuse(self, query: Query, lists: dict[str, ScoredIds], generators: dict[str, CandidateGenerator]) -> list[Fused]:
        """Rescores the union with every generator, then z-normalises each stage."""
        union = list(dict.fromkeys(cid for hits in lists.values() for cid, _ in hits))
        if not union:
            return []
        ids = np.array(union, dtype=np.int64)
        scores = {stage: generators[stage].score(query, ids) for stage in lists}
        total = sum(self.weights.get(stage, 1.0) for stage in scores) or 1.0
        fused_scores = np.zeros(len(ids))
        for stage, values in scores.items():
            std = float(values.std())
            if std > 0:
                fused_scores += self.weights.get(stage, 1.0) / total * (values - values.mean()) / std
        ranks = {stage: {cid: rank for rank, (cid, _) in enumerate(hits, 1)} for stage, hits in lists.items()}
        out = []
        for i, cid in enumerate(union):
            stages = {stage: {"rank": ranks[stage].get(cid, 0), "score": float(scores[stage][i])} for stage in scores}
            out.append(Fused(cid, float(fused_scores[i]), stages))
        return _by_score(out)


def single(stage: str, hits: ScoredIds) -> list[Fused]:
    """One generator's list in the fused shape (nothing to fuse: its own scores stand)."""
    return [Fused(cid, score, {stage: {"rank": rank, "score": score}}) for rank, (cid, score) in enumerate(hits, 1)]


def _weights(s: Settings) -> dict[str, float]:
    return {"dense": s.dense_weight, "lexical": s.lexical_weight}


FUSIONS: Registry[Callable[[Settings], Fusion]] = Registry(
    "fusion",
    {
        "zscore": lambda s: ZScoreFusion(_weights(s)),
        "rrf": lambda s: RRFFusion(_weights(s), s.rrf_k),
        "convex": lambda s: ConvexFusion(_weights(s)),
    },
)


def get_fusion(name: str, settings: Settings) -> Fusion:
    """The fusion strategy registered under ``name``, configured from the settings."""
    return FUSIONS.get(name)(settings)
