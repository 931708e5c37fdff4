"""Embedding on one machine: threads and processes against cores, to use every core without oversubscription.

Each configuration runs in fresh processes with ``OMP_NUM_THREADS`` (and torch's threads) set before the libraries
load: one process with 1 thread, one process with one thread per core (what ``RAG_THREADS=0`` gives), one process
with twice as many threads as cores (oversubscribed), and one single-threaded process per core splitting the
passages (what a Ray worker per core does). Throughput is passages embedded per second of wall time.

Run: ``.venv/bin/python bench/threads_scale.py [--embedder e5] [--passages 96]`` on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from eval.piaf_retrieval import find_piaf_data  # noqa: E402

PIAF = find_piaf_data() / "corpus.jsonl"


def child(embedder: str, threads: int, start: int, count: int) -> None:
    """Embed passages [start, start + count) and print the seconds it took (model load excluded)."""
    sys.path.insert(0, str(ROOT))
    from rag.embedders import get_embedder
    from rag.settings import Settings
    from rag.threads import limit_threads

    limit_threads(threads)
    with PIAF.open(encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for _, line in zip(range(start + count), handle, strict=False)][start:]
    model = get_embedder(embedder, Settings(threads=threads, embed_cache_dir=None, _env_file=None), cached=False)
    model.warm_up()
    model.embed_passages(texts[:2])
    began = time.perf_counter()
    for i in range(0, len(texts), 16):
        model.embed_passages(texts[i : i + 16])
    print(f"SECONDS {time.perf_counter() - began}")


def run(embedder: str, processes: int, threads: int, passages: int) -> float:
    """Passages/s of ``processes`` processes of ``threads`` threads each sharing ``passages`` passages."""
    share = passages // processes
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", embedder, str(threads), str(i * share), str(share)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    seconds = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        seconds.extend(float(line.split()[1]) for line in out.splitlines() if line.startswith("SECONDS"))
    return share * processes / max(seconds)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", default="e5")
    parser.add_argument("--passages", type=int, default=96)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    configs = [(1, 1), (1, cores), (1, 2 * cores), (cores, 1)]
    results = []
    print(f"{args.embedder}: {args.passages} PIAF passages, {cores} cores")
    print(f"{'processes':>9} {'threads':>8} {'passages/s':>11}")
    for processes, threads in configs:
        rate = run(args.embedder, processes, threads, args.passages)
        results.append({"processes": processes, "threads": threads, "passages_per_s": round(rate, 2)})
        print(f"{processes:9} {threads:8} {rate:11.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"embedder": args.embedder, "cores": cores, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
