"""Original files kept with their documents: content-addressed blobs beside the generations.

Layout::

    INDEX_DIR/original-files/<sha256>     the bytes a document was read from (a PDF, a DOCX, a text file)

(Not a Python identifier, on purpose: an index folder named ``index`` in the working directory never shadows this
package's modules.)

A blob is written (fsynced, renamed into place) before the generation that names it is published; each
generation's manifest lists the blobs its documents refer to (``Manifest.originals``: SHA-256 → size, covered by
the manifest's own checksum), loading checks that they are there with their size, and serving checks their
SHA-256. Blobs are shared between generations and documents with the same bytes; after each publish (and after a
write that failed), blobs that no kept generation names are removed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from index.atomic import fsync_path, write_atomic
from index.errors import IndexCorruptError, RagError
from index.manifest import MANIFEST, read_manifest

ORIGINALS_DIR = "original-files"
_SHA = re.compile(r"^[0-9a-f]{64}$")
log = logging.getLogger(__name__)


class OriginalCorruptError(IndexCorruptError):
    """An original file is missing or its bytes no longer match the SHA-256 that names them."""

    code = "original_corrupt"


def blob_path(index_dir: Path, sha256: str) -> Path:
    """Where the blob of ``sha256`` lives (the name is checked: 64 lower-case hex digits)."""
    if not _SHA.match(sha256):
        raise OriginalCorruptError(f"{sha256!r} is not a SHA-256")
    return index_dir / ORIGINALS_DIR / sha256


def put_blob(index_dir: Path, data: bytes, sha256: str | None = None) -> str:
    """Store ``data`` durably under its SHA-256 (nothing to do when it is there already); the SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and sha256 != digest:
        raise ValueError("the bytes do not match their SHA-256")
    path = blob_path(index_dir, digest)
    if path.is_file() and path.stat().st_size == len(data):
        return digest
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return digest


def read_blob(index_dir: Path, sha256: str, size: int | None = None) -> bytes:
    """The bytes of a blob, their SHA-256 verified; :class:`OriginalCorruptError` when missing or altered."""
    path = blob_path(index_dir, sha256)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OriginalCorruptError(f"{path}: original file missing ({exc.strerror or exc})") from None
    if (size is not None and len(data) != size) or hashlib.sha256(data).hexdigest() != sha256:
        raise OriginalCorruptError(f"{path}: checksum mismatch (original file truncated or altered)")
    return data


def verify_blobs(index_dir: Path, originals: dict[str, int]) -> None:
    """Raise :class:`OriginalCorruptError` unless every blob named is there with its size (the SHA-256 is
    checked when a blob is read: hashing every original on each load would cost as much as reading them all)."""
    for sha256, size in originals.items():
        path = blob_path(index_dir, sha256)
        try:
            actual = path.stat().st_size
        except OSError:
            raise OriginalCorruptError(f"{path}: original file missing") from None
        if actual != size:
            raise OriginalCorruptError(f"{path}: {actual} bytes, the manifest says {size}")


def collect_blobs(index_dir: Path) -> int:
    """Remove the blobs that no generation on disk names (the caller holds the writer lock); how many. Nothing
    is removed when a generation's manifest cannot be read: its blobs are unknown."""
    folder = index_dir / ORIGINALS_DIR
    if not folder.is_dir():
        return 0
    named: set[str] = set()
    try:
        for path in [index_dir, *sorted(p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("gen-"))]:
            if (path / MANIFEST).is_file() and not path.name.endswith(".tmp"):
                named.update(read_manifest(path).originals)
    except (RagError, OSError) as exc:
        log.warning("original files not collected: %s", exc)
        return 0
    removed = 0
    for blob in folder.iterdir():
        if blob.name not in named and (_SHA.match(blob.name) or ".tmp-" in blob.name):
            blob.unlink(missing_ok=True)
            removed += 1
    if removed:
        fsync_path(folder)
    return removed
