"""FAISS vector store: exact inner-product search while small, an approximate index once it grows past a threshold.

The approximate index is HNSW (fastest; keeps the float32 vectors in memory) or IVF-PQ (for memory: product-quantized
codes in memory, the float32 vectors memory-mapped from disk for exact rescoring). ``bench/faiss_scale.py`` measures
both against exact search at 10k, 100k and 1M vectors; the defaults come from there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from index.ann_params import DEFAULT_HNSW, HnswParams, auto_nlist, auto_nprobe, auto_pq_m
from index.base_store import VectorStoreBase
from index.errors import IndexCorruptError
from index.protocols import ScoredIds
from index.raw_vectors import IDS_FILE, RawVectors

VECTORS_FILE = "vectors.faiss"
TOMBSTONES_FILE = "vectors.deleted.npy"
IVF_FILE = "vectors.ivfpq.json"
Approximate = Literal["hnsw", "ivfpq"]
EXACT_FILTER_MAX = 4096
"""A filter that leaves at most this many ids is searched exactly: a graph or IVF search with a selector this
selective can come back short."""
RETRAIN_GROWTH = 4
"""IVF-PQ is rebuilt (more lists, a bigger training sample) once the store holds this many times the vectors it
held at the last build: geometric growth keeps the total rebuild cost within a constant factor of one build."""


class FaissVectorStore(VectorStoreBase):
    """FAISS index over normalised vectors (inner product = cosine), addressed by int64 ids.

    Up to ``exact_max`` vectors the search is exact (``IndexFlatIP``). Past it the store moves to the
    ``approximate`` kind:

    * ``hnsw``: ``IndexHNSWFlat``. HNSW cannot delete, so removed ids become tombstones that searches skip,
      and the graph is rebuilt from its own stored vectors once a fifth of it is dead.
    * ``ivfpq``: ``IndexIVFPQ`` trained on a sample of at most ``train_size`` stored vectors (retrained as the
      store grows), searched over ``ivf_nprobe`` lists; the best ``rerank`` × k candidates are rescored
      exactly from the full-precision vectors, which stay on disk, memory-mapped.

    Parameters left at 0 are derived from the data (``index.ann_params``: ``ef_search`` from the current size,
    ``ivf_nlist``, ``ivf_nprobe``, ``pq_m``); whatever was used is reported by :meth:`info` and recorded in the
    manifest.
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_max: int = 50_000,
        approximate: Approximate = "hnsw",
        hnsw: HnswParams = DEFAULT_HNSW,
        ivf_nlist: int = 0,
        ivf_nprobe: int = 0,
        pq_m: int = 0,
        pq_bits: int = 8,
        rerank: int = 20,
        train_size: int = 100_000,
        seed: int = 0,
    ) -> None:
        if approximate not in ("hnsw", "ivfpq"):
            raise ValueError(f"unknown approximate index {approximate!r} (hnsw or ivfpq)")
        self.dim = dim
        self.exact_max = exact_max
        self.approximate_kind: Approximate = approximate
        self._hnsw(hnsw)
        self.ivf_nlist = ivf_nlist
        self.ivf_nprobe = ivf_nprobe
        self.pq_m = pq_m
        self.pq_bits = pq_bits
        self.rerank = max(1, rerank)
        self.train_size = train_size
        self.seed = seed
        self._index: Any = self._empty(approximate=False)
        self._dead: set[int] = set()
        self._raw: RawVectors | None = None
        self._trained_on = 0
        self._built_at = 0
        self._live_ids: np.ndarray | None = None

    @property
    def nprobe(self) -> int:
        """IVF lists visited per search: ``ivf_nprobe``, or :func:`auto_nprobe` of the trained index when 0."""
        return self.ivf_nprobe or auto_nprobe(int(getattr(self._index, "nlist", 1)))

    @property
    def kind(self) -> str:
        """``flat``, ``hnsw`` or ``ivfpq``: the index in use now."""
        if isinstance(self._index, faiss.IndexIVFPQ):
            return "ivfpq"
        return "hnsw" if isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSWFlat) else "flat"

    @property
    def approximate(self) -> bool:
        """Whether the current index is approximate (HNSW or IVF-PQ)."""
        return self.kind != "flat"

    def _empty(self, approximate: bool) -> faiss.IndexIDMap2:
        inner: Any
        if approximate:
            inner = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.ef_construction
        else:
            inner = faiss.IndexFlatIP(self.dim)
        return faiss.IndexIDMap2(inner)

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self._dead)

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        if self._raw is not None:
            blocks = list(self._raw.blocks())
            if not blocks:
                return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
            return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])
        n = int(self._index.ntotal)
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        vectors = self._index.index.reconstruct_n(0, n) if n else np.zeros((0, self.dim), np.float32)
        if self._dead:
            keep = ~np.isin(ids, np.fromiter(self._dead, np.int64))
            ids, vectors = ids[keep], vectors[keep]
        return ids, vectors

    def _rebuild(self, approximate: bool) -> None:
        ids, vectors = self._all()
        self._index = self._empty(approximate)
        self._dead.clear()
        if len(ids):
            self._index.add_with_ids(vectors, ids)

    def _to_ivfpq(self) -> None:
        """Move every live vector into the full-precision table, then build the IVF-PQ index over it."""
        ids, vectors = self._all()
        self._raw = RawVectors(self.dim)
        self._raw.add(ids, vectors)
        self._dead.clear()
        self._build_ivf()

    def _build_ivf(self) -> None:
        """Train IVF-PQ on a sample of the stored vectors and add them all (the parameters adapt to small data)."""
        assert self._raw is not None
        sample = self._raw.sample(self.train_size, self.seed)
        n = len(sample)
        nlist = max(1, min(self.ivf_nlist or auto_nlist(len(self._raw)), n // 39 or 1))
        # Fewer code bits on small samples: k-means wants ~39 points per centroid (tiny stores rely on the rerank).
        bits = max(1, min(self.pq_bits, int(np.log2(max(n / 39, 2)))))
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFPQ(
            quantizer, self.dim, nlist, auto_pq_m(self.dim, self.pq_m), bits, faiss.METRIC_INNER_PRODUCT
        )
        for cp in (index.cp, index.pq.cp):
            cp.seed = self.seed
            cp.min_points_per_centroid = 1  # the sizes above are chosen for it; no warning on tiny stores
        index.cp.spherical = True  # unit centroids: assignment by inner product is then by cosine, lists balance
        if n:
            index.train(sample)
        for ids, vectors in self._raw.blocks():
            index.add_with_ids(np.ascontiguousarray(vectors), ids)
        self._index = index
        index.nprobe = self.nprobe
        self._trained_on = n
        self._built_at = len(self._raw)

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Moves to the approximate index past the threshold."""
        self._live_ids = None
        if not self.approximate and len(self) + len(ids) > self.exact_max:
            if self.approximate_kind == "ivfpq":
                self._index.add_with_ids(vectors, ids)
                self._to_ivfpq()
                return
            self._rebuild(approximate=True)
        if self._raw is not None:
            self._raw.add(ids, vectors)
            if len(self._raw) >= RETRAIN_GROWTH * max(self._built_at, 1):
                self._build_ivf()
                return
        self._index.add_with_ids(vectors, ids)

    def _remove(self, arr: np.ndarray) -> int:
        """Exact and IVF-PQ indexes delete in place, HNSW marks tombstones."""
        self._live_ids = None
        if self._raw is not None:
            removed = self._raw.remove(arr)
            if removed:
                self._index.remove_ids(faiss.IDSelectorBatch(arr))
            return removed
        if not self.approximate:
            return int(self._index.remove_ids(arr))
        known = set(faiss.vector_to_array(self._index.id_map).tolist())
        fresh = {int(i) for i in arr if int(i) in known and int(i) not in self._dead}
        self._dead |= fresh
        if len(self._dead) * 5 > self._index.ntotal:
            self._rebuild(approximate=len(self) > self.exact_max)
        return len(fresh)

    def _search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> ScoredIds:
        q = query.reshape(1, self.dim)
        selector = None
        if allowed is not None:
            if self.approximate and len(allowed) <= EXACT_FILTER_MAX:
                return self._exact_among(q[0], np.asarray(allowed, dtype=np.int64), k)
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        kind = self.kind
        if kind == "ivfpq":
            fetch = min(max(k * self.rerank, 64), int(self._index.ntotal))
            params: Any = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)  # type: ignore[call-arg]
            _, found = self._index.search(q, fetch, params=params)
            candidates = found[0][found[0] >= 0]
            return self.ranked(candidates, self.score(q[0], candidates), k)
        fetch = min(k + len(self._dead), int(self._index.ntotal))
        if kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.ef, fetch))  # type: ignore[attr-defined]
        else:
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, found = self._index.search(q, fetch, params=params)
        hits = [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if i >= 0 and i not in self._dead]
        return self.best(hits, k)

    def _exact_among(self, query: np.ndarray, allowed: np.ndarray, k: int) -> ScoredIds:
        """Exact search restricted to the live ids among ``allowed``."""
        if self._live_ids is None:
            self._live_ids = np.sort(self.ids())
        allowed = np.unique(allowed)
        live = allowed[np.isin(allowed, self._live_ids, assume_unique=True)]
        return self.ranked(live, self.score(query, live), k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (all live): from the full-precision table for IVF-PQ, else the index."""
        return self._raw.get(ids) if self._raw is not None else self._index.reconstruct_batch(ids)

    def save(self, directory: Path) -> list[str]:
        """Write ``vectors.faiss`` (FAISS's own format), the tombstones as ``.npy`` and, for IVF-PQ, the
        full-precision vectors (:class:`~index.raw_vectors.RawVectors`)."""
        faiss.write_index(self._index, str(directory / VECTORS_FILE))
        dead = np.array(sorted(self._dead), dtype=np.int64)
        np.save(directory / TOMBSTONES_FILE, dead, allow_pickle=False)
        if self._raw is None:
            return [VECTORS_FILE, TOMBSTONES_FILE]
        state = {"trained_on": self._trained_on, "built_at": self._built_at}
        (directory / IVF_FILE).write_text(json.dumps(state), encoding="utf-8")
        return [VECTORS_FILE, TOMBSTONES_FILE, IVF_FILE, *self._raw.save(directory)]

    def load(self, directory: Path) -> None:
        """Replace the contents with the files written by :meth:`save`."""
        try:
            index = faiss.read_index(str(directory / VECTORS_FILE))
            dead = np.load(directory / TOMBSTONES_FILE, allow_pickle=False)
        except (RuntimeError, ValueError, OSError) as exc:
            raise IndexCorruptError(f"cannot read the vector index in {directory}: {exc}") from exc
        if index.d != self.dim or not isinstance(index, faiss.IndexIDMap2 | faiss.IndexIVFPQ):
            raise IndexCorruptError(f"vector index in {directory} is not an id-mapped index of dimension {self.dim}")
        raw, state = None, {"trained_on": 0, "built_at": 0}
        if isinstance(index, faiss.IndexIVFPQ):
            raw = RawVectors.load(directory, self.dim)
            if len(raw) != index.ntotal:
                raise IndexCorruptError(f"{directory}: {index.ntotal} IVF-PQ codes but {len(raw)} vectors")
            try:
                state = {k: int(v) for k, v in json.loads((directory / IVF_FILE).read_text(encoding="utf-8")).items()}
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                raise IndexCorruptError(f"cannot read {directory / IVF_FILE}: {exc}") from exc
        elif (directory / IDS_FILE).exists():
            raise IndexCorruptError(f"{directory}: full-precision vectors beside a {type(index).__name__} index")
        self._index = index
        if isinstance(index, faiss.IndexIVFPQ):
            index.nprobe = self.nprobe
        self._raw = raw
        self._trained_on = state.get("trained_on", 0)
        self._built_at = state.get("built_at", 0)
        self._dead = {int(i) for i in dead}
        self._live_ids = None

    def ids(self) -> np.ndarray:
        """Every live id."""
        if self._raw is not None:
            return self._raw.ids()
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        if self._dead:
            ids = ids[~np.isin(ids, np.fromiter(self._dead, np.int64))]
        return ids

    def info(self) -> dict[str, Any]:
        """Backend, kind and parameters, recorded in the manifest."""
        base = {"backend": "faiss", "exact_max": self.exact_max, "count": len(self)}
        kind = self.kind
        if kind == "hnsw":
            return {
                "kind": "hnsw",
                **base,
                "m": self.hnsw_m,
                "ef_construction": self.ef_construction,
                "ef_search": self.ef,
                "ef_search_auto": not self.ef_search,
                "tombstones": len(self._dead),
            }
        if kind == "ivfpq":
            return {
                "kind": "ivfpq",
                **base,
                "nlist": int(self._index.nlist),
                "nprobe": self.nprobe,
                "pq_m": int(self._index.pq.M),
                "pq_bits": int(self._index.pq.nbits),
                "rerank": self.rerank,
                "trained_on": self._trained_on,
            }
        return {"kind": "flat", **base}
