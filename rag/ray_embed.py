"""Embedding a corpus on a Ray cluster (Ray Data), for builds that outgrow one machine.

``rag index build SOURCE --ray ADDRESS`` runs in two passes:

1. This module streams SOURCE, chunks it exactly as the index will, and sends the passages that the content-hash
   embedding cache does not hold yet to Ray Data in blocks: ``map_batches`` over a pool of embedding actors, one
   per ``threads_per_worker`` CPUs of the cluster. The vectors come back to the driver and go into the cache.
2. The ordinary build runs; every passage is a cache hit, so it writes the same index as a single-process build.

Memory on the driver stays bounded by the block size. The workers need the ``rag`` package (same version) and the
embedder's model: on a local instance they share this environment. Needs the ``ray`` extra.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag import extras
from rag.chunking import Chunker, embedded_texts
from rag.embedders import get_embedder
from rag.embedders.cache import CachedEmbedder
from rag.errors import RagError
from rag.ingest import iter_source
from rag.settings import Settings

EMBEDDER_FIELDS = ("embedder", "embedder_model", "query_prefix", "passage_prefix", "embed_batch_size")


class RayError(RagError):
    """The Ray cluster could not be reached or the embedding job failed."""

    code = "ray_error"
    status = 503


@dataclass
class RayEmbedStats:
    """What the distributed pass did."""

    passages: int = 0
    cached: int = 0
    embedded: int = 0
    workers: int = 0
    seconds: float = 0.0

    @property
    def passages_per_s(self) -> float:
        """Embedding throughput of the cluster (passages actually embedded per second of the pass)."""
        return self.embedded / self.seconds if self.seconds else 0.0


def cached_embedder(settings: Settings) -> CachedEmbedder:
    """The configured embedder behind the embedding cache (required: it carries the vectors to the build)."""
    if settings.embed_cache_dir is None:
        raise RayError("--ray needs the embedding cache: set RAG_EMBED_CACHE_DIR")
    return CachedEmbedder(get_embedder(settings.embedder, settings, cached=False), settings.embed_cache_dir)


class _EmbedActor:
    """A Ray Data actor: loads the embedder once, then embeds batches of passages."""

    def __init__(self, config: dict[str, Any], threads: int) -> None:
        from rag.threads import limit_threads

        limit_threads(threads)
        settings = Settings(**config, threads=threads, embed_cache_dir=None, _env_file=None)
        self.embedder = get_embedder(settings.embedder, settings, cached=False)
        self.embedder.warm_up()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed_passages([str(t) for t in batch["text"]])
        return {"key": batch["key"], "vector": vectors}


def _ray() -> Any:
    return extras.load("ray", "--ray", "ray")


def connect(address: str, threads_per_worker: int) -> bool:
    """Join the cluster at ``address`` (``auto``: a local instance, started if none runs); True if this call
    started Ray (the caller shuts it down)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    env = {
        "env_vars": {
            "OMP_NUM_THREADS": str(threads_per_worker),
            "OMP_WAIT_POLICY": "PASSIVE",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    }
    kwargs: dict[str, Any] = {
        "runtime_env": env,
        "log_to_driver": False,
        "include_dashboard": False,
        "logging_level": logging.WARNING,
    }
    try:
        if address in ("auto", "local"):
            ray.init(object_store_memory=256 * 1024 * 1024, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayError(f"cannot join the Ray cluster at {address!r}: {exc}") from exc
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return True


def embed_on_ray(
    settings: Settings,
    source: Path,
    address: str,
    *,
    threads_per_worker: int = 1,
    workers: int = 0,
    block: int = 20_000,
    progress: Callable[[RayEmbedStats], None] | None = None,
) -> RayEmbedStats:
    """Fill the embedding cache with the vectors of every passage of ``source`` (and of its sentences, when the
    build stores sentence vectors), computed on the Ray cluster."""
    from rag.index_build import unique

    cache = cached_embedder(settings)
    cache.warm_up()
    started = connect(address, threads_per_worker)
    ray = _ray()
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        stats = RayEmbedStats(workers=workers or max(1, cpus // threads_per_worker))
        config = {name: getattr(settings, name) for name in EMBEDDER_FIELDS}
        chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap)
        pending: dict[bytes, str] = {}
        began = time.perf_counter()

        def flush() -> None:
            keys = list(pending)
            known = cache.cached(keys)
            todo = [{"key": k, "text": pending[k]} for k in keys if k not in known]
            stats.cached += len(keys) - len(todo)
            pending.clear()
            if not todo:
                return
            dataset = ray.data.from_items(todo).map_batches(
                _EmbedActor,
                fn_constructor_kwargs={"config": config, "threads": threads_per_worker},
                batch_size=settings.embed_batch_size,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=min(stats.workers, len(todo))),
                num_cpus=threads_per_worker,
            )
            for batch in dataset.iter_batches(batch_size=1024, batch_format="numpy"):
                cache.put([bytes(k) for k in batch["key"]], np.asarray(batch["vector"], dtype=np.float32))
                stats.embedded += len(batch["key"])
                stats.seconds = time.perf_counter() - began
                if progress:
                    progress(stats)

        for doc in unique(iter_source(source)):
            for span in chunker.split(doc):
                for text in embedded_texts(doc.text, span.start, span.end, settings.sentence_vectors):
                    pending.setdefault(CachedEmbedder.key(text), text)
                stats.passages += 1
            if len(pending) >= block:
                flush()
        flush()
        stats.seconds = time.perf_counter() - began
        return stats
    except RagError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("ray"):
            raise RayError(f"the Ray embedding job failed: {exc}") from exc
        raise
    finally:
        if started:
            ray.shutdown()
