"""The ``rag`` command line: build and inspect the index, search it, serve the API."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from eval.cli import eval_app
from rag import extras
from rag.errors import RagError
from rag.settings import METHODS, Settings, get_settings
from rag.threads import limit_threads

app = typer.Typer(
    help="French-first retrieval-augmented question answering.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
index_app = typer.Typer(help="Build and maintain the index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")

IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index directory (default: RAG_INDEX_DIR).")]
EmbedderOpt = Annotated[str | None, typer.Option("--embedder", help="Embedder name (default: RAG_EMBEDDER).")]


def _settings(index: Path | None = None, embedder: str | None = None, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if index is not None:
        overrides["index_dir"] = index
    if embedder is not None:
        overrides["embedder"] = embedder
    base = get_settings()
    settings = Settings(**{**base.model_dump(), **overrides}) if overrides else base
    extras.check_configured(settings)  # before anything is read or written
    limit_threads(settings.threads)
    return settings


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@index_app.command("build")
def index_build(
    source: Annotated[
        Path | None, typer.Argument(help="Folder of .txt/.md/.html/.pdf/.docx files or a .jsonl file.")
    ] = None,
    index: IndexOpt = None,
    embedder: EmbedderOpt = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Embed on a Ray cluster first (ray://HOST:10001, HOST:6379, or auto: a local instance); "
            "needs the ray extra.",
        ),
    ] = None,
    ray_threads: Annotated[int, typer.Option("--ray-threads", min=1, help="CPUs (threads) per Ray worker.")] = 1,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar with throughput and ETA (default: on a terminal)."),
    ] = None,
) -> None:
    """Build a fresh index from SOURCE (default: the seeds folder) and publish it.

    The source is streamed and embedded in batches (RAG_EMBED_BATCH_SIZE); identical passages are stored once.
    Embeddings are kept in a content-hash cache (RAG_EMBED_CACHE_DIR), so an interrupted build resumes where it
    stopped when run again: finished batches come from the cache instead of the model.
    """
    from rag.embedders.cache import CachedEmbedder
    from rag.index_build import build_index

    settings = _settings(index, embedder)
    src = source or settings.seeds_dir
    show = sys.stderr.isatty() if progress is None else progress
    embedder_obj = None
    if ray_address is not None:
        from rag.ray_embed import cached_embedder, embed_on_ray

        embedder_obj = cached_embedder(settings)
        ray_stats = embed_on_ray(settings, src, ray_address, threads_per_worker=ray_threads)
        typer.echo(
            f"ray: {ray_stats.passages} passages, {ray_stats.cached} already cached, {ray_stats.embedded} embedded "
            f"by {ray_stats.workers} workers in {ray_stats.seconds:.1f}s ({ray_stats.passages_per_s:.1f} passages/s)"
        )
    began = time.perf_counter()
    bar = _BuildProgress(src, began) if show else None
    try:
        built, stats = build_index(settings, src, embedder=embedder_obj, progress=bar.update if bar else False)
    except KeyboardInterrupt:
        if bar:
            bar.close()
        cached = " (their vectors are cached)" if settings.embed_cache_dir else ""
        typer.echo(
            f"interrupted: {bar.passages if bar else 'the'} passages embedded so far{cached}; "
            "run the same command again to resume without re-embedding them",
            err=True,
        )
        raise typer.Exit(code=130) from None
    if bar:
        bar.close()
    seconds = time.perf_counter() - began
    cache = built.embedder if isinstance(built.embedder, CachedEmbedder) else None
    embedded = cache.misses if cache else stats.chunks - stats.duplicates
    from_cache = f", {cache.hits} from the cache" if cache else ""
    typer.echo(
        f"indexed {stats.documents} documents, {stats.chunks} chunks ({stats.duplicates} duplicates) in "
        f"{seconds:.1f}s, {stats.chunks / max(seconds, 1e-9):.1f} passages/s; embedding {embedded} passages in "
        f"{stats.embed_seconds:.1f}s ({embedded / max(stats.embed_seconds, 1e-9):.1f} passages/s){from_cache} "
        f"-> {settings.index_dir} version {built.version}"
    )


class _BuildProgress:
    """A tqdm bar over the source's documents, with passages, throughput and cache hits as it goes."""

    def __init__(self, source: Path, began: float) -> None:
        from tqdm import tqdm

        self.began = began
        self.passages = 0
        self._bar = tqdm(total=_count_documents(source), unit="doc", file=sys.stderr, dynamic_ncols=True)

    def update(self, stats: Any) -> None:
        """Called after each embedded batch with the running totals."""
        self._bar.update(stats.documents - self._bar.n)
        self.passages = stats.chunks
        rate = stats.chunks / max(time.perf_counter() - self.began, 1e-9)
        self._bar.set_postfix_str(f"{stats.chunks} passages, {rate:.1f} passages/s, {stats.duplicates} dup")

    def close(self) -> None:
        """Leave the last state on screen."""
        self._bar.close()


def _count_documents(source: Path) -> int | None:
    """Documents in a source, counted without parsing them (JSONL lines, files): the bar's total for the ETA."""
    from rag.ingest import SUFFIXES

    try:
        if source.is_dir():
            return sum(1 for p in source.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if source.suffix.lower() == ".jsonl":
            with source.open("rb") as handle:
                return sum(1 for line in handle if line.strip())
        return 1 if source.is_file() else None
    except OSError:
        return None


@index_app.command("info")
def index_info(index: IndexOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the published index's manifest."""
    from index.generations import current

    settings = _settings(index)
    manifest, _ = current(settings.index_dir)
    data = manifest.model_dump()
    data["version"] = manifest.version
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for key in (
        "version",
        "created_at",
        "embedder_name",
        "embedder",
        "dimension",
        "chunker",
        "analyzer",
        "vector_store",
        "lexical_index",
        "counts",
        "corpus_fingerprint",
    ):
        typer.echo(f"{key:20} {data[key]}")


@index_app.command("add")
def index_add(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders or .jsonl files to add.")],
    index: IndexOpt = None,
) -> None:
    """Add (or replace) documents in the index without rebuilding it."""
    from rag.corpus_index import CorpusIndex
    from rag.errors import IndexMissingError
    from rag.formats import Limits
    from rag.index_build import unique
    from rag.ingest import iter_source

    settings = _settings(index)
    limits = Limits.of(settings)
    docs = [doc for path in paths for doc in iter_source(path, limits)]  # read everything before touching the index
    docs = list(unique(docs))
    try:
        target = CorpusIndex.load(settings)
    except IndexMissingError:
        target = CorpusIndex(settings)
    stats = target.add_documents(docs)
    typer.echo(f"added {stats.documents} documents, {stats.chunks} chunks -> version {target.version}")


@index_app.command("remove")
def index_remove(
    doc_id: Annotated[str, typer.Argument(help="Document id (file stem).")], index: IndexOpt = None
) -> None:
    """Remove a document from the index."""
    from rag.corpus_index import CorpusIndex

    target = CorpusIndex.load(_settings(index))
    target.remove_document(doc_id)
    typer.echo(f"removed {doc_id} -> version {target.version}")


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in natural language.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=50, help="Number of hits.")] = 5,
    method: Annotated[str, typer.Option("--method", help="hybrid, dense or lexical.")] = "hybrid",
    document: Annotated[list[str] | None, typer.Option("--document", help="Only these document ids.")] = None,
    after: Annotated[str | None, typer.Option("--after", help="Published on or after (YYYY[-MM[-DD]]).")] = None,
    before: Annotated[str | None, typer.Option("--before", help="Published on or before.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's search response.")] = False,
    index: IndexOpt = None,
) -> None:
    """Search the index and print the best passages."""
    from pydantic import ValidationError

    from rag.corpus_index import CorpusIndex
    from rag.filters import DATE_HELP, Filters
    from rag.serialize import search_response

    if method not in METHODS:
        _fail(f"unknown method {method!r} ({', '.join(METHODS)})")
    try:
        filters = Filters(document_ids=document or None, published_after=after, published_before=before)
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"--after/--before: {DATE_HELP}" if str(first["loc"][0]).startswith("published") else first["msg"])
    target = CorpusIndex.load(_settings(index))
    hits = target.search(query, top_k=k, method=method, filters=filters)
    if as_json:
        typer.echo(json.dumps(search_response(hits, target.version), ensure_ascii=False, indent=2))
        return
    if not hits:
        typer.echo("no passage found")
    for n, hit in enumerate(hits, 1):
        text = " ".join(hit.chunk.text.split())
        typer.echo(f"{n}. [{hit.score:.4f}] {hit.chunk.key} — {hit.document.title}\n   {text[:300]}")


@app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="A question in natural language (French or English).")],
    mode: Annotated[str, typer.Option("--mode", help="extractive or generative (default: RAG_ANSWER_MODE).")] = "",
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=50, help="Passages retrieved.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's answer object.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Include the retrieval trace.")] = False,
    index: IndexOpt = None,
) -> None:
    """Answer a question from the index, with exact citations (or say that the documents do not say)."""
    from rag.answering.answer_service import AnswerService
    from rag.corpus_index import CorpusIndex

    if mode not in ("", "extractive", "generative"):
        _fail(f"unknown mode {mode!r} (extractive or generative)")
    settings = _settings(index)
    service = AnswerService(CorpusIndex.load(settings), settings)
    answer = service.ask(question, mode=mode or None, top_k=k, debug=debug)  # type: ignore[arg-type]
    if as_json:
        typer.echo(
            json.dumps(
                {**answer.model_dump(exclude_none=True), "index_version": service.index.version},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    typer.echo(answer.answer)
    if answer.degraded:
        typer.echo("(LLM unavailable: extractive answer)")
    for c in answer.citations:
        typer.echo(f"  [{c.n}] {c.title} — {c.document_id}[{c.start}:{c.end}]")
        if c.context and c.context != c.quote:
            typer.echo(f"      « {' '.join(c.context.split())} »")
    for s in answer.see_also:
        typer.echo(f"  see also: {s.title} — {s.chunk_id}")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    index: IndexOpt = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=64, help="Server processes (default: RAG_WORKERS, 1).")
    ] = None,
) -> None:
    """Serve the HTTP API (builds the index from the seeds first if there is none). On SIGTERM, /ready turns 503
    for RAG_DRAIN_SECONDS while requests are still served, then in-flight requests complete and it exits 0."""
    import os

    import uvicorn

    from api.app import create_app
    from api.lifecycle import DrainingServer
    from rag.reader.registry import get_reader

    settings = _settings(index, host=host, port=port, workers=workers)
    reader = get_reader(settings)
    if reader is not None:
        reader.warm_up()  # a missing or corrupt weights file: one line naming it, exit 1, before serving
    if index is not None:
        os.environ["RAG_INDEX_DIR"] = str(index)
    get_settings.cache_clear()
    if settings.workers > 1:
        from api.workers import serve_workers

        serve_workers(settings, settings.workers)
        return
    api = create_app()
    config = uvicorn.Config(api, host=settings.host, port=settings.port, log_level="info")
    DrainingServer(config, api.state.index_state, settings.drain_seconds).run()


def main() -> None:
    """Console entry point: typed errors become one line on stderr and exit code 1."""
    try:
        app()
    except RagError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
