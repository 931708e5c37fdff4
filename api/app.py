"""The FastAPI application: builds the app, loads the index in the lifespan, mounts the routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import metrics
from api.deps import IndexState
from api.errors import install
from api.routes import documents, operations, retrieval
from rag.answering.service import AnswerService
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
        state: IndexState = app.state.index_state
        if state.index is None:
            limit_threads(settings.threads)
            try:
                from rag.service import open_index

                state.index = await asyncio.to_thread(open_index, settings, build_if_missing=True)
            except RagError as exc:  # serve /health and a 503 /ready with the reason instead of crash-looping
                state.problem = str(exc)
                log.error("index not loaded: %s", exc)
        if state.index is not None and state.answers is None:
            state.answers = AnswerService(state.index, settings)
        yield

    app = FastAPI(
        title="rag",
        version="0.1.0",
        lifespan=lifespan,
        description="French-first retrieval-augmented question answering with exact citations.",
    )
    app.state.index_state = IndexState(settings)
    app.state.index_state.index = index
    install(app)
    metrics.install(app)
    for module in (operations, retrieval, documents):
        app.include_router(module.router)
    return app
