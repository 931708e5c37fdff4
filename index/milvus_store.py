"""Milvus vector store: the vectors live in a Milvus collection, the index generation keeps a pointer to it.

``RAG_MILVUS_URI`` is either a local path ending in ``.db`` (Milvus Lite: embedded in this process, no server)
or the ``http(s)://`` URI of a Milvus standalone or cluster. Needs the ``milvus`` extra (``pymilvus`` and
``milvus-lite``).

A fresh build writes a fresh collection (``<prefix>_<12 hex>``), so the index being served is not touched until
the new generation is published; adds and removes change the collection in place. Each generation records the
collection and its vector count in ``vectors.milvus.json``; when a generation is written, the collections of
this index that no kept generation names any more are dropped.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from index.ann_params import DEFAULT_HNSW, HnswParams
from index.base_store import VectorStoreBase
from index.errors import IndexCorruptError, MissingExtraError, VectorStoreUnavailableError
from index.protocols import ScoredIds

POINTER_FILE = "vectors.milvus.json"
INSERT_ROWS = 2_000
GET_ROWS = 1_000
MilvusIndex = Literal["HNSW", "FLAT", "IVF_FLAT"]
T = TypeVar("T")


def redact(uri: str) -> str:
    """The URI without credentials (what the manifest records)."""
    if uri.endswith(".db"):
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class MilvusVectorStore(VectorStoreBase):
    """Inner-product search in a Milvus collection of (id INT64, vector FLOAT_VECTOR) rows.

    Construction is cheap: the client connects (and Milvus Lite starts) on first use.
    """

    def __init__(
        self,
        dim: int,
        *,
        uri: str,
        token: str | None = None,
        prefix: str = "rag",
        index_type: MilvusIndex = "HNSW",
        hnsw: HnswParams = DEFAULT_HNSW,
        nlist: int = 1024,
        nprobe: int = 32,
    ) -> None:
        self.dim = dim
        self.uri = uri
        self.token = token or None
        self.prefix = prefix
        self.index_type = index_type
        self._hnsw(hnsw)
        self.nlist = nlist
        self.nprobe = nprobe
        self.collection: str | None = None
        self._count = 0
        self._client: Any = None

    # -- connection ------------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._client is None:
            try:  # the factory (rag.corpus.stores) checked the extra; this is a package installed but broken
                from pymilvus import MilvusClient
            except ImportError as exc:
                raise MissingExtraError(
                    f"the Milvus store needs the milvus extra (pymilvus failed to import: {exc}): "
                    "pip install 'rag[milvus]'"
                ) from exc
            if self.uri.endswith(".db"):
                Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            with self._errors("connect"):
                self._client = MilvusClient(uri=self.uri, token=self.token or "")
        return self._client

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Milvus client errors become :class:`VectorStoreUnavailableError` naming the store, not the password."""
        try:
            yield
        except (MissingExtraError, IndexCorruptError):
            raise
        except Exception as exc:
            if type(exc).__module__.startswith(("pymilvus", "grpc", "milvus_lite")) or isinstance(
                exc, ConnectionError | TimeoutError | OSError
            ):
                raise VectorStoreUnavailableError(f"Milvus at {redact(self.uri)}: {what} failed: {exc}") from exc
            raise

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        client = self._connect()
        with self._errors(what):
            return fn(client, *args, **kwargs)

    def _create(self) -> str:
        client = self._connect()
        from pymilvus import DataType  # importable: _connect checked the extra

        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        with self._errors("create collection"):
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
            params = client.prepare_index_params()
            build: dict[str, Any] = {}
            if self.index_type == "HNSW":
                build = {"M": self.hnsw_m, "efConstruction": self.ef_construction}
            elif self.index_type == "IVF_FLAT":
                build = {"nlist": self.nlist}
            params.add_index(field_name="vector", index_type=self.index_type, metric_type="IP", params=build)
            # Milvus Lite lacks AllocTimestamp, which pymilvus calls once while waiting for the index: the
            # in-process gRPC server would log that (harmless) refusal as an error with a traceback.
            grpc_log = logging.getLogger("grpc._server")
            level = grpc_log.level
            grpc_log.setLevel(logging.CRITICAL)
            try:
                client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
            finally:
                grpc_log.setLevel(level)
            client.load_collection(name)
        self.collection = name
        self._count = 0
        return name

    # -- the VectorStore protocol ----------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert in batches (the first add of a fresh store creates its collection)."""
        name = self.collection or self._create()
        for start in range(0, len(ids), INSERT_ROWS):
            rows = [
                {"id": int(i), "vector": v.tolist()}
                for i, v in zip(ids[start : start + INSERT_ROWS], vectors[start : start + INSERT_ROWS], strict=True)
            ]
            self._call("insert", lambda c, r=rows: c.insert(name, r))
        self._count += len(ids)

    def _present(self, ids: np.ndarray) -> list[int]:
        if self.collection is None:
            return []
        name = self.collection
        found: list[int] = []
        unique = [int(i) for i in ids]
        for start in range(0, len(unique), GET_ROWS):
            part = unique[start : start + GET_ROWS]
            rows = self._call("get", lambda c, p=part: c.get(name, ids=p, output_fields=["id"]))
            found.extend(int(r["id"]) for r in rows)
        return found

    def _remove(self, ids: np.ndarray) -> int:
        """Delete the ids present in the collection."""
        present = self._present(ids)
        if present:
            name = self.collection
            self._call("delete", lambda c: c.delete(name, ids=present))
            self._count -= len(present)
        return len(present)

    def _search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> ScoredIds:
        """Restricted to ``allowed`` ids through a Milvus filter expression."""
        if self.collection is None:
            return []
        name = self.collection
        params: dict[str, Any] = {"metric_type": "IP", "params": {}}
        if self.index_type == "HNSW":
            params["params"] = {"ef": max(self.ef, k)}
        elif self.index_type == "IVF_FLAT":
            params["params"] = {"nprobe": self.nprobe}
        expr = ""
        if allowed is not None:
            expr = "id in [" + ",".join(str(int(i)) for i in np.unique(allowed)) + "]"
        q = query.tolist()
        result = self._call(
            "search",
            lambda c: c.search(
                name, data=[q], limit=min(k, 16_384), filter=expr, search_params=params, output_fields=["id"]
            ),
        )
        return self.best([(int(h["id"]), float(h["distance"])) for h in result[0]], k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids``, in the order given (all must be present)."""
        name = self.collection
        wanted = [int(i) for i in ids]
        found: dict[int, list[float]] = {}
        unique = sorted(set(wanted))
        for start in range(0, len(unique), GET_ROWS):
            part = unique[start : start + GET_ROWS]
            rows = self._call("get", lambda c, p=part: c.get(name, ids=p, output_fields=["vector"]))
            found.update((int(r["id"]), r["vector"]) for r in rows)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise KeyError(f"ids not in the Milvus collection: {missing[:5]}")
        return np.array([found[i] for i in wanted], dtype=np.float32).reshape(len(wanted), self.dim)

    def save(self, directory: Path) -> list[str]:
        """Flush the collection and write the pointer file; drop this index's collections no generation names."""
        if self.collection is None:
            self._create()
        name = self.collection
        self._call("flush", lambda c: c.flush(name))
        pointer = {
            "collection": name,
            "count": self._count,
            "dim": self.dim,
            "uri": redact(self.uri),
            "index_type": self.index_type,
        }
        (directory / POINTER_FILE).write_text(json.dumps(pointer, indent=2), encoding="utf-8")
        self._drop_unreferenced(directory.parent)
        return [POINTER_FILE]

    def _drop_unreferenced(self, index_dir: Path) -> None:
        kept = {self.collection}
        for path in index_dir.glob(f"gen-*/{POINTER_FILE}"):
            try:
                kept.add(json.loads(path.read_text(encoding="utf-8"))["collection"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        names = self._call("list collections", lambda c: c.list_collections())
        for stale in names:
            if stale.startswith(f"{self.prefix}_") and stale not in kept:
                self._call("drop collection", lambda c, n=stale: c.drop_collection(n))

    def load(self, directory: Path) -> None:
        """Open the collection named by the generation and check that it holds the vectors it should."""
        try:
            pointer = json.loads((directory / POINTER_FILE).read_text(encoding="utf-8"))
            name, count, dim = str(pointer["collection"]), int(pointer["count"]), int(pointer["dim"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read {directory / POINTER_FILE}: {exc}") from exc
        if dim != self.dim:
            raise IndexCorruptError(f"{directory}: Milvus collection of dimension {dim}, expected {self.dim}")
        if not self._call("has collection", lambda c: c.has_collection(name)):
            raise IndexCorruptError(f"{directory}: collection {name!r} is missing from Milvus at {redact(self.uri)}")
        self._call("load collection", lambda c: c.load_collection(name))
        rows = self._call("count", lambda c: c.query(name, filter="", output_fields=["count(*)"]))
        held = int(rows[0]["count(*)"])
        if held != count:
            raise IndexCorruptError(
                f"{directory}: collection {name!r} holds {held} vectors, the generation recorded {count}"
            )
        self.collection = name
        self._count = held

    def info(self) -> dict[str, Any]:
        """Backend, collection and index parameters, recorded in the manifest."""
        params: dict[str, Any] = {}
        if self.index_type == "HNSW":
            params = {"m": self.hnsw_m, "ef_construction": self.ef_construction, "ef_search": self.ef}
        elif self.index_type == "IVF_FLAT":
            params = {"nlist": self.nlist, "nprobe": self.nprobe}
        return {
            "backend": "milvus",
            "kind": self.index_type.lower(),
            "uri": redact(self.uri),
            "collection": self.collection,
            "count": self._count,
            **params,
        }

    def close(self) -> None:
        """Close the client connection (Milvus Lite keeps serving its file until the process exits)."""
        if self._client is not None:
            self._client.close()
            self._client = None
