"""The pluggable stores. Ids are the int64 chunk ids that the index assigns."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

ScoredIds = list[tuple[int, float]]


@runtime_checkable
class VectorStore(Protocol):
    """Inner-product search over L2-normalised vectors, addressed by int64 ids."""

    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ids that are not in the store yet."""

    def remove(self, ids: Sequence[int]) -> int:
        """Remove ids (unknown ids are ignored); returns how many were removed."""

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> ScoredIds:
        """The ``k`` best (id, score) pairs, best first, restricted to ``allowed`` ids when given."""

    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact scores of the given live ids for the query, in the order given."""

    def save(self, directory: Path) -> list[str]:
        """Write the store's files into ``directory``; returns their names."""

    def load(self, directory: Path) -> None:
        """Replace the contents with what :meth:`save` wrote into ``directory``."""

    def info(self) -> dict[str, Any]:
        """Parameters worth recording in the manifest (``backend`` and ``kind`` first)."""


@runtime_checkable
class LexicalIndex(Protocol):
    """Ranked keyword search over analysed terms, addressed by int64 ids."""

    def __len__(self) -> int: ...

    def add(self, ids: Sequence[int], terms: Sequence[list[str]]) -> None:
        """Index each id's terms (ids not in the index yet)."""

    def remove(self, ids: Sequence[int]) -> int:
        """Remove ids (unknown ids are ignored); returns how many were removed."""

    def search(self, terms: list[str], k: int, allowed: np.ndarray | None = None) -> ScoredIds:
        """The ``k`` best (id, score) pairs with a positive score, best first."""

    def score(self, terms: list[str], ids: np.ndarray) -> np.ndarray:
        """Scores of the given ids for the terms, in the order given (0 when nothing matches)."""

    def idf(self, term: str) -> float:
        """The term's inverse document frequency (rare terms weigh more; unknown terms weigh most)."""

    def terms(self, chunk_id: int) -> list[str]:
        """The analysed terms stored for an id (empty when unknown)."""

    def save(self, directory: Path) -> list[str]:
        """Write the index's files into ``directory``; returns their names."""

    def load(self, directory: Path) -> None:
        """Replace the contents with the files :meth:`save` wrote in ``directory``."""

    def info(self) -> dict[str, Any]:
        """Parameters worth recording in the manifest."""
