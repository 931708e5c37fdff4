"""Word documents (.docx) through python-docx: paragraphs, headings and tables, in document order.

A DOCX is a zip archive: its declared sizes are checked before anything is unpacked (a zip bomb is refused, and
Python's zip reader never inflates a member past its declared size). Each paragraph becomes one line of the text,
each table row one line (its cells joined by `` | ``); headings (the ``Heading``/``Titre`` styles, the title, or an
outline level) are recorded with their level, so that a citation can name the section it comes from. Page headers
and footers, comments and footnotes are furniture and left out.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from rag.formats.cleaning import clean_line
from rag.formats.errors import CorruptDocumentError, DocumentTooLargeError, EncryptedDocumentError

MAX_UNPACKED_BYTES = 256 * 1024 * 1024
"""The most a DOCX may unpack to (its members' declared sizes, summed)."""
MAX_RATIO = 200
"""The highest compression ratio of a member over 1 MiB (text XML compresses ~10:1; bombs 1000:1 and more)."""
MAX_MEMBERS = 10_000
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING = re.compile(r"^(?:heading|titre|title)\s*(\d*)$", re.IGNORECASE)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@dataclass
class DocxText:
    """The text (one paragraph or table row per line), its headings ``(start, end, level)`` and its title."""

    text: str
    headings: list[tuple[int, int, int]] = field(default_factory=list)
    title: str = ""


def check_archive(raw: bytes, source: str) -> None:
    """Refuse what is not a sound DOCX archive before python-docx unpacks anything."""
    if raw.startswith(OLE_MAGIC):
        raise EncryptedDocumentError(
            f"{source}: a password-protected Word file (or a legacy .doc): save it as an unprotected .docx"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CorruptDocumentError(f"{source}: not a DOCX (not a valid zip archive: {exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise DocumentTooLargeError(f"{source}: {len(infos)} files inside the DOCX archive (over {MAX_MEMBERS})")
        total = sum(i.file_size for i in infos)
        if total > MAX_UNPACKED_BYTES:
            raise DocumentTooLargeError(
                f"{source}: the DOCX unpacks to {total:,} bytes (over {MAX_UNPACKED_BYTES:,}): refused as a zip bomb"
            )
        for info in infos:
            if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(1, info.compress_size):
                raise DocumentTooLargeError(
                    f"{source}: {info.filename} inflates {info.file_size // max(1, info.compress_size)}:1 "
                    "inside the DOCX: refused as a zip bomb"
                )
        if "word/document.xml" not in archive.namelist():
            raise CorruptDocumentError(f"{source}: not a DOCX (no word/document.xml in the archive)")


def read_docx(raw: bytes, source: str) -> DocxText:
    """The text, headings and title of a DOCX (see the module's docstring)."""
    check_archive(raw, source)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(raw))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, OSError, SyntaxError) as exc:
        raise CorruptDocumentError(f"{source}: damaged DOCX ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # lxml's XMLSyntaxError and python-docx's own errors on a damaged part
        raise CorruptDocumentError(f"{source}: damaged DOCX ({type(exc).__name__})") from None
    lines: list[str] = []
    headings: list[tuple[int, int, int]] = []
    size = 0
    for kind, text, level in _blocks(document):
        text = clean_line(text)
        if not text:
            continue
        if lines:
            size += 1
        if kind == "heading":
            headings.append((size, size + len(text), level))
        lines.append(text)
        size += len(text)
    title = str(document.core_properties.title or "").strip()
    return DocxText("\n".join(lines), headings, title)


def _blocks(document: Any) -> list[tuple[str, str, int]]:
    """``(kind, text, heading level)`` for each paragraph and table row of the body, in order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    out: list[tuple[str, str, int]] = []
    for child in document.element.body.iterchildren():
        if child.tag == _W + "p":
            paragraph = Paragraph(child, document)
            level = _heading_level(paragraph)
            out.append(("heading" if level else "paragraph", paragraph.text, level))
        elif child.tag == _W + "tbl":
            out.extend(("row", row, 0) for row in _rows(Table(child, document)))
    return out


def _heading_level(paragraph: Any) -> int:
    """1 for a title or ``Heading 1``, 2 for ``Heading 2``…; 0 for body text."""
    try:
        name = str(paragraph.style.name or "") if paragraph.style is not None else ""
    except (KeyError, ValueError):
        name = ""
    match = _HEADING.match(name.strip())
    if match:
        return int(match.group(1) or 1)
    ppr = paragraph._p.pPr
    outline = ppr.find(_W + "outlineLvl") if ppr is not None else None
    if outline is not None:
        value = outline.get(_W + "val", "")
        if value.isdigit() and int(value) < 9:
            return int(value) + 1
    return 0


def _rows(table: Any) -> list[str]:
    """A table's rows as text (a merged cell once), nested tables' rows after their row."""
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        seen: list[Any] = []  # the cells' XML elements (a merged cell comes back once per grid column)
        nested: list[str] = []
        for cell in row.cells:
            if any(cell._tc is tc for tc in seen):
                continue
            seen.append(cell._tc)
            cells.append(" ".join(p.text.strip() for p in cell.paragraphs if p.text.strip()))
            for inner in cell.tables:
                nested.extend(_rows(inner))
        if any(cells):
            rows.append(" | ".join(cells))
        rows.extend(nested)
    return rows
