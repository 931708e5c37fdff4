"""PIAF answer benchmark: does the extractive answer contain a reference answer?

Runs the answerer over PIAF's 300-question CI sample (``--full``: all 7,569) against the whole 1,518-passage
index (built or reused like ``eval/piaf_retrieval.py``) and prints containment, abstention and median length.
An abstention counts as a miss: every PIAF question has an answer in the corpus.

Run: ``.venv/bin/python eval/piaf_answers.py [--full] [--top-k 5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from eval.metrics import contains_answer
from eval.piaf_retrieval import DEFAULT_DATA, ROOT, load_queries, open_or_build
from rag.answering.extractive import ExtractiveAnswerer
from rag.errors import RagError
from rag.settings import Settings
from rag.threads import limit_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    limit_threads()
    base = Settings()
    settings = base.model_copy(update={"index_dir": ROOT / "data" / f"piaf-index-{base.embedder}"})
    index = open_or_build(settings, args.data / "corpus.jsonl")
    answerer = ExtractiveAnswerer(index)
    queries, _ = load_queries(args.data, args.full)
    found = abstained = 0
    lengths, latencies = [], []
    for query in queries:
        began = time.perf_counter()
        try:
            answer = answerer.answer(str(query["text"]), top_k=args.top_k)
        except RagError:
            abstained += 1
            continue
        latencies.append((time.perf_counter() - began) * 1000)
        if not answer.answerable:
            abstained += 1
            continue
        lengths.append(len(answer.answer))
        found += contains_answer(answer.answer, [str(a) for a in query["answers"]])  # type: ignore[attr-defined]
    n = len(queries)
    report = {
        "questions": n,
        "containment": found / n,
        "abstention": abstained / n,
        "median_chars": statistics.median(lengths) if lengths else 0,
        "p50_ms": statistics.median(latencies) if latencies else 0,
    }
    print(f"PIAF answers, {n} questions, {len(index.documents)} passages, extractive, top_k {args.top_k}")
    print(
        f"containment {report['containment']:.3f}  abstention {report['abstention']:.3f}  "
        f"median answer {report['median_chars']:.0f} chars  p50 {report['p50_ms']:.0f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
