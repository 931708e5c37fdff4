"""Contract suites for the vector store and the lexical index; every implementation passes them.

The vector-store suite runs on FAISS exact, FAISS HNSW and FAISS IVF-PQ (thresholds of 0, so every vector
goes to the approximate index) and on Milvus Lite (the ``milvus`` extra; CI sets ``RAG_TEST_REQUIRE_EXTRAS=1``
so that a missing extra fails instead of skipping).
"""

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from index.ann_params import HnswParams, auto_ef_search
from index.bm25_store import Bm25LexicalIndex
from index.faiss_store import FaissVectorStore
from index.protocols import LexicalIndex, VectorStore

DIM = 16
REQUIRE_EXTRAS = os.environ.get("RAG_TEST_REQUIRE_EXTRAS") == "1"
HAS_MILVUS = importlib.util.find_spec("pymilvus") is not None and importlib.util.find_spec("milvus_lite") is not None


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _milvus(tmp: Path) -> VectorStore:
    from index.milvus_store import MilvusVectorStore

    return MilvusVectorStore(
        DIM, uri=str(tmp / "milvus.db"), prefix="contract", index_type="HNSW", hnsw=HnswParams(m=16)
    )


VECTOR_STORES: dict[str, Callable[[Path], VectorStore]] = {
    "faiss-exact": lambda tmp: FaissVectorStore(DIM, exact_max=10_000),
    "faiss-hnsw": lambda tmp: FaissVectorStore(DIM, exact_max=0, hnsw=HnswParams(m=16, ef_search=200)),
    "faiss-ivfpq": lambda tmp: FaissVectorStore(DIM, exact_max=0, approximate="ivfpq", ivf_nprobe=64, rerank=20),
    "milvus-lite": _milvus,
}


@pytest.fixture(params=sorted(VECTOR_STORES))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], VectorStore]:
    """A factory of stores of one kind, sharing their backing service (the Milvus Lite file) within a test."""
    if request.param.startswith("milvus") and not HAS_MILVUS:
        if REQUIRE_EXTRAS:
            pytest.fail("the milvus extra is not installed (pip install -e '.[milvus]')")
        pytest.skip("the milvus extra is not installed")
    (tmp_path / "service").mkdir()
    return lambda: VECTOR_STORES[request.param](tmp_path / "service")


@pytest.fixture
def store(make_store: Callable[[], VectorStore]) -> VectorStore:
    return make_store()


def test_vector_store_protocol(store: VectorStore) -> None:
    assert isinstance(store, VectorStore)
    assert len(store) == 0 and store.search(_vectors(1)[0], 5) == []


def test_exact_neighbour_first(store: VectorStore) -> None:
    vecs = _vectors(300)
    store.add(np.arange(1000, 1300), vecs)
    assert len(store) == 300
    for i in (0, 17, 299):
        hits = store.search(vecs[i], 5)
        assert hits[0][0] == 1000 + i and abs(hits[0][1] - 1.0) < 1e-4
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_remove_and_filter(store: VectorStore) -> None:
    vecs = _vectors(200)
    store.add(np.arange(200), vecs)
    assert store.remove([5, 6, 999]) == 2
    assert len(store) == 198
    assert all(i not in (5, 6) for i, _ in store.search(vecs[5], 20))
    allowed = np.array([10, 11, 12], dtype=np.int64)
    assert {i for i, _ in store.search(vecs[0], 10, allowed)} == {10, 11, 12}
    assert store.search(vecs[0], 10, np.array([], dtype=np.int64)) == []


def test_many_removals_keep_results_right(store: VectorStore) -> None:
    vecs = _vectors(100)
    store.add(np.arange(100), vecs)
    store.remove(list(range(0, 60)))
    assert len(store) == 40
    hits = store.search(vecs[70], 10)
    assert hits[0][0] == 70 and all(i >= 60 for i, _ in hits)


def test_save_load_roundtrip(make_store: Callable[[], VectorStore], tmp_path: Path) -> None:
    store = make_store()
    vecs = _vectors(60)
    store.add(np.arange(50), vecs[:50])
    store.remove([3])
    gen = tmp_path / "gen-000001"
    gen.mkdir()
    names = store.save(gen)
    assert all((gen / n).is_file() for n in names)
    fresh = make_store()
    fresh.load(gen)
    assert len(fresh) == 49
    assert fresh.search(vecs[7], 3) == store.search(vecs[7], 3)
    fresh.add(np.arange(50, 60), vecs[50:])  # a loaded store keeps growing and shrinking
    assert fresh.remove([7, 3]) == 1 and len(fresh) == 58
    assert fresh.search(vecs[55], 1)[0][0] == 55
    assert all(i != 7 for i, _ in fresh.search(vecs[7], 10))


def test_selective_filter_finds_every_allowed_id(store: VectorStore) -> None:
    vecs = _vectors(2000, seed=3)
    store.add(np.arange(2000), vecs)
    allowed = np.array([1999, 5, 777, 123456], dtype=np.int64)  # one unknown id
    hits = store.search(vecs[0], 10, allowed)
    assert sorted(i for i, _ in hits) == [5, 777, 1999]
    np.testing.assert_allclose([s for _, s in hits], sorted((vecs[[5, 777, 1999]] @ vecs[0]).tolist())[::-1], atol=1e-5)
    store.remove([777])
    assert sorted(i for i, _ in store.search(vecs[0], 10, allowed)) == [5, 1999]


def test_recall_against_exact_search(store: VectorStore) -> None:
    """Clustered vectors (like real embeddings): top-10 agrees with brute force on at least 90% of the ids."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((20, DIM))
    vecs = (centres[rng.integers(0, 20, 3000)] + 0.5 * rng.standard_normal((3000, DIM))).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.add(np.arange(3000), vecs)
    queries = vecs[rng.choice(3000, 30, replace=False)] + 0.1 * rng.standard_normal((30, DIM)).astype(np.float32)
    found = 0
    for q in queries:
        q /= np.linalg.norm(q)
        truth = set(np.argsort(-(vecs @ q))[:10].tolist())
        found += len(truth & {i for i, _ in store.search(q, 10)})
    assert found / (10 * len(queries)) >= 0.9


def test_info_names_backend_and_kind(store: VectorStore) -> None:
    store.add(np.arange(300), _vectors(300))
    info = store.info()
    assert info["backend"] in ("faiss", "milvus") and info["kind"] and info["count"] == 300


def test_wrong_dimension_is_refused(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="dimension"):
        store.add(np.arange(2), np.zeros((2, DIM + 1), np.float32))


def test_exact_store_switches_to_hnsw_past_threshold() -> None:
    store = FaissVectorStore(DIM, exact_max=100)
    vecs = _vectors(150)
    store.add(np.arange(100), vecs[:100])
    assert not store.approximate
    store.add(np.arange(100, 150), vecs[100:])
    assert store.approximate and len(store) == 150
    assert store.search(vecs[120], 1)[0][0] == 120


def test_hnsw_search_breadth_grows_with_the_graph() -> None:
    sizes = [1, 50_000, 100_000, 300_000, 1_000_000, 10_000_000, 10**9]
    efs = [auto_ef_search(n) for n in sizes]
    assert efs == sorted(efs) and efs[0] == 64 and efs[-1] == 4096  # monotone, floored, capped
    assert (auto_ef_search(100_000), auto_ef_search(1_000_000)) == (96, 528)  # what bench/faiss_scale.py measured
    assert all(ef % 16 == 0 for ef in efs)


def test_hnsw_default_ef_follows_the_store_size_and_is_recorded() -> None:
    store = FaissVectorStore(DIM, exact_max=0)  # the defaults: ef_search 0
    vecs = _vectors(200)
    store.add(np.arange(200), vecs)
    info = store.info()
    assert (info["m"], info["ef_construction"], info["ef_search"], info["ef_search_auto"]) == (64, 128, 64, True)
    assert store.search(vecs[7], 1)[0][0] == 7
    fixed = FaissVectorStore(DIM, exact_max=0, hnsw=HnswParams(ef_search=300))
    fixed.add(np.arange(200), vecs)
    assert (fixed.info()["ef_search"], fixed.info()["ef_search_auto"]) == (300, False)


LEXICAL = {"bm25s": lambda: Bm25LexicalIndex()}


@pytest.fixture(params=sorted(LEXICAL))
def lexical(request: pytest.FixtureRequest) -> LexicalIndex:
    return LEXICAL[request.param]()


def test_lexical_protocol_and_ranking(lexical: LexicalIndex, tmp_path: Path) -> None:
    assert isinstance(lexical, LexicalIndex)
    assert lexical.search(["x"], 5) == []
    lexical.add([1, 2, 3], [["cci", "presid", "hourdain"], ["cci", "marseil"], ["chat", "dort"]])
    hits = lexical.search(["presid", "cci"], 5)
    assert [i for i, _ in hits] == [1, 2] and hits[0][1] > hits[1][1] > 0
    assert lexical.search(["inconnu"], 5) == []
    assert [i for i, _ in lexical.search(["cci"], 5, np.array([2]))] == [2]
    assert lexical.remove([1, 42]) == 1 and len(lexical) == 2
    assert [i for i, _ in lexical.search(["presid", "cci"], 5)] == [2]
    lexical.save(tmp_path)
    fresh = type(lexical)()  # type: ignore[call-arg]
    fresh.load(tmp_path)  # type: ignore[attr-defined]
    assert fresh.search(["cci"], 5) == lexical.search(["cci"], 5)


def test_vector_scores_are_exact_inner_products(store: VectorStore) -> None:
    vecs = _vectors(40)
    store.add(np.arange(40), vecs)
    ids = np.array([3, 0, 39], dtype=np.int64)
    np.testing.assert_allclose(store.score(vecs[0], ids), vecs[ids] @ vecs[0], atol=1e-5)
    assert store.score(vecs[0], np.array([], dtype=np.int64)).shape == (0,)


def test_lexical_scores_match_search(lexical: LexicalIndex) -> None:
    lexical.add([1, 2, 3], [["cci", "presid"], ["cci"], ["chat"]])
    found = dict(lexical.search(["cci", "presid"], 5))
    scores = lexical.score(["cci", "presid"], np.array([3, 1, 2]))
    assert scores[0] == 0.0
    np.testing.assert_allclose(scores[1:], [found[1], found[2]], rtol=1e-6)
