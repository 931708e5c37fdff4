"""Seed-corpus benchmark: index build time and in-process search latency (p50/p99) per method.

Run: ``make bench`` (or ``.venv/bin/python bench/seeds_bench.py [--embedder e5] [--queries N]``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import SEED_QUESTIONS as QUESTIONS
from common import percentile

from rag.corpus_index import CorpusIndex
from rag.index_build import build_index
from rag.settings import Settings
from rag.threads import limit_threads

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default="e5")
    parser.add_argument("--queries", type=int, default=400, help="searches per method")
    parser.add_argument("--threads", type=int, default=0, help="BLAS/OpenMP threads (0: all cores)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    threads = limit_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            index_dir=Path(tmp) / "index",
            seeds_dir=ROOT / "seeds",
            embedder=args.embedder,
            embed_cache_dir=None,
            _env_file=None,
        )
        began = time.perf_counter()
        _, stats = build_index(settings, settings.seeds_dir)
        build_s = time.perf_counter() - began
        began = time.perf_counter()
        index = CorpusIndex.load(settings)
        load_s = time.perf_counter() - began
        results = {
            "embedder": args.embedder,
            "threads": threads,
            "documents": stats.documents,
            "chunks": stats.chunks,
            "build_s": round(build_s, 2),
            "embed_s": round(stats.embed_seconds, 2),
            "passages_per_s": round(stats.chunks / stats.embed_seconds, 1) if stats.embed_seconds else None,
            "load_s": round(load_s, 3),
            "search_ms": {},
        }
        for method in ("lexical", "dense", "hybrid"):
            for q in QUESTIONS:  # warm-up
                index.search(q, method=method)  # type: ignore[arg-type]
            times = []
            for i in range(args.queries):
                index.clear_query_cache()  # every search pays for its query embedding, as a new question does
                t = time.perf_counter()
                index.search(QUESTIONS[i % len(QUESTIONS)], method=method)  # type: ignore[arg-type]
                times.append((time.perf_counter() - t) * 1000)
            results["search_ms"][method] = {
                "p50": round(statistics.median(times), 2),
                "p99": round(percentile(times, 99), 2),
            }
    print(
        f"seeds: {results['documents']} documents, {results['chunks']} chunks, embedder {args.embedder}, "
        f"{threads} threads"
    )
    print(
        f"index build {results['build_s']} s (embedding {results['embed_s']} s, "
        f"{results['passages_per_s']} passages/s), load {results['load_s']} s"
    )
    print(f"{'method':8} {'p50 ms':>8} {'p99 ms':>8}")
    for method, figures in results["search_ms"].items():
        print(f"{method:8} {figures['p50']:8.2f} {figures['p99']:8.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
