"""Shared fixtures: settings pointing at a temporary index, the hashing embedder, the seeds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.ingest import iter_source
from rag.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or index: RAG_* variables are cleared and the cache reset."""
    for key in list(os.environ):
        if key.startswith("RAG_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with the hashing embedder, a temporary index directory and the sentence answerer (``reader
    none``): no model loads. The trained reader, the default, has its own tests (``test_reader_slow.py``)."""
    return Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS, embedder="hashing", reader="none", _env_file=None)


@pytest.fixture
def seeds_index(settings: Settings) -> CorpusIndex:
    """The seeds indexed with the hashing embedder."""
    index = CorpusIndex(settings, HashingEmbedder())
    index.add_documents(iter_source(SEEDS))
    return index
