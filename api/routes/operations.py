"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep
from api.errors import ERROR_SCHEMA, error_body

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/ready", responses={503: ERROR_SCHEMA})
async def ready(state: StateDep) -> Any:
    """200 once the index is loaded; 503 with the reason before that or when it cannot serve."""
    if state.index is None:
        return JSONResponse(error_body(503, state.problem, "not_ready"), status_code=503)
    return {"status": "ready", "index_version": state.index.version, "chunks": len(state.index.chunks)}
