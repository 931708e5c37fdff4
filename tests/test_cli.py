"""The ``rag`` console script, run as a user runs it (a subprocess), on the hashing embedder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SEEDS


@pytest.fixture
def rag(tmp_path: Path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        "RAG_EMBEDDER": "hashing",
        "RAG_INDEX_DIR": str(tmp_path / "idx"),
        "RAG_SEEDS_DIR": str(SEEDS),
    }

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )
        assert (proc.returncode == 0) is ok, proc.stderr
        return proc

    return run


def test_build_info_search_add_remove(rag, tmp_path: Path) -> None:
    assert "indexed 5 documents" in rag("index", "build").stdout
    info = json.loads(rag("index", "info", "--json").stdout)
    assert info["counts"]["documents"] == 5 and info["embedder_name"] == "hashing"
    out = json.loads(rag("search", "Qui préside la CCI Hauts-de-France ?", "--json", "--k", "3").stdout)
    assert out["object"] == "list" and len(out["data"]) == 3
    hit = out["data"][0]
    assert set(hit) >= {"score", "chunk"}
    assert set(hit["chunk"]) >= {"id", "document_id", "text", "start", "end", "metadata"}
    text = (SEEDS / f"{hit['chunk']['document_id']}.txt").read_text(encoding="utf-8")
    assert text[hit["chunk"]["start"] : hit["chunk"]["end"]] == hit["chunk"]["text"]
    extra = tmp_path / "extra.md"
    extra.write_text("# Les dirigeables\n\nLe dirigeable de Quimper vole le mardi.\n", encoding="utf-8")
    assert "added 1 documents" in rag("index", "add", str(extra)).stdout
    found = json.loads(rag("search", "dirigeable Quimper", "--json", "--method", "lexical").stdout)
    assert found["data"][0]["chunk"]["document_id"] == "extra"
    assert "removed extra" in rag("index", "remove", "extra").stdout
    assert "1. [" in rag("search", "Marseille intelligence artificielle", "--document", "004_8bc2cf3f64c3db73").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("search", "le la de ?"), "only stopwords or punctuation"),
        (("search", "x", "--method", "magic"), "unknown method"),
        (("search", "x", "--after", "hier"), "ISO"),
        (("index", "remove", "nope"), "no document 'nope'"),
        (("index", "build", "/does/not/exist"), "no such file or folder"),
    ],
)
def test_errors_are_one_line(rag, args: tuple[str, ...], message: str) -> None:
    rag("index", "build")
    proc = rag(*args, ok=False)
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_files_do_not_touch_the_index(rag, tmp_path: Path) -> None:
    rag("index", "build")
    before = json.loads(rag("index", "info", "--json").stdout)["version"]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe caf\xe9")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    for path in (bad, empty):
        proc = rag("index", "add", str(path), ok=False)
        assert "Traceback" not in proc.stderr and path.name in proc.stderr
    assert json.loads(rag("index", "info", "--json").stdout)["version"] == before


def test_index_from_another_embedder(rag, tmp_path: Path) -> None:
    rag("index", "build")
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "search", "CCI"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "RAG_EMBEDDER": "e5", "RAG_INDEX_DIR": str(tmp_path / "idx")},
    )
    assert proc.returncode == 1 and "built with embedder 'hashing'" in proc.stderr


def test_missing_index(rag) -> None:
    proc = rag("search", "CCI", ok=False)
    assert "no index" in proc.stderr and "rag index build" in proc.stderr
