"""``POST /v1/eval``: the gold suite against the live index, over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.routes import evaluation
from eval.suite import ANSWER_METRICS, RETRIEVAL_METRICS, read_gold
from rag.corpus_index import CorpusIndex
from rag.ingest import make_document
from rag.settings import Settings

CCI = "Qui préside la CCI Hauts-de-France ?"


@pytest.fixture
def client(seeds_index: CorpusIndex, settings: Settings) -> Any:
    with TestClient(create_app(settings, seeds_index)) as client:
        yield client


def _item(seeds_index: CorpusIndex, **overrides: Any) -> dict[str, Any]:
    doc_id = next(d for d, doc in seeds_index.documents.items() if "Hourdain" in doc.text)
    text = seeds_index.documents[doc_id].text
    at = text.index("Hourdain")
    item = {
        "id": "cci",
        "question": CCI,
        "answers": ["Philippe Hourdain", "Hourdain"],
        "documents": [doc_id],
        "evidence": text[at - 9 : at + 8],
        "type": "factual_who",
        "answerable": True,
    }
    return {**item, **overrides}


def test_builtin_gold_set_gives_every_metric(client: TestClient) -> None:
    response = client.post("/v1/eval", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "eval.result" and body["gold"] == "built-in"
    assert body["configuration"] == "hybrid/extractive"
    aggregate = body["aggregate"]
    assert aggregate["questions"] == len(read_gold())
    for key in (*RETRIEVAL_METRICS, *ANSWER_METRICS, "median_answer_chars", "latency_ms"):
        assert key in aggregate, key
    assert aggregate["citation_exactness"] == 1.0
    assert 0.0 < aggregate["r@10"] <= 1.0  # even the hashing fake finds some evidence
    assert "questions" not in body and body["by_type"]


def test_posted_items_and_per_question_rows(client: TestClient, seeds_index: CorpusIndex) -> None:
    items = [
        _item(seeds_index),
        {"id": "absent", "question": "Quel est le cours de l'action Airbus ?", "answerable": False, "type": "ood"},
    ]
    body = client.post("/v1/eval", json={"items": items, "per_question": True}).json()
    assert body["gold"] == "posted" and body["configuration"] == "hybrid/extractive"
    rows = {row["id"]: row for row in body["questions"]}
    assert set(rows) == {"cci", "absent"}
    assert rows["cci"]["retrieval"]["r@10"] == 1.0
    assert rows["cci"]["correct"] and "Hourdain" in rows["cci"]["answer"]
    assert body["aggregate"]["questions"] == 2 and body["aggregate"]["answerable"] == 1


def test_the_run_sees_documents_added_after_start(client: TestClient, seeds_index: CorpusIndex) -> None:
    seeds_index.add_documents(
        [make_document("zz-ajout", "La médiathèque de Tulle ouvre le 3 mars 2031.", title="Tulle")]
    )
    item = {
        "id": "tulle",
        "question": "Quand ouvre la médiathèque de Tulle ?",
        "answers": ["3 mars 2031"],
        "documents": ["zz-ajout"],
        "evidence": "ouvre le 3 mars 2031",
        "answerable": True,
    }
    body = client.post("/v1/eval", json={"items": [item], "per_question": True}).json()
    assert body["index_version"] == seeds_index.version
    assert body["questions"][0]["correct"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"documents": ["nope"]}, "not in the index"),
        ({"evidence": "une phrase qui n'est nulle part"}, "evidence not found"),
    ],
)
def test_gold_set_that_does_not_match_the_index_is_a_409(
    client: TestClient, seeds_index: CorpusIndex, change: dict[str, Any], message: str
) -> None:
    response = client.post("/v1/eval", json={"items": [_item(seeds_index, **change)]})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "gold_set_mismatch" and message in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [{"id": "x", "question": "Qui ?", "answerable": True}]},  # answerable without answers
        {"items": [{"id": "x", "question": "", "answerable": False}]},
        {"items": [{"id": "x", "question": "Qui ?", "answerable": "yes"}]},
        {"items": [{"id": "x", "question": "Qui ?", "answerable": False, "surprise": 1}]},
        {"method": "magic"},
        {"mode": "poetry"},
        {"per_question": "true"},
    ],
)
def test_bad_requests_are_422(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/v1/eval", json=body)
    assert response.status_code == 422, body
    assert set(response.json()["error"]) == {"message", "type", "code"}


def test_generative_without_llm_is_a_400(client: TestClient) -> None:
    response = client.post("/v1/eval", json={"mode": "generative"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_llm_backend"


def test_one_run_at_a_time(client: TestClient) -> None:
    assert evaluation._running.acquire(blocking=False)
    try:
        response = client.post("/v1/eval", json={})
    finally:
        evaluation._running.release()
    assert response.status_code == 409 and response.json()["error"]["code"] == "eval_in_progress"


def test_admin_scope(seeds_index: CorpusIndex, settings: Settings) -> None:
    secured = settings.model_copy(update={"api_keys": SecretStr("query-key-123:query,admin-key-123:admin")})
    with TestClient(create_app(secured, seeds_index)) as client:
        assert client.post("/v1/eval", json={}).status_code == 401
        query = client.post("/v1/eval", json={}, headers={"Authorization": "Bearer query-key-123"})
        assert query.status_code == 403
        admin = client.post("/v1/eval", json={"method": "lexical"}, headers={"Authorization": "Bearer admin-key-123"})
        assert admin.status_code == 200


def test_documented_in_openapi(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/eval"]["post"]
    assert {"200", "401", "403", "409", "413", "422", "503"} <= set(operation["responses"])


def test_configured_gold_set(seeds_index: CorpusIndex, settings: Settings, tmp_path: Any) -> None:
    gold = tmp_path / "mine.jsonl"
    gold.write_text(json.dumps(_item(seeds_index)) + "\n", encoding="utf-8")
    with TestClient(create_app(settings.model_copy(update={"eval_gold": gold}), seeds_index)) as client:
        body = client.post("/v1/eval", json={}).json()
    assert body["gold"] == "configured" and body["aggregate"]["questions"] == 1
    with pytest.raises(ValueError, match="RAG_EVAL_GOLD"):
        Settings(eval_gold=tmp_path / "missing.jsonl", _env_file=None)
