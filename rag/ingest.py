"""Reading sources into documents: folders of .txt/.md/.html/.pdf/.docx files or JSONL records.

The original text is kept byte for byte (after UTF-8 decoding; for PDF and DOCX, the text extracted and cleaned by
``rag.formats``); boilerplate is not removed from it but recorded as skipped spans, so every offset anywhere in the
system refers to the stored text. A file's bytes go with its document (``Document.original``), kept by the index.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.analyzer import fold
from rag.errors import SourceError
from rag.formats import BINARY_SUFFIXES, MEDIA_TYPES, Limits, check_bytes, check_size, extract
from rag.html_text import html_to_text
from rag.models import Document, Span
from rag.text import FRENCH_MONTHS

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | BINARY_SUFFIXES
MAX_ID_LENGTH = 200
RESERVED_METADATA = frozenset({"original"})
"""Metadata only ingestion sets (the original file a document names): dropped from what a record or a caller gives."""
_ID = re.compile(r"^[\w.\-]+$")

# Page furniture that news sites leave in copied text; matched on folded, stripped lines.
_BOILERPLATE = re.compile(
    r"^(?:s'abonner|abonnez-vous|sauvegarder l'article|identifiez[- ]vous|se connecter|connectez-vous|"
    r"partager(?: l'article| sur .*)?|lire aussi|lire la suite|a lire aussi|publicite|imprimer|"
    r"newsletter|recevez notre newsletter|tous droits reserves|accepter les cookies|commenter|"
    r"ecouter l'article|offrir l'article|suivez-nous)\b.{0,100}$"
)
_LEADING_DATE = re.compile(r"^\s*date\s*[:=]?\s*(\d{4}-\d{2}(?:-\d{2})?)\b[ \t]*")
_MONTHS = {name: number for number, name in enumerate(FRENCH_MONTHS, 1)}
_PUBLISHED = re.compile(r"\b(?:publie|mis a jour)\s+le\s+(\d{1,2})(?:er)?\s+(" + "|".join(_MONTHS) + r")\s+(\d{4})\b")
_TITLE_MAX = 160


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, line) for every line, ``end`` excluding the newline."""
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        yield pos, pos + len(body), body
        pos += len(line)


def find_boilerplate(text: str) -> list[Span]:
    """Spans of lines that are page furniture or verbatim repeats of an earlier heading or caption."""
    spans: list[Span] = []
    seen: set[str] = set()
    for start, end, line in _lines(text):
        key = fold(line).strip()
        if not key:
            continue
        if _BOILERPLATE.match(key) or key in seen:
            spans.append(Span(start, end))
        # Only short lines count as headings/captions; long paragraphs repeated are rare and kept.
        if len(key) <= 300:
            seen.add(key)
    return spans


def extract_date(text: str) -> tuple[str | None, Span | None]:
    """A publication date stated by the text: a leading ``date 2020-01`` (returned with its span) or 'Publié le …'."""
    lead = _LEADING_DATE.match(text)
    if lead:
        return lead.group(1), Span(0, lead.end())
    head = fold(text[:2000])
    published = _PUBLISHED.search(head)
    if published:
        day, month, year = published.groups()
        return f"{year}-{_MONTHS[month]:02d}-{int(day):02d}", None
    return None, None


def guess_title(text: str, skipped: list[Span]) -> str:
    """The first short heading-like line among the first kept lines, else the first sentence, shortened."""
    first = ""
    for count, (start, end, _line) in enumerate(_lines(text)):
        if count > 8:
            break
        for s in skipped:  # drop a skipped prefix (a leading date) from the line
            if s.start <= start < s.end:
                start = min(s.end, end)
        stripped = text[start:end].strip().lstrip("#").strip()
        if not stripped:
            continue
        if not first:
            first = stripped
        if len(stripped) > _TITLE_MAX:
            break  # body text has started: a heading further down is a section title
        if len(stripped.split()) >= 3 and not stripped.endswith((".", ":", ";")) and stripped[0] not in "-•*":
            return stripped
    sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    if len(sentence) > 120:
        sentence = sentence[:120].rsplit(" ", 1)[0] + "…"
    return sentence


def make_document(
    doc_id: str,
    text: str,
    *,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
    skipped: list[Span] | None = None,
) -> Document:
    """Build a document: validate id and text, find boilerplate (beside the ``skipped`` spans given, a PDF's
    running headers), fill title and publication date."""
    check_id(doc_id)
    if not text.strip():
        raise SourceError(f"document {doc_id!r} is empty")
    _check_storable(doc_id, text, title, metadata)
    meta = {k: v for k, v in (metadata or {}).items() if k not in RESERVED_METADATA}
    date, date_span = extract_date(text)
    skipped = sorted({*find_boilerplate(text), *(skipped or [])}, key=lambda s: (s.start, s.end))
    if date_span is not None:
        skipped = [date_span, *[s for s in skipped if s.start >= date_span.end]]
    if date and "published_at" not in meta:
        meta["published_at"] = date
    doc = Document(id=doc_id, text=text, skipped=skipped, metadata=meta)
    doc.title = title or str(meta.get("title") or "") or guess_title(text, skipped)
    doc.metadata["title"] = doc.title
    if not any(text[s.start : s.end].strip() for s in doc.kept_spans()):
        raise SourceError(f"document {doc_id!r} has no text left once boilerplate is removed")
    return doc


def _check_storable(doc_id: str, text: str, title: str | None, metadata: dict[str, Any] | None) -> None:
    """Refuse what the index could not write as UTF-8 JSON: lone surrogates (``"\\ud800"`` escapes in a JSON
    record) and metadata that is not JSON."""
    try:
        json.dumps([text, title, metadata or {}], ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SourceError(f"document {doc_id!r} holds an invalid code point (a lone surrogate)") from exc
    except (TypeError, ValueError) as exc:
        raise SourceError(f"document {doc_id!r}: metadata must be JSON ({exc})") from exc


def check_id(doc_id: str) -> None:
    """Document ids are file-stem-like: letters, digits, ``_ . -``, at most 200 characters."""
    if not doc_id or len(doc_id) > MAX_ID_LENGTH or not _ID.match(doc_id):
        raise SourceError(f"invalid document id {doc_id!r}: use letters, digits, '_', '.', '-' (max 200)")


def read_file(path: Path, limits: Limits | None = None) -> Document:
    """Read one .txt/.md/.html/.pdf/.docx file into a document whose id is the file stem."""
    if path.suffix.lower() not in SUFFIXES:
        raise SourceError(f"{path}: unsupported file type (expected {', '.join(sorted(SUFFIXES))})")
    limits = limits or Limits()
    try:
        check_size(path.stat().st_size, str(path), limits)  # before reading it
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return parse_bytes(path.stem, path.suffix, raw, source=str(path), limits=limits)


def parse_bytes(
    doc_id: str, suffix: str, raw: bytes, *, source: str, title: str | None = None, limits: Limits | None = None
) -> Document:
    """A document from the bytes of a .txt/.md/.html/.pdf/.docx file (an upload, or a file on disk); the bytes go
    with it (``original``), named by ``metadata["original"]``."""
    suffix = suffix.lower()
    if suffix not in SUFFIXES:
        raise SourceError(f"{source}: unsupported file type (expected {', '.join(sorted(SUFFIXES))})")
    meta: dict[str, Any] = {"source": source}
    skipped: list[Span] = []
    if suffix in BINARY_SUFFIXES:
        found = extract(suffix, raw, source, limits)
        text, skipped, title = found.text, found.skipped, title or found.title or None
        meta.update(found.metadata)
    else:
        check_bytes(suffix, raw, source, limits or Limits())
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{source}: not valid UTF-8 (byte {exc.start})") from exc
        if suffix in HTML_SUFFIXES:
            text, html_meta = html_to_text(text)
            meta.update(html_meta)
    if not text.strip():
        raise SourceError(f"{source}: file is empty" if not raw.strip() else f"{source}: no text found in the file")
    doc = make_document(doc_id, text, title=title, metadata=meta, skipped=skipped)
    doc.metadata["original"] = {
        "sha256": hashlib.sha256(raw).hexdigest(),
        "size": len(raw),
        "media_type": MEDIA_TYPES[suffix],
        "filename": source.rsplit("/", 1)[-1].removeprefix("upload:"),
    }
    doc.original = raw
    return doc


def read_jsonl(path: Path) -> Iterator[Document]:
    """Stream ``{"id", "text", "title"?, "metadata"?}`` records from a JSONL file."""
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield _record(path, number, line)
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path}: not valid UTF-8") from exc


def _record(path: Path, number: int, line: str) -> Document:
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{where}: invalid JSON ({exc.msg})") from exc
    if not isinstance(record, dict):
        raise SourceError(f"{where}: expected an object with 'id' and 'text'")
    doc_id = record.get("id", record.get("_id"))
    text = record.get("text")
    metadata = record.get("metadata") or {}
    if not isinstance(doc_id, str) or not isinstance(text, str) or not isinstance(metadata, dict):
        raise SourceError(f"{where}: 'id' and 'text' must be strings and 'metadata' an object")
    title = record.get("title")
    metadata = {"source": where, **metadata}
    try:
        return make_document(doc_id, text, title=title if isinstance(title, str) else None, metadata=metadata)
    except SourceError as exc:
        raise SourceError(f"{where}: {exc}") from exc


def iter_source(source: Path, limits: Limits | None = None) -> Iterator[Document]:
    """Documents of a folder (sorted, recursive), a single file or a ``.jsonl`` file."""
    if not source.exists():
        raise SourceError(f"{source}: no such file or folder")
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise SourceError(f"{source}: no .txt, .md, .html, .pdf or .docx files found")
        for path in files:
            yield read_file(path, limits)
    elif source.suffix.lower() == ".jsonl":
        yield from read_jsonl(source)
    else:
        yield read_file(source, limits)
