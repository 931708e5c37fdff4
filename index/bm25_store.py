"""BM25 lexical index over analysed French terms, scored by bm25s.

bm25s builds a static sparse matrix, so the index keeps each chunk's terms and rebuilds the matrix
lazily, on the first search after a change (a sparse build: ~1 s per 100k passages here), instead of
re-analysing any text.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from index.errors import IndexCorruptError
from index.protocols import ScoredIds

TERMS_FILE = "lexical.jsonl"
logging.getLogger("bm25s").setLevel(logging.WARNING)


class Bm25LexicalIndex:
    """Okapi BM25 (Lucene variant) with configurable ``k1`` and ``b``."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._terms: dict[int, list[str]] = {}
        self._bm25: bm25s.BM25 | None = None
        self._order = np.zeros(0, dtype=np.int64)
        self._df: Counter[str] | None = None
        self._positions: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self._terms)

    def add(self, ids: Sequence[int], terms: Sequence[list[str]]) -> None:
        """Index terms under new ids."""
        for i, t in zip(ids, terms, strict=True):
            self._terms[int(i)] = list(t)
        self._bm25 = self._df = None

    def remove(self, ids: Sequence[int]) -> int:
        """Drop ids; returns how many were present."""
        removed = sum(self._terms.pop(int(i), None) is not None for i in ids)
        if removed:
            self._bm25 = self._df = None
        return removed

    def _model(self) -> bm25s.BM25:
        if self._bm25 is None:
            model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            self._order = np.fromiter(self._terms.keys(), dtype=np.int64, count=len(self._terms))
            model.index([self._terms[int(i)] for i in self._order], show_progress=False)
            self._bm25 = model
            self._positions = None
        return self._bm25

    def search(self, terms: list[str], k: int, allowed: np.ndarray | None = None) -> ScoredIds:
        """Best ``k`` chunks with a positive BM25 score."""
        if k <= 0 or not self._terms:
            return []
        model = self._model()
        vocab = model.vocab_dict
        known = [vocab[t] for t in terms if t in vocab]
        if not known:
            return []
        scores = model.get_scores_from_ids(known)
        if allowed is not None:
            mask = np.isin(self._order, allowed)
            scores = np.where(mask, scores, 0.0)
        n = min(k, int(np.count_nonzero(scores > 0)))
        if n == 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._order[i]), float(scores[i])) for i in top]

    def score(self, terms: list[str], ids: np.ndarray) -> np.ndarray:
        """BM25 scores of ``ids`` for the terms (0 for a chunk that matches none)."""
        if not len(ids) or not self._terms:
            return np.zeros(len(ids), dtype=np.float32)
        model = self._model()
        known = [model.vocab_dict[t] for t in terms if t in model.vocab_dict]
        if not known:
            return np.zeros(len(ids), dtype=np.float32)
        scores = model.get_scores_from_ids(known)
        if self._positions is None:
            self._positions = {int(cid): i for i, cid in enumerate(self._order)}
        return np.array([scores[self._positions[int(i)]] for i in ids], dtype=np.float32)

    def idf(self, term: str) -> float:
        """BM25 inverse document frequency of a term (rare terms weigh more; unknown terms weigh most)."""
        if self._df is None:
            self._df = Counter(t for terms in self._terms.values() for t in set(terms))
        n = len(self._terms)
        df = self._df.get(term, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def terms(self, chunk_id: int) -> list[str]:
        """The analysed terms of a chunk."""
        return self._terms.get(int(chunk_id), [])

    def save(self, directory: Path) -> list[str]:
        """Write each chunk's terms as one JSON line (no pickle; rebuilt on load)."""
        with (directory / TERMS_FILE).open("w", encoding="utf-8") as out:
            for i, t in self._terms.items():
                out.write(json.dumps([i, t], ensure_ascii=False, separators=(",", ":")) + "\n")
        return [TERMS_FILE]

    def load(self, directory: Path) -> None:
        """Replace the contents with the file written by :meth:`save`."""
        terms: dict[int, list[str]] = {}
        try:
            with (directory / TERMS_FILE).open(encoding="utf-8") as handle:
                for line in handle:
                    i, t = json.loads(line)
                    terms[int(i)] = [str(x) for x in t]
        except (OSError, ValueError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read the lexical index in {directory}: {exc}") from exc
        self._terms = terms
        self._bm25 = self._df = None

    def info(self) -> dict[str, Any]:
        """Scoring parameters, recorded in the manifest."""
        return {"kind": "bm25s", "method": "lucene", "k1": self.k1, "b": self.b, "count": len(self)}
