"""The embedder protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors. Construction is cheap; :meth:`warm_up` loads the model.

    ``fingerprint`` names the model exactly (an index records it and refuses another one).
    """

    name: str

    @property
    def dim(self) -> int:
        """Vector dimension (known once warmed up for models that declare it in their files)."""

    @property
    def fingerprint(self) -> str: ...

    def warm_up(self) -> None:
        """Load the model once (idempotent)."""

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row of norm 1."""

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32 of norm 1."""
