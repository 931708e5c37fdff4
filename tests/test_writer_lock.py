"""One writer at a time per index folder, across processes, and no write built on a stale generation."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from index.generations import writer_lock
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.models import Document
from rag.settings import Settings

from .conftest import SEEDS


def test_a_writer_adds_to_what_another_published(seeds_index: CorpusIndex, settings: Settings) -> None:
    first = CorpusIndex.load(settings, HashingEmbedder())
    second = CorpusIndex.load(settings, HashingEmbedder())  # both loaded the same generation
    first.add_documents([Document(id="alpha", text="Le projet Alpha crée 120 emplois à Lyon.")])
    second.add_documents([Document(id="beta", text="Le projet Beta ouvre un laboratoire à Brest.")])
    assert {"alpha", "beta"} <= set(CorpusIndex.load(settings, HashingEmbedder()).documents)
    first.remove_document("beta")  # first had never seen beta: it catches up, then removes it
    final = CorpusIndex.load(settings, HashingEmbedder()).documents
    assert "alpha" in final and "beta" not in final and len(final) == len(seeds_index.documents) + 1


def test_a_fresh_build_replaces_rather_than_merges(seeds_index: CorpusIndex, settings: Settings) -> None:
    fresh = CorpusIndex(settings, HashingEmbedder())
    fresh.add_documents([Document(id="only", text="Un seul document dans ce nouvel index.")])
    assert set(CorpusIndex.load(settings, HashingEmbedder()).documents) == {"only"}


def test_rag_index_add_waits_for_the_writer_lock(seeds_index: CorpusIndex, settings: Settings, tmp_path: Path) -> None:
    doc = tmp_path / "gamma.txt"
    doc.write_text("Le projet Gamma forme des ingénieurs en intelligence artificielle à Nantes.", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"RAG_EMBEDDER": "hashing", "RAG_INDEX_DIR": str(settings.index_dir), "RAG_SEEDS_DIR": str(SEEDS)}
    with writer_lock(settings.index_dir):
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "index", "add", str(doc)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(4)  # ample for the CLI to start and reach the lock
        assert proc.poll() is None, proc.communicate()
        assert "gamma" not in CorpusIndex.load(settings, HashingEmbedder()).documents
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "gamma" in CorpusIndex.load(settings, HashingEmbedder()).documents
