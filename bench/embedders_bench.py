"""Embedder speed: passages/s (batches of 32 PIAF passages, ~110 words each) and single-query latency.

Run: ``.venv/bin/python bench/embedders_bench.py [--passages 192] [--queries 100] [--threads N]``.
Quality per embedder comes from ``eval/piaf_retrieval.py --embedder NAME``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from eval.piaf_retrieval import find_piaf_data
from rag.embedders import EMBEDDERS, get_embedder
from rag.settings import Settings
from rag.threads import limit_threads

DATA = find_piaf_data()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=192)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    threads = limit_threads(args.threads)
    with (args.data / "corpus.jsonl").open(encoding="utf-8") as handle:
        passages = [json.loads(line)["text"] for _, line in zip(range(args.passages), handle, strict=False)]
    with (args.data / "queries_ci300.jsonl").open(encoding="utf-8") as handle:
        queries = [json.loads(line)["text"] for _, line in zip(range(args.queries), handle, strict=False)]
    results = {}
    for name in sorted(EMBEDDERS):
        embedder = get_embedder(name, Settings(embed_cache_dir=None, _env_file=None), cached=False)
        began = time.perf_counter()
        embedder.warm_up()
        load = time.perf_counter() - began
        embedder.embed_passages(passages[:8])  # warm caches
        began = time.perf_counter()
        for i in range(0, len(passages), 32):
            embedder.embed_passages(passages[i : i + 32])
        per_s = len(passages) / (time.perf_counter() - began)
        latencies = []
        for q in queries:
            began = time.perf_counter()
            embedder.embed_query(q)
            latencies.append((time.perf_counter() - began) * 1000)
        results[name] = {
            "load_s": round(load, 2),
            "passages_per_s": round(per_s, 1),
            "query_ms_p50": round(statistics.median(latencies), 1),
            "query_ms_p95": round(sorted(latencies)[int(0.95 * len(latencies)) - 1], 1),
        }
    print(f"embedders on {len(passages)} PIAF passages, {len(queries)} queries, {threads} threads")
    print(f"{'embedder':22} {'load s':>7} {'passages/s':>11} {'query p50 ms':>13} {'p95 ms':>7}")
    for name, r in results.items():
        print(
            f"{name:22} {r['load_s']:7.2f} {r['passages_per_s']:11.1f} {r['query_ms_p50']:13.1f} "
            f"{r['query_ms_p95']:7.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
