"""FastAPI dependencies: the seams through which routes reach the index and the answer service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from rag.answering.answer_service import AnswerService
from rag.corpus_index import CorpusIndex
from rag.errors import RagError
from rag.settings import Settings


class ServingState:
    """Holds the index (and its answer service) once loaded, and why it is not ready otherwise."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index: CorpusIndex | None = None
        self.answers: AnswerService | None = None
        self.problem: str = "starting: the index is loading"
        self.draining = False
        """Set on SIGTERM (``rag serve``): ``/ready`` answers 503 while in-flight requests finish."""


class NotReady(RagError):
    """The index is not loaded (yet, or at all): 503 with the reason."""

    code = "not_ready"
    status = 503


async def get_state(request: Request) -> ServingState:
    """The application's index state."""
    state: ServingState = request.app.state.index_state
    return state


async def get_index(state: Annotated[ServingState, Depends(get_state)]) -> CorpusIndex:
    """The loaded index (caught up with a generation another process published), or a 503 saying why there is
    none. Async, like the other seams: a sync dependency costs a thread-pool hop on every request."""
    if state.index is None:
        raise NotReady(state.problem)
    if state.index.refresh_due():
        await run_in_threadpool(state.index.refresh)
    return state.index


async def get_answers(state: Annotated[ServingState, Depends(get_state)]) -> AnswerService:
    """The answer service over the loaded index (caught up, as :func:`get_index`)."""
    if state.index is None or state.answers is None:
        raise NotReady(state.problem)
    if state.index.refresh_due():
        await run_in_threadpool(state.index.refresh)
    return state.answers


StateDep = Annotated[ServingState, Depends(get_state)]
IndexDep = Annotated[CorpusIndex, Depends(get_index)]
AnswersDep = Annotated[AnswerService, Depends(get_answers)]
