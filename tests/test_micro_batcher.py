"""The micro-batcher: concurrent callers share batches, each gets its own row, errors reach every caller."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rag.embedders.batching import BatcherClosedError, MicroBatcher


def _slow_square(items: list[int]) -> np.ndarray:
    time.sleep(0.05)
    return np.array([[i, i * i] for i in items], dtype=np.float32)


def _submit_concurrently(batcher: MicroBatcher[int], n: int) -> dict[int, np.ndarray]:
    results: dict[int, np.ndarray] = {}

    def call(i: int) -> None:
        results[i] = batcher.submit(i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_callers_are_batched_and_get_their_own_rows() -> None:
    batcher = MicroBatcher(_slow_square, max_batch=8, workers=1)
    results = _submit_concurrently(batcher, 16)
    batcher.close()
    assert all(results[i].tolist() == [i, i * i] for i in range(16))
    assert batcher.items == 16 and batcher.batches < 16 and batcher.mean_batch > 1


def test_max_batch_one_is_a_pool() -> None:
    batcher = MicroBatcher(_slow_square, max_batch=1, workers=4)
    began = time.perf_counter()
    rows = _submit_concurrently(batcher, 8)
    assert (
        len(rows) == 8 and batcher.batches == 8 and time.perf_counter() - began < 0.35
    )  # 4 at a time: ~0.1 s, not 0.4 s
    batcher.close()


def test_a_failing_batch_fails_its_callers_only() -> None:
    def fn(items: list[int]) -> np.ndarray:
        if 13 in items:
            raise ValueError("unlucky")
        return np.array([[i] for i in items], dtype=np.float32)

    batcher = MicroBatcher(fn, max_batch=1)
    with pytest.raises(ValueError, match="unlucky"):
        batcher.submit(13)
    assert batcher.submit(2).tolist() == [2]  # the worker survived
    batcher.close()
    with pytest.raises(BatcherClosedError):
        batcher.submit(3)


def test_a_batch_function_that_drops_rows_is_an_error() -> None:
    batcher = MicroBatcher(lambda items: np.zeros((0, 1), dtype=np.float32))
    with pytest.raises(RuntimeError, match="returned 0 rows for 1"):
        batcher.submit(1)
    batcher.close()
    with pytest.raises(ValueError):
        MicroBatcher(_slow_square, max_batch=0)


def test_one_callers_items_are_shared_among_idle_workers() -> None:
    """A lone caller's many items run on every worker at once (each its fair share), not all on the first awake."""
    ran: list[tuple[str, int]] = []

    def record(items: list[int]) -> np.ndarray:
        ran.append((threading.current_thread().name, len(items)))
        return _slow_square(items)

    batcher = MicroBatcher(record, max_batch=32, workers=2)
    rows = batcher.submit_many(list(range(6)))
    assert [r.tolist() for r in rows] == [[i, i * i] for i in range(6)]
    assert len({name for name, _ in ran}) == 2 and max(n for _, n in ran) <= 3
    ran.clear()
    results = _submit_concurrently(batcher, 40)  # under load, too, batches stay within a share of the queue
    batcher.close()
    assert all(results[i].tolist() == [i, i * i] for i in range(40))
    assert len({name for name, _ in ran}) == 2 and max(n for _, n in ran) <= 20 and batcher._pending == 0
