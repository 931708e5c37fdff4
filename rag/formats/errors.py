"""The typed errors of document formats: each a :class:`~rag.errors.SourceError` with a 4xx status and a code that
names the problem, raised before anything is written (the index stays as it was)."""

from __future__ import annotations

from rag.errors import SourceError


class CorruptDocumentError(SourceError):
    """A PDF or DOCX that cannot be parsed: damaged, truncated, or not the format its name says."""

    code = "corrupt_document"
    status = 400


class EncryptedDocumentError(SourceError):
    """A password-protected PDF or Word file: its text cannot be read without the password."""

    code = "encrypted_document"
    status = 400


class FormatMismatchError(SourceError):
    """A file whose bytes are another format than its name says (a ``.pdf`` that is really HTML)."""

    code = "format_mismatch"
    status = 415


class DocumentTooLargeError(SourceError):
    """Over a limit: bytes (``RAG_MAX_UPLOAD_BYTES``), pages (``RAG_MAX_PAGES``) or a DOCX's unpacked size."""

    code = "document_too_large"
    status = 413


class ScannedPagesError(SourceError):
    """PDF pages without a text layer (scanned images) and no OCR installed: refused, never indexed empty."""

    code = "scanned_pages"
    status = 422
