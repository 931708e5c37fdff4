"""The seed articles as PDFs: one multi-page A5 PDF per ``seeds/*.txt`` (same stem, so the gold set's document ids
hold), each paragraph wrapped at spaces, paragraphs parted by a gap, a running header and a page-number footer on
every page (recorded as skipped spans when indexed), pages broken wherever the text falls (mid-paragraph too).

    python scripts/seeds_to_pdf.py [--out data/seeds-pdf] [--seeds seeds]
    rag eval --seeds data/seeds-pdf --name seeds-pdf      # the gold set on the PDF corpus

``--check`` reads each PDF back through ``rag.formats`` and fails unless every paragraph of the ``.txt`` comes back
whole and every gold evidence is found in the extracted text. ``--check-report REPORT.json`` (a ``rag eval`` report
on the PDF corpus) checks that every citation names the page its quote is printed on, read from the PDF's own
text layer page by page (not from the page spans the index keeps).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib
from fpdf import FPDF

ROOT = Path(__file__).resolve().parents[1]
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
"""DejaVu Sans as matplotlib ships it (a dependency already): every accent and typographic sign of the seeds."""
HEADER = "Corpus rag — revue de presse régionale sur l’intelligence artificielle"
LINE_MM = 5.2
PARAGRAPH_GAP_MM = 3.0


class ArticlePdf(FPDF):
    """A5 pages with a running header and a "page N / M" footer."""

    def header(self) -> None:
        self.set_font("dejavu", size=7)
        self.cell(0, 4, HEADER, new_x="LMARGIN", new_y="NEXT")
        self.ln(4)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("dejavu", size=7)
        self.cell(0, 4, f"page {self.page_no()} / {{nb}}", align="C")


def wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """Greedy word wrap at spaces only (never inside a word, so no hyphenation)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and pdf.get_string_width(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def article_pdf(text: str, title: str, out: Path, font: Path = FONT) -> int:
    """Write one article as a PDF; its page count."""
    pdf = ArticlePdf(format="A5")
    pdf.set_title(title)
    pdf.set_author("rag seeds")
    pdf.set_margins(14, 12, 14)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_font("dejavu", "", str(font))
    pdf.add_page()
    pdf.set_font("dejavu", size=10)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for paragraph in (p.strip() for p in text.splitlines()):
        if not paragraph:
            continue
        for line in wrap(pdf, " ".join(paragraph.split()), width):
            pdf.cell(0, LINE_MM, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(PARAGRAPH_GAP_MM)
    pdf.output(str(out))
    return pdf.page_no()


def check(out: Path, seeds: Path) -> list[str]:
    """Problems found reading the PDFs back: paragraphs not whole, gold evidence not found."""
    from rag.formats.cleaning import clean_line
    from rag.ingest import read_file

    problems = []
    texts = {}
    for txt in sorted(seeds.glob("*.txt")):
        doc = read_file(out / f"{txt.stem}.pdf")
        texts[txt.stem] = doc.text
        for paragraph in txt.read_text(encoding="utf-8").splitlines():
            if (line := clean_line(" ".join(paragraph.split()))) and line not in doc.text:
                problems.append(f"{txt.stem}: paragraph not whole: {line[:60]!r}")
    for raw in (ROOT / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(raw)
        pairs = [(e["document"], e["evidence"]) for e in item.get("evidence_all") or []]
        if item.get("evidence") and item.get("documents"):
            pairs.append((item["documents"][0], item["evidence"]))
        for doc_id, evidence in pairs:
            if doc_id in texts and evidence not in texts[doc_id]:
                problems.append(f"{item['id']}: evidence not found in {doc_id}.pdf: {evidence[:60]!r}")
    return problems


def _squeezed(text: str) -> str:
    from rag.formats.cleaning import clean_line

    return "".join(clean_line(text.replace("\ufffe", "")).split())


def page_texts(path: Path) -> list[str]:
    """Each page's text layer as PDFium reads it, whitespace, header and footer removed."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(path)
    try:
        texts = [_squeezed(doc[i].get_textpage().get_text_range()) for i in range(len(doc))]
        # Without this script's own header and footer (the page's body, as the index should see it).
        return [t.replace(_squeezed(HEADER), "").replace(f"page{i + 1}/{len(texts)}", "") for i, t in enumerate(texts)]
    finally:
        doc.close()


def on_page(quote: str, page: str, next_page: str = "") -> bool:
    """Whether ``quote`` starts on ``page`` (both squeezed): its start is there, or the page ends with its first
    characters and ``next_page`` starts with the rest (a short span answer may straddle the page break)."""
    head = _squeezed(quote)[:30]
    return head in page or any(page.endswith(head[:k]) and next_page.startswith(head[k:]) for k in range(1, len(head)))


def check_report(report: Path, out: Path) -> tuple[int, list[str]]:
    """Citations checked in a ``rag eval`` report, and the ones whose page is wrong."""
    from rag.ingest import read_file

    data = json.loads(report.read_text(encoding="utf-8"))
    pages: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    checked, wrong = 0, []
    for config in data["configurations"]:
        for row in config["questions"]:
            for doc_id, start, end, page in row.get("cited_pages", []):
                if doc_id not in pages:
                    pages[doc_id] = page_texts(out / f"{doc_id}.pdf")
                    texts[doc_id] = read_file(out / f"{doc_id}.pdf").text
                checked += 1
                quote = texts[doc_id][start:end]
                known = isinstance(page, int) and 1 <= page <= len(pages[doc_id])
                following = pages[doc_id][page] if known and page < len(pages[doc_id]) else ""
                if not known or not on_page(quote, pages[doc_id][page - 1], following):
                    wrong.append(f"{row['id']}: {doc_id}[{start}:{end}] cited on page {page}: {quote[:50]!r}")
    return checked, wrong


def main() -> int:
    """Write the PDFs (and check them with ``--check``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "seeds-pdf")
    parser.add_argument("--check", action="store_true", help="Read them back and check paragraphs and evidence.")
    parser.add_argument("--check-report", type=Path, help="A rag eval report on these PDFs: check cited pages.")
    args = parser.parse_args()
    if args.check_report is not None:
        checked, wrong = check_report(args.check_report, args.out)
        for line in wrong:
            print(line, file=sys.stderr)
        print(f"{checked} citations, {checked - len(wrong)} on the right page")
        return 1 if wrong or not checked else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for txt in sorted(args.seeds.glob("*.txt")):
        text = txt.read_text(encoding="utf-8")
        title = next((line.strip() for line in text.splitlines() if line.strip()), txt.stem)
        pages = article_pdf(text, title, args.out / f"{txt.stem}.pdf")
        print(f"{args.out / txt.stem}.pdf: {pages} pages")
    if args.check:
        problems = check(args.out, args.seeds)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            return 1
        print("check: every paragraph whole, every gold evidence found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
