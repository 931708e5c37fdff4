"""The search pipeline: validate → embed → generate candidates → fuse → filter → rerank.

Each stage is a small object behind a Protocol (:mod:`rag.search.protocols`): generators by method, the
fusion by name (:data:`rag.search.fusion.FUSIONS`), rerankers in order. Embedding the query happens before the
index snapshot is taken and reranking after it is released, so neither holds writers back.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.errors import InvalidQueryError
from rag.filters import Filters
from rag.models import Hit
from rag.search.checks import checked_text
from rag.search.fusion import get_fusion, single
from rag.search.generators import DenseGenerator, LexicalGenerator
from rag.search.protocols import CandidateGenerator, Fusion, Query, Reranker, SearchableIndex
from rag.settings import Method, Settings

METHOD_STAGES: dict[str, tuple[str, ...]] = {
    "hybrid": ("dense", "lexical"),
    "dense": ("dense",),
    "lexical": ("lexical",),
}
"""Which candidate generators each search method runs."""


class SearchPipeline:
    """Runs a query through the stages against one index; cheap to build, holds no per-query state."""

    def __init__(
        self,
        index: SearchableIndex,
        settings: Settings,
        *,
        fusion: Fusion | None = None,
        rerankers: Sequence[Reranker] = (),
    ) -> None:
        self.index = index
        self.settings = settings
        self.generators: dict[str, CandidateGenerator] = {
            "dense": DenseGenerator(index),
            "lexical": LexicalGenerator(index),
        }
        self.fusion = fusion or get_fusion(settings.fusion, settings)
        self.rerankers = list(rerankers)

    def prepare(self, text: str) -> Query:
        """The validated query (clear 4xx-worthy errors for empty, overlong or stopword-only queries)."""
        text = checked_text(text)
        terms = self.index.analyzer(text)
        if not terms:
            raise InvalidQueryError("the query has only stopwords or punctuation: nothing to search for")
        return Query(text, terms, self.index.embed_query)

    def run(
        self,
        text: str,
        *,
        top_k: int | None = None,
        method: Method | None = None,
        filters: Filters | None = None,
        rerank: bool = True,
    ) -> list[Hit]:
        """The ``top_k`` best hits for ``text``; each carries its per-stage ranks and scores."""
        k = top_k or self.settings.top_k
        query = self.prepare(text)
        stages = METHOD_STAGES[method or self.settings.method]
        index = self.index
        index.warm_up()
        index.refresh()  # another process may have published a newer generation
        if "dense" in stages:
            query.vector()  # outside the snapshot: embedding is the slow part and must not stall writers
        rerankers = self.rerankers if rerank else []
        depth = max(k, *(r.depth for r in rerankers)) if rerankers else k
        with index.snapshot() as version:
            index.remember_version(version)
            allowed = index.allowed_ids(filters)
            fetch = max(depth, self.settings.candidates)
            lists = {name: self.generators[name].candidates(query, fetch, allowed) for name in stages}
            if len(lists) == 1:
                fused = single(*next(iter(lists.items())))
            else:
                fused = self.fusion.fuse(query, lists, self.generators)
            hits = index.hits(fused[:depth], filters)
        for reranker in rerankers:
            hits = reranker.rerank(query.text, hits)
        return hits[:k]
