"""Approximate-index parameters derived from the data, shared by the vector stores. The figures behind them come
from ``bench/faiss_scale.py`` (recall@10 against exact search on embedding-like vectors)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HnswParams:
    """An HNSW graph's shape (``m``, ``ef_construction``) and search breadth (``ef_search``, 0: by size)."""

    m: int = 64
    ef_construction: int = 128
    ef_search: int = 0


DEFAULT_HNSW = HnswParams()


def auto_ef_search(n: int) -> int:
    """HNSW candidates per search for a graph of ``n`` vectors (M 64, efConstruction 128). Keeping recall@10 at
    0.95 costs an ef that grows with the graph (``bench/faiss_scale.py``, embedding-like vectors): 64 reach 0.956
    at 100k, 192 reach 0.970 at 300k, 384 reach 0.955 and 512 0.968 at 1M. This follows them with a margin:
    96·(n/100k)^0.73, rounded up to a multiple of 16, at least 64 (96 at 100k, 224 at 300k, 528 at 1M)."""
    ef = 96 * (max(n, 1) / 100_000) ** 0.73
    return int(min(4096, max(64, -(-ef // 16) * 16)))


def auto_nlist(n: int) -> int:
    """IVF lists for ``n`` vectors: the power of two nearest 4·√n (FAISS's guideline is 4·√n to 16·√n)."""
    return int(2 ** round(np.log2(max(1.0, 4 * np.sqrt(n)))))


def auto_nprobe(nlist: int) -> int:
    """IVF lists visited per search: a quarter of them. On embedding-like vectors the coarse quantizer, not the
    PQ codes, bounds recall: at 100k vectors (1,024 lists, rerank 20×) 64 lists give recall@10 0.90, 128 0.95,
    256 0.98 (``bench/faiss_scale.py``)."""
    return max(1, nlist // 4)


def auto_pq_m(dim: int, target: int = 0) -> int:
    """PQ sub-quantizers: the largest divisor of ``dim`` not above ``target`` (default ``dim / 4``: 4 dims a byte;
    with 8 dims a byte the codes alone cap recall@10 near 0.85 on e5-like vectors, whatever the rerank)."""
    target = max(1, min(dim, target or dim // 4))
    return max(m for m in range(1, target + 1) if dim % m == 0)
