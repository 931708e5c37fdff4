"""PDF and DOCX extraction (``rag.formats``) on real files built here: the cleaned text, its pages and sections,
the furniture left out of chunks, exact citations that carry their page, OCR when Tesseract is installed."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rag.answering.answer_service import AnswerService
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.formats import Limits, page_of, section_of, sniff
from rag.formats.cleaning import Line, assemble, clean_line
from rag.formats.errors import DocumentTooLargeError
from rag.ingest import parse_bytes, read_file
from rag.settings import Settings

from .doc_files import FOOTER, HEADER, PAGE3_PHRASE, guide_docx, long_pdf, report_pdf, scanned_pdf


@pytest.fixture(scope="module")
def report() -> bytes:
    return report_pdf(title="Rapport régional")


def test_pdf_text_is_clean_and_exact(report: bytes) -> None:
    doc = parse_bytes("rapport", ".pdf", report, source="rapport.pdf")
    text = doc.text
    assert doc.title == "Rapport régional"
    # ligatures spelt out, apostrophes and guillemets kept, a hyphenated line end rejoined
    assert "L’efficacité des flux logistiques" in text and "\ufb01" not in text and "\ufb02" not in text
    assert "« Impulsion Export »" in text and "l’agence « AD Normandie »" in text
    assert "le développement durable des entreprises" in text and "dévelop-" not in text
    # the lines of a paragraph joined, paragraphs kept apart
    assert "progresse chaque année, selon l’étude publiée" in text
    assert "en mars dernier.\nLa Région soutient" in text
    # running header and numbered footers: in the text, but skipped
    skipped = [text[s.start : s.end] for s in doc.skipped]
    assert skipped.count(HEADER) == 4 and [FOOTER.format(n=n) for n in range(1, 5)] == [
        s for s in skipped if s.startswith("Rapport régional")
    ]
    for span in doc.kept_spans():
        kept = text[span.start : span.end]
        assert HEADER not in kept and "2024 — page" not in kept
    assert doc.metadata["page_count"] == 4 and doc.metadata["original"]["media_type"] == "application/pdf"


def test_pages_tile_the_text_and_locate_a_phrase(report: bytes) -> None:
    doc = parse_bytes("rapport", ".pdf", report, source="rapport.pdf")
    pages = doc.metadata["pages"]
    assert len(pages) == 4 and pages[-1][1] == len(doc.text)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pages))
    at = doc.text.index(PAGE3_PHRASE)
    assert page_of(doc.metadata, at) == 3
    start, end = pages[2]
    assert PAGE3_PHRASE in doc.text[start:end]
    assert page_of(doc.metadata, doc.text.index("Cinq cents entreprises")) == 2
    assert page_of(doc.metadata, doc.text.index("La conclusion rappelle")) == 4
    assert page_of({}, 10) is None and page_of({"pages": "bogus"}, 10) is None


def test_chunks_never_hold_furniture(settings: Settings, report: bytes) -> None:
    index = CorpusIndex(settings, HashingEmbedder())
    index.add_documents([parse_bytes("rapport", ".pdf", report, source="rapport.pdf")])
    chunks = index.chunks_of("rapport")
    assert chunks and all(HEADER not in c.text and "2024 — page" not in c.text for c in chunks)
    assert any(PAGE3_PHRASE in c.text for c in chunks)


def test_citations_are_exact_and_carry_their_page(settings: Settings, report: bytes) -> None:
    index = CorpusIndex(settings, HashingEmbedder())
    index.add_documents([parse_bytes("rapport", ".pdf", report, source="rapport.pdf")])
    answer = AnswerService(index, settings).ask("Depuis quand le phare de Cordouan veille-t-il sur l'estuaire ?")
    assert answer.answerable and answer.citations
    text = index.documents["rapport"].text
    for c in answer.citations:
        assert c.quote == text[c.start : c.end]
        assert c.page == page_of(index.documents["rapport"].metadata, c.start) and c.section is None
    assert any(c.page == 3 and "1611" in (c.context or c.quote) for c in answer.citations)


def test_docx_paragraphs_headings_and_table(settings: Settings) -> None:
    doc = parse_bytes("guide", ".docx", guide_docx(), source="guide.docx")
    assert doc.title == "Guide des aides"
    assert doc.text.splitlines() == [
        "Guide des aides régionales",
        "Les aides sont versées par la Région Normandie aux entreprises.",
        "Conditions d’accès",
        "Il faut résider en Normandie depuis « deux ans » au moins.",
        "Aide | Montant | Délai",
        "Prime | 1 500 € | 30 jours",
        "Prêt | 8 000 € | 60 jours",
        "Démarches",
        "Le dossier se dépose en ligne sur le portail des aides.",
    ]
    assert [h[2] for h in doc.metadata["headings"]] == [1, 2, 2]
    assert section_of(doc.text, doc.metadata, doc.text.index("8 000 €")) == "Conditions d’accès"
    assert section_of(doc.text, doc.metadata, doc.text.index("portail")) == "Démarches"
    assert page_of(doc.metadata, 5) is None

    index = CorpusIndex(settings, HashingEmbedder())
    index.add_documents([doc])
    answer = AnswerService(index, settings).ask("Quel est le montant du prêt ?")
    assert answer.citations
    for c in answer.citations:
        assert c.quote == doc.text[c.start : c.end] and c.page is None
        assert c.section == section_of(doc.text, doc.metadata, c.start)
    assert any(c.section == "Conditions d’accès" for c in answer.citations)


def test_read_file_and_limits(tmp_path: Path, report: bytes) -> None:
    path = tmp_path / "rapport.pdf"
    path.write_bytes(report)
    assert read_file(path).id == "rapport"
    with pytest.raises(DocumentTooLargeError, match="4 pages, more than RAG_MAX_PAGES=3"):
        read_file(path, Limits(max_pages=3))
    with pytest.raises(DocumentTooLargeError, match="RAG_MAX_UPLOAD_BYTES"):
        read_file(path, Limits(max_bytes=1024))
    assert sniff(report) == "pdf" and sniff(guide_docx()) == "zip" and sniff(b"<html><p>x") == "html"


def test_cleaning_rules() -> None:
    assert clean_line("  l\u2019e\ufb03cacit\u00e9\u00ad  \t du  ﬂux\x00 ") == "l’efficacité du flux"
    line = lambda text, y, right=500.0: Line(text, 50.0, right, y + 10, y)  # noqa: E731
    pages = [
        [line("Rapport 2024", 800), line("Un mot dévelop-", 700), line("pé ici.", 688, 120), line("3", 40)],
        [line("Rapport 2024", 800), line("Saint-Etienne-du-", 700), line("Rouvray est là.", 688, 150), line("4", 40)],
    ]
    layout = assemble(pages)
    assert "Un mot développé ici." in layout.text and "Saint-Etienne-du-Rouvray est là." in layout.text
    assert sorted(layout.text[s.start : s.end] for s in layout.skipped) == ["3", "4", "Rapport 2024", "Rapport 2024"]
    assert page_of({"pages": [list(p) for p in layout.pages]}, layout.text.index("Saint")) == 2
    compounds = [
        [line("Il viendra peut-", 700), line("être demain, dit-", 688), line("il, c'est-à-", 676), line("dire", 664)],
        [line("tôt ; celle-", 700), line("ci ferme, mais l'entre-", 688), line("prise reste ouverte.", 676, 200)],
    ]
    text = assemble(compounds).text
    assert "peut-être demain, dit-il, c'est-à-dire" in text and "celle-ci" in text and "l'entreprise" in text


def test_a_long_pdf_is_read_page_by_page(report: bytes) -> None:
    doc = parse_bytes("long", ".pdf", long_pdf(40), source="long.pdf")
    assert doc.metadata["page_count"] == 40 and len(doc.metadata["pages"]) == 40
    assert page_of(doc.metadata, doc.text.index("l’étude numéro 27 sur")) == 27


def _ocr_installed() -> bool:
    if shutil.which("tesseract") is None:
        return False
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, check=False)
    return "fra" in listed.stdout.split()


def test_scanned_page_is_ocred_when_tesseract_is_installed() -> None:
    if not _ocr_installed():
        if os.environ.get("RAG_TEST_REQUIRE_OCR") == "1":
            pytest.fail("RAG_TEST_REQUIRE_OCR=1 but tesseract with its French data is not installed")
        pytest.skip("tesseract-ocr-fra not installed (scripts/system_deps.sh --ocr)")
    from rag.formats import ocr

    ocr.available.cache_clear()
    doc = parse_bytes("scan", ".pdf", scanned_pdf(), source="scan.pdf")
    assert "première page" in doc.text
    at = doc.text.find("numérisation")
    assert at >= 0 and page_of(doc.metadata, at) == 2, doc.text
    assert doc.metadata["ocr_pages"] == [2]
