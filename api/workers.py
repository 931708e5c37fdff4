"""``rag serve --workers N``: N server processes on one listening socket, over one index folder.

The parent builds the index from the seeds if there is none (once, not once per worker), binds the socket and
supervises the workers: a worker that dies is replaced; SIGTERM (or SIGINT) is passed on to every worker, which
drains as ``rag serve`` does, and the parent exits once they all have.

Each worker loads the published generation itself: the FAISS index and the BM25 terms are in each worker's
memory, while the memory-mapped files (the e5 model, the sentence vectors, an IVF-PQ index's full vectors) are
shared through the page cache. A change made through one worker is published as a new generation, and the others
serve it within ``RAG_REFRESH_SECONDS`` (:meth:`rag.corpus.loading.IndexLoading.refresh`).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from types import FrameType

import uvicorn

from rag.errors import IndexMissingError, RagError
from rag.settings import Settings, get_settings

log = logging.getLogger("rag.api")


def ensure_index(settings: Settings) -> None:
    """Build the index from the seeds when the folder has no published generation (what one server's lifespan
    does; done here so that N workers do not race to build it). A damaged index is left to the workers, which
    serve its newest sound generation."""
    from index.manifest import read_manifest
    from rag.service import build_index

    try:
        read_manifest(settings.index_dir)
    except IndexMissingError:
        log.info("no index in %s: building it from %s", settings.index_dir, settings.seeds_dir)
        build_index(settings, settings.seeds_dir)
    except RagError:  # a damaged manifest: each worker serves the newest sound generation and says so on /ready
        return


def run_worker(sockets: list[socket.socket] | None = None) -> None:
    """One worker process: the app, served on the socket the parent bound (uvicorn calls this in the child)."""
    from api.app import create_app
    from api.lifecycle import DrainingServer

    get_settings.cache_clear()
    settings = get_settings()
    api = create_app(settings)
    config = uvicorn.Config(api, host=settings.host, port=settings.port, log_level="info")
    DrainingServer(config, api.state.index_state, settings.drain_seconds).run(sockets=sockets)


def serve_workers(settings: Settings, workers: int) -> None:
    """Serve with ``workers`` processes until SIGTERM/SIGINT (passed on to the workers, which drain)."""
    ensure_index(settings)
    config = uvicorn.Config("api.app:create_app", factory=True, host=settings.host, port=settings.port)
    sock = config.bind_socket()
    multiprocessing.allow_connection_pickling()  # the listening socket travels to each spawned worker
    spawn = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def start() -> multiprocessing.process.BaseProcess:
        process = spawn.Process(target=run_worker, kwargs={"sockets": [sock]}, name="rag-worker")
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    log.info(
        "serving on http://%s:%d with %d workers %s", settings.host, settings.port, workers, [p.pid for p in processes]
    )

    def on_signal(sig: int, frame: FrameType | None) -> None:
        stopping.set()
        for process in processes:
            if process.pid is not None and process.is_alive():
                process.terminate()  # SIGTERM: the worker drains (a second one ends its drain)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping.wait(0.5):
            for i, process in enumerate(processes):
                if not process.is_alive():
                    log.error("worker %s exited (%s): starting another", process.pid, process.exitcode)
                    processes[i] = start()
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
