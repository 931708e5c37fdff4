"""PDF text through PDFium (pypdfium2): per page, its text layer as positioned lines, streamed page by page.

PDFium gives a page's text in reading order with a line break between lines and its own mark (U+FFFE) where it
joined a word hyphenated at a line end; each line's box comes from its first and last characters. A page with no
text but an image is a scanned page: OCRed when Tesseract is installed (``rag.formats.ocr``), refused otherwise.
Only one page is open at a time, so memory stays bounded whatever the page count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from rag.formats import ocr as tesseract
from rag.formats.cleaning import SOFT_HYPHEN, Line
from rag.formats.errors import (
    CorruptDocumentError,
    DocumentTooLargeError,
    EncryptedDocumentError,
    ScannedPagesError,
)

_BREAK = re.compile(r"\r\n|\r|\n")
_PASSWORD_ERRORS = {pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY}


@dataclass
class PdfInfo:
    """What the document says about itself: its title (if any) and its page count."""

    title: str
    pages: int


def open_pdf(raw: bytes, source: str, max_pages: int) -> tuple[pdfium.PdfDocument, PdfInfo]:
    """Open a PDF from its bytes, refusing truncated, damaged, password-protected and over-long documents."""
    if b"%%EOF" not in raw[-2048:]:
        raise CorruptDocumentError(f"{source}: truncated PDF (no end-of-file marker): upload the whole file")
    try:
        doc = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) in _PASSWORD_ERRORS:
            raise EncryptedDocumentError(
                f"{source}: the PDF is password-protected: remove the password (print or export it unprotected) "
                "and add it again"
            ) from None
        raise CorruptDocumentError(f"{source}: damaged PDF, PDFium cannot read it ({exc})") from None
    count = len(doc)
    if count == 0:
        doc.close()
        raise CorruptDocumentError(f"{source}: the PDF has no pages")
    if count > max_pages:
        doc.close()
        raise DocumentTooLargeError(f"{source}: {count} pages, more than RAG_MAX_PAGES={max_pages}")
    try:
        title = str(doc.get_metadata_dict(skip_empty=True).get("Title", "")).strip()
    except pdfium.PdfiumError:
        title = ""
    return doc, PdfInfo(title=title, pages=count)


def page_lines(page: pdfium.PdfPage) -> list[Line]:
    """A page's text layer as lines, each with the box of its first and last characters."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return []
        text = textpage.get_text_range(0, count)
        if len(text) != count:  # characters outside the BMP: positions cannot be matched to indices
            return _bounded_lines(textpage)
        lines: list[Line] = []
        pos = 0
        for match in [*_BREAK.finditer(text), None]:
            end = match.start() if match else len(text)
            # PDFium joins a word hyphenated at a line end into one line, its mark in place of the hyphen: split
            # it back into its two lines (with their own boxes), the cleaning rejoins the word.
            for piece_start, piece_end in _pieces(text, pos, end):
                piece = text[piece_start:piece_end]
                if not piece.strip():
                    continue
                first = piece_start + (len(piece) - len(piece.lstrip()))
                last = piece_start + len(piece.rstrip(" \t" + SOFT_HYPHEN)) - 1  # the mark has no box
                left, bottom, _, top = textpage.get_charbox(first)
                _, bottom2, right, top2 = textpage.get_charbox(last)
                lines.append(Line(piece.replace(SOFT_HYPHEN, "-"), left, right, max(top, top2), min(bottom, bottom2)))
            if match is None:
                break
            pos = match.end()
        return lines
    finally:
        textpage.close()


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``text[start:end]`` cut after each of PDFium's hyphenation marks (the mark ends the first piece)."""
    pieces = []
    at = text.find(SOFT_HYPHEN, start, end)
    while at >= 0:
        pieces.append((start, at + 1))
        start = at + 1
        at = text.find(SOFT_HYPHEN, start, end)
    return [*pieces, (start, end)]


def _bounded_lines(textpage: pdfium.PdfTextPage) -> list[Line]:
    """Lines from PDFium's text rectangles (the fallback when characters and text indices do not line up)."""
    lines = []
    for i in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(i)
        piece = textpage.get_text_bounded(left, bottom, right, top)
        if piece.strip():
            lines.append(Line(piece.replace(SOFT_HYPHEN, "-").replace("\x02", "-"), left, right, top, bottom))
    return lines


def _has_image(page: pdfium.PdfPage) -> bool:
    return any(True for _ in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3))


def iter_pages(
    doc: pdfium.PdfDocument, source: str, *, ocr: bool = True, ocred: list[int] | None = None
) -> Iterator[list[Line]]:
    """Each page's lines, one page open at a time. Pages with an image and no text are OCRed when Tesseract is
    installed (and ``ocr``, ``RAG_OCR``), their numbers appended to ``ocred``; otherwise
    :class:`ScannedPagesError` names them (after every page was looked at, so the message lists them all). A page
    with neither text nor image is blank and yields no line."""
    scanned: list[int] = []
    can_ocr = ocr and tesseract.available()
    for number in range(len(doc)):
        page = doc[number]
        try:
            lines = page_lines(page)
            if not lines and _has_image(page):
                if can_ocr:
                    lines = tesseract.page_lines(page, source, number + 1)
                    if ocred is not None:
                        ocred.append(number + 1)
                else:
                    scanned.append(number + 1)
        finally:
            page.close()
        if not scanned:
            yield lines
    if scanned:
        raise ScannedPagesError(
            f"{source}: {_pages(scanned)} no text layer (scanned images) and OCR is not installed: install the "
            f"OCR extra, Tesseract with its French data ({tesseract.INSTALL_HINT}), or add a PDF with its text"
        )


def _pages(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:20])) + ("…" if len(numbers) > 20 else "")
    return f"page {shown} has" if len(numbers) == 1 else f"pages {shown} have"
