"""A total deadline for one LLM call, enforced on every socket operation.

httpx's timeouts apply to each socket operation: a server sending one byte per second never trips a read timeout,
and a deadline checked between chunks cannot interrupt the wait for the headers. :func:`deadline_transport` opens
its connections through :class:`DeadlineBackend`, which clamps every connect, read and write to what is left of the
calling thread's deadline (``CALL.deadline``, set by the caller around its request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore._backends.base import SOCKET_OPTION

CALL = threading.local()
"""``deadline``: the :func:`time.monotonic` instant by which the calling thread's LLM request must be done."""


def _left(timeout: float | None) -> float | None:
    """``timeout`` clamped to what is left of the calling thread's deadline (at least 1 ms: the socket
    operation then fails at once with a timeout unless its bytes are already there)."""
    deadline = getattr(CALL, "deadline", None)
    if deadline is None:
        return timeout
    left = max(deadline - time.monotonic(), 0.001)
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write waits no longer than the deadline left."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read, waiting at most the deadline left."""
        return self._inner.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write, waiting at most the deadline left."""
        self._inner.write(buffer, _left(timeout))

    def close(self) -> None:
        """Close the connection."""
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        """The TLS handshake, within the deadline left."""
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        """Socket details, as the wrapped stream gives them."""
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous network backend with every timeout clamped to the calling thread's deadline.

    httpx's timeouts apply to each socket operation: a server sending one byte per second never trips a read
    timeout, and a total deadline checked between chunks cannot interrupt the wait for the headers.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect within the deadline left."""
        return DeadlineStream(self._inner.connect_tcp(host, port, _left(timeout), local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect within the deadline left."""
        return DeadlineStream(self._inner.connect_unix_socket(path, _left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        """Sleep (httpcore's retry back-off)."""
        self._inner.sleep(seconds)


def deadline_transport() -> httpx.HTTPTransport:
    """httpx's default transport, its connections opened through :class:`DeadlineBackend`."""
    transport = httpx.HTTPTransport()
    pool = transport._pool  # httpx exposes no network-backend option; pinned by tests/reliability
    if isinstance(pool, httpcore.ConnectionPool):
        pool._network_backend = DeadlineBackend()
    return transport
