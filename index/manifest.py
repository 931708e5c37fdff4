"""The manifest: what an index generation holds and how to check it. Written last, so it publishes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from index.errors import IndexCorruptError, IndexIncompatibleError, IndexMissingError

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
    originals: dict[str, int] = Field(
        default_factory=dict, description="SHA-256 -> size of the original files its documents name (original-files/)"
    )
    checksum: str | None = Field(
        None, description="SHA-256 of the manifest's other fields (canonical JSON); absent in older indexes"
    )

    @property
    def version(self) -> str:
        """Short, monotonic index version: ``<generation>-<corpus fingerprint prefix>``."""
        return f"{self.generation}-{self.corpus_fingerprint[:12]}"


def manifest_checksum(fields: dict[str, Any]) -> str:
    """SHA-256 of a manifest's fields (``checksum`` left out) as canonical JSON: sorted keys, no spaces."""
    data = {key: value for key, value in fields.items() if key != "checksum"}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sealed(manifest: Manifest) -> Manifest:
    """``manifest`` with its :func:`manifest_checksum` set."""
    return manifest.model_copy(update={"checksum": manifest_checksum(manifest.model_dump(mode="json"))})


def read_manifest(index_dir: Path) -> Manifest:
    """Read and validate ``manifest.json``; typed errors for missing, foreign and unreadable manifests.

    A manifest that carries a ``checksum`` must match it, so a bit flip in a count or a file checksum is caught
    here rather than trusted; one without (written before checksums existed) is accepted as it is.
    """
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
    if "checksum" in raw and raw["checksum"] != manifest_checksum(raw):
        raise IndexCorruptError(f"{path}: manifest checksum mismatch (file altered)")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise IndexCorruptError(f"{path}: invalid manifest ({exc.error_count()} errors)") from exc
    unsafe = [name for name in manifest.files if not name or "/" in name or "\\" in name or name.startswith(".")]
    if unsafe:
        raise IndexCorruptError(f"{path}: file names outside the generation directory: {unsafe[:3]}")
    return manifest
