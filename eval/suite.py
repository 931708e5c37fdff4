"""The gold evaluation suite: runs ``eval/gold.jsonl`` through search and answering, scores every question.

Two targets share one scoring path:

- **in process** (:class:`InProcessTarget`): a temporary seed index per embedder, ``CorpusIndex.search`` and
  ``AnswerService.ask`` timed separately (``retrieval``, ``answer``; ``total`` is their sum — the answer
  retrieves again but reuses the remembered query vector);
- **over HTTP** (:class:`HttpTarget`): the public ``POST /v1/search`` and ``POST /v1/ask`` of a running server;
  only ``total`` latency is reported (the round trip of ``/v1/ask``). Document texts, needed to locate the
  evidence and to check citation quotes, are read from the seeds folder.

Retrieval is scored on the top :data:`RETRIEVAL_K` chunks at span level (``eval.metrics.span_retrieval_metrics``),
answers on the answer service's default ``top_k`` of :data:`ANSWER_K` passages.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from eval.metrics import (
    SpanRef,
    abstention_scores,
    citation_precision,
    contains_answer,
    locate_evidence,
    mean_metrics,
    percentile,
    span_retrieval_metrics,
    squad_scores,
)
from rag.settings import METHODS, MODES

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "eval" / "gold.jsonl"
SEEDS = ROOT / "seeds"
REPORTS = ROOT / "eval" / "reports"
RETRIEVAL_K = 10
ANSWER_K = 5
RETRIEVAL_METRICS = ("ndcg@10", "r@1", "r@5", "r@10", "mrr@10")
ANSWER_METRICS = (
    "answer_accuracy",
    "overall_accuracy",
    "f1",
    "em",
    "wrong_refusals",
    "citation_precision",
    "citation_exactness",
    "abstention_precision",
    "abstention_recall",
)
QUALITY_METRICS = (*RETRIEVAL_METRICS, *(m for m in ANSWER_METRICS if m != "wrong_refusals"))
"""Higher-is-better ratios that the regression gate checks (latency and answer length are left out;
``wrong_refusals`` is lower-is-better and is covered by ``answer_accuracy`` and ``abstention_precision``)."""
LATENCY_STAGES = ("retrieval", "answer", "total")


@dataclass(frozen=True)
class GoldItem:
    """One gold question with its located evidence spans (empty for unanswerable questions)."""

    id: str
    question: str
    type: str
    answerable: bool
    answers: list[str]
    answers_all: list[str]
    evidence: list[SpanRef]


@dataclass(frozen=True)
class Config:
    """One evaluated configuration: embedder × retrieval method × answer mode."""

    embedder: str
    method: str
    mode: str

    @property
    def key(self) -> str:
        """``embedder/method/mode``: how reports and the comparison match configurations."""
        return f"{self.embedder}/{self.method}/{self.mode}"


@dataclass
class Outcome:
    """What one target returned for one question."""

    ranked: list[SpanRef]
    answer: str
    abstained: bool
    citations: list[dict[str, Any]]
    latency_ms: dict[str, float]
    error: str | None = None


class Target(Protocol):
    """Something that can search and answer: the in-process pipeline or a running server."""

    def documents(self) -> dict[str, str]:
        """Document id → original text."""
        ...

    def run(self, question: str, config: Config) -> Outcome:
        """Search (top :data:`RETRIEVAL_K`) and answer (top :data:`ANSWER_K`) one question."""
        ...


@dataclass
class SuiteResult:
    """A finished run: per configuration, the aggregate, the per-type aggregates and every question."""

    name: str
    target: str
    configurations: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The report's JSON shape (``eval/reports/<name>.json``)."""
        return {
            "suite": "gold",
            "name": self.name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": self.target,
            "settings": {"retrieval_k": RETRIEVAL_K, "answer_k": ANSWER_K, "evidence_share": 0.5},
            "wall_seconds": round(self.wall_seconds, 2),
            "configurations": self.configurations,
        }


def read_gold(path: Path = GOLD) -> list[dict[str, Any]]:
    """The raw gold items, one JSON object a line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_items(raw: Iterable[dict[str, Any]], documents: dict[str, str]) -> list[GoldItem]:
    """Gold items with their evidence located by ``str.find`` in the document texts. Multi-document items use
    ``evidence_all`` (each evidence a separate relevant item). A missing evidence is an error: the gold set
    and the corpus disagree."""
    items = []
    for record in raw:
        pairs: list[tuple[str, str]]
        if record.get("evidence_all"):
            pairs = [(e["document"], e["evidence"]) for e in record["evidence_all"]]
        elif record.get("evidence") and record.get("documents"):
            pairs = [(record["documents"][0], record["evidence"])]
        else:
            pairs = []
        spans = []
        for doc_id, text in pairs:
            span = locate_evidence(documents.get(doc_id, ""), text, doc_id)
            if span is None:
                raise ValueError(f"{record['id']}: evidence not found in document {doc_id!r}: {text[:60]!r}")
            spans.append(span)
        items.append(
            GoldItem(
                id=record["id"],
                question=record["question"],
                type=record["type"],
                answerable=bool(record["answerable"]),
                answers=list(record.get("answers") or []),
                answers_all=list(record.get("answers_all") or []),
                evidence=spans,
            )
        )
    return items


# -- targets -----------------------------------------------------------------------------------------


class IndexTarget:
    """A loaded index and its answer service in this process: ``CorpusIndex.search`` and ``AnswerService.ask``
    timed separately. ``POST /v1/eval`` uses it on the live index."""

    def __init__(self, index: Any, service: Any, embedder: str = "live") -> None:
        self.index = index
        self.service = service
        self.embedder = embedder

    def documents(self) -> dict[str, str]:
        """Document id → text, from the index."""
        return {doc_id: doc.text for doc_id, doc in self.index.documents.items()}

    def check(self, config: Config) -> None:
        """Fail early when a configuration cannot run (generative mode without an LLM backend)."""
        if config.mode == "generative":
            self.service.generator()

    def run(self, question: str, config: Config) -> Outcome:
        """Search then answer, each timed on its own."""
        from rag.errors import RagError

        error = None
        began = time.perf_counter()
        try:
            hits = self.index.search(question, top_k=RETRIEVAL_K, method=config.method)
        except RagError as exc:  # an unsearchable question (only stopwords): no hit
            hits, error = [], f"search: {exc}"
        searched = time.perf_counter()
        try:
            answer = self.service.ask(question, mode=config.mode, top_k=ANSWER_K, method=config.method)
            text, abstained = answer.answer, not answer.answerable
            citations = [c.model_dump() for c in answer.citations]
        except RagError as exc:
            text, abstained, citations, error = "", True, [], f"ask: {exc}"
        answered = time.perf_counter()
        return Outcome(
            ranked=[SpanRef(h.chunk.document_id, h.chunk.start, h.chunk.end) for h in hits],
            answer=text,
            abstained=abstained,
            citations=citations,
            latency_ms={
                "retrieval": (searched - began) * 1000,
                "answer": (answered - searched) * 1000,
                "total": (answered - began) * 1000,
            },
            error=error,
        )


class InProcessTarget(IndexTarget):
    """The pipeline in this process over a temporary seed index built with one embedder."""

    def __init__(self, embedder: str, seeds: Path = SEEDS, workdir: Path | None = None) -> None:
        from rag.answering.answer_service import AnswerService
        from rag.index_build import build_index
        from rag.settings import Settings, get_settings

        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="rag-eval-")
        base = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        data = {**get_settings().model_dump(), "index_dir": base / f"index-{embedder}", "seeds_dir": seeds}
        self.settings = Settings(**{**data, "embedder": embedder})
        index, self.stats = build_index(self.settings, seeds)
        super().__init__(index, AnswerService(index, self.settings), embedder)

    def close(self) -> None:
        """Remove the temporary index."""
        if self._tmp is not None:
            self._tmp.cleanup()


class HttpTarget:
    """A running server, through ``POST /v1/search`` and ``POST /v1/ask``."""

    def __init__(self, url: str, seeds: Path = SEEDS, client: Any = None, timeout: float = 120.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout)
        self.seeds = seeds

    def documents(self) -> dict[str, str]:
        """Document id → text, read from the seeds folder (the API does not serve whole documents)."""
        from rag.ingest import iter_source

        return {doc.id: doc.text for doc in iter_source(self.seeds)}

    def check(self, config: Config) -> None:
        """Nothing to check up front: the server answers 400 to a mode it cannot serve."""

    def run(self, question: str, config: Config) -> Outcome:
        """Search then ask; only the ``/v1/ask`` round trip is reported (as ``total``)."""
        error = None
        response = self.client.post(
            "/v1/search", json={"query": question, "top_k": RETRIEVAL_K, "method": config.method}
        )
        if response.status_code == 200:
            ranked = [
                SpanRef(d["chunk"]["document_id"], d["chunk"]["start"], d["chunk"]["end"])
                for d in response.json()["data"]
            ]
        elif response.status_code in (400, 422):
            ranked, error = [], f"search: HTTP {response.status_code}"
        else:
            response.raise_for_status()
        began = time.perf_counter()
        response = self.client.post(
            "/v1/ask", json={"question": question, "top_k": ANSWER_K, "mode": config.mode, "method": config.method}
        )
        total = (time.perf_counter() - began) * 1000
        if response.status_code == 200:
            body = response.json()
            text, abstained, citations = body["answer"], not body["answerable"], body.get("citations", [])
        elif response.status_code == 422:
            text, abstained, citations, error = "", True, [], f"ask: HTTP {response.status_code}"
        else:
            raise RuntimeError(f"{self.url}/v1/ask answered {response.status_code}: {response.text[:200]}")
        return Outcome(ranked, text, abstained, citations, {"total": total}, error)

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


# -- scoring -----------------------------------------------------------------------------------------


def score_question(item: GoldItem, outcome: Outcome, documents: dict[str, str]) -> dict[str, Any]:
    """Every per-question figure of one outcome (the JSON report keeps them all)."""
    row: dict[str, Any] = {
        "id": item.id,
        "type": item.type,
        "answerable": item.answerable,
        "question": item.question,
        "answer": outcome.answer,
        "abstained": outcome.abstained,
        "latency_ms": {k: round(v, 2) for k, v in outcome.latency_ms.items()},
    }
    if outcome.error:
        row["error"] = outcome.error
    if item.evidence:
        metrics = span_retrieval_metrics(outcome.ranked, item.evidence)
        row["retrieval"] = {k: round(v, 6) for k, v in metrics.items()}
        row["hit@5"] = metrics["r@5"] > 0
    if item.answerable:
        row["correct"] = (not outcome.abstained) and contains_answer(outcome.answer, item.answers, item.answers_all)
        f1, em = (0.0, 0.0) if outcome.abstained else squad_scores(outcome.answer, item.answers)
        row["f1"], row["em"] = round(f1, 6), em
    else:
        row["correct"] = outcome.abstained
    spans = [SpanRef(c["document_id"], c["start"], c["end"]) for c in outcome.citations]
    row["citations"] = len(spans)
    row["citations_precise"] = citation_precision(spans, item.evidence)[0]
    row["citations_exact"] = sum(1 for c in outcome.citations if _exact(c, documents.get(c["document_id"], "")))
    if any(c.get("page") for c in outcome.citations):  # a paged corpus (PDF): where each citation says it is
        row["cited_pages"] = [[c["document_id"], c["start"], c["end"], c.get("page")] for c in outcome.citations]
    return row


def _exact(citation: dict[str, Any], text: str) -> bool:
    """The quote is ``text[start:end]`` and, when the citation carries one, its context is
    ``text[context_start:context_end]`` and encloses the quote."""
    if text[citation["start"] : citation["end"]] != citation["quote"]:
        return False
    if citation.get("context") is None:
        return True
    cs, ce = citation.get("context_start"), citation.get("context_end")
    return (
        cs is not None
        and ce is not None
        and cs <= citation["start"] <= citation["end"] <= ce
        and text[cs:ce] == citation["context"]
    )


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate figures over per-question rows (``None`` where a ratio has no denominator)."""
    answerable = [r for r in rows if r["answerable"]]
    with_evidence = [r for r in rows if "retrieval" in r]
    cited = sum(r["citations"] for r in rows)
    lengths = [len(r["answer"]) for r in rows if not r["abstained"]]
    out: dict[str, Any] = {
        "questions": len(rows),
        "answerable": len(answerable),
        "with_evidence": len(with_evidence),
    }
    retrieval = mean_metrics([r["retrieval"] for r in with_evidence])
    for key in RETRIEVAL_METRICS:
        out[key] = retrieval.get(key)

    def ratio(num: float, den: float) -> float | None:
        return num / den if den else None

    out["answer_accuracy"] = ratio(sum(r["correct"] for r in answerable), len(answerable))
    out["overall_accuracy"] = ratio(sum(r["correct"] for r in rows), len(rows))
    out["f1"] = ratio(sum(r["f1"] for r in answerable), len(answerable))
    out["em"] = ratio(sum(r["em"] for r in answerable), len(answerable))
    out["wrong_refusals"] = ratio(sum(r["abstained"] for r in answerable), len(answerable))
    out["citation_precision"] = ratio(sum(r["citations_precise"] for r in rows), cited)
    out["citation_exactness"] = ratio(sum(r["citations_exact"] for r in rows), cited)
    out.update(abstention_scores([r["abstained"] for r in rows], [not r["answerable"] for r in rows]))
    out["citations"] = cited
    out["median_answer_chars"] = statistics.median(lengths) if lengths else None
    latency: dict[str, dict[str, float]] = {}
    for stage in LATENCY_STAGES:
        values = [r["latency_ms"][stage] for r in rows if stage in r["latency_ms"]]
        if values:
            latency[stage] = {"p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2)}
    out["latency_ms"] = latency
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def evaluate(
    target: Target,
    config: Config,
    raw_items: Sequence[dict[str, Any]],
    *,
    progress: bool = True,
    documents: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run every gold question of one configuration; the configuration's report block."""
    from tqdm import tqdm

    documents = documents if documents is not None else target.documents()
    items = load_items(raw_items, documents)
    rows = []
    for item in tqdm(items, desc=config.key, unit="q", file=sys.stderr, disable=not progress, leave=False):
        rows.append(score_question(item, target.run(item.question, config), documents))
    by_type = {t: aggregate([r for r in rows if r["type"] == t]) for t in sorted({r["type"] for r in rows})}
    return {
        "key": config.key,
        "embedder": config.embedder,
        "method": config.method,
        "mode": config.mode,
        "aggregate": aggregate(rows),
        "by_type": by_type,
        "questions": rows,
    }


def configurations(embedders: Sequence[str], methods: Sequence[str], modes: Sequence[str]) -> list[Config]:
    """The cartesian product, validated (unknown methods or modes raise ``ValueError``)."""
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r} ({', '.join(METHODS)})")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} ({', '.join(MODES)})")
    return [Config(e, m, a) for e in embedders for m in methods for a in modes]


def run_suite(
    name: str,
    *,
    embedders: Sequence[str] = ("e5",),
    methods: Sequence[str] = ("hybrid",),
    modes: Sequence[str] = ("extractive",),
    url: str | None = None,
    gold: Path = GOLD,
    seeds: Path = SEEDS,
    progress: bool = True,
    client: Any = None,
) -> SuiteResult:
    """Run the gold suite for every configuration, in process (one seed index per embedder) or against
    ``url``. Over HTTP the embedder is the server's: the configurations are keyed ``http/<method>/<mode>``."""
    raw = read_gold(gold)
    began = time.perf_counter()
    result = SuiteResult(name=name, target=url or "in-process")
    if url is not None or client is not None:
        target = HttpTarget(url or "http://testserver", seeds, client=client)
        try:
            documents = target.documents()
            for config in configurations(["http"], methods, modes):
                result.configurations.append(evaluate(target, config, raw, progress=progress, documents=documents))
        finally:
            if client is None:
                target.close()
    else:
        for embedder in embedders:
            local = InProcessTarget(embedder, seeds)
            try:
                documents = local.documents()
                for config in configurations([embedder], methods, modes):
                    local.check(config)
                    block = evaluate(local, config, raw, progress=progress, documents=documents)
                    block["index"] = {
                        "documents": local.stats.documents,
                        "chunks": local.stats.chunks,
                        "build_seconds": round(local.stats.seconds, 2),
                    }
                    result.configurations.append(block)
            finally:
                local.close()
    result.wall_seconds = time.perf_counter() - began
    return result
