"""Liveness and readiness."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep
from api.errors import ERROR_SCHEMA, error_body

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str | int]:
    """The process is alive (``pid``: which one, behind ``rag serve --workers``)."""
    return {"status": "ok", "pid": os.getpid()}


@router.get("/ready", responses={503: ERROR_SCHEMA})
async def ready(state: StateDep) -> Any:
    """200 once the index is loaded; 503 with the reason before that, when it cannot serve, or while the server
    drains before shutting down. A damaged index served from an earlier generation is ready, and says so in
    ``problem`` (and ``read_only`` when writes are refused)."""
    if state.draining:
        return JSONResponse(error_body(503, "draining: the server is shutting down", "draining"), status_code=503)
    if state.index is None:
        return JSONResponse(error_body(503, state.problem, "not_ready"), status_code=503)
    body: dict[str, Any] = {"status": "ready", "index_version": state.index.version, "chunks": len(state.index.chunks)}
    if state.index.load_problem:
        body["problem"] = state.index.load_problem
    if state.index.read_only:
        body["read_only"] = state.index.read_only
    return body
