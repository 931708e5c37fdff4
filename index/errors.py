"""The stores' typed errors: the ground floor of the house's errors (``rag.errors`` re-exports them).

Each carries a one-line message fit for a CLI or an HTTP error body, an error ``code`` and an HTTP ``status``.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error the service raises on purpose."""

    code = "rag_error"
    status = 400


class IndexMissingError(RagError):
    """No index exists at the configured location."""

    code = "index_missing"
    status = 503


class IndexIncompatibleError(RagError):
    """An index was built by another format version, embedder or dimension."""

    code = "index_incompatible"
    status = 503


class IndexCorruptError(RagError):
    """An index file failed its checksum or could not be parsed."""

    code = "index_corrupt"
    status = 503


class VectorStoreUnavailableError(RagError):
    """The vector store cannot be reached (a Milvus server down, a wrong URI) or refused an operation."""

    code = "vector_store_unavailable"
    status = 503


class MissingExtraError(RagError):
    """An optional feature whose packages are not installed (``pip install 'rag[EXTRA]'``)."""

    code = "missing_extra"
    status = 501
