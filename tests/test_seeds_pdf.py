"""The seeds as PDFs (``scripts/seeds_to_pdf.py``: one multi-page PDF per article) give the gold answers of the
``.txt`` seeds, every citation on the page its quote is printed on (hashing embedder, sentence answers: no model;
``README`` has the figures with the default e5 and span reader)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from eval.suite import run_suite

from .conftest import ROOT, SEEDS

_spec = importlib.util.spec_from_file_location("seeds_to_pdf", ROOT / "scripts" / "seeds_to_pdf.py")
assert _spec is not None and _spec.loader is not None
seeds_to_pdf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seeds_to_pdf)


def test_seed_pdfs_give_the_txt_answers_with_their_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_READER", "none")
    monkeypatch.setenv("RAG_EMBED_CACHE_DIR", "")
    out = tmp_path / "pdf"
    out.mkdir()
    for txt in sorted(SEEDS.glob("*.txt")):
        pages = seeds_to_pdf.article_pdf(txt.read_text(encoding="utf-8"), txt.stem, out / f"{txt.stem}.pdf")
        assert pages >= 2
    assert seeds_to_pdf.check(out, SEEDS) == []

    runs = {}
    for name, corpus in (("txt", SEEDS), ("pdf", out)):
        result = run_suite(name, embedders=["hashing"], seeds=corpus, progress=False)
        runs[name] = result.configurations[0]["aggregate"]
        (tmp_path / f"{name}.json").write_text(json.dumps(result.to_json()), encoding="utf-8")
    assert abs(runs["pdf"]["answer_accuracy"] - runs["txt"]["answer_accuracy"]) <= 0.02, runs
    assert runs["pdf"]["citation_exactness"] == 1.0
    checked, wrong = seeds_to_pdf.check_report(tmp_path / "pdf.json", out)
    assert checked > 50 and wrong == []


def test_a_short_quote_straddling_a_page_break_starts_on_the_first_page() -> None:
    first, second = "lesprojetsannoncés.Soit,25%", "des35projetsannoncés,cequiferait"
    assert seeds_to_pdf.on_page("25 % des 35", first, second)
    assert not seeds_to_pdf.on_page("25 % des 35", second, "")
    # the page merely ending with the quote's first characters is not enough: the rest must follow
    assert not seeds_to_pdf.on_page("25 % des 35", first, "desentreprises")
    assert seeds_to_pdf.on_page("des 35 projets", second)
