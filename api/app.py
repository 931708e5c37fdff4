"""The FastAPI application: health, readiness and search over the corpus index."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.errors import ERROR_SCHEMA, error_body, install
from rag.answering.models import Answer
from rag.answering.service import AnswerService
from rag.corpus_index import MAX_QUERY_CHARS, CorpusIndex
from rag.errors import RagError
from rag.filters import Filters
from rag.serialize import search_response
from rag.settings import Settings, get_settings
from rag.threads import limit_threads

log = logging.getLogger("rag.api")


class SearchRequest(BaseModel):
    """Body of ``POST /v1/search``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int = Field(5, ge=1, le=50)
    method: Literal["hybrid", "dense", "lexical"] = "hybrid"
    filters: Filters | None = None


class AskRequest(BaseModel):
    """Body of ``POST /v1/ask``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int = Field(5, ge=1, le=50)
    mode: Literal["extractive", "generative"] | None = None
    method: Literal["hybrid", "dense", "lexical"] = "hybrid"
    filters: Filters | None = None
    debug: bool = False


class AskResponse(Answer):
    """An answer and the index version it was read from."""

    index_version: str


class IndexState:
    """Holds the index (and its answer service) once loaded, and why it is not ready otherwise."""

    def __init__(self) -> None:
        self.index: CorpusIndex | None = None
        self.answers: AnswerService | None = None
        self.problem: str = "starting: the index is loading"


def get_state(request: Request) -> IndexState:
    """The application's index state."""
    state: IndexState = request.app.state.index_state
    return state


def get_index(state: Annotated[IndexState, Depends(get_state)]) -> CorpusIndex:
    """The loaded index, or a 503 saying why there is none."""
    if state.index is None:
        raise _NotReady(state.problem)
    return state.index


def get_answers(state: Annotated[IndexState, Depends(get_state)]) -> AnswerService:
    """The answer service over the loaded index."""
    if state.index is None or state.answers is None:
        raise _NotReady(state.problem)
    return state.answers


class _NotReady(RagError):
    code = "not_ready"
    status = 503


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
    app.state.index_state = IndexState()
    app.state.index_state.index = index
    install(app)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], responses={503: ERROR_SCHEMA})
    async def ready(state: Annotated[IndexState, Depends(get_state)]) -> Any:
        """200 once the index is loaded; 503 with the reason before that or when it cannot serve."""
        if state.index is None:
            return JSONResponse(error_body(503, state.problem, "not_ready"), status_code=503)
        return {"status": "ready", "index_version": state.index.version, "chunks": len(state.index.chunks)}

    @app.post("/v1/search", tags=["retrieval"], responses={422: ERROR_SCHEMA, 503: ERROR_SCHEMA})
    def search(body: SearchRequest, index: Annotated[CorpusIndex, Depends(get_index)]) -> dict[str, Any]:
        """Hybrid, dense or lexical search; each hit carries its per-stage ranks and scores."""
        hits = index.search(body.query, top_k=body.top_k, method=body.method, filters=body.filters)
        return search_response(hits, index.version)

    @app.post(
        "/v1/ask",
        tags=["answers"],
        response_model=AskResponse,
        response_model_exclude_none=True,
        responses={400: ERROR_SCHEMA, 422: ERROR_SCHEMA, 503: ERROR_SCHEMA},
    )
    def ask(body: AskRequest, answers: Annotated[AnswerService, Depends(get_answers)]) -> AskResponse:
        """A short answer with exact citations, or ``answerable: false`` when the documents do not say."""
        answer = answers.ask(
            body.question, mode=body.mode, top_k=body.top_k, method=body.method, filters=body.filters, debug=body.debug
        )
        return AskResponse(**answer.model_dump(), index_version=answers.index.version)

    return app
