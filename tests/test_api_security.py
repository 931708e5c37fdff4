"""Access control and admission: keys and scopes, rate limits, body limits, CORS, concurrency, logs."""

import asyncio
import logging

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.security import Guard, TokenBucket, parse_keys
from rag.corpus_index import CorpusIndex
from rag.settings import Settings

ADMIN, QUERY = "admin-key-0123456789", "query-key-0123456789"


@pytest.fixture
def secured(seeds_index: CorpusIndex, settings: Settings) -> TestClient:
    configured = settings.model_copy(update={"api_keys": SecretStr(f"{ADMIN}:admin,{QUERY}:query")})
    return TestClient(create_app(configured, seeds_index))


def _routes(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json", headers={"authorization": f"Bearer {QUERY}"}).json()
    return [(m.upper(), p.replace("{doc_id}", "x")) for p, ops in spec["paths"].items() for m in ops]


def test_every_non_public_route_needs_a_key(secured: TestClient) -> None:
    with secured as client:
        routes = _routes(client)
        assert len(routes) >= 7
        for method, path in routes:
            response = client.request(method, path)
            if path in ("/health", "/ready"):
                assert response.status_code == 200, path
                continue
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] == "invalid_api_key"
            wrong = client.request(method, path, headers={"authorization": "Bearer not-a-key-at-all"})
            assert wrong.status_code == 401
        assert client.get("/openapi.json").status_code == 401


def test_scopes(secured: TestClient) -> None:
    with secured as client:
        query = {"authorization": f"Bearer {QUERY}"}
        admin = {"authorization": f"Bearer {ADMIN}"}
        assert client.post("/v1/search", json={"query": "CCI"}, headers=query).status_code == 200
        for method, path in (("POST", "/v1/documents"), ("DELETE", "/v1/documents/x")):
            response = client.request(method, path, headers=query, json={"text": "x"})
            assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
        created = client.post("/v1/documents", json={"id": "k", "text": "Texte sur les clés."}, headers=admin)
        assert created.status_code == 201
        assert client.delete("/v1/documents/k", headers=admin).status_code == 200


def test_keys_never_reach_the_logs(secured: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with secured as client:
        client.post("/v1/search", json={"query": "CCI Hauts-de-France"}, headers={"authorization": f"Bearer {QUERY}"})
        client.get("/v1/documents", headers={"authorization": "Bearer wrong-key-123456"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert '"route": "/v1/search"' in text and '"status": 200' in text
    assert QUERY not in text and "wrong-key-123456" not in text and "Hauts-de-France" not in text


def test_rate_limit(seeds_index: CorpusIndex, settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_per_minute": 2})
    with TestClient(create_app(limited, seeds_index)) as client:
        codes = [client.post("/v1/search", json={"query": "CCI"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        last = client.post("/v1/search", json={"query": "CCI"})
        assert int(last.headers["retry-after"]) >= 1 and last.json()["error"]["code"] == "rate_limited"
        assert client.get("/health").status_code == 200  # public routes are not counted


def test_token_bucket_refills() -> None:
    bucket = TokenBucket(rate=60)
    assert all(bucket.take("a", now=0.0) == 0 for _ in range(60))
    assert bucket.take("a", now=0.0) == pytest.approx(1.0)
    assert bucket.take("a", now=1.0) == 0 and bucket.take("b", now=1.0) == 0


def test_body_limits(seeds_index: CorpusIndex, settings: Settings) -> None:
    with TestClient(create_app(settings, seeds_index)) as client:
        big = client.post(
            "/v1/search", content=b'{"query": "' + b"a" * 70_000 + b'"}', headers={"content-type": "application/json"}
        )
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"

        def chunks():
            yield b'{"query": "'
            for _ in range(20):
                yield b"a" * 5000
            yield b'"}'

        chunked = client.post("/v1/search", content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413


def test_cors_only_for_listed_origins(seeds_index: CorpusIndex, settings: Settings) -> None:
    configured = settings.model_copy(update={"cors_origins": "https://agence.example"})
    with TestClient(create_app(configured, seeds_index)) as client:
        preflight = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
        ok = client.options("/v1/search", headers={"origin": "https://agence.example", **preflight})
        assert ok.headers.get("access-control-allow-origin") == "https://agence.example"
        evil = client.options("/v1/search", headers={"origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in evil.headers


def test_saturation_answers_503() -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow_app(scope, receive, send):  # type: ignore[no-untyped-def]
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guard = Guard(slow_app, keys={}, rate_per_minute=0, max_concurrency=1, max_body=1024, max_upload=1024)

    async def scenario() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guard), base_url="http://t") as client:
            first = asyncio.create_task(client.get("/v1/search"))
            await entered.wait()
            second = await client.get("/v1/search")
            release.set()
            return (await first).status_code, second.status_code

    assert asyncio.run(scenario()) == (200, 503)


def test_key_parsing() -> None:
    assert parse_keys("abcdefgh:admin, ijklmnop:query,qrstuvwx") == {
        "abcdefgh": "admin",
        "ijklmnop": "query",
        "qrstuvwx": "query",
    }
    with pytest.raises(ValueError, match="8 characters"):
        parse_keys("short:admin")
