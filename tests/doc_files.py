"""Real PDF and DOCX files built for the tests (fpdf2, python-docx), and the bad inputs the issue names."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import matplotlib
from fpdf import FPDF

FONT = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
"""DejaVu Sans as matplotlib ships it (a dependency already): every accent, guillemet and ligature."""
FOOTER = "Rapport régional 2024 — page {n}"
HEADER = "Région Normandie · Observatoire de l’innovation"
PAGE3_PHRASE = "Le phare de Cordouan veille sur l’estuaire de la Gironde depuis 1611."

# Per page: paragraphs, each a list of printed lines (so that line ends, and a hyphenated one, are exact).
PAGES: list[list[list[str]]] = [
    [
        ["Rapport sur l’innovation en Normandie"],
        [
            "L’efﬁcacité des ﬂux logistiques du port du Havre progresse chaque année,",
            "selon l’étude publiée par l’agence « AD Normandie » en mars dernier.",
        ],
        [
            "La Région soutient le dévelop-",
            "pement durable des entreprises de Rouen et de Caen.",
        ],
    ],
    [
        [
            "Le deuxième chapitre décrit les aides : « Impulsion Export » finance les salons,",
            "et « Impulsion Conseil » les études de marché des PME normandes.",
        ],
        ["Cinq cents entreprises ont déposé un dossier en 2023, selon le rapport."],
    ],
    [
        ["Un paragraphe ouvre la troisième page et parle des côtes atlantiques."],
        [PAGE3_PHRASE],
        ["Sa lanterne est allumée chaque soir par deux gardiens."],
    ],
    [
        ["La conclusion rappelle que l’innovation reste l’affaire de tous les territoires."],
    ],
]


class _Report(FPDF):
    def header(self) -> None:
        self.set_font("dejavu", size=8)
        self.cell(0, 5, HEADER, new_x="LMARGIN", new_y="NEXT")
        self.ln(6)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("dejavu", size=8)
        self.cell(0, 5, FOOTER.format(n=self.page_no()), align="C")


def report_pdf(pages: list[list[list[str]]] = PAGES, *, password: str | None = None, title: str = "") -> bytes:
    """A multi-page PDF: a running header and a numbered footer on every page, paragraphs parted by a gap."""
    pdf = _Report()
    pdf.add_font("dejavu", "", FONT)
    if title:
        pdf.set_title(title)
    if password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=password)
    for paragraphs in pages:
        pdf.add_page()
        pdf.set_font("dejavu", size=11)
        for paragraph in paragraphs:
            for line in paragraph:
                pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
    return bytes(pdf.output())


def long_pdf(pages: int) -> bytes:
    """``pages`` pages of French text, each different (the bench's 300-page document)."""
    body = [
        [
            [
                f"Page {n} : la Région finance l’étude numéro {n} sur les ports, les ﬂux et l’emploi.",
                f"Le comité « Innovation {n} » a rendu son avis, et le projet avance selon le calendrier.",
            ]
            for _ in range(12)
        ]
        for n in range(1, pages + 1)
    ]
    return report_pdf(body)


def scanned_pdf() -> bytes:
    """A two-page PDF whose second page is only an image (a scan, no text layer)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1240, 400), 255)
    ImageDraw.Draw(image).text(
        (40, 120), "La numérisation de ce rapport est illisible sans OCR.", fill=0, font=ImageFont.truetype(FONT, 44)
    )
    pdf = FPDF()
    pdf.add_font("dejavu", "", FONT)
    pdf.add_page()
    pdf.set_font("dejavu", size=11)
    pdf.cell(0, 6, "Une première page avec son texte.")
    pdf.add_page()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    pdf.image(buffer, x=10, y=20, w=190)
    return bytes(pdf.output())


def guide_docx() -> bytes:
    """A DOCX with a title, two headings, paragraphs and a table."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Guide des aides"
    document.add_heading("Guide des aides régionales", level=1)
    document.add_paragraph("Les aides sont versées par la Région Normandie aux entreprises.")
    document.add_heading("Conditions d’accès", level=2)
    document.add_paragraph("Il faut résider en Normandie depuis « deux ans » au moins.")
    table = document.add_table(rows=3, cols=3)
    rows = [("Aide", "Montant", "Délai"), ("Prime", "1 500 €", "30 jours"), ("Prêt", "8 000 €", "60 jours")]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Démarches", level=2)
    document.add_paragraph("Le dossier se dépose en ligne sur le portail des aides.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_bomb_docx() -> bytes:
    """A zip that looks like a DOCX and inflates 1000:1 (8 MiB of zeros in ~8 KiB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (8 << 20))
    return buffer.getvalue()


def bad_inputs() -> dict[str, tuple[bytes, int, str]]:
    """File name -> (bytes, HTTP status, error code) for every bad input the issue names."""
    good = report_pdf()
    return {
        "corrupt.pdf": (b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n", 400, "corrupt_document"),
        "truncated.pdf": (good[: len(good) // 2], 400, "corrupt_document"),
        "locked.pdf": (report_pdf(password="secret"), 400, "encrypted_document"),
        "page.pdf": (b"<!DOCTYPE html><html><body><p>Pas un PDF</p></body></html>", 415, "format_mismatch"),
        "notzip.docx": (b"Ceci n'est pas une archive zip, juste du texte.", 400, "corrupt_document"),
        "bomb.docx": (zip_bomb_docx(), 413, "document_too_large"),
        "scan.pdf": (scanned_pdf(), 422, "scanned_pages"),
    }


def write(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``folder/name``; the path."""
    path = folder / name
    path.write_bytes(data)
    return path
