"""The embeddable chat widget: ``GET /widget.js``, the demo page at ``/`` and the assets under ``/static/``.

Everything is served from ``api/static`` as committed (no build step). Every response carries a strict
Content-Security-Policy: scripts and styles only from this origin (no inline scripts), no off-origin images,
no plugins, no framing by other sites, and Trusted Types required, so a string can never reach an HTML sink
on the demo page. The widget styles its Shadow DOM with a constructed stylesheet, which the policy does not
need to allow. Responses carry a strong ETag (``If-None-Match`` answers 304) and cache headers: the demo
page is revalidated on every load, ``widget.js`` (an unversioned URL embedded by other sites) is cached five
minutes, the other assets an hour.

These routes are public (see ``api.security``) and kept out of the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
        "object-src 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
"""The policy of the demo page and the widget's files."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
CACHE_PAGE = "no-cache"
CACHE_WIDGET = "public, max-age=300"
CACHE_ASSET = "public, max-age=3600"
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[a-z]+$")


@dataclass(frozen=True)
class Asset:
    """A static file's bytes, media type and ETag."""

    body: bytes
    media_type: str
    etag: str


@lru_cache(maxsize=64)
def _load(path: Path, mtime_ns: int) -> Asset:
    body = path.read_bytes()
    return Asset(body, CONTENT_TYPES[path.suffix], f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def asset(name: str) -> Asset | None:
    """The file ``name`` of ``api/static``, or None when there is no such servable file (no paths, no dotfiles,
    only known types). Reloaded when the file changes on disk."""
    if not _ASSET_NAME.match(name):
        return None
    path = STATIC_DIR / name
    if path.suffix not in CONTENT_TYPES or not path.is_file():
        return None
    return _load(path, path.stat().st_mtime_ns)


def security_headers(cache_control: str) -> dict[str, str]:
    """The headers every widget response carries."""
    return {
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cross-origin-resource-policy": "cross-origin",  # widget.js is loaded by other sites' pages
        "cache-control": cache_control,
    }


def serve(request: Request, name: str, cache_control: str) -> Response:
    """``name`` with its ETag and the security headers; 304 when the client has it; 404 when unknown."""
    found = asset(name)
    if found is None:
        return Response(b"not found\n", status_code=404, media_type="text/plain", headers=security_headers("no-store"))
    headers = {**security_headers(cache_control), "etag": found.etag}
    tags = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    if found.etag in tags or "*" in tags:
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else found.body
    response = Response(body, media_type=found.media_type, headers=headers)
    if request.method == "HEAD":
        response.headers["content-length"] = str(len(found.body))
    return response


@router.api_route("/", methods=["GET", "HEAD"])
def demo_page(request: Request) -> Response:
    """The demo page: an article page that embeds the widget over the served corpus."""
    return serve(request, "index.html", CACHE_PAGE)


@router.api_route("/widget.js", methods=["GET", "HEAD"])
def widget_script(request: Request) -> Response:
    """The widget, to embed with ``<script src=".../widget.js" data-api="..." defer></script>``."""
    return serve(request, "widget.js", CACHE_WIDGET)


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static_asset(request: Request, name: str) -> Response:
    """The demo page's stylesheet, icon and other files of ``api/static``."""
    return serve(request, name, CACHE_ASSET)
