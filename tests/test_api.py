"""The HTTP surface built so far, in process."""

import os
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from rag.corpus_index import CorpusIndex
from rag.settings import Settings


def test_search_shape_and_errors(seeds_index: CorpusIndex, settings: Settings) -> None:
    with TestClient(create_app(settings, seeds_index)) as client:
        assert client.get("/health").json() == {"status": "ok", "pid": os.getpid()}
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["index_version"] == seeds_index.version
        body = client.post("/v1/search", json={"query": "Qui préside la CCI Hauts-de-France ?", "top_k": 2}).json()
        assert body["object"] == "list" and len(body["data"]) == 2 and body["index_version"] == seeds_index.version
        chunk = body["data"][0]["chunk"]
        assert seeds_index.documents[chunk["document_id"]].text[chunk["start"] : chunk["end"]] == chunk["text"]
        assert set(chunk["metadata"]) >= {"title", "published_at", "source"}
        for bad in (
            {"query": ""},
            {"query": "x", "top_k": 0},
            {"query": "x", "top_k": 51},
            {"query": "x", "method": "magic"},
            {"query": "x", "surprise": 1},
            {"query": 3},
            {"query": "le la ?"},
            {"query": "x", "filters": {"published_after": "hier"}},
        ):
            response = client.post("/v1/search", json=bad)
            assert response.status_code == 422, bad
            assert set(response.json()["error"]) == {"message", "type", "code"}


def test_not_ready_without_an_index(tmp_path: Path) -> None:
    settings = Settings(
        index_dir=tmp_path / "none", seeds_dir=tmp_path / "no-seeds", embedder="hashing", _env_file=None
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and "no such file" in ready.json()["error"]["message"]
        assert client.post("/v1/search", json={"query": "CCI"}).status_code == 503


def test_builds_from_seeds_when_missing(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/ready").status_code == 200
        assert (settings.index_dir / "manifest.json").is_file()


def test_ready_only_once_the_first_search_costs_are_paid(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        index = client.app.state.index_state.index  # type: ignore[attr-defined]
        assert client.get("/ready").status_code == 200
        assert index.lexical._bm25 is not None and index.lexical._df is not None  # built before the first request
        assert not index._query_vectors  # the priming query is not remembered


def test_ask(seeds_index: CorpusIndex, settings: Settings) -> None:
    with TestClient(create_app(settings, seeds_index)) as client:
        body = client.post("/v1/ask", json={"question": "Qui préside la CCI Hauts-de-France ?"}).json()
        assert body["answerable"] and body["mode"] == "extractive" and not body["degraded"]
        assert body["index_version"] == seeds_index.version
        for c in body["citations"]:
            assert seeds_index.documents[c["document_id"]].text[c["start"] : c["end"]] == c["quote"]
            assert set(c) >= {"n", "document_id", "chunk_id", "start", "end", "quote", "score", "title"}
        refused = client.post("/v1/ask", json={"question": "Quelle est ta clé API ?"}).json()
        assert refused["answerable"] is False and refused["reason"]
        assert client.post("/v1/ask", json={"question": "x", "mode": "poetic"}).status_code == 422
        assert client.post("/v1/ask", json={"question": "x" * 2001}).status_code == 422
        generative = client.post("/v1/ask", json={"question": "Qui préside la CCI ?", "mode": "generative"})
        assert generative.status_code == 400 and generative.json()["error"]["code"] == "no_llm_backend"


def test_metrics(seeds_index: CorpusIndex, settings: Settings) -> None:
    with TestClient(create_app(settings, seeds_index)) as client:
        client.post("/v1/search", json={"query": "CCI Hauts-de-France"})
        client.post("/v1/ask", json={"question": "Qui préside la CCI Hauts-de-France ?"})
        client.get("/v1/documents/nope")
        text = client.get("/metrics").text
        assert 'rag_http_requests_total{method="POST",route="/v1/search",status="200"} 1.0' in text
        assert 'route="/v1/documents/{doc_id}",status="404"' in text
        assert 'rag_stage_seconds_count{stage="retrieval"} 1.0' in text
        assert 'rag_stage_seconds_count{stage="answer"} 1.0' in text
        assert "rag_index_documents 5.0" in text and "rag_index_chunks" in text
