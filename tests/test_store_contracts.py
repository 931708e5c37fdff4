"""Contract suites for the vector store and the lexical index; every implementation passes them."""

from pathlib import Path

import numpy as np
import pytest

from index.bm25_store import Bm25LexicalIndex
from index.faiss_store import FaissVectorStore
from index.protocols import LexicalIndex, VectorStore

DIM = 16


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


VECTOR_STORES = {
    "faiss-exact": lambda: FaissVectorStore(DIM, exact_max=10_000),
    "faiss-hnsw": lambda: FaissVectorStore(DIM, exact_max=0, hnsw_m=16, ef_search=200),
}


@pytest.fixture(params=sorted(VECTOR_STORES))
def store(request: pytest.FixtureRequest) -> VectorStore:
    return VECTOR_STORES[request.param]()


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


def test_save_load_roundtrip(store: VectorStore, tmp_path: Path) -> None:
    vecs = _vectors(50)
    store.add(np.arange(50), vecs)
    store.remove([3])
    names = store.save(tmp_path)
    assert all((tmp_path / n).is_file() for n in names)
    fresh = type(store)(DIM)  # type: ignore[call-arg]
    fresh.load(tmp_path)  # type: ignore[attr-defined]
    assert len(fresh) == 49
    assert fresh.search(vecs[7], 3) == store.search(vecs[7], 3)


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
