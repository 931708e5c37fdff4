"""``/v1/ask`` latency at one connection with the reader on, and the reader's own share of it.

1. HTTP: the real server (``bench/load.py``'s ``server``: uvicorn on 127.0.0.1, e5, an index of seeds/, the
   default reader) answers ``--requests`` distinct questions one after the other (top 5 passages, extractive);
   client-side p50/p99.
2. In process, same questions, same settings: the time of each ask and of the reader's ``read`` inside it
   (the query-vector cache is cleared before each question, as in 1 every question is new).

Run: ``.venv/bin/python bench/ask_latency.py [--requests 300] [--reader e5-piaf] [--check] [--json PATH]``;
``--check`` exits 1 when the HTTP p50 exceeds 100 ms or the p99 250 ms (the targets of the reader issue).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from common import percentile
from load import queries, server

from rag.answering.answer_service import AnswerService
from rag.index_build import build_index
from rag.reader.cache import WrappedReader
from rag.reader.protocol import PassageReading, Reader
from rag.settings import Settings
from rag.threads import limit_threads

ROOT = Path(__file__).resolve().parents[1]
P50_MS, P99_MS = 100.0, 250.0


class TimedReader(WrappedReader):
    """A reader that records how long each ``read`` takes."""

    def __init__(self, inner: Reader) -> None:
        super().__init__(inner)
        self.seconds: list[float] = []

    def read(self, question: str, passages: Sequence[str], **kwargs: Any) -> list[PassageReading]:
        """Timed."""
        began = time.perf_counter()
        try:
            return self.inner.read(question, passages, **kwargs)
        finally:
            self.seconds.append(time.perf_counter() - began)


def summary(values_ms: list[float]) -> dict[str, float]:
    """p50 / p99 / mean in ms."""
    return {
        "p50_ms": round(percentile(values_ms, 50), 1),
        "p99_ms": round(percentile(values_ms, 99), 1),
        "mean_ms": round(statistics.fmean(values_ms), 1),
    }


def http_latency(questions: list[str], embedder: str, threads: int, reader: dict[str, str]) -> dict[str, Any]:
    """One connection, one question at a time, every question new."""
    latencies: list[float] = []
    answered = 0
    with (
        tempfile.TemporaryDirectory() as tmp,
        server(Path(tmp), embedder=embedder, threads=threads, ready_timeout=600, settings=reader) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        for q in ["Qui est le président ?", "Où ?", "Combien ?"]:  # warm-up, not measured
            client.post("/v1/ask", json={"question": q})
        for q in questions:
            began = time.perf_counter()
            response = client.post("/v1/ask", json={"question": q, "top_k": 5, "mode": "extractive"})
            latencies.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
            answered += bool(response.json()["answerable"])
    return {**summary(latencies), "requests": len(latencies), "answered": answered}


def in_process(questions: list[str], embedder: str, reader: dict[str, str]) -> dict[str, Any]:
    """The ask time and the reader's time inside it, per question."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            index_dir=Path(tmp) / "index",
            seeds_dir=ROOT / "seeds",
            embedder=embedder,
            reader=reader["RAG_READER"],
            reader_weights=reader.get("RAG_READER_WEIGHTS"),
            _env_file=None,
        )
        index, _ = build_index(settings, settings.seeds_dir)
        service = AnswerService(index, settings)
        if service.reader is None:
            raise SystemExit("--reader none: no reader to measure")
        timed = TimedReader(service.reader.inner)
        service.reader.inner = timed
        service.warm_up()
        service.ask("Qui est le président ?")
        asks: list[float] = []
        reads: list[float] = []
        for q in questions:
            index.clear_query_cache()
            timed.seconds.clear()
            began = time.perf_counter()
            service.ask(q, top_k=5)
            asks.append((time.perf_counter() - began) * 1000)
            reads.append(sum(timed.seconds) * 1000)
    share = sum(reads) / max(sum(asks), 1e-9)
    return {"ask": summary(asks), "reader": summary(reads), "reader_share": round(share, 3), "name": settings.reader}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="distinct questions asked (default 300)")
    parser.add_argument("--embedder", default="e5")
    parser.add_argument("--reader", default="e5-piaf", help="RAG_READER of both runs (default e5-piaf)")
    parser.add_argument("--weights", type=Path, help="RAG_READER_WEIGHTS of both runs (default: the package's)")
    parser.add_argument("--threads", type=int, default=0, help="RAG_THREADS of both runs (0: all cores)")
    parser.add_argument("--check", action="store_true", help="exit 1 when p50 > 100 ms or p99 > 250 ms")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    limit_threads(args.threads)
    questions = queries()[: args.requests]
    reader = {"RAG_READER": args.reader} | ({"RAG_READER_WEIGHTS": str(args.weights.resolve())} if args.weights else {})
    http = http_latency(questions, args.embedder, args.threads, reader)
    local = in_process(questions, args.embedder, reader)
    result = {"machine": f"{platform.processor() or platform.machine()}, {limit_threads(args.threads)} threads"}
    result |= {"questions": len(questions), "http": http, "in_process": local}
    print(json.dumps(result, indent=1))
    print(
        f"/v1/ask, 1 connection, {len(questions)} distinct questions: p50 {http['p50_ms']} ms, p99 {http['p99_ms']} ms"
        f" (targets {P50_MS:.0f} / {P99_MS:.0f}); in process: ask p50 {local['ask']['p50_ms']} ms, reader p50 "
        f"{local['reader']['p50_ms']} ms, reader share {local['reader_share']:.0%}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.check and (http["p50_ms"] > P50_MS or http["p99_ms"] > P99_MS):
        sys.exit(1)


if __name__ == "__main__":
    main()
