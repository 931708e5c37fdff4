"""A content-addressed cache of passage vectors, so a rebuild or a resumed build never re-embeds a text.

One SQLite file per embedder fingerprint; the key is the SHA-256 of the text, the value its float32 bytes.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embedders.protocol import Embedder


class CachedEmbedder:
    """Wraps an embedder; passages already seen come from the cache, the rest are embedded and stored."""

    def __init__(self, inner: Embedder, directory: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.directory = Path(directory)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def dim(self) -> int:
        """The wrapped embedder's dimension."""
        return self.inner.dim

    @property
    def fingerprint(self) -> str:
        """The wrapped embedder's fingerprint: caching changes no vector."""
        return self.inner.fingerprint

    def warm_up(self) -> None:
        """Load the model and open the cache file."""
        self.inner.warm_up()
        if self._db is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            safe = re.sub(r"[^\w.-]+", "_", self.inner.fingerprint)[:120]
            db = sqlite3.connect(self.directory / f"{safe}.sqlite3", check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
            self._db = db

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Cached vectors for known texts; the others are embedded in one batch and committed."""
        self.warm_up()
        assert self._db is not None
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest() for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                rows = self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})", part
                ).fetchall()
                for key, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape == (self.dim,):
                        found[key] = vec
        todo = sorted({i for i, k in enumerate(keys) if k not in found})
        unique = {keys[i]: i for i in todo}
        if unique:
            fresh = self.inner.embed_passages([texts[i] for i in unique.values()])
            with self._lock, self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                    [(k, v.astype(np.float32).tobytes()) for k, v in zip(unique, fresh, strict=True)],
                )
            found.update(zip(unique, fresh, strict=True))
        self.hits += len(texts) - len(todo)
        self.misses += len(unique)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    @staticmethod
    def key(text: str) -> bytes:
        """The cache key of a passage: SHA-256 of its UTF-8 text."""
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

    def cached(self, keys: Sequence[bytes]) -> set[bytes]:
        """Which of ``keys`` already have a vector."""
        self.warm_up()
        assert self._db is not None
        found: set[bytes] = set()
        with self._lock:
            for i in range(0, len(keys), 500):
                part = list(keys[i : i + 500])
                rows = self._db.execute(f"SELECT key FROM vectors WHERE key IN ({','.join('?' * len(part))})", part)
                found.update(row[0] for row in rows)
        return found

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store vectors computed elsewhere (a distributed embedding job) under their keys, in one transaction."""
        self.warm_up()
        assert self._db is not None
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dim):
            raise ValueError(f"expected {len(keys)} vectors of dimension {self.dim}, got {vectors.shape}")
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(k, v.tobytes()) for k, v in zip(keys, vectors, strict=True)],
            )

    def embed_query(self, text: str) -> np.ndarray:
        """Queries are not cached here (the index keeps a small LRU)."""
        return self.inner.embed_query(text)
