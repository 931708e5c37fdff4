"""Typed errors. Each carries a one-line message fit for a CLI or an HTTP error body."""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error the service raises on purpose."""

    code = "rag_error"
    status = 400


class SourceError(RagError):
    """A source folder, file or record could not be read (missing, unreadable, not UTF-8, empty)."""

    code = "invalid_source"


class InvalidQueryError(RagError):
    """A query that cannot be searched (empty, only stopwords or punctuation, too long)."""

    code = "invalid_query"
    status = 422


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


class IndexReadOnlyError(RagError):
    """Writes are refused: an earlier generation is served because the published one is damaged."""

    code = "index_read_only"
    status = 503


class DocumentNotFoundError(RagError):
    """A document id that the index does not hold."""

    code = "document_not_found"
    status = 404


class UnknownComponentError(RagError):
    """A registry was asked for a name it does not know."""

    code = "unknown_component"


class VectorStoreUnavailableError(RagError):
    """The vector store cannot be reached (a Milvus server down, a wrong URI) or refused an operation."""

    code = "vector_store_unavailable"
    status = 503


class MissingExtraError(RagError):
    """An optional feature whose packages are not installed (``pip install 'rag[EXTRA]'``)."""

    code = "missing_extra"
    status = 501


class ModelWeightsError(RagError):
    """A model's weights file (safetensors and its json) is missing, unreadable or does not fit its config."""

    code = "model_weights"
    status = 503
