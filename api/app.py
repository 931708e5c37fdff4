"""The FastAPI application: builds the app, loads the index in the lifespan, mounts the routers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import metrics
from api.access_log import AccessLog
from api.deps import ServingState
from api.errors import ERROR_SCHEMA, install
from api.routes import chat, documents, evaluation, operations, retrieval, widget
from api.security import PUBLIC_PATHS, Guard, needs_admin, parse_keys
from rag.answering.answer_service import AnswerService
from rag.corpus_index import CorpusIndex
from rag.errors import RagError
from rag.settings import Settings, get_settings
from rag.threads import limit_threads

log = logging.getLogger("rag.api")


def create_app(settings: Settings | None = None, index: CorpusIndex | None = None) -> FastAPI:
    """Build the app. With ``index`` given (tests), it is used as is; otherwise the lifespan loads the
    configured index, building it from the seeds if there is none."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state: ServingState = app.state.index_state
        if state.index is None:
            limit_threads(settings.threads)
            try:
                from rag.index_build import open_index

                state.index = await asyncio.to_thread(open_index, settings, build_if_missing=True, fallback=True)
                await asyncio.to_thread(state.index.prime)
            except (RagError, OSError) as exc:  # serve /health and a 503 /ready with the reason, not a crash loop
                state.problem = str(exc) if isinstance(exc, RagError) else f"cannot open the index: {exc}"
                log.error("index not loaded: %s", state.problem)
        if state.index is not None and state.answers is None:
            state.answers = AnswerService(state.index, settings)
        if state.answers is not None:
            # A missing or corrupt reader is a start-up error naming the file, never a silent fallback.
            await asyncio.to_thread(state.answers.warm_up)
        # What start-up loaded (index, models) lives as long as the server: out of the collector's sight, so
        # that full collections under load do not walk it again and again (tail latency).
        gc.collect()
        gc.freeze()
        yield

    app = FastAPI(
        title="rag",
        version="0.1.0",
        lifespan=lifespan,
        description="French-first retrieval-augmented question answering with exact citations.",
    )
    app.state.index_state = ServingState(settings)
    app.state.index_state.index = index
    install(app)
    metrics.install(app)
    keys = parse_keys(settings.api_keys.get_secret_value()) if settings.api_keys else {}
    app.add_middleware(
        Guard,
        keys=keys,
        rate_per_minute=settings.rate_limit_per_minute,
        max_concurrency=settings.max_concurrency,
        max_body=settings.max_body_bytes,
        max_upload=settings.max_upload_bytes,
    )
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["authorization", "content-type"],
            max_age=600,
        )
    if settings.access_log:
        state = app.state.index_state
        app.add_middleware(AccessLog, index_version=lambda: state.index.version if state.index else "none")
    for module in (operations, retrieval, documents, chat, evaluation, widget):
        app.include_router(module.router)
    document_guard(app)
    return app


def document_guard(app: FastAPI) -> None:
    """List the statuses the :class:`Guard` middleware answers (401, 403, 413, 429, 503) in every guarded
    operation of the OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in schema.get("paths", {}).items():
                if path in PUBLIC_PATHS:
                    continue
                for method, operation in operations.items():
                    codes = [401, 429, 503]
                    if method in ("post", "put", "patch"):
                        codes.append(413)
                    if needs_admin(method.upper(), path):
                        codes.append(403)
                    for code in codes:
                        operation.setdefault("responses", {}).setdefault(str(code), ERROR_SCHEMA)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
