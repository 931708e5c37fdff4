"""Model inputs of the extractive reader: windows of a passage under a question, and the arrays they run as
(padded one to a row for training, packed several to a row for inference)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rag.reader.tokenizer import E5Tokenizer


@dataclass(frozen=True)
class Window:
    """One model input: token ids, which of them are passage tokens, and their char offsets in the passage."""

    ids: list[int]
    passage_index: int
    first: int  # index in ``ids`` of the first passage token
    token_start: int  # index in the passage's token list of the first window token
    starts: list[int]  # char offsets of the window's passage tokens
    ends: list[int]


def make_windows(
    tok: E5Tokenizer,
    question_ids: list[int],
    passage: str,
    passage_index: int,
    *,
    max_len: int,
    stride: int,
    bos: int,
    eos: int,
    passage_prefix: list[int],
) -> list[Window]:
    enc = tok.encode(passage)
    head = [bos, *question_ids, eos, *passage_prefix]
    room = max(8, max_len - len(head) - 1)
    n = len(enc.ids)
    windows: list[Window] = []
    start = 0
    while True:
        stop = min(n, start + room)
        windows.append(
            Window(
                [*head, *enc.ids[start:stop], eos],
                passage_index,
                len(head),
                start,
                enc.starts[start:stop],
                enc.ends[start:stop],
            )
        )
        if stop >= n:
            break
        start += stride
    return windows


LENGTH_QUANTUM = 16
"""Inputs are padded to a multiple of this many tokens: few distinct shapes, so oneDNN's kernels are reused (and
its cache of them stays small) across batches of every length."""


def padded_length(n: int) -> int:
    """``n`` tokens rounded up to a multiple of :data:`LENGTH_QUANTUM`."""
    return -(-n // LENGTH_QUANTUM) * LENGTH_QUANTUM


PACK_TOKENS = 256
"""Tokens per row when windows are packed (:func:`pack_rows`): a row attends over its whole length (the mask
keeps each token to its window, the arithmetic does not skip what it masks), so longer rows buy less padding
with more attention."""


def pack_rows(lengths: Sequence[int], capacity: int = PACK_TOKENS) -> list[list[int]]:
    """Positions of ``lengths`` packed into rows of at most ``capacity`` tokens (a longer window alone in its
    row), first fit by decreasing length: every position once."""
    rows: list[list[int]] = []
    room: list[int] = []
    for k in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        n = lengths[k]
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append(k)
                room[r] -= n
                break
        else:
            rows.append([k])
            room.append(capacity - n)
    return rows


@dataclass(frozen=True)
class PackedBatch:
    """Windows packed several to a row: the arrays :meth:`ReaderModel.forward_packed` takes, and where each
    window lies (its row and first column)."""

    ids: np.ndarray  # [R, T] token ids, padded to a multiple of LENGTH_QUANTUM
    positions: np.ndarray  # [R, T] each token's position in its own window
    window: np.ndarray  # [R, T] each token's window index, -1 for padding
    places: list[tuple[int, int]]  # per window: (row, column of its first token)

    def attention_bias(self) -> np.ndarray:
        """``[R, 1, T, T]`` float32: 0 where a token may attend (its own window; a padding token, itself only,
        so that no row of the softmax is empty), -inf elsewhere."""
        same = (self.window[:, :, None] == self.window[:, None, :]) & (self.window[:, None, :] >= 0)
        same |= np.eye(self.window.shape[1], dtype=bool)[None]
        return np.where(same, 0.0, -np.inf).astype(np.float32)[:, None]


def pack_windows(windows: Sequence[Window], pad: int, capacity: int = PACK_TOKENS) -> PackedBatch:
    """``windows`` packed into rows by :func:`pack_rows`."""
    rows = pack_rows([len(w.ids) for w in windows], capacity)
    length = padded_length(max(sum(len(windows[k].ids) for k in row) for row in rows))
    ids = np.full((len(rows), length), pad, dtype=np.int64)
    positions = np.zeros((len(rows), length), dtype=np.int64)
    window = np.full((len(rows), length), -1, dtype=np.int64)
    places = [(0, 0)] * len(windows)
    for r, row in enumerate(rows):
        at = 0
        for k in row:
            n = len(windows[k].ids)
            ids[r, at : at + n] = windows[k].ids
            positions[r, at : at + n] = np.arange(n)
            window[r, at : at + n] = k
            places[k] = (r, at)
            at += n
    return PackedBatch(ids, positions, window, places)


def batch_arrays(windows: Sequence[Window], pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids ``[B, L]`` (padded to a multiple of :data:`LENGTH_QUANTUM`), attention mask and span mask (the passage
    tokens)."""
    length = padded_length(max(len(w.ids) for w in windows))
    ids = np.full((len(windows), length), pad, dtype=np.int64)
    mask = np.zeros((len(windows), length), dtype=bool)
    span = np.zeros((len(windows), length), dtype=bool)
    for i, w in enumerate(windows):
        ids[i, : len(w.ids)] = w.ids
        mask[i, : len(w.ids)] = True
        span[i, w.first : w.first + len(w.starts)] = True
    return ids, mask, span
