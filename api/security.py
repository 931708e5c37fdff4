"""Access control and admission: API keys with scopes, per-key rate limits, bounded concurrency, body limits.

One pure ASGI middleware, so that every route (and every unknown path) goes through the same checks before
any work is done, and streamed responses are not buffered.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as Connection

from api.errors import error_body

Scope = Literal["query", "admin"]

PUBLIC_PATHS = {"/health", "/ready", "/"}  # "/": the widget's demo page (api.routes.widget)
PUBLIC_PREFIXES = ("/widget", "/static")


def parse_keys(spec: str) -> dict[str, Scope]:
    """``"key1:admin,key2:query,key3"`` → {key: scope}; a key without a scope gets ``query``."""
    keys: dict[str, Scope] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, scope = item.rpartition(":") if item.endswith((":admin", ":query")) else (item, "", "query")
        if len(key) < 8:
            raise ValueError("API keys must be at least 8 characters long")
        keys[key] = "admin" if scope == "admin" else "query"
    return keys


def needs_admin(method: str, path: str) -> bool:
    """Document writes and evaluation runs change or load the service: admin scope."""
    return (path.startswith("/v1/documents") and method in ("POST", "PUT", "PATCH", "DELETE")) or (
        path.startswith("/v1/eval")
    )


@dataclass
class TokenBucket:
    """``rate`` requests per minute with bursts of up to ``rate``; thread-safe."""

    rate: float
    tokens: dict[str, tuple[float, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, who: str, now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait before the next request is."""
        now = time.monotonic() if now is None else now
        per_second = self.rate / 60.0
        with self.lock:
            level, last = self.tokens.get(who, (self.rate, now))
            level = min(self.rate, level + (now - last) * per_second)
            if level >= 1.0:
                self.tokens[who] = (level - 1.0, now)
                return 0.0
            self.tokens[who] = (level, now)
            return (1.0 - level) / per_second


class Guard:
    """The admission middleware. ``keys`` empty means no authentication (a local, single-user service)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: dict[str, Scope],
        rate_per_minute: float,
        max_concurrency: int,
        max_body: int,
        max_upload: int,
    ) -> None:
        self.app = app
        self.keys = keys
        self.bucket = TokenBucket(rate_per_minute) if rate_per_minute > 0 else None
        self.max_concurrency = max_concurrency
        self.in_flight = 0
        self.lock = threading.Lock()
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Connection, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method == "OPTIONS" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        who = "anonymous"
        if self.keys:
            key = _bearer(scope)
            scope_of_key = self._scope_of(key)
            if scope_of_key is None:
                await _reject(
                    send,
                    401,
                    "a valid API key is required (Authorization: Bearer <key>)",
                    "invalid_api_key",
                    {"www-authenticate": "Bearer"},
                )
                return
            if needs_admin(method, path) and scope_of_key != "admin":
                await _reject(send, 403, "this route needs an admin key", "insufficient_scope")
                return
            who = hmac.new(b"rag", key.encode(), "sha256").hexdigest()[:16]  # never keep the key itself
        if self.bucket is not None:
            wait = self.bucket.take(who)
            if wait > 0:
                await _reject(
                    send,
                    429,
                    "rate limit exceeded, retry later",
                    "rate_limited",
                    {"retry-after": str(max(1, math.ceil(wait)))},
                )
                return
        limit = self.max_upload if path.startswith(("/v1/documents", "/v1/eval")) else self.max_body
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _reject(send, 413, f"the request body is larger than {limit} bytes", "payload_too_large")
            return
        with self.lock:
            if self.in_flight >= self.max_concurrency:
                saturated = True
            else:
                saturated = False
                self.in_flight += 1
        if saturated:
            await _reject(send, 503, "the service is saturated, retry shortly", "overloaded", {"retry-after": "1"})
            return
        released = False

        def release() -> None:
            nonlocal released
            with self.lock:
                if not released:
                    released = True
                    self.in_flight -= 1

        async def send_then_release(message: Message) -> None:
            # The slot is free as soon as the last byte is handed to the server: a keep-alive client's next
            # request can arrive before this coroutine unwinds, and must not find its own slot still taken.
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release()

        try:
            replay = await _read_body(receive, limit)
            if replay is None:
                await _reject(send, 413, f"the request body is larger than {limit} bytes", "payload_too_large")
                return
            await self.app(scope, replay, send_then_release)
        finally:
            release()

    def _scope_of(self, key: str) -> Scope | None:
        found: Scope | None = None
        for known, scope in self.keys.items():  # compare against every key: timing says nothing
            if hmac.compare_digest(known.encode(), key.encode()):
                found = scope
        return found


async def _read_body(receive: Receive, limit: int) -> Receive | None:
    """Read the whole body (chunked or not) up to ``limit`` bytes; None when it is larger. Returns a receive
    channel that replays it, then passes later messages (a client disconnect) through."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            pending: list[Message] = [message]
            break
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            return None
        parts.append(body)
        if not message.get("more_body", False):
            pending = [{"type": "http.request", "body": b"".join(parts), "more_body": False}]
            break
    if pending[0]["type"] != "http.request":
        pending.insert(0, {"type": "http.request", "body": b"".join(parts), "more_body": False})

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def _header(scope: MutableMapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _bearer(scope: MutableMapping[str, Any]) -> str:
    value = _header(scope, b"authorization") or ""
    kind, _, token = value.partition(" ")
    return token.strip() if kind.lower() == "bearer" else ""


async def _reject(
    send: Callable[[Message], Awaitable[None]],
    status: int,
    message: str,
    code: str,
    headers: dict[str, str] | None = None,
) -> None:
    body = json.dumps(error_body(status, message, code)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
