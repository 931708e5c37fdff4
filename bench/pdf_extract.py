"""PDF extraction speed and the server's memory while it ingests a long PDF.

1. Generates a PDF of ``--pages`` pages (fpdf2, French text with accents, apostrophes, guillemets and ligatures, a
   running header and a numbered footer; generation is not timed).
2. Times ``rag.formats.extract`` on it (open, each page's text layer as positioned lines, cleaning, page spans),
   best of ``--repeat`` runs, in pages per second.
3. Starts the real server (``rag serve``, hashing embedder so that the measure is ingestion, not embedding; an index
   of the seeds), uploads the PDF to ``POST /v1/documents`` and samples the server's resident memory every 10 ms
   meanwhile (and its kernel-recorded peak, ``VmHWM``): what one upload of this PDF costs in memory.

    python bench/pdf_extract.py [--pages 300] [--json bench/results/pdf_extract.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import matplotlib
from fpdf import FPDF

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.formats import Limits, extract  # noqa: E402
from rag.process import free_port, rss_bytes, stop  # noqa: E402

FONT = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
"""DejaVu Sans as matplotlib ships it (a dependency already): every accent, guillemet and ligature."""
SENTENCES = [
    "La Région finance l’étude numéro {n} sur l’efﬁcacité des ports normands et les ﬂux de conteneurs.",
    "Le comité « Innovation {n} » a rendu son avis : le projet avance, selon le calendrier prévu en séance.",
    "Les entreprises de Rouen, de Caen et du Havre ont déposé {n} dossiers d’aide à l’export cette année.",
    "L’agence d’attractivité rappelle que la formation reste la première condition du développement local.",
]


class _Report(FPDF):
    def header(self) -> None:
        self.set_font("dejavu", size=8)
        self.cell(0, 5, "Observatoire régional de l’innovation — rapport annuel", new_x="LMARGIN", new_y="NEXT")
        self.ln(4)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("dejavu", size=8)
        self.cell(0, 5, f"page {self.page_no()} / {{nb}}", align="C")


def make_pdf(pages: int) -> bytes:
    """``pages`` A4 pages of paragraphs, each page full and different."""
    pdf = _Report()
    pdf.add_font("dejavu", "", FONT)
    pdf.set_auto_page_break(False)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("dejavu", size=10)
        for k in range(9):
            pdf.multi_cell(0, 5, " ".join(s.format(n=n * 10 + k) for s in SENTENCES), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    return bytes(pdf.output())


def time_extraction(raw: bytes, pages: int, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` wall time of a full extraction, and what it produced."""
    best = float("inf")
    text_chars = 0
    for _ in range(repeat):
        began = time.perf_counter()
        found = extract(".pdf", raw, "bench.pdf", Limits(max_bytes=len(raw), max_pages=pages))
        best = min(best, time.perf_counter() - began)
        text_chars = len(found.text)
    return {"seconds": round(best, 3), "pages_per_s": round(pages / best, 1), "text_chars": text_chars}


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def server_memory(raw: bytes, work: Path) -> dict[str, float]:
    """The server's RSS before, at its peak during and after one upload of ``raw``."""
    port = free_port()
    env = {
        **os.environ,
        "RAG_EMBEDDER": "hashing",
        "RAG_READER": "none",
        "RAG_INDEX_DIR": str(work / "index"),
        "RAG_SEEDS_DIR": str(ROOT / "seeds"),
        "RAG_EMBED_CACHE_DIR": "",
        "RAG_MAX_UPLOAD_BYTES": str(max(len(raw) * 2, 10 << 20)),
        "RAG_ACCESS_LOG": "false",
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (work / "server.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the server did not start: see {work / 'server.log'}")
            time.sleep(0.2)
        time.sleep(1.0)
        before, hwm_before = rss_bytes(process.pid), _hwm(process.pid)
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_bytes(process.pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.perf_counter()
        response = httpx.post(f"{url}/v1/documents", files={"file": ("long.pdf", raw, "application/pdf")}, timeout=600)
        seconds = time.perf_counter() - began
        done.set()
        sampler.join()
        response.raise_for_status()
        after, hwm_after = rss_bytes(process.pid), _hwm(process.pid)
        body = response.json()
        return {
            "upload_seconds": round(seconds, 2),
            "chunks": body["chunks"],
            "rss_before_mb": round(before / 2**20, 1),
            "rss_peak_mb": round(max(peak[0], hwm_after if hwm_after > hwm_before else 0) / 2**20, 1),
            "rss_after_mb": round(after / 2**20, 1),
            "peak_growth_mb": round((max(peak[0], hwm_after if hwm_after > hwm_before else 0) - before) / 2**20, 1),
        }
    finally:
        stop(process)


def main() -> None:
    """Generate, time, measure, print (and save with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--no-server", action="store_true", help="only time the extraction")
    args = parser.parse_args()
    raw = make_pdf(args.pages)
    results: dict[str, object] = {
        "pages": args.pages,
        "pdf_bytes": len(raw),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "extraction": time_extraction(raw, args.pages, args.repeat),
    }
    print(f"{args.pages} pages, {len(raw) / 2**20:.1f} MiB: extraction {results['extraction']}")
    if not args.no_server:
        with tempfile.TemporaryDirectory(prefix="rag-pdf-bench-") as tmp:
            results["server"] = server_memory(raw, Path(tmp))
        print(f"server: {results['server']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
