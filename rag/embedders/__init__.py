"""Embedders: a protocol, three implementations and a registry to pick one by name."""

from rag.embedders.protocol import Embedder
from rag.embedders.registry import EMBEDDERS, get_embedder

__all__ = ["EMBEDDERS", "Embedder", "get_embedder"]
