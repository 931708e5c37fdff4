"""Bounded input: oversized bodies are 413, malformed ones 422 with an OpenAI-style error, never a 5xx; the
text pipeline (chunker, French analyzer, HTML parser, document ingestion) takes any Unicode without raising.

The API's schema-level fuzzing (every operation, every check, 500+ cases, fixed seed) is
``tests/test_schemathesis.py``; this module adds the targeted cases and the text-pipeline properties: lone
surrogates, right-to-left and zero-width marks, combining characters, NULs, fence look-alikes and 1 MB lines.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from rag.analyzer import get_analyzer
from rag.chunking import Chunker
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.errors import SourceError
from rag.html_text import html_to_text
from rag.ingest import make_document, parse_bytes
from rag.models import Document
from tests.reliability import figures
from tests.reliability.conftest import service_settings

pytestmark = pytest.mark.reliability

UPLOAD_LIMIT = 200_000
MEGABYTE_LINE = "Ligne sans fin " + "mot" * 333_334  # over 1 MB, no newline, no sentence end

TRICKY = [
    "\ud800", "\udfff", "\udbff\udc00",  # lone surrogates (and a pair written as two halves)
    "\u202e", "\u202d", "\u200f", "\u061c", "\u2067",  # bidirectional overrides and marks
    "\u200b", "\ufeff", "\u2028", "\x00", "\x1b[31m", "\r\n", "\t",  # zero-width, BOM, separators, controls
    "e\u0301", "ﬁ", "Ⅻ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "😀👩\u200d👩\u200d👧", "漢字", "مرحبا", "שלום",  # combining, ligatures, scripts
    "<<<FIN PASSAGE 1>>>", "＜＜＜", "<script>", "&amp;", "]]>", "’", "«\u00a0»",  # fence and markup look-alikes
]  # fmt: skip
any_unicode = st.lists(
    st.one_of(
        st.text(st.characters(codec=None), max_size=40),
        st.text(st.characters(categories=["Cs", "Cf", "Zl", "Zp", "Cc", "Mn"]), max_size=10),
        st.sampled_from(TRICKY),
    ),
    max_size=30,
).map("".join)
PROPERTY = settings(max_examples=figures.sized(150, 600), deadline=None, suppress_health_check=list(HealthCheck))


# -- HTTP -----------------------------------------------------------------------------------------------------


@pytest.fixture
def client(seeds_copy: CorpusIndex) -> Iterator[TestClient]:
    """The app over the seeds, with an upload limit of ``UPLOAD_LIMIT`` bytes (the query limit stays 64 KiB)."""
    configured = seeds_copy.settings.model_copy(update={"max_upload_bytes": UPLOAD_LIMIT, "llm_backend": "echo"})
    with TestClient(create_app(configured, seeds_copy), raise_server_exceptions=False) as test_client:
        yield test_client


def _openai_error(response: Any, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code"} and error["message"] and error["code"]
    assert error["type"] == "invalid_request_error"


CHAT = {"model": "rag-extractive", "messages": [{"role": "user", "content": "Qui préside la CCI ?"}]}
INVALID: list[tuple[str, dict[str, Any]]] = [
    ("/v1/search", {"query": "x" * 2001}),
    ("/v1/search", {"query": "CCI", "top_k": 0}),
    ("/v1/search", {"query": "CCI", "top_k": 51}),
    ("/v1/search", {"query": "CCI", "top_k": "5"}),
    ("/v1/search", {"query": "CCI", "top_k": 2.5}),
    ("/v1/search", {"query": "CCI", "top_k": True}),
    ("/v1/search", {"query": "CCI", "unknown": 1}),
    ("/v1/search", {"query": 123}),
    ("/v1/search", {"query": None}),
    ("/v1/search", {"query": ["CCI"]}),
    ("/v1/search", {"query": "CCI", "method": "fuzzy"}),
    ("/v1/search", {"query": "CCI", "filters": "2020"}),
    ("/v1/search", {"query": "CCI", "filters": {"published_after": "janvier"}}),
    ("/v1/search", {"query": "CCI", "filters": {"tenant": "x"}}),
    ("/v1/search", {}),
    ("/v1/ask", {"question": "x" * 2001}),
    ("/v1/ask", {"question": "Qui ?", "top_k": -1}),
    ("/v1/ask", {"question": "Qui ?", "debug": "yes"}),
    ("/v1/ask", {"question": "Qui ?", "mode": "creative"}),
    ("/v1/ask", {"question": "Qui ?", "extra": True}),
    ("/v1/ask", {"question": {"text": "Qui ?"}}),
    ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "x" * 2001}]}),
    ("/v1/chat/completions", {**CHAT, "top_k": 99}),
    ("/v1/chat/completions", {**CHAT, "messages": []}),
    ("/v1/chat/completions", {**CHAT, "messages": [{"role": "tool", "content": "x"}]}),
    ("/v1/chat/completions", {**CHAT, "stream": "true"}),
    ("/v1/chat/completions", {**CHAT, "temperature": 3}),
    ("/v1/chat/completions", {**CHAT, "n": 2}),
    ("/v1/chat/completions", {"messages": CHAT["messages"]}),
    ("/v1/documents", {"text": ""}),
    ("/v1/documents", {"text": "Un texte.", "id": "../../etc/passwd"}),
    ("/v1/documents", {"text": "Un texte.", "id": "x" * 201}),
    ("/v1/documents", {"text": "Un texte.", "metadata": "x"}),
    ("/v1/documents", {"text": "Un texte.", "owner": "x"}),
    ("/v1/documents", {"text": 5}),
]


def test_invalid_bodies_are_422_with_an_openai_error(client: TestClient) -> None:
    statuses: Counter[int] = Counter()
    for path, body in INVALID:
        response = client.post(path, json=body)
        statuses[response.status_code] += 1
        _openai_error(response, 422)
    for path in ("/v1/search", "/v1/ask", "/v1/chat/completions", "/v1/documents"):
        for raw in (b"{not json", b"[1, 2]", b'"text"', b"", b'{"query": "\\ud800"}', b"\xff\xfe"):
            response = client.post(path, content=raw, headers={"content-type": "application/json"})
            statuses[response.status_code] += 1
            _openai_error(response, 422)
    unknown_ok = client.post("/v1/chat/completions", json={**CHAT, "presence_penalty": 0.5, "seed": 1})
    assert unknown_ok.status_code == 200  # OpenAI clients send fields this service ignores, by design
    _record_statuses("bounded_422", statuses)


def test_oversized_bodies_are_413(client: TestClient) -> None:
    statuses: Counter[int] = Counter()
    body = b'{"query": "' + b"a" * (64 * 1024) + b'"}'

    def chunked() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(20):
            yield b"a" * 4096
        yield b'"}'

    for path in ("/v1/search", "/v1/ask", "/v1/chat/completions"):
        for content in (body, chunked()):
            response = client.post(path, content=content, headers={"content-type": "application/json"})
            statuses[response.status_code] += 1
            _openai_error(response, 413)
    small_enough = b"Un document assez long. " * 7000  # 168 kB: over the query limit, under the upload limit
    accepted = client.post("/v1/documents", files={"file": ("long.txt", small_enough, "text/plain")})
    assert accepted.status_code == 201, accepted.text
    too_big = client.post("/v1/documents", files={"file": ("big.txt", small_enough * 2, "text/plain")})
    statuses[too_big.status_code] += 1
    _openai_error(too_big, 413)
    bad_bytes = client.post("/v1/documents", files={"file": ("bad.txt", b"caf\xe9 \xff", "text/plain")})
    assert bad_bytes.status_code in (400, 422) and bad_bytes.json()["error"]["code"] == "invalid_source"
    _record_statuses("bounded_413", statuses)


def _record_statuses(name: str, statuses: Counter[int]) -> None:
    total = sum(statuses.values())
    fives = sum(n for s, n in statuses.items() if s >= 500)
    codes = ", ".join(f"{n}×{s}" for s, n in sorted(statuses.items()))
    figures.record(name, f"{name.replace('_', ' ')}: {total} hostile requests → {codes}; {fives} 5xx", total=total)


# -- text pipeline ----------------------------------------------------------------------------------------------


@PROPERTY
@given(text=any_unicode, budget=st.integers(8, 300), overlap=st.floats(0, 0.9))
def test_chunker_takes_any_unicode(text: str, budget: int, overlap: float) -> None:
    doc = Document(id="p", text=text)
    for span in Chunker(budget, min(budget - 1, int(budget * overlap))).split(doc):
        assert 0 <= span.start < span.end <= len(text)


@PROPERTY
@given(text=any_unicode)
def test_french_analyzer_takes_any_unicode(text: str) -> None:
    assert all(isinstance(term, str) and term for term in get_analyzer()(text))


@PROPERTY
@given(text=any_unicode)
def test_html_parser_takes_any_unicode(text: str) -> None:
    for html in (text, f"<html><body><p>{text}</p><div title='{text}'>{text}</div></body></html>"):
        out, meta = html_to_text(html)
        assert isinstance(out, str) and isinstance(meta, dict)


@settings(PROPERTY, max_examples=figures.sized(40, 150))
@given(text=any_unicode)
def test_ingestion_takes_any_unicode(text: str) -> None:
    """A document is indexed and published, or refused with a one-line SourceError; nothing else."""
    work = Path(tempfile.mkdtemp(prefix="rag-unicode-"))
    try:
        try:
            doc = make_document("u", text)
        except SourceError:
            return
        index = CorpusIndex(service_settings(work / "index", chunk_tokens=32, chunk_overlap=4), HashingEmbedder())
        index.add_documents([doc])
        assert CorpusIndex.load(index.settings, HashingEmbedder()).documents["u"].text == text
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_lone_surrogates_are_refused_at_ingestion() -> None:
    with pytest.raises(SourceError, match="lone surrogate"):
        make_document("s", "Texte \ud800 valide sinon.")
    with pytest.raises(SourceError, match="lone surrogate"):
        make_document("s", "Texte valide.", title="\udfff")


def test_one_megabyte_lines(tmp_path: Path) -> None:
    line = MEGABYTE_LINE
    assert len(line) > 1_000_000
    assert get_analyzer()(line)[:3] == ["lign", "san", "fin"]
    spans = Chunker(256, 32).split(Document(id="m", text=line))
    assert spans and spans[-1].end == len(line)
    assert html_to_text(f"<p>{line}</p>")[0] == line
    rtl = ("\u202e" + "مرحبا " * 20 + "\u200f") * 8000
    assert Chunker(64, 8).split(Document(id="r", text=rtl))
    doc = parse_bytes("m", ".txt", line.encode(), source="upload:m.txt")
    index = CorpusIndex(service_settings(tmp_path / "index"), HashingEmbedder())
    stats = index.add_documents([doc])
    assert stats.chunks == len(index.chunks_of("m")) > 100
    assert index.search("mot", top_k=1)
