"""FAISS by size: recall@10 against exact search, latency and memory of HNSW and IVF-PQ at 10k, 100k and 1M vectors.

Vectors are synthetic but shaped like sentence embeddings (384 dimensions, unit norm, clustered, with a decaying
spectrum: most variance in a few dozen directions), so that approximate search is neither trivially easy (as on
a low-rank toy) nor hopeless (as on isotropic noise). ``--real`` adds a point measured on real e5 vectors read
from the embedding cache, to check that the synthetic ones are no easier. Queries are held-out points of the same
distribution. Every configuration is searched through :class:`index.faiss_store.FaissVectorStore` itself, one
query at a time, as the service does.

The table lists, per size and index, build time, resident memory of the index, recall@10 against brute force and
p50/p99 latency for a sweep of search parameters; ``*`` marks the configured defaults (``RAG_HNSW_EF_SEARCH``,
``RAG_IVF_NPROBE``, ``RAG_IVF_RERANK``), which must keep recall@10 >= 0.95 (checked, exit code 1 otherwise).

Run: ``make bench-faiss`` or ``.venv/bin/python bench/faiss_scale.py [--sizes 10000,100000,1000000] [--queries 500]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.faiss_store import FaissVectorStore  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.threads import limit_threads  # noqa: E402

DIM = 384
K = 10


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def rss_mb() -> float:
    """Resident set size of this process (MB)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class EmbeddingLike:
    """Clustered unit vectors fitted to multilingual-e5-small passage vectors (measured on 10k of them): a
    power-law spectrum (top 10 directions ~20% of the variance, top 50 ~45%), a shared mean direction (random
    pairs at cosine ~0.77) and small clusters of ~5 passages (nearest neighbour ~0.90, 10th ~0.83, against 0.90 /
    0.79 for real e5). At 10k, HNSW (ef 16 / 32) finds 0.86 / 0.94 of the true top 10 here against 0.91 / 0.95 on
    real e5 vectors, and IVF (256 lists, 16 probed) 0.72 against 0.83: these vectors are harder than real ones."""

    def __init__(self, dim: int = DIM, clusters: int = 2000, seed: int = 0, alpha: float = 0.65) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        lam = np.arange(1, dim + 1) ** -alpha
        self.sd = np.sqrt(lam / lam.sum()).astype(np.float32)
        self.within = 0.45  # share of the variance inside a cluster
        self.basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
        self.centres = rng.standard_normal((clusters, dim)).astype(np.float32) * self.sd * np.sqrt(1 - self.within)
        mean = rng.standard_normal(dim).astype(np.float32)
        self.mean = mean * np.sqrt(3.35) / np.linalg.norm(mean)

    def sample(self, n: int) -> np.ndarray:
        """``n`` unit vectors; generated in blocks to bound the temporary memory."""
        out = np.empty((n, len(self.sd)), dtype=np.float32)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            which = self.rng.integers(0, len(self.centres), m)
            noise = self.rng.standard_normal((m, len(self.sd))).astype(np.float32) * self.sd * np.sqrt(self.within)
            v = (self.centres[which] + noise) @ self.basis + self.mean
            out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out


def real_vectors(cache: Path) -> np.ndarray:
    """Every vector of an e5 embedding cache (float32 rows of 384)."""
    db = sqlite3.connect(cache)
    rows = [np.frombuffer(blob, dtype=np.float32) for (blob,) in db.execute("SELECT vector FROM vectors")]
    return np.stack([r for r in rows if r.shape == (DIM,)])


def ground_truth(base: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact top-10 ids by brute force (batched BLAS) and the time it took."""
    import faiss

    began = time.perf_counter()
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    _, ids = flat.search(queries, K)
    return ids, time.perf_counter() - began


def measure(store: FaissVectorStore, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Recall@10 against ``truth`` and per-query latency (ms), searching one query at a time."""
    for q in queries[:20]:
        store.search(q, K)
    times, found = [], 0
    for q, right in zip(queries, truth, strict=True):
        began = time.perf_counter()
        hits = store.search(q, K)
        times.append((time.perf_counter() - began) * 1000)
        found += len({i for i, _ in hits} & set(right.tolist()))
    return {
        "recall@10": round(found / (K * len(queries)), 4),
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(percentile(times, 99), 3),
    }


def build(kind: str, base: np.ndarray, defaults: Settings) -> tuple[FaissVectorStore, dict[str, Any]]:
    """A store of ``kind`` holding ``base`` (ids 0..n-1), with its build time and memory."""
    gc.collect()
    before = rss_mb()
    began = time.perf_counter()
    store = FaissVectorStore(
        DIM,
        exact_max=len(base) if kind == "flat" else 0,
        approximate="ivfpq" if kind == "ivfpq" else "hnsw",
        hnsw_m=defaults.hnsw_m,
        ef_construction=defaults.hnsw_ef_construction,
        ef_search=defaults.hnsw_ef_search,
        ivf_nlist=defaults.ivf_nlist,
        ivf_nprobe=defaults.ivf_nprobe,
        pq_m=defaults.pq_m,
        pq_bits=defaults.pq_bits,
        rerank=defaults.ivf_rerank,
        train_size=defaults.ivf_train_size,
    )
    store.add(np.arange(len(base), dtype=np.int64), base)
    seconds = time.perf_counter() - began
    with tempfile.TemporaryDirectory(dir=ROOT / "data") as tmp:
        files = store.save(Path(tmp))
        sizes = {name: (Path(tmp) / name).stat().st_size for name in files}
    memory = sizes.get("vectors.faiss", 0)  # what stays in memory; IVF-PQ's float32 copy is memory-mapped
    info = store.info()
    return store, {
        "build_s": round(seconds, 1),
        "vectors_per_s": round(len(base) / seconds),
        "index_mb": round(memory / 2**20, 1),
        "disk_mb": round(sum(sizes.values()) / 2**20, 1),
        "rss_delta_mb": round(rss_mb() - before, 1),
        "params": {k: v for k, v in info.items() if k not in ("count", "backend", "exact_max", "tombstones")},
    }


def sweep(kind: str, store: FaissVectorStore, queries: np.ndarray, truth: np.ndarray, d: Settings) -> list[Any]:
    """Search parameters tried for ``kind``; the configured default is flagged."""
    rows = []
    if kind == "flat":
        rows.append({"search": "exact", "default": True, **measure(store, queries, truth)})
    elif kind == "hnsw":
        for ef in sorted({16, 32, 64, 128, 256, d.hnsw_ef_search}):
            store.ef_search = ef
            rows.append({"search": f"ef={ef}", "default": ef == d.hnsw_ef_search, **measure(store, queries, truth)})
        store.ef_search = d.hnsw_ef_search
    else:
        for nprobe in sorted({8, 16, 32, 64, d.ivf_nprobe}):
            for rerank in sorted({4, d.ivf_rerank}):
                store.ivf_nprobe, store.rerank = nprobe, rerank
                default = nprobe == d.ivf_nprobe and rerank == d.ivf_rerank
                search = f"nprobe={nprobe} rerank={rerank}x"
                rows.append({"search": search, "default": default, **measure(store, queries, truth)})
        store.ivf_nprobe, store.rerank = d.ivf_nprobe, d.ivf_rerank
    return rows


def run_size(name: str, base: np.ndarray, queries: np.ndarray, kinds: list[str], d: Settings) -> dict[str, Any]:
    """Every index kind on one set of vectors."""
    truth, exact_s = ground_truth(base, queries)
    result: dict[str, Any] = {"name": name, "vectors": len(base), "queries": len(queries), "indexes": {}}
    print(f"\n{name}: {len(base):,} vectors, {len(queries)} queries (brute-force truth in {exact_s:.1f}s)", flush=True)
    print(f"  {'index':6} {'build s':>8} {'mem MB':>7} {'search':22} {'R@10':>6} {'p50 ms':>7} {'p99 ms':>7}")
    for kind in kinds:
        store, built = build(kind, base, d)
        rows = sweep(kind, store, queries, truth, d)
        result["indexes"][kind] = {**built, "search": rows}
        for i, row in enumerate(rows):
            head = f"{kind:6} {built['build_s']:8.1f} {built['index_mb']:7.1f}" if i == 0 else " " * 23
            mark = "*" if row["default"] else " "
            print(
                f"  {head} {row['search']:21}{mark} {row['recall@10']:6.3f} {row['p50_ms']:7.2f} {row['p99_ms']:7.2f}",
                flush=True,
            )
        del store
        gc.collect()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated vector counts")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--kinds", default="flat,hnsw,ivfpq")
    parser.add_argument("--real", type=Path, default=None, help="also measure on the vectors of this e5 cache")
    parser.add_argument("--threads", type=int, default=0, help="BLAS/OpenMP threads (0: all cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faiss_scale.json")
    args = parser.parse_args()
    threads = limit_threads(args.threads)
    (ROOT / "data").mkdir(exist_ok=True)
    defaults = Settings(_env_file=None)
    kinds = args.kinds.split(",")
    runs = []
    if args.real:
        real = real_vectors(args.real)
        rng = np.random.default_rng(1)
        order = rng.permutation(len(real))
        held = real[order[: args.queries]]
        queries = held + 0.02 * rng.standard_normal(held.shape).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        runs.append(run_size("e5 (real)", real[order[args.queries :]], queries, kinds, defaults))
    for size in [int(s) for s in args.sizes.split(",") if s]:
        gen = EmbeddingLike(clusters=max(200, size // 5))
        base = gen.sample(size)
        queries = gen.sample(args.queries)
        runs.append(run_size(f"synthetic {size:,}", base, queries, kinds, defaults))
        del base
        gc.collect()
    failures = [  # the defaults of the index that the store actually uses at that size
        f"{r['name']} {kind} {row['search']}: recall@10 {row['recall@10']}"
        for r in runs
        for kind, data in r["indexes"].items()
        for row in data["search"]
        if row["default"]
        and row["recall@10"] < 0.95
        and (kind == "flat") == (r["vectors"] <= defaults.exact_search_max)
    ]
    out = {
        "machine": {"cpus": threads, "platform": platform.platform(), "processor": platform.processor()},
        "defaults": {
            "exact_search_max": defaults.exact_search_max,
            "hnsw_m": defaults.hnsw_m,
            "hnsw_ef_construction": defaults.hnsw_ef_construction,
            "hnsw_ef_search": defaults.hnsw_ef_search,
            "ivf_nprobe": defaults.ivf_nprobe,
            "ivf_rerank": defaults.ivf_rerank,
            "pq_bits": defaults.pq_bits,
        },
        "runs": runs,
        "defaults_recall_ok": not failures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"\nwritten {args.out}")
    if failures:
        print("defaults below recall@10 0.95: " + "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
