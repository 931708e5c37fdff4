"""Full-precision vectors by int64 id, kept beside a compressed index (IVF-PQ) for exact rescoring.

Rows read from a generation stay memory-mapped (read-only; the kernel pages them in on demand and may drop
them again), rows added since live in memory. Removed rows are masked and left out when the store is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from index.errors import IndexCorruptError

IDS_FILE = "vectors.ids.npy"
VECTORS_FILE = "vectors.f32.npy"
_BLOCK = 65_536


class RawVectors:
    """An append-only table of (id, float32 vector) rows with removal masks and id lookup."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._base_ids = np.zeros(0, dtype=np.int64)
        self._base: np.ndarray = np.zeros((0, dim), dtype=np.float32)
        self._tail_ids: list[np.ndarray] = []
        self._tail: list[np.ndarray] = []
        self._alive_parts: list[np.ndarray] = []
        self._live = 0
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self._live

    @property
    def _alive(self) -> np.ndarray:
        if len(self._alive_parts) != 1:
            self._alive_parts = [np.concatenate([np.zeros(0, dtype=bool), *self._alive_parts])]
        return self._alive_parts[0]

    def _tail_block(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._tail) > 1:
            self._tail_ids = [np.concatenate(self._tail_ids)]
            self._tail = [np.concatenate(self._tail)]
        if not self._tail:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        return self._tail_ids[0], self._tail[0]

    def _all_ids(self) -> np.ndarray:
        return np.concatenate([self._base_ids, self._tail_block()[0]])

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._lookup is None:
            ids = self._all_ids()
            rows = np.flatnonzero(self._alive)
            live = ids[rows]
            order = np.argsort(live, kind="stable")
            self._lookup = (live[order], rows[order])
        return self._lookup

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Append rows under ids that are not live yet (the caller checks: this is the hot path of a build)."""
        if not len(ids):
            return
        self._tail_ids.append(np.array(ids, dtype=np.int64))
        self._tail.append(np.array(vectors, dtype=np.float32))
        self._alive_parts.append(np.ones(len(ids), dtype=bool))
        self._live += len(ids)
        self._lookup = None

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which ids are live."""
        keys, _ = self._sorted()
        ids = np.asarray(ids, dtype=np.int64)
        if not len(keys):
            return np.zeros(len(ids), dtype=bool)
        at = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        return keys[at] == ids

    def _rows_of(self, ids: np.ndarray) -> np.ndarray:
        keys, rows = self._sorted()
        ids = np.asarray(ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(keys, ids), max(len(keys) - 1, 0))
        if not len(keys) or not np.array_equal(keys[at], ids):
            raise KeyError("unknown or removed ids")
        return rows[at]

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of live ``ids``, in the order given (KeyError for an unknown id)."""
        rows = self._rows_of(ids)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        nbase = len(self._base_ids)
        in_base = rows < nbase
        if in_base.any():
            order = np.argsort(rows[in_base])  # sorted reads are kinder to a memory map
            picked = rows[in_base][order]
            dest = np.flatnonzero(in_base)[order]
            out[dest] = self._base[picked]
        if (~in_base).any():
            out[~in_base] = self._tail_block()[1][rows[~in_base] - nbase]
        return out

    def remove(self, ids: np.ndarray) -> int:
        """Mask the live ones among ``ids``; returns how many."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        live = ids[self.contains(ids)]
        if not len(live):
            return 0
        self._alive[self._rows_of(live)] = False
        self._live -= len(live)
        self._lookup = None
        return len(live)

    def ids(self) -> np.ndarray:
        """Every live id, in insertion order."""
        return self._all_ids()[self._alive]

    def blocks(self, size: int = _BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Live (ids, vectors) in insertion order, ``size`` rows at a time (bounded memory over a memory map)."""
        segments = [(self._base_ids, self._base, 0), (*self._tail_block(), len(self._base_ids))]
        for ids, vectors, offset in segments:
            for start in range(0, len(ids), size):
                keep = self._alive[offset + start : offset + start + size]
                yield ids[start : start + size][keep], np.asarray(vectors[start : start + size][keep])

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Up to ``n`` live vectors drawn at random (in row order), for training a quantizer."""
        _, rows = self._sorted()
        if n < len(rows):
            rows = np.random.default_rng(seed).choice(rows, size=n, replace=False)
        rows = np.sort(rows)
        nbase = len(self._base_ids)
        tail = self._tail_block()[1]
        return np.concatenate([self._base[rows[rows < nbase]], tail[rows[rows >= nbase] - nbase]]).astype(np.float32)

    def save(self, directory: Path) -> list[str]:
        """Write the live rows as two ``.npy`` files (no pickle), streaming block by block."""
        np.save(directory / IDS_FILE, self.ids(), allow_pickle=False)
        out = np.lib.format.open_memmap(
            directory / VECTORS_FILE, mode="w+", dtype=np.float32, shape=(self._live, self.dim)
        )
        at = 0
        for _, vectors in self.blocks():
            out[at : at + len(vectors)] = vectors
            at += len(vectors)
        out.flush()
        del out
        return [IDS_FILE, VECTORS_FILE]

    @classmethod
    def load(cls, directory: Path, dim: int) -> RawVectors:
        """Open the files written by :meth:`save`; the vectors stay memory-mapped."""
        try:
            ids = np.load(directory / IDS_FILE, allow_pickle=False)
            vectors = np.load(directory / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"cannot read the full-precision vectors in {directory}: {exc}") from exc
        if ids.dtype != np.int64 or vectors.dtype != np.float32 or vectors.shape != (len(ids), dim):
            raise IndexCorruptError(f"{directory}: full-precision vectors do not match their ids or dimension {dim}")
        raw = cls(dim)
        raw._base_ids, raw._base = ids, vectors
        raw._alive_parts = [np.ones(len(ids), dtype=bool)]
        raw._live = len(ids)
        return raw
