"""Access control: with keys configured, every non-public route of the OpenAPI document (and any unknown path)
answers 401 without a valid key and 403 to a query key on admin routes; keys never reach the logs; a CORS
preflight from an unlisted origin gets no ``Access-Control-Allow-Origin``; the per-key rate limit answers 429
with ``Retry-After``, one key's limit leaving the others alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.security import PUBLIC_PATHS, needs_admin
from rag.corpus_index import CorpusIndex
from tests.reliability import figures

pytestmark = pytest.mark.reliability

ADMIN = "admin-key-7d41c9a2e8b3"
QUERY = "query-key-3f8e2b61c0d4"
OTHER = "query-key-9a0b7c5d3e1f"
WRONG = [
    {},
    {"authorization": "Bearer not-a-key-at-all"},
    {"authorization": f"Bearer {ADMIN}x"},
    {"authorization": f"Bearer {ADMIN[:-1]}"},
    {"authorization": f"Basic {ADMIN}"},
    {"authorization": ADMIN},
    {"x-api-key": ADMIN},
    {"authorization": "Bearer "},
]
"""Ways of not presenting a valid key: none, unknown, one character more or less, wrong scheme, wrong header."""


@pytest.fixture
def secured(seeds_copy: CorpusIndex) -> Iterator[TestClient]:
    """The app with an admin key and two query keys, CORS for one origin, the access log on."""
    settings = seeds_copy.settings.model_copy(
        update={
            "api_keys": SecretStr(f"{ADMIN}:admin,{QUERY}:query,{OTHER}"),
            "cors_origins": "https://agence.example",
            "access_log": True,
            "llm_backend": "echo",
        }
    )
    with TestClient(create_app(settings, seeds_copy), raise_server_exceptions=False) as client:
        yield client


def operations(client: TestClient) -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the OpenAPI document, path parameters filled in."""
    spec = client.get("/openapi.json", headers={"authorization": f"Bearer {QUERY}"}).json()
    return [
        (method.upper(), path.replace("{doc_id}", "001_79d9f345fea35533"))
        for path, ops in spec["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_every_route_refuses_missing_wrong_and_underscoped_keys(
    secured: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    routes = operations(secured)
    extra = [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/v1/nothing-here"), ("POST", "/v1/search/../eval")]
    guarded = [r for r in routes if r[1] not in PUBLIC_PATHS] + extra
    assert len(guarded) >= 8
    refused = 0
    for method, path in guarded:
        for headers in WRONG:
            response = secured.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.status_code)
            assert response.json()["error"]["code"] == "invalid_api_key"
            assert response.headers["www-authenticate"] == "Bearer"
            refused += 1
    admin_routes = [(m, p) for m, p in routes if needs_admin(m, p)]
    assert admin_routes, "no admin route in the OpenAPI document"
    for method, path in admin_routes:
        for key in (QUERY, OTHER):
            response = secured.request(method, path, headers={"authorization": f"Bearer {key}"}, json={})
            assert response.status_code == 403, (method, path, response.status_code)
            assert response.json()["error"]["code"] == "insufficient_scope"
    for method, path in routes:
        if not needs_admin(method, path):
            response = secured.request(method, path, headers={"authorization": f"Bearer {QUERY}"}, json={})
            assert response.status_code not in (401, 403), (method, path)
        response = secured.request(method, path, headers={"authorization": f"Bearer {ADMIN}"}, json={})
        assert response.status_code not in (401, 403), (method, path)
    for path in PUBLIC_PATHS:
        assert secured.get(path).status_code == 200
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__}" for r in caplog.records)
    assert '"status": 401' in logged and '"status": 403' in logged  # the access log did log these requests
    keys_in_logs = sum(logged.count(k) for k in (ADMIN, QUERY, OTHER, ADMIN[:-1]))
    assert keys_in_logs == 0
    figures.record(
        "access",
        f"access control: {len(guarded)} guarded operations × {len(WRONG)} missing/wrong keys → {refused}/{refused} "
        f"(100 %) 401; {len(admin_routes)} admin operations × 2 query keys → 100 % 403; "
        f"{len(PUBLIC_PATHS)} public routes open; keys in {len(caplog.records)} log records: {keys_in_logs}",
        guarded=len(guarded),
        refused=refused,
        admin_routes=len(admin_routes),
        keys_in_logs=keys_in_logs,
    )


def test_cors_preflight_from_an_unlisted_origin_gets_no_allow_origin(secured: TestClient) -> None:
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization"}
    for path in ("/v1/search", "/v1/ask", "/v1/chat/completions", "/v1/documents"):
        listed = secured.options(path, headers={"origin": "https://agence.example", **preflight})
        assert listed.headers.get("access-control-allow-origin") == "https://agence.example"
        for origin in ("https://evil.example", "https://agence.example.evil.example", "null", "http://agence.example"):
            refused = secured.options(path, headers={"origin": origin, **preflight})
            assert "access-control-allow-origin" not in refused.headers, (path, origin)
            simple = secured.post(
                path, headers={"origin": origin, "authorization": f"Bearer {QUERY}"}, json={"query": "CCI"}
            )
            assert "access-control-allow-origin" not in simple.headers, (path, origin)
    figures.record("cors", "CORS: 4 routes × 4 unlisted origins, preflight and simple requests: 0 Allow-Origin")


def test_rate_limit_is_per_key_with_retry_after(seeds_copy: CorpusIndex) -> None:
    rate = 30
    settings = seeds_copy.settings.model_copy(
        update={"api_keys": SecretStr(f"{QUERY},{OTHER}"), "rate_limit_per_minute": rate}
    )
    body = {"query": "CCI Hauts-de-France"}
    with TestClient(create_app(settings, seeds_copy)) as client:
        first = {"authorization": f"Bearer {QUERY}"}
        codes = [client.post("/v1/search", json=body, headers=first).status_code for _ in range(rate + 10)]
        allowed = codes.index(429)
        assert rate <= allowed <= rate + 3 and set(codes[:allowed]) == {200}  # a burst of `rate`, a slow refill
        limited = client.post("/v1/search", json=body, headers=first)
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        wait = int(limited.headers["retry-after"])
        assert 1 <= wait <= 60 / rate + 1
        assert client.post("/v1/search", json=body, headers={"authorization": f"Bearer {OTHER}"}).status_code == 200
        assert client.get("/ready").status_code == 200  # public routes are not counted
        time.sleep(wait)
        assert client.post("/v1/search", json=body, headers=first).status_code == 200  # Retry-After was honest
    figures.record(
        "rate_limit",
        f"rate limit: {rate}/min per key → request {allowed + 1} answered 429 with Retry-After {wait} s, "
        "honoured; another key unaffected",
    )
