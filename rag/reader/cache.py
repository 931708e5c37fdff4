"""Readings remembered per (question, passage): the reranker and the answerer read the same hits once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from rag.reader.protocol import Abstention, PassageReading, Reader


class WrappedReader:
    """A reader around another one: the name, calibration and loading are the inner reader's."""

    def __init__(self, inner: Reader) -> None:
        self.inner = inner
        self.name = inner.name

    @property
    def threshold(self) -> float:
        """The inner reader's calibrated threshold."""
        return self.inner.threshold

    @property
    def abstention(self) -> Abstention:
        """The inner reader's calibrated abstention."""
        return self.inner.abstention

    def warm_up(self) -> None:
        """Warm the inner reader."""
        self.inner.warm_up()


class CachedReader(WrappedReader):
    """Wraps a reader; passages already read for the same question (and span settings) are not read again."""

    def __init__(self, inner: Reader, size: int = 2048) -> None:
        super().__init__(inner)
        self.size = size
        self._memo: OrderedDict[tuple[str, str, int, int], PassageReading] = OrderedDict()
        self._lock = threading.Lock()

    def read(
        self, question: str, passages: Sequence[str], *, top_spans: int = 3, max_answer_tokens: int = 30
    ) -> list[PassageReading]:
        """Read only the passages not read before for this question, in one call."""
        keys = [(question, p, top_spans, max_answer_tokens) for p in passages]
        with self._lock:
            known = {k: self._memo[k] for k in keys if k in self._memo}
        fresh = list(dict.fromkeys(k for k in keys if k not in known))
        if fresh:
            readings = self.inner.read(
                question, [k[1] for k in fresh], top_spans=top_spans, max_answer_tokens=max_answer_tokens
            )
            with self._lock:
                for key, reading in zip(fresh, readings, strict=True):
                    self._memo[key] = known[key] = reading
                while len(self._memo) > self.size:
                    self._memo.popitem(last=False)
        return [known[k] for k in keys]
