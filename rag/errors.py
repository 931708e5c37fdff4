"""Typed errors. Each carries a one-line message fit for a CLI or an HTTP error body. The stores' errors and the
base :class:`RagError` live in ``index/errors.py`` (the ground floor) and are re-exported here."""

from __future__ import annotations

from index.errors import (
    IndexCorruptError,
    IndexIncompatibleError,
    IndexMissingError,
    MissingExtraError,
    RagError,
    VectorStoreUnavailableError,
)

__all__ = [
    "DocumentNotFoundError",
    "IndexCorruptError",
    "IndexIncompatibleError",
    "IndexMissingError",
    "IndexReadOnlyError",
    "InvalidQueryError",
    "MissingExtraError",
    "ModelWeightsError",
    "RagError",
    "SourceError",
    "UnknownComponentError",
    "VectorStoreUnavailableError",
]


class SourceError(RagError):
    """A source folder, file or record could not be read (missing, unreadable, not UTF-8, empty)."""

    code = "invalid_source"


class InvalidQueryError(RagError):
    """A query that cannot be searched (empty, only stopwords or punctuation, too long)."""

    code = "invalid_query"
    status = 422


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


class ModelWeightsError(RagError):
    """A model's weights file (safetensors and its json) is missing, unreadable or does not fit its config."""

    code = "model_weights"
    status = 503
