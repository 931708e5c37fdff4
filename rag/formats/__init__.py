"""Binary document formats, PDF and DOCX: their bytes checked, their text extracted and cleaned, their pages and
sections located. ``rag.ingest`` dispatches here by suffix; this package only turns bytes into text and metadata.

What a document's metadata keeps (JSON, stored as is in ``documents.jsonl``):

- ``pages``: ``[[start, end], …]``, page *n* (1-based) is ``text[start:end]`` of ``pages[n - 1]`` (PDF);
- ``page_count``, and ``ocr_pages``: the pages whose text was read by OCR (scanned);
- ``headings``: ``[[start, end, level], …]``, the headings of a DOCX, in order;
- ``original``: ``{"sha256", "size", "media_type", "filename"}``, the bytes kept with the document
  (``index/originals.py``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from rag.formats.errors import CorruptDocumentError, DocumentTooLargeError, FormatMismatchError
from rag.models import Span

PDF_SUFFIXES = {".pdf"}
DOCX_SUFFIXES = {".docx"}
BINARY_SUFFIXES = PDF_SUFFIXES | DOCX_SUFFIXES
MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".markdown": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
}
LOCATION_KEYS = frozenset({"pages", "headings"})
"""The metadata that locates offsets (large for a long PDF): search hits show a chunk's page instead."""
_MAGIC = {".pdf": (b"%PDF-", "a PDF starts with %PDF-"), ".docx": (b"PK\x03\x04", "a DOCX is a zip archive")}


@dataclass
class Limits:
    """How much one document may be (bytes, PDF pages), and whether scanned pages may be OCRed."""

    max_bytes: int = 10 * 1024 * 1024
    max_pages: int = 1000
    ocr: bool = True

    @classmethod
    def of(cls, settings: Any) -> Limits:
        """What a :class:`~rag.settings.Settings` sets (``RAG_MAX_UPLOAD_BYTES``, ``RAG_MAX_PAGES``, ``RAG_OCR``)."""
        return cls(max_bytes=settings.max_upload_bytes, max_pages=settings.max_pages, ocr=settings.ocr)


@dataclass
class Extracted:
    """A binary document's text, the spans to skip, its title (if it states one) and metadata."""

    text: str
    skipped: list[Span] = field(default_factory=list)
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def sniff(raw: bytes) -> str:
    """What the bytes look like, whatever the file is called: ``pdf``, ``zip``, ``ole``, ``html`` or ``other``."""
    head = raw[:1024].lstrip()
    if b"%PDF-" in raw[:1024]:
        return "pdf"
    if raw.startswith(b"PK\x03\x04"):
        return "zip"
    if raw.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if head[:15].lower().startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "html"
    return "other"


def check_size(size: int, source: str, limits: Limits) -> None:
    """Refuse a file over ``RAG_MAX_UPLOAD_BYTES`` (checked on a file's size before it is read, and on the bytes)."""
    if size > limits.max_bytes:
        raise DocumentTooLargeError(f"{source}: {size:,} bytes, more than RAG_MAX_UPLOAD_BYTES={limits.max_bytes:,}")


def check_bytes(suffix: str, raw: bytes, source: str, limits: Limits) -> None:
    """Refuse a file over the byte limit, or whose bytes are not the format its suffix names."""
    check_size(len(raw), source, limits)
    magic = _MAGIC.get(suffix)
    if magic is None:
        return
    kind = sniff(raw)
    if suffix == ".docx" and kind == "ole":
        return  # a password-protected Word file: read_docx names it
    if raw.startswith(magic[0]) or (suffix == ".pdf" and kind == "pdf"):
        return
    found = {"html": "HTML", "zip": "a zip archive", "pdf": "a PDF", "ole": "an OLE (legacy Office) file"}
    if kind in found:
        raise FormatMismatchError(f"{source}: named {suffix} but its content is {found[kind]} ({magic[1]})")
    what = "empty" if not raw.strip() else "truncated or damaged" if magic[0].startswith(raw[:5]) else "not one"
    raise CorruptDocumentError(f"{source}: not a valid {suffix[1:].upper()} file ({what}: {magic[1]})")


def extract(suffix: str, raw: bytes, source: str, limits: Limits | None = None) -> Extracted:
    """Text and metadata of a PDF or DOCX, checked first (:func:`check_bytes`); typed errors for bad input."""
    limits = limits or Limits()
    suffix = suffix.lower()
    check_bytes(suffix, raw, source, limits)
    if suffix in PDF_SUFFIXES:
        from rag.formats.cleaning import assemble
        from rag.formats.pdf import iter_pages, open_pdf

        doc, info = open_pdf(raw, source, limits.max_pages)
        ocred: list[int] = []
        try:
            layout = assemble(iter_pages(doc, source, ocr=limits.ocr, ocred=ocred))
        finally:
            doc.close()
        meta: dict[str, Any] = {"pages": [list(p) for p in layout.pages], "page_count": info.pages}
        if ocred:
            meta["ocr_pages"] = ocred  # whose text Tesseract read from the page's image
        return Extracted(layout.text, layout.skipped, info.title, meta)
    from rag.formats.docx import read_docx

    found = read_docx(raw, source)
    return Extracted(found.text, [], found.title, {"headings": [list(h) for h in found.headings]})


def page_of(metadata: dict[str, Any], offset: int) -> int | None:
    """The 1-based page holding ``offset``, for a document with pages; None otherwise (or when the metadata,
    which a JSON record may have set by hand, is not page spans)."""
    pages = metadata.get("pages")
    if not isinstance(pages, list) or not pages:
        return None
    try:
        starts = [int(p[0]) for p in pages]
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return max(1, bisect.bisect_right(starts, offset))


def section_of(text: str, metadata: dict[str, Any], offset: int) -> str | None:
    """The heading above ``offset`` (the section it is in), for a document with headings; None otherwise."""
    headings = metadata.get("headings")
    if not isinstance(headings, list) or not headings:
        return None
    try:
        spans = [(int(h[0]), int(h[1])) for h in headings]
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    at = bisect.bisect_right([s for s, _ in spans], offset) - 1
    if at < 0:
        return None
    return text[spans[at][0] : spans[at][1]] or None
