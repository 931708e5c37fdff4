"""The widget's routes without a browser: the demo page, widget.js and assets, their CSP and cache headers,
their place outside authentication and outside the OpenAPI document, and static checks of the files."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from selectolax.lexbor import LexborHTMLParser

from api.app import create_app
from api.routes.widget import CSP, STATIC_DIR
from rag.corpus_index import CorpusIndex
from rag.settings import Settings

QUERY_KEY = "widget-query-key-0123"
ASSETS = {
    "/": "text/html; charset=utf-8",
    "/widget.js": "text/javascript; charset=utf-8",
    "/static/demo.css": "text/css; charset=utf-8",
    "/static/favicon.svg": "image/svg+xml",
}


@pytest.fixture
def client(seeds_index: CorpusIndex, settings: Settings) -> Iterator[TestClient]:
    """The app with API keys configured: the widget's routes must stay public."""
    configured = settings.model_copy(update={"api_keys": SecretStr(f"{QUERY_KEY}:query")})
    with TestClient(create_app(configured, seeds_index)) as test_client:
        yield test_client


def directives(policy: str) -> dict[str, list[str]]:
    """A CSP header as {directive: sources}."""
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


@pytest.mark.parametrize(("path", "media_type"), ASSETS.items())
def test_public_with_a_strict_policy(client: TestClient, path: str, media_type: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no inline scripts, no eval, no other origin
    assert policy["img-src"] == ["'self'"]  # no off-origin images
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert policy["require-trusted-types-for"] == ["'script'"]  # no string ever reaches an HTML sink
    assert client.get("/v1/models").status_code == 401  # the API itself still needs a key


def test_cache_headers_and_revalidation(client: TestClient) -> None:
    expected = {"/": "no-cache", "/widget.js": "public, max-age=300", "/static/demo.css": "public, max-age=3600"}
    for path, cache_control in expected.items():
        first = client.get(path)
        assert first.headers["cache-control"] == cache_control
        etag = first.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        again = client.get(path, headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert "content-security-policy" in again.headers
        assert client.get(path, headers={"if-none-match": '"other"'}).status_code == 200
        assert client.get(path, headers={"if-none-match": f"W/{etag}"}).status_code == 304


def test_head(client: TestClient) -> None:
    head = client.head("/widget.js")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(client.get("/widget.js").content)


@pytest.mark.parametrize(
    "path", ["/static/missing.css", "/static/..%2Fwidget.py", "/static/.hidden", "/static/widget.py", "/static/a/b.css"]
)
def test_unknown_assets_are_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"import" not in response.content


def test_assets_are_only_files_of_the_static_folder() -> None:
    from api.routes.widget import asset

    assert asset("demo.css") is not None and asset("widget.js") is not None
    for name in ("../app.py", "..", ".hidden", "widget.py", "a/b.css", "demo.css/", "", "DEMO.CSS", "demo.css\x00"):
        assert asset(name) is None, name


def test_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json", headers={"authorization": f"Bearer {QUERY_KEY}"}).json()["paths"]
    assert not {"/", "/widget.js", "/static/{name}"} & set(paths)


def test_demo_page_has_nothing_inline_and_embeds_the_widget() -> None:
    tree = LexborHTMLParser((STATIC_DIR / "index.html").read_text())
    assert tree.css("style") == [] and tree.css("[style]") == []
    scripts = tree.css("script")
    assert [s.attributes.get("src") for s in scripts] == ["/widget.js"]
    assert all(not (s.text() or "").strip() for s in scripts)
    assert "defer" in scripts[0].attributes and scripts[0].attributes.get("data-lang") == "fr"
    for node in tree.css("*"):
        assert not [name for name in node.attributes if name.lower().startswith("on")], node.tag
    for node in tree.css("[src], [href]"):
        target = node.attributes.get("src") or node.attributes.get("href") or ""
        assert target.startswith("/") and not target.startswith("//"), target  # same origin only
    assert tree.css_first("html").attributes.get("lang") == "fr"


def test_widget_script_never_parses_html() -> None:
    source = (STATIC_DIR / "widget.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc"):
        assert sink not in source, sink
    urls = set(re.findall(r"https?://[^\s\"'<>]+", source)) - {
        "http://www.w3.org/2000/svg",
        "https://HOST/widget.js",
        "https://HOST",
    }
    assert urls == set()  # it loads nothing from anywhere but data-api


def test_policy_constant_matches_the_header(client: TestClient) -> None:
    assert client.get("/").headers["content-security-policy"] == CSP
    assert "unsafe" not in CSP
