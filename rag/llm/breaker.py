"""A circuit breaker, and a backend wrapper that fails fast while the LLM server is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Unpack

from rag.llm.errors import LLMBadResponse, LLMMalformedResponse, LLMUnavailable
from rag.llm.protocol import Call, LLMBackend


class BreakerState(StrEnum):
    """Where a :class:`CircuitBreaker` stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` consecutive failures → half-open ``reset_after`` seconds later.

    Half-open lets one trial call through (:meth:`allow` is true once): its success closes the breaker, its
    failure opens it for another ``reset_after``. A trial that never reports back (a caller that dropped a
    stream unread) frees the slot after ``reset_after``, so the breaker cannot stay stuck. Thread-safe.
    """

    def __init__(
        self,
        failure_threshold: int = 3,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_after < 0:
            raise ValueError("reset_after must not be negative")
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_since: float | None = None

    def _state(self, now: float) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if now - self._opened_at >= self.reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def state(self) -> BreakerState:
        """The current state (open turns half-open by itself once ``reset_after`` has passed)."""
        with self._lock:
            return self._state(self._clock())

    @property
    def failures(self) -> int:
        """Consecutive failures recorded since the last success."""
        with self._lock:
            return self._failures

    def allow(self) -> bool:
        """Whether a call may go through now; in half-open, true for a single trial call."""
        with self._lock:
            now = self._clock()
            state = self._state(now)
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.OPEN:
                return False
            if self._trial_since is not None and now - self._trial_since < self.reset_after:
                return False  # a trial is in flight
            self._trial_since = now
            return True

    def record_success(self) -> None:
        """A call succeeded: close the breaker and forget past failures."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_since = None

    def record_failure(self) -> None:
        """A call failed: open the breaker at the threshold, or again at once after a failed trial."""
        with self._lock:
            now = self._clock()
            self._failures += 1
            self._trial_since = None
            if self._opened_at is not None or self._failures >= self.failure_threshold:
                self._opened_at = now


class GuardedBackend:
    """An :class:`~rag.llm.protocol.LLMBackend` behind a :class:`CircuitBreaker`.

    While the breaker is open, calls raise :class:`~rag.llm.errors.LLMUnavailable` without reaching the
    backend. Any error counts as a failure, except :class:`~rag.llm.errors.LLMBadResponse`: the server
    answered, so it is up (a prompt it refuses must not lock every other user out). Bytes that are not the
    protocol at all (:class:`~rag.llm.errors.LLMMalformedResponse`) do count. A stream counts as a success
    once fully consumed, or when the caller stops it early after it started.
    """

    def __init__(self, backend: LLMBackend, breaker: CircuitBreaker) -> None:
        self.backend = backend
        self.breaker = breaker
        self.name = backend.name
        self.model = backend.model

    def __repr__(self) -> str:
        return f"GuardedBackend({self.backend!r}, state={self.breaker.state})"

    def _check(self) -> None:
        if not self.breaker.allow():
            raise LLMUnavailable(
                f"circuit open: the LLM backend {self.name!r} failed {self.breaker.failures} times in a row; "
                f"retrying after {self.breaker.reset_after:g} s"
            )

    def _record(self, exc: BaseException) -> None:
        if isinstance(exc, LLMBadResponse | GeneratorExit) and not isinstance(exc, LLMMalformedResponse):
            self.breaker.record_success()
        else:
            self.breaker.record_failure()

    def complete(self, messages: list[dict[str, str]], **options: Unpack[Call]) -> str:
        """The backend's completion, unless the breaker is open."""
        self._check()
        try:
            text = self.backend.complete(messages, **options)
        except BaseException as exc:
            self._record(exc)
            raise
        self.breaker.record_success()
        return text

    def stream(self, messages: list[dict[str, str]], **options: Unpack[Call]) -> Iterator[str]:
        """The backend's stream; raises at once (not on first ``next()``) when the breaker is open."""
        self._check()
        inner = self.backend.stream(messages, **options)
        return self._watch(inner)

    def _watch(self, inner: Iterator[str]) -> Iterator[str]:
        try:
            yield from inner
        except BaseException as exc:
            self._record(exc)
            raise
        self.breaker.record_success()

    def close(self) -> None:
        """Close the wrapped backend."""
        self.backend.close()
