"""Rerankers: pipeline stages that reorder the fused hits (``RAG_RERANK_DEPTH`` hits, then the top k)."""

from __future__ import annotations

from dataclasses import replace

from rag.models import Hit
from rag.reader.protocol import Reader


class ReaderReranker:
    """Orders hits by the reader's relevance head (does this passage answer the question?), ties by the fused
    order. Each hit's score becomes that relevance; its stages gain ``reader`` (1-based rank and relevance). The
    readings are cached by the reader, so the answerer does not read the same passages again."""

    name = "reader"

    def __init__(self, reader: Reader, depth: int) -> None:
        self.reader = reader
        self.depth = depth

    def rerank(self, question: str, hits: list[Hit]) -> list[Hit]:
        """The hits reordered by relevance."""
        if not hits:
            return hits
        readings = self.reader.read(question, [h.chunk.text for h in hits])
        order = sorted(range(len(hits)), key=lambda i: (-readings[i].relevance, i))
        out = []
        for rank, i in enumerate(order, 1):
            relevance = float(readings[i].relevance)
            stages = {**hits[i].stages, "reader": {"rank": rank, "score": relevance}}
            out.append(replace(hits[i], score=relevance, stages=stages))
        return out
