"""From positioned lines to a document's text: paragraphs rejoined, hyphenation undone, running headers, footers
and page numbers recorded as skipped spans, and where each page starts.

The input is what a layout extractor (``rag.formats.pdf``, or OCR) sees: per page, its lines in reading order,
each with its text and box (PDF points, ``top`` > ``bottom``, y growing upwards). The output text is built here,
so every offset the rest of the system uses refers to it: ``text[page_start:page_end]`` is a page, and a running
footer is kept in the text (at a paragraph break, so that a paragraph running over a page stays whole) but listed
in ``skipped``, never chunked nor cited.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rag.analyzer import fold
from rag.models import Span

LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"}
)
SOFT_HYPHEN = "\ufffe"
"""What PDFium puts where a word was hyphenated at a line end (it has joined the two lines already)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u00ad\u200b\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u3000]+")
_PAGE_NUMBER = re.compile(r"^(?:page|p\.?)?\s*[-–—(]?\s*#{1,4}\s*[-–—)]?\s*(?:(?:/|sur|de|of)\s*#{1,4})?$")
_END = '.!?…:;»"”)]'
FURNITURE_LINES = 2
"""Lines at the top and at the bottom of a page that may be a running header or footer."""


@dataclass(frozen=True)
class Line:
    """One line of a page: its text and its box in points (``top`` above ``bottom``)."""

    text: str
    left: float
    right: float
    top: float
    bottom: float


@dataclass
class Layout:
    """The assembled text, the spans to skip (furniture) and each page's ``[start, end)``."""

    text: str
    skipped: list[Span] = field(default_factory=list)
    pages: list[tuple[int, int]] = field(default_factory=list)


def clean_line(text: str) -> str:
    """One line's text normalised: NFC, ligatures spelt out, control characters dropped, spaces collapsed (a
    no-break space before ``:;!?»`` and after ``«`` is kept, French typography), stripped."""
    text = unicodedata.normalize("NFC", text.translate(LIGATURES))
    text = _CONTROL.sub("", text)
    return _SPACES.sub(lambda m: "\u00a0" if m.group() in ("\u00a0", "\u202f") else " ", text).strip()


def _key(text: str) -> str:
    """A line as furniture detection compares it: folded, digits as ``#`` (page numbers differ page to page)."""
    return re.sub(r"\d+", "#", " ".join(fold(text).split()))


def furniture(pages: list[list[Line]]) -> list[set[int]]:
    """Per page, the indices of its lines that are running headers, footers or page numbers. From each end of a
    page, up to :data:`FURNITURE_LINES` lines are peeled: a line whose text (digits aside) comes back at that end
    of at least half of the pages (and two), or a lone page number ("3", "- 3 -", "Page 3 sur 10"); a second line
    only when the first was peeled and a gap wider than the line spacing parts it from the body."""
    keys = [[_key(x.text) for x in lines] for lines in pages]
    pitch = _pitch(pages)
    counts: Counter[tuple[str, str]] = Counter()
    for page in keys:
        counts.update({("top", k) for k in page[:FURNITURE_LINES] if k})
        counts.update({("bottom", k) for k in page[-FURNITURE_LINES:] if k})
    needed = max(2, (len(pages) + 1) // 2)
    found: list[set[int]] = []
    for lines, page in zip(pages, keys, strict=True):
        marked: set[int] = set()
        for where, order in (("top", range(len(lines))), ("bottom", range(len(lines) - 1, -1, -1))):
            for depth, i in enumerate(list(order)[:FURNITURE_LINES]):
                if i in marked or len(marked) >= len(lines) - 1:
                    break
                repeated = counts[where, page[i]] >= needed or bool(_PAGE_NUMBER.match(page[i]))
                inner = i + 1 if where == "top" else i - 1
                apart = 0 <= inner < len(lines) and abs(lines[i].bottom - lines[inner].bottom) > 1.3 * pitch
                if not repeated or (depth and not apart):
                    break
                marked.add(i)
        found.append(marked)
    return found


def _pitch(pages: list[list[Line]]) -> float:
    """The document's line spacing: the lower quartile of the distances between consecutive baselines (most
    are line to line; paragraph gaps are wider). Taken over the whole document, so that a page of one-line
    paragraphs still shows its gaps."""
    gaps = sorted(
        round(a.bottom - b.bottom, 1) for lines in pages for a, b in itertools.pairwise(lines) if a.bottom > b.bottom
    )
    return gaps[len(gaps) // 4] if gaps else 0.0


def _joiner(prev: Line, line: Line, pitch: float, right: float, same_page: bool) -> str:
    """How ``line`` follows ``prev``: ``" "`` (the same paragraph) or ``"\\n"`` (a new one). A new paragraph when
    the gap between them is well over the line spacing, or when the previous line stopped short of the right
    margin although the next line's first word would have fitted there (a line broken on purpose), or when a
    page ends a sentence and the next page starts one."""
    drop = prev.bottom - line.bottom
    if same_page and pitch and drop > 1.4 * pitch:
        return "\n"
    if same_page and drop < -pitch / 2:  # back up the page: a new column
        return "\n" if prev.text.endswith(tuple(_END)) else " "
    if prev.text.endswith("-") and line.text[:1].islower():
        return " "  # a word hyphenated at the line end (``assemble`` rejoins it)
    if not same_page and prev.text.endswith(tuple(".!?…")) and line.text[:1].isupper():
        return "\n"  # a page that ends a sentence, the next one starts one: a new paragraph, most likely
    per_char = (prev.right - prev.left) / max(1, len(prev.text))
    word = line.text.split(" ", 1)[0]
    if right - prev.right > ((len(word) + 1) * 1.5 + 2) * per_char:  # room to spare: an estimate, not a measure
        return "\n"
    return " "


# fmt: off
COMPOUND_TAILS = frozenset({
    "être", "même", "mêmes", "là", "ci", "il", "ils", "elle", "elles", "on", "je", "tu", "nous", "vous", "moi", "toi",
    "lui", "leur", "leurs", "eux", "y", "en", "t", "le", "la", "les", "dire", "uns", "unes", "ce",
})
# fmt: on
"""Words that follow a hyphen in French compounds and inversions (``peut-être``, ``celle-ci``, ``dit-il``,
``c'est-à-dire``): a line that starts with one after a hyphen keeps the hyphen."""
_FIRST_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _join_hyphen(prev: str, line: str) -> str | None:
    """A word hyphenated at the end of ``prev``: ``dévelop-`` + ``pement`` is one word (the hyphen goes). The
    hyphen stays in a compound: a capitalised part (``Saint-Etienne-du-`` + ``Rouvray``), a word that already holds
    a hyphen (``c'est-à-`` + ``dire``) or a French compound tail (``peut-`` + ``être``, ``celle-`` + ``ci``).
    ``prev`` as it must end, or None (no hyphenation)."""
    if not (len(prev) >= 2 and prev.endswith("-") and prev[-2].isalpha() and line[:1].isalpha()):
        return None
    head = prev[:-1].rsplit(None, 1)[-1]
    first = _FIRST_WORD.match(line)
    tail = first.group(0).lower() if first else ""
    compound = "-" in head or tail in COMPOUND_TAILS or not (prev[-2].islower() and line[:1].islower())
    return prev if compound else prev[:-1]


def assemble(pages: Iterable[list[Line]]) -> Layout:
    """The document's text from its pages' lines (see the module's docstring)."""
    cleaned = [[Line(clean_line(x.text), x.left, x.right, x.top, x.bottom) for x in lines] for lines in pages]
    cleaned = [[x for x in lines if x.text] for lines in cleaned]
    marks = furniture(cleaned)
    pitch = _pitch([[x for i, x in enumerate(lines) if i not in marks[n]] for n, lines in enumerate(cleaned)])
    parts: list[str] = []
    skipped: list[Span] = []
    starts: list[int] = []
    pending: list[str] = []  # furniture met while a paragraph may still go on: written at its end
    size = 0
    prev: Line | None = None
    prev_page = -1

    def put(piece: str) -> None:
        nonlocal size
        parts.append(piece)
        size += len(piece)

    def put_furniture(text: str) -> None:
        if size:
            put("\n")
        skipped.append(Span(size, size + len(text)))
        put(text)

    def put_line(joiner: str, text: str) -> int:
        put(joiner if prev is not None else ("\n" if size else ""))
        at = size
        put(text)
        return at

    for number, lines in enumerate(cleaned):
        body = [x for i, x in enumerate(lines) if i not in marks[number]]
        right = max((x.right for x in body), default=0.0)
        page_start: int | None = None
        for i, line in enumerate(lines):
            if i in marks[number]:
                if prev is None:
                    put_furniture(line.text)
                else:
                    pending.append(line.text)
                continue
            joiner = ""
            if prev is not None:
                joiner = _joiner(prev, line, pitch, right, same_page=prev_page == number)
                if joiner == " " and (joined := _join_hyphen(parts[-1], line.text)) is not None:
                    size -= len(parts[-1]) - len(joined)
                    parts[-1] = joined
                    joiner = ""
                if joiner == "\n":
                    for held in pending:
                        put_furniture(held)
                    pending.clear()
            at = put_line(joiner, line.text)
            page_start = at if page_start is None else page_start
            prev, prev_page = line, number
        starts.append(size if page_start is None else page_start)
    for held in pending:
        put_furniture(held)
    text = "".join(parts)
    # Pages tile the text: each runs to where the next starts (furniture written late falls in a later page).
    ends = [*starts[1:], len(text)]
    return Layout(text, skipped, [(s, max(s, e)) for s, e in zip(starts, ends, strict=True)])
