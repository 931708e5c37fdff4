"""Structured access logs: one JSON line per request (route, status, latency, index version), no body."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("rag.access")


class AccessLog:
    """Logs after the response is sent; questions are never logged (they are in no field read here)."""

    def __init__(self, app: ASGIApp, *, index_version: Callable[[], str]) -> None:
        self.app = app
        self.index_version = index_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            log.info(
                json.dumps(
                    {
                        "event": "request",
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "latency_ms": round((time.perf_counter() - began) * 1000, 2),
                        "index_version": self.index_version(),
                    }
                )
            )
