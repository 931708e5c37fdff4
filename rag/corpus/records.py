"""The ``documents.jsonl`` record of a generation: one JSON object per document, written by the index writer and
read back by the loader (one definition of the format for both)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rag.models import Chunk, Document, Span


def document_record(doc: Document, chunks: Sequence[Chunk], aliases: Mapping[int, int]) -> dict[str, Any]:
    """``{"id", "title", "metadata", "text", "skipped": [[start, end]…], "chunks": [[id, ordinal, start, end,
    (same_as)]…]}``: a chunk that duplicates a stored one names it last."""
    return {
        "id": doc.id,
        "title": doc.title,
        "metadata": doc.metadata,
        "text": doc.text,
        "skipped": [[s.start, s.end] for s in doc.skipped],
        "chunks": [[c.id, c.ordinal, c.start, c.end, *([aliases[c.id]] if c.id in aliases else [])] for c in chunks],
    }


def read_record(record: dict[str, Any]) -> tuple[Document, list[Chunk], dict[int, int]]:
    """The document, its chunks in order and their aliases (chunk id -> stored chunk id) from one record.
    A malformed record raises ``KeyError``, ``TypeError`` or ``ValueError``."""
    doc = Document(
        id=record["id"],
        text=record["text"],
        title=record["title"],
        metadata=record["metadata"],
        skipped=[Span(s, e) for s, e in record["skipped"]],
    )
    chunks: list[Chunk] = []
    aliases: dict[int, int] = {}
    for cid, ordinal, start, end, *same_as in record["chunks"]:
        chunks.append(Chunk(cid, doc.id, ordinal, start, end, doc.text[start:end]))
        if same_as:
            aliases[cid] = int(same_as[0])
    return doc, chunks, aliases


def original_refs(docs: Iterable[Document]) -> dict[str, int]:
    """SHA-256 -> size of the original files the documents name (``metadata["original"]``, set by ingestion)."""
    refs: dict[str, int] = {}
    for doc in docs:
        original = doc.metadata.get("original")
        if isinstance(original, dict) and isinstance(original.get("sha256"), str):
            refs[original["sha256"]] = int(original.get("size", 0))
    return refs
