"""The answer and its citations, as every surface (CLI, HTTP, eval) returns them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from rag.answering.safety import drop_dangling_markers, safe_text
from rag.settings import Mode


class Citation(BaseModel):
    """A numbered pointer at an exact span: ``quote == document.text[start:end]`` always."""

    n: int = Field(ge=1, description="The number used by the [n] marker in the answer")
    document_id: str
    chunk_id: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    quote: str
    score: float
    title: str
    published_at: str | None = None
    context_start: int | None = Field(None, ge=0, description="Start of the sentence(s) enclosing the quote")
    context_end: int | None = Field(None, ge=0, description="End of the sentence(s) enclosing the quote")
    context: str | None = Field(None, description="document.text[context_start:context_end], for display")
    page: int | None = Field(None, ge=1, description="The page the quote starts on (1-based; null without pages)")
    section: str | None = Field(None, description="The heading above the quote (DOCX; null without headings)")


class SeeAlso(BaseModel):
    """A passage close to the question, offered when the answer is not in the documents."""

    document_id: str
    chunk_id: str
    start: int
    end: int
    title: str
    score: float
    text: str


class Answer(BaseModel):
    """A short answer with ``[n]`` markers, or an honest refusal (``answerable: false``)."""

    answer: str
    answerable: bool
    reason: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    see_also: list[SeeAlso] = Field(default_factory=list)
    mode: Mode = "extractive"
    degraded: bool = False
    language: Literal["fr", "en"] = "fr"
    context: str | None = Field(None, description="The sentence the short answer was read from, for display")
    conflict: bool = Field(False, description="The cited sources disagree on the asked fact")
    unsupported_sentences: list[str] = Field(
        default_factory=list, description="Generated sentences that no retrieved passage supports"
    )
    debug: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _safe_to_render(self) -> Answer:
        """Whatever built it, an answer's text is safe to render as Markdown (no image, link, HTML or URL that
        reaches outside: ``rag.answering.safety``) and its ``[n]`` markers all point at its citations."""
        self.answer = drop_dangling_markers(safe_text(self.answer), {c.n for c in self.citations})
        self.unsupported_sentences = [safe_text(s) for s in self.unsupported_sentences]
        return self
