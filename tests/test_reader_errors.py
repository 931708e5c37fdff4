"""The trained reader's start-up errors: a missing or corrupt weights file is a clear error naming the file, and
``rag serve`` refuses to start on it (one line, exit 1), never a silent fallback that pretends to read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.answering.answer_service import AnswerService
from rag.corpus_index import CorpusIndex
from rag.reader.errors import ReaderWeightsError
from rag.reader.inference import E5Reader

from .conftest import SEEDS


def test_missing_weights_are_a_start_up_error_naming_the_file(tmp_path: Path, seeds_index: CorpusIndex) -> None:
    missing = tmp_path / "nowhere.safetensors"
    with pytest.raises(ReaderWeightsError, match=str(missing)):
        E5Reader(missing).warm_up()
    settings = seeds_index.settings.model_copy(update={"reader": "e5-piaf", "reader_weights": missing})
    with pytest.raises(ReaderWeightsError, match="make train-reader"):
        AnswerService(seeds_index, settings).warm_up()


def test_corrupt_weights_are_a_start_up_error_naming_the_file(tmp_path: Path) -> None:
    weights = tmp_path / "e5-piaf.safetensors"
    weights.write_bytes(b"not the bytes the json vouches for")
    meta = {"weights_sha256": "0" * 64, "config": {}, "default_threshold": 0.5}
    weights.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ReaderWeightsError, match=f"corrupt.*{weights}"):
        E5Reader(weights).warm_up()


def test_rag_serve_refuses_to_start_without_its_reader(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"RAG_EMBEDDER": "hashing", "RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_SEEDS_DIR": str(SEEDS)}
    env |= {"RAG_READER": "e5-piaf", "RAG_READER_WEIGHTS": str(tmp_path / "gone.safetensors")}
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: reader weights missing") and "gone.safetensors" in lines[0]
    assert not (tmp_path / "idx").exists()  # refused before building or serving anything
