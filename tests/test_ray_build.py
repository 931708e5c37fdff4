"""``rag index build --ray auto``: embedding on a local Ray instance writes the same index as one process.

Runs the real CLI twice on a small corpus with the real e5 model, each run with its own embedding cache: once
with ``--ray auto`` (the vectors must all come from the Ray workers through the cache) and once in-process.
CI installs the ``ray`` extra and sets ``RAG_TEST_REQUIRE_EXTRAS=1``, so a missing extra fails instead of skipping.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.corpus_index import CorpusIndex
from rag.settings import Settings

from .conftest import SEEDS
from .test_store_contracts import REQUIRE_EXTRAS

pytestmark = pytest.mark.slow

QUERIES = ["Qui préside la CCI Hauts-de-France ?", "intelligence artificielle entreprises", "Who founded Cleyrop?"]


def _build(tmp: Path, name: str, *extra: str) -> tuple[Settings, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "RAY_ADDRESS"))}
    env.update(RAG_EMBED_CACHE_DIR=str(tmp / f"cache-{name}"), RAG_THREADS="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "rag.cli", "index", "build", str(tmp / "corpus"), "--index", str(tmp / name)]
    proc = subprocess.run(
        [*cmd, "--embedder", "e5", *extra], capture_output=True, text=True, env=env, cwd=tmp, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    settings = Settings(index_dir=tmp / name, embedder="e5", embed_cache_dir=None, _env_file=None)
    return settings, proc.stdout


def test_ray_build_equals_single_process_build(tmp_path: Path) -> None:
    if importlib.util.find_spec("ray") is None:
        if REQUIRE_EXTRAS:
            pytest.fail("the ray extra is not installed (pip install -e '.[ray]')")
        pytest.skip("the ray extra is not installed")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(SEEDS.glob("*"))[:2]:
        shutil.copy(path, corpus / path.name)

    ray_settings, ray_out = _build(tmp_path, "ray", "--ray", "auto", "--ray-threads", "1")
    embedded = re.search(r"ray: (\d+) passages, 0 already cached, (\d+) embedded by (\d+) workers", ray_out)
    assert embedded and int(embedded[2]) > 0, ray_out
    assert re.search(r"embedding 0 passages .* (\d+) from the cache", ray_out), ray_out  # all vectors from Ray
    one_settings, _ = _build(tmp_path, "single")

    ray_index, one_index = CorpusIndex.load(ray_settings), CorpusIndex.load(one_settings)
    assert ray_index.manifest and one_index.manifest
    assert ray_index.manifest.corpus_fingerprint == one_index.manifest.corpus_fingerprint
    assert ray_index.manifest.counts == one_index.manifest.counts
    assert {c.key: (c.start, c.end) for c in ray_index.chunks.values()} == {
        c.key: (c.start, c.end) for c in one_index.chunks.values()
    }
    assert ray_index.vectors is not None and one_index.vectors is not None
    ids = np.array(sorted(one_index.chunks), dtype=np.int64)
    probe = np.random.default_rng(0).standard_normal((8, 384)).astype(np.float32)
    for q in probe:  # the same stored vectors: equal inner products with any probe
        np.testing.assert_allclose(ray_index.vectors.score(q, ids), one_index.vectors.score(q, ids), atol=1e-5)
    for q in QUERIES:
        a = [(h.chunk.key, round(h.score, 4)) for h in ray_index.search(q, top_k=5)]
        b = [(h.chunk.key, round(h.score, 4)) for h in one_index.search(q, top_k=5)]
        assert a == b
