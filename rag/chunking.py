"""Token-aware chunking at sentence and paragraph boundaries, with exact offsets into the original text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.models import Document, Span
from rag.tokens import count_tokens

# A sentence ends with . ! ? … (optionally followed by closing quotes) and whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[»\"”’)\]]*\s+")
_PARAGRAPH = re.compile(r"\n\s*")


@dataclass(frozen=True)
class ChunkSpan:
    """A chunk before it gets an id: ``document.text[start:end]`` is its text."""

    ordinal: int
    start: int
    end: int


class Chunker:
    """Packs sentences into chunks of at most ``max_tokens`` tokens, consecutive chunks sharing up to
    ``overlap`` tokens of whole sentences. Chunks never cross a skipped (boilerplate) span, so the text
    of a chunk is always a slice of the original text that contains no boilerplate line."""

    def __init__(self, max_tokens: int = 256, overlap: int = 32) -> None:
        if max_tokens < 1 or not 0 <= overlap < max_tokens:
            raise ValueError("need max_tokens >= 1 and 0 <= overlap < max_tokens")
        self.max_tokens = max_tokens
        self.overlap = overlap

    def split(self, doc: Document) -> list[ChunkSpan]:
        """Chunk spans covering every non-blank character of the document's kept spans."""
        chunks: list[ChunkSpan] = []
        for kept in doc.kept_spans():
            units = self._units(doc.text, kept)
            for start, end in self._pack(doc.text, units):
                chunks.append(ChunkSpan(len(chunks), start, end))
        return chunks

    def _units(self, text: str, span: Span) -> list[tuple[int, int]]:
        """Sentences (then paragraphs) of a span, trimmed of surrounding whitespace, each within budget."""
        return [u for s, e in sentence_spans(text, span.start, span.end) for u in self._fit(text, s, e)]

    def _fit(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """Split an over-budget unit at the whitespace nearest its middle (or the middle itself)."""
        if count_tokens(text[start:end]) <= self.max_tokens:
            return [(start, end)]
        mid = (start + end) // 2
        window = text[max(start + 1, mid - 200) : min(end - 1, mid + 200)]
        spaces = [m.start() for m in re.finditer(r"\s", window)]
        if spaces:
            base = max(start + 1, mid - 200)
            cut = base + min(spaces, key=lambda i: abs(base + i - mid))
            left, right = _trim(text, start, cut), _trim(text, cut, end)
        else:
            left, right = (start, mid), (mid, end)
        return [u for part in (left, right) if part[0] < part[1] for u in self._fit(text, *part)]

    def _pack(self, text: str, units: list[tuple[int, int]]) -> list[tuple[int, int]]:
        chunks: list[tuple[int, int]] = []
        i = 0
        while i < len(units):
            j = i
            while j + 1 < len(units) and count_tokens(text[units[i][0] : units[j + 1][1]]) <= self.max_tokens:
                j += 1
            chunks.append((units[i][0], units[j][1]))
            if j + 1 >= len(units):
                break
            nxt = j + 1
            while nxt - 1 > i and count_tokens(text[units[nxt - 1][0] : units[j][1]]) <= self.overlap:
                nxt -= 1
            i = nxt
        return chunks


def embedded_texts(text: str, start: int, end: int, sentences: bool) -> list[str]:
    """The texts an index build embeds for the chunk ``text[start:end]``: the chunk, then (with
    ``RAG_SENTENCE_VECTORS``) each of its sentences. The writer and the Ray embedding job both ask this, so a
    Ray-filled cache holds exactly what the build looks up."""
    texts = [text[start:end]]
    if sentences:
        texts += [text[a:b] for a, b in sentence_spans(text, start, end)]
    return texts


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of ``text[start:end]`` (paragraph breaks also end one), as trimmed absolute spans."""
    return [s for p in _cut(text, start, end, _PARAGRAPH) for s in _cut(text, *p, _SENTENCE_END)]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut(text: str, start: int, end: int, separator: re.Pattern[str]) -> list[tuple[int, int]]:
    """Non-blank pieces of ``text[start:end]`` between separator matches, trimmed."""
    pieces: list[tuple[int, int]] = []
    pos = start
    for match in separator.finditer(text, start, end):
        pieces.append(_trim(text, pos, match.start()))
        pos = match.end()
    pieces.append(_trim(text, pos, end))
    return [p for p in pieces if p[0] < p[1]]
