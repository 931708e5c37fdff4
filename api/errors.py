"""OpenAI-style error bodies: ``{"error": {"message", "type", "code"}}`` for every failure."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rag.errors import RagError

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


def error_body(status: int, message: str, code: str) -> dict[str, Any]:
    """The error envelope."""
    return {"error": {"message": message, "type": _TYPES.get(status, "api_error"), "code": code}}


ERROR_SCHEMA = {
    "description": "Error",
    "content": {"application/json": {"example": error_body(422, "the query is empty", "invalid_query")}},
}


def install(app: FastAPI) -> None:
    """Route every error through :func:`error_body`."""

    @app.exception_handler(RagError)
    async def _rag(_: Request, exc: RagError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, str(exc), exc.code), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else str(first.get("msg", "invalid"))
        return JSONResponse(error_body(422, message, "invalid_request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette names only the first matching route's methods
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail), "http_error"),
            status_code=exc.status_code,
            headers=headers or None,
        )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (for the ``Allow`` header of a 405)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)
