"""Micro-batching: concurrent callers' items are run together through one batch function.

A query embedding costs about as much for one query as for a few run together (the matrix products are too small
to fill a core), so a server answering many distinct questions at once gains by batching what arrives together.
:class:`MicroBatcher` keeps ``workers`` threads; each takes its fair share of the items waiting (those submitted
and not yet taken, divided among the workers, up to ``max_batch``), optionally waits ``max_wait_s`` for more, runs
the batch and hands each caller its row. So one caller's many items, alone, run on every worker at once, and under
load no worker idles while another holds the queue. With ``max_batch=1`` and several workers it is a plain pool of
engines; ``bench/query_engines.py`` measures which wins.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


class BatcherClosedError(RuntimeError):
    """The batcher was closed: no more items are taken."""


class MicroBatcher(Generic[T]):
    """Runs ``fn(items) -> rows`` over items submitted concurrently, in batches.

    ``fn`` gets a list of items and returns one row per item (an array with ``len(items)`` rows). An exception
    from ``fn`` is raised to every caller of that batch. Threads start lazily on the first :meth:`submit`.
    """

    def __init__(
        self,
        fn: Callable[[list[T]], np.ndarray],
        *,
        max_batch: int = 16,
        max_wait_s: float = 0.0,
        workers: int = 1,
        on_start: Callable[[], None] | None = None,
        name: str = "micro-batcher",
    ) -> None:
        if max_batch < 1 or workers < 1 or max_wait_s < 0:
            raise ValueError("max_batch and workers must be >= 1 and max_wait_s >= 0")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.workers = workers
        self.on_start = on_start
        self.name = name
        self._queue: queue.SimpleQueue[tuple[T, Future[np.ndarray]] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._closed = False
        self._pending = 0  # submitted and not yet taken: counted before they are queued, so a share sees them all
        self._pending_lock = threading.Lock()
        self.batches = 0
        self.items = 0

    def submit(self, item: T) -> np.ndarray:
        """The row for ``item`` (blocks until its batch has run)."""
        return self.submit_many([item])[0]

    def submit_many(self, items: Sequence[T]) -> list[np.ndarray]:
        """One row per item; the items may be batched with other callers'."""
        if self._closed:
            raise BatcherClosedError(f"{self.name} is closed")
        self._ensure_started()
        futures: list[Future[np.ndarray]] = []
        with self._pending_lock:
            self._pending += len(items)
        for item in items:
            future: Future[np.ndarray] = Future()
            self._queue.put((item, future))
            futures.append(future)
        return [f.result() for f in futures]

    @property
    def mean_batch(self) -> float:
        """Items per batch so far."""
        return self.items / self.batches if self.batches else 0.0

    def close(self) -> None:
        """Stop the worker threads once the queued items have run."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def _ensure_started(self) -> None:
        if len(self._threads) == self.workers:
            return
        with self._start_lock:
            while len(self._threads) < self.workers:
                thread = threading.Thread(target=self._run, name=f"{self.name}-{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _take(self) -> list[tuple[T, Future[np.ndarray]]] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        with self._pending_lock:
            share = min(self.max_batch, max(1, -(-self._pending // self.workers)))
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < share:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    nxt = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if nxt is None:  # a close request: put it back for this thread's next turn
                self._queue.put(None)
                break
            batch.append(nxt)
        with self._pending_lock:
            self._pending -= len(batch)
        return batch

    def _run(self) -> None:
        if self.on_start is not None:
            self.on_start()
        while True:
            batch = self._take()
            if batch is None:
                return
            live = [(item, f) for item, f in batch if f.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                rows = self.fn([item for item, _ in live])
                if len(rows) != len(live):
                    raise RuntimeError(f"{self.name}: the batch function returned {len(rows)} rows for {len(live)}")
            except BaseException as exc:  # every caller of the batch gets the error
                for _, f in live:
                    f.set_exception(exc)
                continue
            self.batches += 1
            self.items += len(live)
            for (_, f), row in zip(live, rows, strict=True):
                f.set_result(row)
