"""PIAF evaluation for ``rag eval piaf``: passage retrieval (lexical, dense, hybrid) and extractive answers.

Builds (or reuses) an index of PIAF's 1,518 passages under ``data/piaf-index-<embedder>`` with
``eval.piaf_retrieval.open_or_build``, runs the 300-question CI sample (``full``: all 7,569 questions) and
writes ``piaf.json`` / ``piaf.md``. Retrieval is scored at passage level (a passage is found at its best-ranked
chunk; 30 chunks fetched to rank 10 passages), answers by containment and SQuAD F1 / EM of the shortest
answer span; an abstention counts as a miss (every PIAF question has its answer in the corpus).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.metrics import contains_answer, span_scores, squad_scores
from eval.piaf_retrieval import DEFAULT_DATA, RERANKED, ROOT, evaluate_retrieval, load_queries, open_or_build
from eval.report import markdown_table, ms

ANSWER_K = 5
RERANK_DEPTH = 30
"""Fused chunks the ``hybrid+rerank`` row reorders by the reader's relevance (all 30 that are ranked)."""
ANSWER_COLUMNS = ("abstention", "median chars", "p50 ms")

PUBLISHED_MTEB: dict[str, Any] = {
    "status": "not listed",
    "note": (
        "No published MTEB figure comparable with this benchmark (French passage retrieval, nDCG@10) was found "
        "in the stored documentation for either candidate: the searches (MTEB leaderboard, the "
        "multilingual-e5-small and all-MiniLM-L6-v2 model cards) returned the model cards' metadata and "
        "aggregate leaderboard pages without a per-model French retrieval score that could be quoted reliably."
    ),
    "consulted": [
        "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/blob/97ef89b0452be49b401bb722c776152b035909e7/README.md",
        "https://huggingface.co/datasets/mteb/results/tree/e19f98e64b68c572a8e4d44937d18cde07a2e2ee/multilingual-e5-small",
        "https://d6108366.hf-mirror.com/papers/2402.05672.md",
    ],
}
"""Published MTEB figures of the candidate embedders, for reference — only what the stored docs state."""


def evaluate_answers(service: Any, queries: list[dict[str, Any]], *, progress: bool = False) -> dict[str, Any]:
    """Containment, SQuAD F1/EM, abstention rate, median length and latency of extractive hybrid answers."""
    from tqdm import tqdm

    from rag.errors import RagError

    found = abstained = 0
    f1_total = em_total = span_f1_total = span_em_total = 0.0
    lengths: list[int] = []
    latencies: list[float] = []
    for query in tqdm(queries, desc="PIAF answers", unit="q", file=sys.stderr, disable=not progress, leave=False):
        answers = [str(a) for a in query["answers"]]
        began = time.perf_counter()
        try:
            answer = service.ask(str(query["text"]), mode="extractive", top_k=ANSWER_K, method="hybrid")
        except RagError:
            answer = None
        latencies.append((time.perf_counter() - began) * 1000)
        if answer is None or not answer.answerable:
            abstained += 1
            continue
        lengths.append(len(answer.answer))
        found += contains_answer(answer.answer, answers)
        f1, em = squad_scores(answer.answer, answers)
        f1_total += f1
        em_total += em
        span_f1, span_em = span_scores(answer.answer, answers)
        span_f1_total += span_f1
        span_em_total += span_em
    n = max(1, len(queries))
    return {
        "questions": len(queries),
        "containment": found / n,
        "f1": f1_total / n,
        "em": em_total / n,
        "span_f1": span_f1_total / n,
        "span_em": span_em_total / n,
        "abstention": abstained / n,
        "median_chars": statistics.median(lengths) if lengths else None,
        "p50_ms": statistics.median(latencies) if latencies else None,
    }


def run_piaf(
    *,
    data: Path = DEFAULT_DATA,
    full: bool = False,
    embedder: str | None = None,
    index_dir: Path | None = None,
    progress: bool = True,
    rerank: bool = False,
) -> dict[str, Any]:
    """Build or reuse the PIAF index, then score retrieval and answers; the report as a dict. ``rerank`` adds
    the ``hybrid+rerank`` row (the reader's relevance head over the fused top 30: seconds per question with the
    12-layer reader, so out of the CI gate)."""
    from rag.answering.answer_service import AnswerService
    from rag.search.rerank import ReaderReranker
    from rag.settings import Settings, get_settings

    began = time.perf_counter()
    base = get_settings()
    settings = Settings(**{**base.model_dump(), **({"embedder": embedder} if embedder else {})})
    # Sentence vectors are embedded as the 300 questions need them (~3k sentences) rather than all ~9k at index
    # time: the same vectors, so the same answers, in a third of the time (the CI gate has a time budget).
    settings = settings.model_copy(
        update={
            "index_dir": index_dir or ROOT / "data" / f"piaf-index-{settings.embedder}",
            "sentence_vectors": False,
        }
    )
    index = open_or_build(settings, data / "corpus.jsonl")
    indexed = time.perf_counter()
    queries, qrels = load_queries(data, full)
    service = AnswerService(index, settings)
    methods: tuple[str, ...] = ("lexical", "dense", "hybrid")
    if rerank and service.reader is not None:  # the reader's relevance head reranking the fused top 30, apart
        index.use_rerankers([ReaderReranker(service.reader, RERANK_DEPTH)])
        methods += ("hybrid" + RERANKED,)
    retrieval = evaluate_retrieval(index, queries, qrels, methods, progress=progress)
    index.use_rerankers(service.rerankers)
    index.clear_query_cache()
    answers = evaluate_answers(service, queries, progress=progress)
    return {
        "suite": "piaf",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(data),
        "sample": "full" if full else "ci300",
        "questions": len(queries),
        "passages": len(index.documents),
        "chunks": len(index.chunks),
        "embedder": settings.embedder,
        "index_dir": str(settings.index_dir),
        "retrieval": retrieval,
        "answers": {"method": "hybrid", "mode": "extractive", "reader": settings.reader, "top_k": ANSWER_K, **answers},
        "published_mteb": PUBLISHED_MTEB,
        "seconds": {
            "index": round(indexed - began, 1),
            "evaluation": round(time.perf_counter() - indexed, 1),
            "total": round(time.perf_counter() - began, 1),
        },
    }


def piaf_markdown(report: dict[str, Any]) -> str:
    """The PIAF report as Markdown tables."""
    rows = [
        [m, r["ndcg@10"], r["r@1"], r["r@5"], r["r@10"], r["mrr@10"], ms(r["p50_ms"]), int(r["unsearchable"])]
        for m, r in report["retrieval"].items()
    ]
    a = report["answers"]
    mteb = report["published_mteb"]
    lines = [
        f"# PIAF evaluation ({report['sample']})",
        "",
        f"{report['questions']} questions against {report['passages']} passages ({report['chunks']} chunks), "
        f"embedder `{report['embedder']}`; {report['seconds']['total']:.0f} s in all "
        f"(index {report['seconds']['index']:.0f} s), {report['created_at']}.",
        "",
        "## Retrieval (passage level; a passage is found at its best-ranked chunk)",
        "",
        markdown_table(["method", "nDCG@10", "R@1", "R@5", "R@10", "MRR@10", "p50 ms", "unsearchable"], rows),
        "",
        "The `lexical` row is plain BM25 (French analyzer, title indexed with each chunk), measured here.",
        "",
        f"## Answers ({a['mode']}, {a['method']}, top {a['top_k']}; an abstention counts as a miss)",
        "",
        markdown_table(
            [*("reader", "containment", "span F1", "span EM", "best-window F1", "best-window EM"), *ANSWER_COLUMNS],
            [
                [
                    *(a.get("reader", "none"), a["containment"], a.get("span_f1", "—"), a.get("span_em", "—")),
                    *(a["f1"], a["em"], a["abstention"], a["median_chars"], ms(a["p50_ms"])),
                ]
            ],
        ),
        "",
        "Span F1/EM: SQuAD's measure of the whole answer against the best reference. Best-window F1/EM: of the "
        "answer's window that best matches a reference (generous to whole-sentence answers).",
        "",
        "## Published MTEB figures of the candidate embedders",
        "",
        f"{mteb['status'].capitalize()}. {mteb['note']}",
        "",
        *[f"- consulted: <{url}>" for url in mteb["consulted"]],
        "",
    ]
    return "\n".join(lines)


def write_piaf(report: dict[str, Any], out: Path, name: str = "piaf") -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.md`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(piaf_markdown(report), encoding="utf-8")
    return json_path, md_path


PIAF_GATED = ("ndcg@10", "r@1", "r@5", "r@10", "mrr@10")
"""Retrieval metrics the PIAF gate checks for every method; answers are gated on containment, F1 and EM (best
window and whole span)."""


def compare_piaf(current: dict[str, Any], baseline: dict[str, Any], tolerance: float) -> list[str]:
    """Every gated metric that dropped by more than ``tolerance`` against ``baseline`` (empty: the gate passes).
    Reports of different samples or embedders are not comparable: that is a failure too."""
    drops: list[str] = []
    for key in ("sample", "embedder"):
        if current.get(key) != baseline.get(key):
            return [f"{key} differs: {current.get(key)!r} vs baseline {baseline.get(key)!r}"]
    now_reader, base_reader = current["answers"].get("reader", "none"), baseline["answers"].get("reader", "none")
    if now_reader != base_reader:
        return [f"reader differs: {now_reader!r} vs baseline {base_reader!r}"]
    pairs = [
        (f"{method} {metric}", current["retrieval"].get(method, {}).get(metric), values.get(metric))
        for method, values in baseline["retrieval"].items()
        for metric in PIAF_GATED
    ]
    pairs += [
        (f"answers {m}", current["answers"].get(m), baseline["answers"].get(m))
        for m in ("containment", "f1", "em", "span_f1", "span_em")
    ]
    for label, now, before in pairs:
        if before is None:
            continue
        if now is None or now < before - tolerance:
            drops.append(f"{label}: {before:.3f} -> {'missing' if now is None else f'{now:.3f}'}")
    return drops
