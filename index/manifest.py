"""The manifest: what an index generation holds and how to check it. Written last, so it publishes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from rag.errors import IndexCorruptError, IndexIncompatibleError, IndexMissingError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class FileEntry(BaseModel):
    """A file of a generation with its size and SHA-256."""

    sha256: str
    size: int


class Manifest(BaseModel):
    """Describes the current generation of an index directory."""

    format_version: int = FORMAT_VERSION
    generation: int
    directory: str
    created_at: str
    embedder: str = Field(description="Embedder fingerprint")
    embedder_name: str
    dimension: int
    chunker: dict[str, Any]
    analyzer: str
    vector_store: dict[str, Any]
    lexical_index: dict[str, Any]
    corpus_fingerprint: str
    counts: dict[str, int]
    next_chunk_id: int
    files: dict[str, FileEntry]

    @property
    def version(self) -> str:
        """Short, monotonic index version: ``<generation>-<corpus fingerprint prefix>``."""
        return f"{self.generation}-{self.corpus_fingerprint[:12]}"


def read_manifest(index_dir: Path) -> Manifest:
    """Read and validate ``manifest.json``; typed errors for missing, foreign and unreadable manifests."""
    path = index_dir / MANIFEST
    if not path.exists():
        raise IndexMissingError(f"no index in {index_dir} (run 'rag index build')")
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(raw, dict):
        raise IndexCorruptError(f"{path}: manifest is not a JSON object")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexIncompatibleError(
            f"{index_dir}: index format version {version!r}, this program reads version {FORMAT_VERSION}; "
            "rebuild it with 'rag index build'"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise IndexCorruptError(f"{path}: invalid manifest ({exc.error_count()} errors)") from exc
