"""``POST /v1/eval``: run a gold set against the live index, so an operator can check a deployment.

The same scoring as ``rag eval`` (``eval.suite``): retrieval at span level over the top 10 chunks, answers over
the top 5 passages, citation exactness against the indexed document texts. The posted gold set (or, without
one, the JSONL file ``RAG_EVAL_GOLD`` names, or the built-in set written for the seed articles) must point at
documents and evidence that the live index holds; otherwise the run is refused with a 409 that names the first
item that does not match. One run at a time: a second concurrent request gets a 409 rather than doubling the
load.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic.config import JsonDict

from api.deps import AnswersDep
from api.errors import ERROR_SCHEMA
from eval.suite import Config, IndexTarget, evaluate, read_gold
from rag.corpus_index import MAX_QUERY_CHARS
from rag.errors import RagError
from rag.settings import Method, Mode

router = APIRouter(tags=["evaluation"])
MAX_ITEMS = 300
"""Items one request may post: a synchronous run of 300 questions takes about a minute on 2 cores; larger sets
go through `rag eval --url URL --gold FILE`, which drives the public API question by question."""
_running = threading.Lock()


class InvalidGoldSet(RagError):
    """The gold set does not match the live index (a document or an evidence string is missing): a conflict
    with the index's current state, which the same request may not have after documents are added."""

    code = "gold_set_mismatch"
    status = 409


class EvalBusy(RagError):
    """Another evaluation is running."""

    code = "eval_in_progress"
    status = 409


class EvidenceIn(BaseModel):
    """One piece of evidence of a multi-document item."""

    model_config = ConfigDict(extra="forbid")

    document: str = Field(min_length=1)
    evidence: str = Field(min_length=1)


_NEEDS_ANSWERS: JsonDict = {
    "if": {"properties": {"answerable": {"const": True}}},
    "then": {
        "anyOf": [
            {"required": ["answers"], "properties": {"answers": {"minItems": 1}}},
            {"required": ["answers_all"], "properties": {"answers_all": {"minItems": 1}}},
        ]
    },
}


class GoldItemIn(BaseModel):
    """A gold question, in the shape of ``eval/gold.jsonl``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_NEEDS_ANSWERS)

    id: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    answerable: StrictBool
    answers: list[str] = Field(default_factory=list, description="Accepted answers: one must be contained")
    answers_all: list[str] = Field(default_factory=list, description="Strings that must all be contained")
    documents: list[str] = Field(default_factory=list, description="Ids of the documents holding the answer")
    evidence: str | None = Field(None, description="Exact substring of the first document supporting the answer")
    evidence_all: list[EvidenceIn] | None = None
    type: str = Field("custom", max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> GoldItemIn:
        if self.answerable and not (self.answers or self.answers_all):
            raise ValueError("an answerable item needs `answers` or `answers_all`")
        return self


class EvalRequest(BaseModel):
    """Body of ``POST /v1/eval``; without ``items``, the gold set ``RAG_EVAL_GOLD`` names, or the built-in one
    written for the seed articles."""

    model_config = ConfigDict(extra="forbid")

    items: list[GoldItemIn] | None = Field(None, min_length=1, max_length=MAX_ITEMS)
    method: Method = "hybrid"
    mode: Mode | None = None
    per_question: StrictBool = Field(False, description="Include every question's row in the response")


class EvalResponse(BaseModel):
    """The aggregate metrics of one run (the keys of ``rag eval``'s report), per type, and optionally per
    question."""

    object: Literal["eval.result"] = "eval.result"
    gold: Literal["built-in", "configured", "posted"] = Field(
        description="Which gold set ran: posted items, the one RAG_EVAL_GOLD names, or the built-in seeds set"
    )
    configuration: str
    index_version: str
    aggregate: dict[str, Any]
    by_type: dict[str, dict[str, Any]]
    questions: list[dict[str, Any]] | None = None
    wall_seconds: float


@router.post(
    "/v1/eval",
    response_model=EvalResponse,
    response_model_exclude_none=True,
    responses={400: ERROR_SCHEMA, 409: ERROR_SCHEMA, 422: ERROR_SCHEMA, 503: ERROR_SCHEMA},
)
def run_eval(body: EvalRequest, answers: AnswersDep, request: Request) -> EvalResponse:
    """Run a gold set against the live index and return retrieval and answer metrics (admin scope)."""
    if not _running.acquire(blocking=False):
        raise EvalBusy("an evaluation is already running; retry when it has finished")
    try:
        began = time.perf_counter()
        configured = answers.settings.eval_gold
        if body.items:
            raw, gold = [item.model_dump(exclude_none=True) for item in body.items], "posted"
        else:
            try:
                raw, gold = (read_gold(configured), "configured") if configured else (read_gold(), "built-in")
            except (OSError, ValueError) as exc:  # the file changed since start-up
                raise InvalidGoldSet(f"cannot read the gold set {configured}: {exc}") from exc
        mode = body.mode or answers.settings.answer_mode
        target = IndexTarget(answers.index, answers)
        config = Config("live", body.method, mode)
        target.check(config)
        version = answers.index.version
        documents = target.documents()
        for record in raw:
            missing = [d for d in record.get("documents", []) if d not in documents]
            if missing:
                raise InvalidGoldSet(f"item {record['id']!r}: document {missing[0]!r} is not in the index")
        try:
            block = evaluate(target, config, raw, progress=False, documents=documents)
        except ValueError as exc:  # an evidence string that the indexed document does not contain
            raise InvalidGoldSet(str(exc)) from exc
        seconds = time.perf_counter() - began
        request.app.state.metrics.observe_stage("eval", seconds)
        return EvalResponse(
            gold=gold,
            configuration=f"{body.method}/{mode}",
            index_version=version,
            aggregate=block["aggregate"],
            by_type=block["by_type"],
            questions=block["questions"] if body.per_question else None,
            wall_seconds=round(seconds, 2),
        )
    finally:
        _running.release()
