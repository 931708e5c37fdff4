"""Vector stores by name (``RAG_VECTOR_STORE``), each built from the settings by a cheap factory. The stores
themselves (``index/``) take plain constructor arguments; choosing and configuring one from ``Settings`` is done
here, a floor above them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from index.ann_params import HnswParams
from index.faiss_store import FaissVectorStore
from index.protocols import VectorStore
from rag import extras
from rag.errors import IndexIncompatibleError
from rag.registry import Registry
from rag.settings import Settings


def hnsw_params(s: Settings) -> HnswParams:
    """``RAG_HNSW_M``, ``RAG_HNSW_EF_CONSTRUCTION``, ``RAG_HNSW_EF_SEARCH``."""
    return HnswParams(s.hnsw_m, s.hnsw_ef_construction, s.hnsw_ef_search)


def faiss_store(dim: int, s: Settings, index_dir: Path | None = None) -> FaissVectorStore:
    """A FAISS store configured from the settings (the index directory plays no part)."""
    return FaissVectorStore(
        dim,
        exact_max=s.exact_search_max,
        approximate=s.faiss_approximate,
        hnsw=hnsw_params(s),
        ivf_nlist=s.ivf_nlist,
        ivf_nprobe=s.ivf_nprobe,
        pq_m=s.pq_m,
        pq_bits=s.pq_bits,
        rerank=s.ivf_rerank,
        train_size=s.ivf_train_size,
    )


def milvus_prefix(s: Settings, index_dir: Path) -> str:
    """``RAG_MILVUS_COLLECTION``, or ``rag_<hash of the index directory>``: two indexes never share collections."""
    digest = hashlib.sha256(str(Path(index_dir).resolve()).encode()).hexdigest()[:10]
    return s.milvus_collection or f"rag_{digest}"


def _milvus(dim: int, s: Settings, index_dir: Path) -> VectorStore:
    extras.require("milvus", "RAG_VECTOR_STORE=milvus", *extras.milvus_modules(s.milvus_uri))
    from index.milvus_store import MilvusVectorStore

    return MilvusVectorStore(
        dim,
        uri=s.milvus_uri,
        token=s.milvus_token.get_secret_value() if s.milvus_token else None,
        prefix=milvus_prefix(s, index_dir),
        index_type=s.milvus_index,
        hnsw=hnsw_params(s),
        nlist=s.ivf_nlist or 1024,
        nprobe=s.ivf_nprobe,
    )


VECTOR_STORES: Registry[Callable[[int, Settings, Path], VectorStore]] = Registry(
    "vector store", {"faiss": faiss_store, "milvus": _milvus}
)


def make_vector_store(settings: Settings, dim: int, index_dir: Path | None = None) -> VectorStore:
    """A new, empty (not yet connected) vector store of the configured backend."""
    return VECTOR_STORES.get(settings.vector_store)(dim, settings, Path(index_dir or settings.index_dir))


def check_backend(recorded: dict[str, object], settings: Settings, index_dir: Path) -> None:
    """Refuse to open an index whose vectors live in another backend than the configured one."""
    backend = str(recorded.get("backend", "faiss"))
    if backend != settings.vector_store:
        raise IndexIncompatibleError(
            f"{index_dir} keeps its vectors in {backend}, but RAG_VECTOR_STORE={settings.vector_store}; "
            f"set RAG_VECTOR_STORE={backend} or rebuild the index"
        )
