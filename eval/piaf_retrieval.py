"""PIAF retrieval benchmark: nDCG@10, R@1/5/10 and MRR@10 for lexical, dense and hybrid search.

Indexes PIAF's 1,518 passages (``../shared/data/piaf/retrieval/``) with the configured pipeline, then runs
the 300-query CI sample (``--full``: all 7,569 questions). A passage is found when any of its chunks is.
The index is kept in ``data/piaf-index`` and reused while the corpus and embedder are unchanged.

Run: ``make eval-piaf`` or ``.venv/bin/python eval/piaf_retrieval.py [--full] [--embedder NAME]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from eval.metrics import mean_metrics, retrieval_metrics
from rag.corpus_index import CorpusIndex
from rag.errors import IndexIncompatibleError, IndexMissingError, RagError
from rag.index_build import build_index
from rag.settings import Settings
from rag.threads import limit_threads

ROOT = Path(__file__).resolve().parents[1]
RERANKED = "+rerank"
PIAF_PARTS = ("shared", "data", "piaf", "retrieval")


def find_piaf_data(start: Path = ROOT) -> Path:
    """PIAF's retrieval conversion: ``$PIAF_DIR`` when set, else the nearest ``shared/data/piaf/retrieval``
    beside the checkout or one of its parents (a clone anywhere under the team's workspace finds it).
    Falls back to ``../shared/…`` so error messages name the documented place."""
    if os.environ.get("PIAF_DIR"):
        return Path(os.environ["PIAF_DIR"]).expanduser()
    for folder in (start, *start.parents):
        candidate = folder.joinpath(*PIAF_PARTS)
        if (candidate / "corpus.jsonl").is_file():
            return candidate
    return start.parent.joinpath(*PIAF_PARTS)


DEFAULT_DATA = find_piaf_data()


def load_queries(data: Path, full: bool) -> tuple[list[dict[str, object]], dict[str, set[str]]]:
    """The queries and, per query id, its relevant passage ids."""
    name = "queries.jsonl" if full else "queries_ci300.jsonl"
    with (data / name).open(encoding="utf-8") as handle:
        queries = [json.loads(line) for line in handle if line.strip()]
    qrels: dict[str, set[str]] = defaultdict(set)
    with (data / "qrels.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels[row["query-id"]].add(row["corpus-id"])
    return queries, qrels


def open_or_build(settings: Settings, corpus: Path) -> CorpusIndex:
    """Reuse the cached PIAF index when it matches the embedder, else build it (minutes with e5)."""
    try:
        index = CorpusIndex.load(settings)
        if len(index.documents) == sum(1 for line in corpus.open(encoding="utf-8") if line.strip()):
            return index
    except (IndexMissingError, IndexIncompatibleError):
        pass
    began = time.perf_counter()
    index, stats = build_index(settings, corpus)
    print(
        f"built PIAF index: {stats.documents} passages, {stats.chunks} chunks in {time.perf_counter() - began:.0f}s "
        f"({stats.chunks / max(stats.embed_seconds, 1e-9):.1f} chunks/s embedding)"
    )
    return index


def evaluate_retrieval(
    index: CorpusIndex,
    queries: list[dict[str, object]],
    qrels: dict[str, set[str]],
    methods: tuple[str, ...] = ("lexical", "dense", "hybrid"),
    *,
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Per method: mean nDCG@10, R@1/5/10 and MRR@10 at passage level, median latency and unsearchable count.
    A method ending in ``+rerank`` runs the index's rerankers after fusion (the others run without them).

    Several chunks can come from one passage: the top 30 chunks are fetched and each passage is ranked at its
    best chunk. An unsearchable question (only stopwords) counts as a miss. The query-vector cache is cleared
    before each method so that every latency includes the query embedding."""
    from tqdm import tqdm

    report: dict[str, dict[str, float]] = {}
    for method in methods:
        index.clear_query_cache()  # each method pays for embedding its queries: comparable latencies
        rows, latencies, skipped = [], [], 0
        for query in tqdm(queries, desc=f"PIAF {method}", unit="q", file=sys.stderr, disable=not progress, leave=False):
            began = time.perf_counter()
            try:
                hits = index.search(
                    str(query["text"]),
                    top_k=30,
                    method=method.removesuffix(RERANKED),  # type: ignore[arg-type]
                    rerank=method.endswith(RERANKED),
                )
            except RagError:
                hits, skipped = [], skipped + 1
            latencies.append((time.perf_counter() - began) * 1000)
            rows.append(retrieval_metrics([h.document.id for h in hits], qrels[str(query["_id"])]))
        report[method] = {**mean_metrics(rows), "p50_ms": statistics.median(latencies), "unsearchable": skipped}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--full", action="store_true", help="all 7,569 questions instead of the CI sample")
    parser.add_argument("--embedder", default=None, help="embedder name (default: RAG_EMBEDDER or e5)")
    parser.add_argument(
        "--index", type=Path, default=None, help="index directory (default: data/piaf-index-<embedder>)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    limit_threads()
    overrides = {"embedder": args.embedder} if args.embedder else {}
    base = Settings(**overrides)
    settings = base.model_copy(
        update={"index_dir": args.index or ROOT / "data" / f"piaf-index-{base.embedder}", "sentence_vectors": False}
    )
    index = open_or_build(settings, args.data / "corpus.jsonl")
    queries, qrels = load_queries(args.data, args.full)
    report = evaluate_retrieval(index, queries, qrels)
    print(f"PIAF retrieval, {len(queries)} questions, {len(index.documents)} passages, embedder {settings.embedder}")
    print(f"{'method':8} {'nDCG@10':>8} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'p50 ms':>7}")
    for method, m in report.items():
        print(
            f"{method:8} {m['ndcg@10']:8.3f} {m['r@1']:6.3f} {m['r@5']:6.3f} {m['r@10']:6.3f} "
            f"{m['mrr@10']:7.3f} {m['p50_ms']:7.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
