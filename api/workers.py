"""``rag serve --workers N``: N server processes behind one listening socket, over one index folder.

The parent builds the index from the seeds if there is none (once, not once per worker), binds the socket,
accepts the connections and hands each one to the next worker in turn (round robin, the accepted socket passed
over a Unix socket pair), as Node's cluster module does: with workers accepting from a shared socket themselves,
whichever is awake first wins, and eight keep-alive clients could end up six on one worker and two on the other
(measured: a p99 twice the balanced one's). It supervises the workers: a worker that dies is replaced, and its
share of new connections goes to the others meanwhile; SIGTERM (or SIGINT) is passed on to every worker, which
drains as ``rag serve`` does, and the parent exits once they all have.

Each worker loads the published generation itself: the FAISS index and the BM25 terms are in each worker's
memory, while the memory-mapped files (the e5 model, the sentence vectors, an IVF-PQ index's full vectors) are
shared through the page cache. A change made through one worker is published as a new generation, and the others
serve it within ``RAG_REFRESH_SECONDS`` (:meth:`rag.corpus.loading.IndexLoading.refresh`).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import socket
import threading
from pathlib import Path
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
    from rag.index_build import build_index

    try:
        read_manifest(settings.index_dir)
    except IndexMissingError:
        log.info("no index in %s: building it from %s", settings.index_dir, settings.seeds_dir)
        build_index(settings, settings.seeds_dir)
    except RagError:  # a damaged manifest: each worker serves the newest sound generation and says so on /ready
        return


PF_EXITING = 0x4
"""The kernel's task flag for a process that is dying: set at once, while it frees its memory (seconds for a worker
holding the reader) and before it closes its descriptors."""


def exiting(pid: int | None) -> bool:
    """Whether process ``pid`` is dying or gone (Linux ``/proc``; elsewhere: never said)."""
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] in ("Z", "X") or bool(int(fields[6]) & PF_EXITING)


class Dispatcher:
    """The parent's accept loop: each accepted connection goes to the next live worker's channel."""

    def __init__(self, listener: socket.socket, workers: int) -> None:
        self.listener = listener
        self.channels: list[socket.socket | None] = [None] * workers
        self.pids: list[int | None] = [None] * workers
        self.stopping = threading.Event()
        self._next = 0
        self._lock = threading.Lock()

    def attach(self, slot: int) -> socket.socket:
        """A new channel for the worker in ``slot``; returns the worker's end (the old channel is closed)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with self._lock:
            old, self.channels[slot] = self.channels[slot], ours
        if old is not None:
            old.close()
        return theirs

    def run(self) -> None:
        """Accept until :attr:`stopping` is set (the listener's timeout lets it look)."""
        self.listener.settimeout(0.5)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                log.exception("accept failed")
                continue
            with conn:  # our copy: the worker holds its own descriptor once it has it
                if not self.hand(conn):
                    log.error("no live worker to take a connection: closed")

    def hand(self, conn: socket.socket) -> bool:
        """Pass ``conn`` to the next worker that takes it."""
        with self._lock:
            for _ in range(len(self.channels)):
                slot = self._next
                self._next = (self._next + 1) % len(self.channels)
                channel = self.channels[slot]
                if channel is None:
                    continue
                if exiting(self.pids[slot]):  # killed, still freeing its memory: its channel would swallow conn
                    channel.close()
                    self.channels[slot] = None
                    continue
                try:
                    socket.send_fds(channel, [b"c"], [conn.fileno()])
                    return True
                except OSError:  # the worker is gone: it gets a new channel when it is replaced
                    channel.close()
                    self.channels[slot] = None
        return False

    def close(self) -> None:
        self.stopping.set()
        with self._lock:
            for channel in self.channels:
                if channel is not None:
                    channel.close()
            self.channels = [None] * len(self.channels)


def _worker_server_class() -> type:
    """The worker's server: a :class:`~api.lifecycle.DrainingServer` fed connections by the parent's dispatcher
    instead of listening (defined on use: ``api.lifecycle`` loads the app's modules)."""
    from api.lifecycle import DrainingServer

    class HandOffServer(DrainingServer):
        def __init__(self, *args: object, channel: socket.socket, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.channel = channel
            self._handing: set[asyncio.Task[object]] = set()

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=[])  # no listening socket of its own
            self.channel.setblocking(False)
            asyncio.get_running_loop().add_reader(self.channel.fileno(), self._receive)

        def _receive(self) -> None:
            loop = asyncio.get_running_loop()
            try:
                message, fds, _, _ = socket.recv_fds(self.channel, 1, 4)
            except BlockingIOError:
                return
            except OSError:
                message, fds = b"", []
            if not message and not fds:  # the parent is gone: nothing more will come, stop
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)
                task = loop.create_task(loop.connect_accepted_socket(self._protocol, conn))
                self._handing.add(task)
                task.add_done_callback(self._handing.discard)

        def _protocol(self) -> asyncio.Protocol:
            return self.config.http_protocol_class(  # type: ignore[call-arg]
                config=self.config, server_state=self.server_state, app_state=self.lifespan.state
            )

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
            await super().shutdown(sockets)

    return HandOffServer


def run_worker(channel: socket.socket) -> None:
    """One worker process: the app, served on the connections the parent hands over ``channel``."""
    from api.app import create_app

    get_settings.cache_clear()
    settings = get_settings()
    api = create_app(settings)
    config = uvicorn.Config(api, host=settings.host, port=settings.port, log_level="info")
    server = _worker_server_class()(config, api.state.index_state, settings.drain_seconds, channel=channel)
    server.run()


def serve_workers(settings: Settings, workers: int) -> None:
    """Serve with ``workers`` processes until SIGTERM/SIGINT (passed on to the workers, which drain)."""
    ensure_index(settings)
    config = uvicorn.Config("api.app:create_app", factory=True, host=settings.host, port=settings.port)
    sock = config.bind_socket()
    sock.listen(config.backlog)  # uvicorn binds; listening is left to its server, which here is the dispatcher
    multiprocessing.allow_connection_pickling()  # each worker's channel end travels to its process
    spawn = multiprocessing.get_context("spawn")
    dispatcher = Dispatcher(sock, workers)
    stopping = threading.Event()

    def start(slot: int) -> multiprocessing.process.BaseProcess:
        theirs = dispatcher.attach(slot)
        process = spawn.Process(target=run_worker, kwargs={"channel": theirs}, name=f"rag-worker-{slot}")
        process.start()
        dispatcher.pids[slot] = process.pid
        theirs.close()
        return process

    processes = [start(slot) for slot in range(workers)]
    accepting = threading.Thread(target=dispatcher.run, name="rag-dispatch", daemon=True)
    accepting.start()
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
            for slot, process in enumerate(processes):
                if not process.is_alive():
                    log.error("worker %s exited (%s): starting another", process.pid, process.exitcode)
                    processes[slot] = start(slot)
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        dispatcher.close()
        sock.close()
