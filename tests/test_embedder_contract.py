"""The embedder contract: every registered embedder passes it (real models are marked slow)."""

import numpy as np
import pytest

from rag.embedders import EMBEDDERS, Embedder, get_embedder
from rag.embedders.cache import CachedEmbedder
from rag.embedders.hashing import HashingEmbedder
from rag.errors import UnknownComponentError
from rag.settings import Settings

SLOW = {"e5", "sentence-transformers"}
NAMES = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in [*sorted(EMBEDDERS), "cached-hashing"]]
TEXTS = ["Philippe Hourdain préside la CCI Hauts-de-France.", "Le chat dort sur le canapé.", "", "?", "\ud800 😀"]


@pytest.fixture(scope="module", params=NAMES)
def embedder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    if request.param == "cached-hashing":
        e: Embedder = CachedEmbedder(HashingEmbedder(), tmp_path_factory.mktemp("cache"))
    else:
        e = get_embedder(request.param, Settings(_env_file=None, embed_cache_dir=None))
    e.warm_up()
    return e


def test_registry_covers_the_contract(embedder: Embedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.dim > 0 and embedder.fingerprint


def test_shapes_dtype_and_normalisation(embedder: Embedder) -> None:
    passages = embedder.embed_passages(TEXTS)
    assert passages.shape == (len(TEXTS), embedder.dim) and passages.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    query = embedder.embed_query("Qui préside la CCI ?")
    assert query.shape == (embedder.dim,) and query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-4
    assert embedder.embed_passages([]).shape == (0, embedder.dim)


def test_determinism_and_batch_independence(embedder: Embedder) -> None:
    one = embedder.embed_passages(TEXTS[:1])
    many = embedder.embed_passages(TEXTS)
    np.testing.assert_allclose(one[0], many[0], atol=1e-4)
    np.testing.assert_allclose(embedder.embed_query("Bonjour"), embedder.embed_query("Bonjour"), atol=1e-6)


def test_related_text_scores_higher(embedder: Embedder) -> None:
    p = embedder.embed_passages(
        [
            "Philippe Hourdain est le président de la CCI Hauts-de-France.",
            "La recette de la tarte aux pommes demande du beurre.",
        ]
    )
    q = embedder.embed_query("président CCI Hauts-de-France")
    assert p[0] @ q > p[1] @ q


def test_unknown_name() -> None:
    with pytest.raises(UnknownComponentError, match="unknown embedder 'nope'"):
        get_embedder("nope", Settings(_env_file=None))


def test_cache_serves_known_texts_without_the_model(tmp_path) -> None:
    cached = CachedEmbedder(HashingEmbedder(), tmp_path)
    first = cached.embed_passages(["un", "deux", "un"])
    assert cached.misses == 2 and cached.hits == 0  # a repeat within one batch is embedded once
    reopened = CachedEmbedder(HashingEmbedder(), tmp_path)
    again = reopened.embed_passages(["deux", "un"])
    assert reopened.misses == 0 and reopened.hits == 2
    np.testing.assert_array_equal(again, first[[1, 0]])
    assert reopened.fingerprint == HashingEmbedder().fingerprint
