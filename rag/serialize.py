"""JSON shapes shared by the CLI and the HTTP API."""

from __future__ import annotations

from typing import Any

from rag.models import Hit


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    """``{"score", "chunk": {"id", "document_id", "text", "start", "end", "metadata"}, "stages"}``."""
    chunk = hit.chunk
    metadata = {
        "title": hit.document.title,
        "published_at": hit.document.metadata.get("published_at"),
        **hit.document.metadata,
    }
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
