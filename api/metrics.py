"""Prometheus metrics: requests and latency per route, retrieval and answer stage timings, index size."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One registry per app, so that several apps in one process (tests) never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rag_http_requests_total", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "rag_http_request_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "rag_stage_seconds", "Time spent per pipeline stage", ["stage"], buckets=_BUCKETS, registry=self.registry
        )
        self.documents = Gauge("rag_index_documents", "Documents in the served index", registry=self.registry)
        self.chunks = Gauge("rag_index_chunks", "Chunks in the served index", registry=self.registry)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Record one stage timing (retrieval, answer)."""
        self.stages.labels(stage).observe(seconds)


def _route(request: Request) -> str:
    """The matched route template (``/v1/documents/{doc_id}``), so ids never explode the label set."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def install(app: FastAPI) -> Metrics:
    """Count and time every request, and serve ``GET /metrics``."""
    metrics = Metrics()
    app.state.metrics = metrics

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        began = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route(request)
            metrics.latency.labels(route, request.method).observe(time.perf_counter() - began)
            metrics.requests.labels(route, request.method, str(status)).inc()

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus(request: Request) -> Response:
        """Prometheus text format."""
        index = request.app.state.index_state.index
        if index is not None:
            metrics.documents.set(len(index.documents))
            metrics.chunks.set(len(index.chunks))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
