"""OCR of scanned PDF pages with Tesseract (the optional ``ocr`` extra: Debian's ``tesseract-ocr`` and
``tesseract-ocr-fra``, installed by ``scripts/system_deps.sh --ocr``), called as a program: no Python package.

A page is rendered by PDFium at 300 dpi in grey, sent to ``tesseract`` as a PGM image on its standard input,
and read back as TSV: words with their boxes, grouped into lines, which go through the same cleaning as a text
layer's lines (``rag.formats.cleaning``).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections import defaultdict

import pypdfium2 as pdfium

from rag.formats.cleaning import Line
from rag.formats.errors import CorruptDocumentError

DPI = 300
LANGUAGES = "fra+eng"
TIMEOUT_S = 120
INSTALL_HINT = "scripts/system_deps.sh --ocr, or apt-get install tesseract-ocr tesseract-ocr-fra"


@functools.cache
def available() -> bool:
    """Whether ``tesseract`` is on the PATH with its French data."""
    exe = shutil.which("tesseract")
    if exe is None:
        return False
    try:
        listed = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "fra" in listed.stdout.split()


def page_lines(page: pdfium.PdfPage, source: str, number: int) -> list[Line]:
    """The lines Tesseract reads on a rendered page, with their boxes in PDF points."""
    scale = DPI / 72
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        pixels = bitmap.to_numpy()
    finally:
        bitmap.close()
    if pixels.ndim == 3:
        pixels = pixels[:, :, 0]
    height, width = pixels.shape
    image = f"P5 {width} {height} 255\n".encode() + pixels.astype("uint8").tobytes()
    langs = LANGUAGES if "eng" in _langs() else "fra"
    try:
        done = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", langs, "--psm", "3", "--dpi", str(DPI), "tsv"],
            input=image,
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorruptDocumentError(f"{source}: OCR of page {number} failed ({exc})") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise CorruptDocumentError(f"{source}: OCR of page {number} failed ({message[0]})")
    return _lines(done.stdout.decode("utf-8", "replace"), page.get_height() / height)


@functools.cache
def _langs() -> frozenset[str]:
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    return frozenset(listed.stdout.split())


def _lines(tsv: str, points_per_pixel: float) -> list[Line]:
    """Tesseract's TSV (level 5 rows are words) grouped by block, paragraph and line, in reading order."""
    words: dict[tuple[int, int, int], list[tuple[int, int, int, int, str]]] = defaultdict(list)
    rows = tsv.splitlines()[1:]
    for row in rows:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        block, par, line = int(cells[2]), int(cells[3]), int(cells[4])
        x, y, w, h = (int(c) for c in cells[6:10])
        words[block, par, line].append((x, y, w, h, cells[11]))
    lines = []
    for key in sorted(words):
        items = words[key]
        left = min(i[0] for i in items) * points_per_pixel
        right = max(i[0] + i[2] for i in items) * points_per_pixel
        top = min(i[1] for i in items) * points_per_pixel
        bottom = max(i[1] + i[3] for i in items) * points_per_pixel
        text = " ".join(i[4] for i in items)
        # Image rows grow downwards, PDF points upwards: negated (only differences between lines matter).
        lines.append(Line(text, left, right, -top, -bottom))
    return lines
