"""JSON shapes shared by the CLI and the HTTP API."""

from __future__ import annotations

from typing import Any

from rag.formats import LOCATION_KEYS, page_of, section_of
from rag.models import Hit


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    """``{"score", "chunk": {"id", "document_id", "text", "start", "end", "metadata"}, "stages"}``; a chunk of a
    PDF or DOCX names its ``page`` or ``section`` in its metadata."""
    chunk = hit.chunk
    doc = hit.document
    metadata = {
        "title": doc.title,
        "published_at": doc.metadata.get("published_at"),
        **{k: v for k, v in doc.metadata.items() if k not in LOCATION_KEYS},
    }
    if (page := page_of(doc.metadata, chunk.start)) is not None:
        metadata["page"] = page  # the page the chunk starts on, instead of every page's span
    if (section := section_of(doc.text, doc.metadata, chunk.start)) is not None:
        metadata["section"] = section
    return {
        "score": hit.score,
        "chunk": {
            "id": chunk.key,
            "document_id": chunk.document_id,
            "text": chunk.text,
            "start": chunk.start,
            "end": chunk.end,
            "metadata": metadata,
        },
        "stages": hit.stages,
    }


def search_response(hits: list[Hit], index_version: str) -> dict[str, Any]:
    """The list envelope of ``/v1/search`` and ``rag search --json``."""
    return {"object": "list", "data": [hit_to_dict(h) for h in hits], "index_version": index_version}
