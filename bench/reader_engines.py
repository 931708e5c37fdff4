"""The span reader's throughput by engine layout: how many reader threads, with how many torch threads each.

The windows the service reads for the seed-corpus load questions (``bench/load.py``'s distinct phrasings, the
hybrid top 5, the sentence windows of ``RAG_READER_CHARS``) are collected once. Then, for each layout, an
``E5Reader`` with that many engines (its ``MicroBatcher`` threads) reads them:

- at ``--connections`` concurrent callers, each reading one question's windows after another: reads per second
  and tokens read per millisecond (the real tokens: what padding adds is the layout's cost);
- at one caller: the p50 / p99 of one read.

Only the reader runs here (no retrieval, no HTTP): ``bench/load.py`` measures whole asks.

Run: ``.venv/bin/python bench/reader_engines.py [--layouts 1x2,2x1] [--questions 300] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import percentile  # noqa: E402
from load import queries  # noqa: E402

from rag.answering.answer_service import AnswerService  # noqa: E402
from rag.answering.reading import ReadingAnswerer  # noqa: E402
from rag.index_build import build_index  # noqa: E402
from rag.reader.inference import E5Reader  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.threads import limit_threads  # noqa: E402


def service_windows(questions: list[str]) -> list[tuple[str, list[str]]]:
    """Each question with the window texts the service gives the reader (default settings, seeds index)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", seeds_dir=ROOT / "seeds", reader="keyword", _env_file=None)
        index, _ = build_index(settings, settings.seeds_dir)
        answerer = AnswerService(index, settings).extractive
        if not isinstance(answerer, ReadingAnswerer):
            raise SystemExit("the extractive answerer does not read: no windows to collect")
        out = []
        for q in questions:
            windows, _ = answerer.windows_for(q, index.search(q, top_k=5))
            out.append((q, [w.text for w in windows]))
    return out


def measure(layout: str, reads: list[tuple[str, list[str]]], connections: int, max_batch: int) -> dict[str, Any]:
    """One layout ``ENGINESxTHREADS`` at ``connections`` callers, then at one."""
    engines, threads = (int(x) for x in layout.split("x"))
    reader = E5Reader(threads=threads, max_batch=max_batch, engines=engines, engine_threads=threads)
    reader.warm_up()
    tokens = sum(len(w.ids) for q, texts in reads for w in reader.windows(q, texts))

    def read(item: tuple[str, list[str]]) -> float:
        began = time.perf_counter()
        reader.read(*item)
        return (time.perf_counter() - began) * 1000

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(read, reads[:40]))  # warm-up: oneDNN builds its kernels for the common shapes
        began = time.perf_counter()
        list(pool.map(read, reads))
        seconds = time.perf_counter() - began
    alone = [read(item) for item in reads]
    return {
        "layout": layout,
        "engines": engines,
        "threads_per_engine": threads,
        "connections": connections,
        "reads_per_s": round(len(reads) / seconds, 1),
        "tokens_per_ms": round(tokens / seconds / 1000, 2),
        "one_caller_p50_ms": round(percentile(alone, 50), 1),
        "one_caller_p99_ms": round(percentile(alone, 99), 1),
        "one_caller_mean_ms": round(statistics.fmean(alone), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", default="1x2,2x1", help="ENGINESxTHREADS, comma-separated (default 1x2,2x1)")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--max-batch", type=int, default=Settings.model_fields["reader_batch"].default)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    limit_threads(0)
    reads = service_windows(queries()[: args.questions])
    print(f"{len(reads)} questions, {sum(len(t) for _, t in reads) / len(reads):.1f} windows each", file=sys.stderr)
    rows = [measure(layout, reads, args.connections, args.max_batch) for layout in args.layouts.split(",")]
    for row in rows:
        print(
            f"{row['layout']:>5}: {row['connections']} callers {row['reads_per_s']} reads/s "
            f"({row['tokens_per_ms']} tokens/ms); one caller p50 {row['one_caller_p50_ms']} ms, "
            f"p99 {row['one_caller_p99_ms']} ms"
        )
    if args.json:
        report = {"machine": platform.processor() or platform.machine(), "questions": len(reads), "layouts": rows}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
