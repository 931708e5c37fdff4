"""Service configuration: one pydantic-settings class, read from ``RAG_*`` variables and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
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

    bm25_k1: float = Field(0.9, gt=0)
    bm25_b: float = Field(0.75, ge=0, le=1)

    method: Method = "hybrid"
    top_k: int = Field(5, ge=1, le=50)
    fusion: Literal["zscore", "rrf", "convex"] = Field(
        "zscore", description="zscore: z-scored convex combination; rrf: reciprocal rank; convex: min-max."
    )
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(0.6, ge=0)
    lexical_weight: float = Field(0.4, ge=0)
    candidates: int = Field(100, ge=1, le=10_000, description="Hits taken from each retriever before fusion.")

    answer_mode: Literal["extractive", "generative"] = Field("extractive", description="Default mode of /v1/ask.")
    llm_backend: str | None = Field(None, description="LLM backend in the registry: openai, echo; unset = no LLM.")
    llm_base_url: str = Field("http://127.0.0.1:8080/v1", description="OpenAI-compatible base URL, /v1 included.")
    llm_model: str = Field("local", min_length=1)
    llm_api_key: SecretStr | None = None
    llm_timeout: float = Field(10.0, gt=0, le=600, description="Connect timeout and longest gap between bytes (s).")
    llm_deadline: float = Field(20.0, gt=0, le=600, description="Total wall-clock budget of one LLM call (s).")
    llm_breaker_failures: int = Field(3, ge=1, le=1000)
    llm_breaker_reset: float = Field(30.0, ge=0, le=3600)

    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest document upload (bytes).")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body of other routes (bytes).")
    api_keys: SecretStr | None = Field(
        None, description="Comma-separated KEY[:admin|:query]; when set, every non-public route needs a key."
    )
    rate_limit_per_minute: float = Field(0, ge=0, description="Requests per minute per key (0: unlimited).")
    max_concurrency: int = Field(32, ge=1, le=10_000, description="Requests served at once; more get 503.")
    cors_origins: str = Field("", description="Comma-separated origins allowed to call the API from a browser.")
    access_log: bool = Field(True, description="One JSON line per request on the rag.access logger.")
    log_questions: bool = Field(False, description="Include question text in access logs.")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @field_validator("llm_backend", "embed_cache_dir", "embedder_model", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("llm_base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("RAG_LLM_BASE_URL must start with http:// or https://")
        return value.rstrip("/")

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
