"""Search and ask: the question-answering surface."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from api.deps import AnswersDep, IndexDep
from api.errors import ERROR_SCHEMA
from api.schemas import AskRequest, AskResponse, SearchRequest
from rag.serialize import search_response

router = APIRouter()


@router.post("/v1/search", tags=["retrieval"], responses={400: ERROR_SCHEMA, 422: ERROR_SCHEMA, 503: ERROR_SCHEMA})
def search(body: SearchRequest, index: IndexDep, request: Request) -> dict[str, Any]:
    """Hybrid, dense or lexical search; each hit carries its per-stage ranks and scores."""
    began = time.perf_counter()
    hits = index.search(body.query, top_k=body.top_k, method=body.method, filters=body.filters)
    request.app.state.metrics.observe_stage("retrieval", time.perf_counter() - began)
    return search_response(hits, index.seen_version())


@router.post(
    "/v1/ask",
    tags=["answers"],
    response_model=AskResponse,
    response_model_exclude_none=True,
    responses={400: ERROR_SCHEMA, 422: ERROR_SCHEMA, 503: ERROR_SCHEMA},
)
def ask(body: AskRequest, answers: AnswersDep, request: Request) -> AskResponse:
    """A short answer with exact citations, or ``answerable: false`` when the documents do not say."""
    began = time.perf_counter()
    answers.index.note_version()  # reported as is when the answer needs no search
    answer = answers.ask(
        body.question, mode=body.mode, top_k=body.top_k, method=body.method, filters=body.filters, debug=body.debug
    )
    request.app.state.metrics.observe_stage("answer", time.perf_counter() - began)
    return AskResponse(**answer.model_dump(), index_version=answers.index.seen_version())
