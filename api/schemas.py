"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from rag.answering.models import Answer
from rag.corpus_index import MAX_QUERY_CHARS
from rag.filters import Filters
from rag.settings import Method, Mode


def _no_coercion(value: Any) -> Any:
    """A JSON integer only: pydantic's lax mode would take ``"5"`` and ``true`` as 5 and 1."""
    if isinstance(value, str | bool):
        raise ValueError("must be an integer, not a string or a boolean")
    return value


JsonInt = Annotated[int, BeforeValidator(_no_coercion)]
"""An integer field that refuses strings and booleans, yet takes ``5.0`` (an integer in JSON Schema)."""


class SearchRequest(BaseModel):
    """Body of ``POST /v1/search``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: JsonInt = Field(5, ge=1, le=50)
    method: Method = "hybrid"
    filters: Filters | None = None


class AskRequest(BaseModel):
    """Body of ``POST /v1/ask``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: JsonInt = Field(5, ge=1, le=50)
    mode: Mode | None = None
    method: Method = "hybrid"
    filters: Filters | None = None
    debug: StrictBool = False


class AskResponse(Answer):
    """An answer and the index version it was read from."""

    index_version: str
