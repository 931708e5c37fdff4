"""A readers-writer lock: any number of searches at once, or one change to the in-memory index.

Writers are preferred (a waiting writer holds new readers back, so a stream of searches cannot starve a
write). Both sides are reentrant per thread, and a thread that holds the write side may also read; a thread
that holds only the read side may not start writing (two such threads would wait for each other forever), and
gets a :class:`LockUpgradeError` instead of a deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class LockUpgradeError(RuntimeError):
    """A thread holding the read side asked for the write side."""


class ReadWriteLock:
    """Shared (read) / exclusive (write) lock, reentrant on both sides, writer-preferring."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._writer_depth = 0
        self._writers_waiting = 0
        self._local = threading.local()

    def _reads(self) -> int:
        return getattr(self._local, "reads", 0)

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the read side (with other readers) for the block."""
        me = threading.get_ident()
        depth = self._reads()
        if self._writer == me or depth:  # already inside: never wait behind a queued writer (deadlock)
            self._local.reads = depth + 1
            try:
                yield
            finally:
                self._local.reads -= 1
            return
        with self._cond:
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        self._local.reads = 1
        try:
            yield
        finally:
            self._local.reads = 0
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the write side (alone) for the block."""
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._writer_depth += 1
            else:
                if self._reads():
                    raise LockUpgradeError("a thread that is reading the index cannot start changing it")
                self._writers_waiting += 1
                try:
                    while self._writer is not None or self._readers:
                        self._cond.wait()
                finally:
                    self._writers_waiting -= 1
                self._writer = me
                self._writer_depth = 1
        try:
            yield
        finally:
            with self._cond:
                self._writer_depth -= 1
                if not self._writer_depth:
                    self._writer = None
                    self._cond.notify_all()

    def held(self) -> bool:
        """Whether the calling thread holds either side."""
        return bool(self._reads()) or self._writer == threading.get_ident()
