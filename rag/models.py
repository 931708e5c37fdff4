"""The data that flows through the pipeline: documents, chunks and search hits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` of a document's original text."""

    start: int
    end: int


@dataclass
class Document:
    """A source document. ``text`` is the original text: every offset in the system refers to it.

    ``skipped`` lists the boilerplate spans left out of indexing (offsets stay valid). ``original`` holds the
    bytes the text was read from until the index writer stores them (``metadata["original"]`` names them).
    """

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    skipped: list[Span] = field(default_factory=list)
    original: bytes | None = field(default=None, repr=False, compare=False)

    def kept_spans(self) -> list[Span]:
        """The complement of ``skipped`` within the text: the spans that get indexed."""
        spans: list[Span] = []
        pos = 0
        for s in sorted(self.skipped, key=lambda s: s.start):
            if s.start > pos:
                spans.append(Span(pos, s.start))
            pos = max(pos, s.end)
        if pos < len(self.text):
            spans.append(Span(pos, len(self.text)))
        return spans


@dataclass
class Chunk:
    """A passage of a document: ``document.text[start:end] == text`` always."""

    id: int
    document_id: str
    ordinal: int
    start: int
    end: int
    text: str

    @property
    def key(self) -> str:
        """The public chunk id: ``<document_id>#<ordinal>``."""
        return f"{self.document_id}#{self.ordinal}"


@dataclass
class Hit:
    """A retrieved chunk with its fused score and the per-stage ranks and scores that produced it."""

    chunk: Chunk
    score: float
    document: Document
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
