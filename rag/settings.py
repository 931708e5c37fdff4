"""Service configuration: one pydantic-settings class, read from ``RAG_*`` variables and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Method = Literal["hybrid", "dense", "lexical"]


class Settings(BaseSettings):
    """Every tunable of the service. Environment variables use the ``RAG_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    index_dir: Path = Field(Path("data/index"), description="Where the index generations live.")
    seeds_dir: Path = Field(Path("seeds"), description="Corpus indexed when no index exists.")

    embedder: str = Field("e5", description="Embedder name in the registry: e5, sentence-transformers, hashing.")
    embedder_model: str | None = Field(
        None, description="Model path or id for the sentence-transformers embedder (default: bundled MiniLM)."
    )
    query_prefix: str = Field("", description="Prefix added to queries (sentence-transformers, e5-style models).")
    passage_prefix: str = Field("", description="Prefix added to passages (sentence-transformers).")
    embed_batch_size: int = Field(32, ge=1, le=4096)
    embed_cache_dir: Path | None = Field(
        Path("data/embed-cache"), description="Content-hash keyed passage-vector cache; empty to disable."
    )
    threads: int = Field(0, ge=0, le=256, description="Threads for BLAS/OpenMP; 0 means the machine's cores.")

    chunk_tokens: int = Field(256, ge=16, le=8192, description="Token budget of a chunk (tiktoken cl100k).")
    chunk_overlap: int = Field(32, ge=0, le=4096, description="Tokens shared by consecutive chunks.")

    exact_search_max: int = Field(50_000, ge=0, description="Vectors up to which FAISS search is exact.")
    hnsw_m: int = Field(32, ge=4, le=256)
    hnsw_ef_construction: int = Field(200, ge=8, le=4096)
    hnsw_ef_search: int = Field(128, ge=8, le=4096)

    bm25_k1: float = Field(1.2, gt=0)
    bm25_b: float = Field(0.75, ge=0, le=1)

    method: Method = "hybrid"
    top_k: int = Field(5, ge=1, le=50)
    fusion: Literal["rrf", "convex"] = "rrf"
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    lexical_weight: float = Field(1.0, ge=0)
    candidates: int = Field(100, ge=1, le=10_000, description="Hits taken from each retriever before fusion.")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("RAG_CHUNK_OVERLAP must be smaller than RAG_CHUNK_TOKENS")
        if self.dense_weight == 0 and self.lexical_weight == 0:
            raise ValueError("RAG_DENSE_WEIGHT and RAG_LEXICAL_WEIGHT cannot both be 0")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
