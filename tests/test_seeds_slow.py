"""The real default pipeline on the real seeds: multilingual-e5-small + French BM25."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.corpus_index import CorpusIndex
from rag.settings import Settings

from .conftest import SEEDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def e5_index(tmp_path_factory: pytest.TempPathFactory) -> CorpusIndex:
    settings = Settings(index_dir=tmp_path_factory.mktemp("e5") / "index", seeds_dir=SEEDS, _env_file=None)
    from rag.index_build import open_index

    return open_index(settings, build_if_missing=True)


def test_default_embedder_is_e5(e5_index: CorpusIndex) -> None:
    assert e5_index.manifest is not None and e5_index.manifest.embedder_name == "e5"


@pytest.mark.parametrize("method", ["hybrid", "dense"])
def test_hourdain_passage_first(e5_index: CorpusIndex, method: str) -> None:
    hit = e5_index.search("Qui préside la CCI Hauts-de-France ?", method=method)[0]  # type: ignore[arg-type]
    assert "Philippe Hourdain" in hit.chunk.text


def test_bm25_alone_ranks_it_high_but_not_first(e5_index: CorpusIndex) -> None:
    # BM25 alone prefers a chunk that says "présidée" and "Hauts-de-France" twice; fusion fixes that.
    hits = e5_index.search("Qui préside la CCI Hauts-de-France ?", method="lexical", top_k=3)
    assert any("Philippe Hourdain" in h.chunk.text for h in hits)


def test_english_question_over_french_text(e5_index: CorpusIndex) -> None:
    hits = e5_index.search("Who is the president of the Cité de l'IA?", method="dense", top_k=3)
    assert any("Manuel Davy" in h.chunk.text for h in hits)


def test_cli_search_json_acceptance(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        "RAG_INDEX_DIR": str(tmp_path / "idx"),
        "RAG_SEEDS_DIR": str(SEEDS),
    }
    run = [sys.executable, "-m", "rag.cli"]
    subprocess.run([*run, "index", "build"], check=True, env=env, cwd=tmp_path, timeout=600, capture_output=True)
    out = subprocess.run(
        [*run, "search", "Qui préside la CCI Hauts-de-France ?", "--json"],
        check=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    first = json.loads(out)["data"][0]["chunk"]
    assert first["document_id"] == "001_79d9f345fea35533" and "Philippe Hourdain" in first["text"]
