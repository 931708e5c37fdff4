"""Browser-test plumbing: Debian's chromium driven by Playwright, the real ``rag serve`` process, host pages.

Chromium is the system package (``scripts/system_deps.sh`` installs it; ``playwright install`` is never run),
launched headless with a fresh profile directory per session. Without chromium or the ``playwright``
package the tests skip, unless ``RAG_TEST_REQUIRE_BROWSER=1`` (``make test``), where they fail.

Third-party pages that embed the widget are served by :class:`HostPages`, a small static server on another
port of 127.0.0.1: another origin, so the widget talks to the API across origins (CORS), as on a real site.
Every page gets a traffic guard: requests may only go to the origins a test allows; anything else is aborted
and recorded, so a test can assert that nothing left the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.servers import free_port, server_env, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "api" / "static"
ARTIFACTS = ROOT / "data" / "artifacts" / "widget"
READY_WITHIN = 120.0
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}

try:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, Route, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None  # type: ignore[assignment]


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/browser carries the ``browser`` marker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _missing(reason: str, *, module: bool = False) -> None:
    if os.environ.get("RAG_TEST_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (RAG_TEST_REQUIRE_BROWSER is set)")
    pytest.skip(reason, allow_module_level=module)


def needs_playwright() -> None:
    """Called at the top of each browser test module, before it imports Playwright: skip (or fail, when
    ``RAG_TEST_REQUIRE_BROWSER`` is set) when the package is missing."""
    if sync_playwright is None:
        _missing("the playwright package is not installed (pip install -e '.[dev]')", module=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots are kept after the run (``data/artifacts/widget``, gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# Package scope, not session: Playwright's sync API keeps an event loop running in the main thread while it is
# open, and later test modules that call asyncio.run() must not find it there.
@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's chromium with a fresh profile, shared by every browser test of this package."""
    if sync_playwright is None:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    executable = shutil.which("chromium")
    if executable is None:
        _missing("chromium is not installed (scripts/system_deps.sh installs it)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            device_scale_factor=1,
            locale="fr-FR",
            timezone_id="Europe/Paris",
            reduced_motion="reduce",
        )
        context.set_default_timeout(20_000)
        for page in context.pages:  # the profile's first tab; every test opens its own
            page.close()
        try:
            yield context
        finally:
            context.close()


@dataclass
class Traffic:
    """What a page asked for: every request, the ones refused for leaving the allowed origins, console errors,
    uncaught exceptions and dialogs."""

    allowed: set[str]
    requests: list[Request] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def urls(self) -> list[str]:
        """Every requested URL, in order."""
        return [request.url for request in self.requests]


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Tab:
    """A page and its traffic log."""

    page: Page
    traffic: Traffic


@pytest.fixture
def open_tab(browser: BrowserContext) -> Iterator[Callable[[set[str]], Tab]]:
    """``open_tab(allowed_origins)``: a new tab whose requests may only reach ``allowed_origins``. Closed after
    the test."""
    tabs: list[Page] = []

    def make(allowed: set[str]) -> Tab:
        page = browser.new_page()
        tabs.append(page)
        traffic = Traffic(allowed=set(allowed))

        def guard(route: Route) -> None:
            url = route.request.url
            if url.startswith(("data:", "blob:")) or origin(url) in traffic.allowed:
                route.continue_()
            else:
                traffic.refused.append(url)
                route.abort("blockedbyclient")

        page.route("**/*", guard)
        page.on("request", lambda request: traffic.requests.append(request))
        page.on("console", lambda message: _console(traffic, message))
        page.on("pageerror", lambda error: traffic.page_errors.append(str(error)))

        def on_dialog(dialog: Any) -> None:
            traffic.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return Tab(page, traffic)

    yield make
    for page in tabs:
        page.close()


def _console(traffic: Traffic, message: ConsoleMessage) -> None:
    if message.type == "error":
        traffic.console_errors.append(message.text)


class HostPages:
    """Third-party pages on ``http://127.0.0.1:PORT``: :meth:`add` one, get its URL."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("content-type", "text/html; charset=utf-8" if body is not None else "text/plain")
                self.send_header("cache-control", "no-store")
                self.send_header("content-length", str(len(body or b"not found")))
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, html: str) -> str:
        """Serve ``html`` at ``path``; its URL."""
        self.pages[path] = html.encode()
        return f"{self.origin}{path}"

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def host_pages() -> Iterator[HostPages]:
    """The third-party site, on its own origin."""
    pages = HostPages()
    try:
        yield pages
    finally:
        pages.close()


@dataclass
class Server:
    """The real ``rag serve`` process."""

    url: str
    log: Path


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, browser: BrowserContext, host_pages: HostPages
) -> Iterator[Server]:
    """``rag serve`` on 127.0.0.1 over the seeds (hashing embedder, extractive answers), one per module; its
    CORS list allows the host pages' origin.

    ``browser`` comes first so that a missing chromium skips before the server is started.
    """
    work = tmp_path_factory.mktemp("widget-server")  # the cwd: no developer .env is read
    port = free_port()
    env = server_env(
        RAG_EMBEDDER="hashing",
        RAG_SEEDS_DIR=str(ROOT / "seeds"),
        RAG_EMBED_CACHE_DIR="",
        RAG_THREADS="1",
        RAG_CORS_ORIGINS=host_pages.origin,
    )
    log_path = work / "server.log"
    log = log_path.open("wb")
    command = [sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--index", str(work / "index")], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, url, log_path, READY_WITHIN)
        yield Server(url=url, log=log_path)
    finally:
        stop(process)
        log.close()


def embed_tag(api: str, *, lang: str = "fr", key: str | None = None, extra: str = "") -> str:
    """The documented ``<script>`` tag, pointing at ``api``."""
    key_attr = f' data-key="{key}"' if key else ""
    return f'<script src="{api}/widget.js" data-api="{api}"{key_attr} data-lang="{lang}"{extra} defer></script>'


def shadow_active(page: Page) -> str:
    """A description of the focused element, looking inside the widget's shadow root."""
    return str(
        page.evaluate(
            """() => {
                let el = document.activeElement;
                while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
                if (!el) return "";
                const label = el.getAttribute("aria-label") || el.textContent.trim().slice(0, 40);
                return `${el.tagName.toLowerCase()}.${el.className}|${label}`;
            }"""
        )
    )
