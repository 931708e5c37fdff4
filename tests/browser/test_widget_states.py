"""The widget's honest states in Debian's chromium, against a scripted stand-in for the service.

States the real service cannot be made to produce on demand (a stream held open mid-answer, a degraded
answer, 429/503 answers, a dropped connection, a stream cut before its end) are scripted here: a small HTTP
server on 127.0.0.1 serves ``widget.js`` from ``api/static``, a host page, and answers each
``POST /v1/chat/completions`` with the next scripted reply, streamed over a real socket.
"""

from __future__ import annotations

import json
import queue
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.browser.conftest import STATIC, Tab, needs_playwright

needs_playwright()
from playwright.sync_api import Locator, Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

DOC_ID = "doc-cci"
DOC_TEXT = "Préambule.\nPhilippe Hourdain préside la CCI Hauts-de-France. Il parle de la Vallée de l’IA.\nFin."
QUOTE = "Philippe Hourdain préside la CCI Hauts-de-France."
CITATION = {
    "n": 1,
    "document_id": DOC_ID,
    "chunk_id": f"{DOC_ID}#0",
    "start": DOC_TEXT.index(QUOTE),
    "end": DOC_TEXT.index(QUOTE) + len(QUOTE),
    "quote": QUOTE,
    "score": 1.0,
    "title": "La Vallée de l’IA",
    "published_at": "2024-02-01",
}
SETTLED = re.compile(r"^(done|error|stopped)$")


class Gate:
    """A point in a scripted stream where the server waits until the test opens it."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def open(self) -> None:
        """Let the stream go on."""
        self.event.set()


@dataclass
class Reply:
    """One scripted answer to ``POST /v1/chat/completions``: an error status with its JSON body, a dropped
    connection, or an event stream (``events``: JSON-able chunks, raw strings and gates) that ends with
    ``[DONE]`` unless ``cut``."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    events: list[Any] = field(default_factory=list)
    drop: bool = False
    cut: bool = False


def role() -> dict[str, Any]:
    """The opening chunk."""
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}


def delta(text: str) -> dict[str, Any]:
    """A content chunk."""
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}


def final(answer: str, **extra: Any) -> dict[str, Any]:
    """The closing chunk with the checked answer and its grounding."""
    fields: dict[str, Any] = {
        "citations": [CITATION],
        "answerable": True,
        "degraded": False,
        "conflict": False,
        "see_also": [],
        "index_version": "test",
    }
    fields.update(extra)
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    return {**chunk, "answer": answer, **fields}


def answer_stream(text: str, **extra: Any) -> Reply:
    """A complete stream of ``text`` in two deltas."""
    half = len(text) // 2
    return Reply(events=[role(), delta(text[:half]), delta(text[half:]), final(text, **extra)])


class ScriptedAPI:
    """The stand-in service: host pages, widget.js, /v1/models, /v1/documents/{id} and scripted chat replies."""

    def __init__(self) -> None:
        self.replies: queue.Queue[Reply] = queue.Queue()
        self.bodies: list[dict[str, Any]] = []
        self.pages: dict[str, bytes] = {}
        self.documents: dict[str, dict[str, Any]] = {
            DOC_ID: {
                "id": DOC_ID,
                "title": CITATION["title"],
                "text": DOC_TEXT,
                "metadata": {"published_at": "2024-02-01"},
            }
        }
        self.gates: list[Gate] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path in api.pages:
                    self._send(200, "text/html; charset=utf-8", api.pages[path])
                elif path == "/widget.js":
                    self._send(200, "text/javascript; charset=utf-8", (STATIC / "widget.js").read_bytes())
                elif path == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "rag-extractive", "object": "model"}]})
                elif path.startswith("/v1/documents/") and path.removeprefix("/v1/documents/") in api.documents:
                    self._json(200, api.documents[path.removeprefix("/v1/documents/")])
                else:
                    self._json(404, {"error": {"message": "not found", "type": "not_found_error", "code": "not_found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                api.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                try:
                    reply = api.replies.get_nowait()
                except queue.Empty:
                    reply = Reply(status=500, error={"message": "no scripted reply", "code": "test"})
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.status != 200:
                    self._json(reply.status, {"error": reply.error or {}}, reply.headers)
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream; charset=utf-8")
                self.send_header("cache-control", "no-cache")
                self.end_headers()
                events = [*reply.events, *([] if reply.cut else ["[DONE]"])]
                try:
                    for event in events:
                        if isinstance(event, Gate):
                            event.event.wait(30)
                            continue
                        data = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
                        self.wfile.write(f"data: {data}\n\n".encode())
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._send(status, "application/json", json.dumps(body).encode(), headers)

            def _send(self, status: int, kind: str, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def page(self, path: str, *, lang: str = "fr", data_lang: str | None = "fr") -> str:
        """A host page at ``path`` embedding the widget; its URL."""
        attr = f' data-lang="{data_lang}"' if data_lang else ""
        html = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Hôte</title></head>'
            f'<body><h1>Page hôte</h1><script src="/widget.js"{attr} defer></script></body></html>'
        )
        self.pages[path] = html.encode()
        return f"{self.url}{path}"

    def script(self, *replies: Reply) -> None:
        """The next chat replies, in order."""
        for reply in replies:
            self.replies.put(reply)

    def gate(self) -> Gate:
        """A new gate, opened at the end of the test whatever happens."""
        gate = Gate()
        self.gates.append(gate)
        return gate

    def reset(self) -> None:
        """Open every gate and forget what was scripted or received."""
        for gate in self.gates:
            gate.open()
        self.gates.clear()
        while not self.replies.empty():
            self.replies.get_nowait()
        self.bodies.clear()

    def close(self) -> None:
        """Stop serving."""
        self.reset()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedAPI]:
    """The stand-in service, shared by the module."""
    api = ScriptedAPI()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def api(scripted: ScriptedAPI) -> Iterator[ScriptedAPI]:
    """The stand-in service, reset after each test (held streams released)."""
    yield scripted
    scripted.reset()


class Widget:
    """The widget on a host page of the stand-in service."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.answers = page.locator("rag-chat-widget .msg.assistant")
        self.users = page.locator("rag-chat-widget .msg.user")

    def open_and_ask(self, question: str, label: str = "Votre question") -> Locator:
        """Open the panel, send ``question``; the new answer element (not waited for)."""
        self.page.locator("rag-chat-widget .launcher").click()
        box = self.page.get_by_label(label)
        box.fill(question)
        box.press("Enter")
        return self.answers.last


@pytest.fixture
def widget(open_tab: Callable[[set[str]], Tab], api: ScriptedAPI) -> Iterator[tuple[Widget, Tab]]:
    """A host page on the stand-in service, whose tab may talk to nothing else."""
    tab = open_tab({api.url})
    tab.page.goto(api.page("/host.html"))
    yield Widget(tab.page), tab
    assert tab.traffic.page_errors == [] and tab.traffic.refused == [] and tab.traffic.dialogs == []


def test_tokens_appear_as_they_arrive_and_stop_cancels(widget: tuple[Widget, Tab], api: ScriptedAPI) -> None:
    w, tab = widget
    gate = api.gate()
    api.script(Reply(events=[role(), delta("Philippe Hourdain "), delta("préside la CCI [1]"), gate, delta(" et …")]))
    answer = w.open_and_ask("Qui préside la CCI ?")

    expect(answer).to_have_attribute("data-status", "streaming")
    expect(answer.locator(".answer")).to_have_text("Philippe Hourdain préside la CCI 1")  # held mid-answer
    expect(answer.locator(".cite.pending")).to_have_count(1)  # numbered, not yet clickable
    expect(tab.page.locator("rag-chat-widget [role=log]")).to_have_attribute("aria-busy", "true")
    expect(tab.page.get_by_role("button", name="Envoyer")).to_be_hidden()
    with tab.page.expect_event("requestfailed") as failed:
        tab.page.get_by_role("button", name="Arrêter").click()
    assert failed.value.url.endswith("/v1/chat/completions")  # the request was cancelled, not just hidden
    expect(answer).to_have_attribute("data-status", "stopped")
    expect(answer.locator(".note.stopped")).to_have_text("Réponse interrompue.")
    expect(answer.locator(".answer")).to_contain_text("Philippe Hourdain préside la CCI")
    expect(tab.page.get_by_role("button", name="Envoyer")).to_be_visible()
    expect(tab.page.locator("rag-chat-widget [role=log]")).to_have_attribute("aria-busy", "false")

    # The next answer: the final chunk's checked text wins over the streamed one ([2] had no citation).
    api.script(
        Reply(
            events=[
                role(),
                delta("Il préside la CCI [1] "),
                delta("depuis longtemps [2]."),
                final("Il préside la CCI [1]."),
            ]
        )
    )
    box = tab.page.get_by_label("Votre question")
    box.fill("Depuis quand ?")
    box.press("Enter")
    second = w.answers.nth(1)
    expect(second).to_have_attribute("data-status", "done")
    expect(second.locator(".answer")).to_have_text("Il préside la CCI 1.")
    messages = api.bodies[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "Philippe Hourdain préside la CCI [1]"  # the stopped answer is context


def test_streamed_answer_payloads_render_as_text(widget: tuple[Widget, Tab], api: ScriptedAPI) -> None:
    w, tab = widget
    text = (
        'Voici <img src=x onerror="window.__pwned=1;alert(1)"> et <script>window.__pwned=2</script> [1]\n'
        "Suite <b>gras</b>"
    )
    cited = {**CITATION, "title": "<img src=x onerror=alert('t')>Titre", "quote": QUOTE}
    api.script(
        Reply(events=[role(), delta(text[:9]), delta(text[9:40]), delta(text[40:]), final(text, citations=[cited])])
    )
    answer = w.open_and_ask("Une question")
    expect(answer).to_have_attribute("data-status", "done")
    shown = answer.locator(".answer")
    expect(shown).to_have_text(re.compile(re.escape('Voici <img src=x onerror="window.__pwned=1;alert(1)">')))
    expect(shown).to_contain_text("<script>window.__pwned=2</script>")
    expect(shown).to_contain_text("Suite <b>gras</b>")
    expect(shown.locator("br")).to_have_count(1)  # the line break, the only element besides the chip
    expect(shown.locator("button.cite")).to_have_count(1)
    expect(answer.locator(".ref-title")).to_have_text("<img src=x onerror=alert('t')>Titre")
    tab.page.wait_for_timeout(200)
    assert tab.page.locator("rag-chat-widget img, rag-chat-widget script, rag-chat-widget b").count() == 0
    assert tab.page.evaluate("() => window.__pwned") is None
    assert not any(url.endswith("/x") for url in tab.traffic.urls())


def test_degraded_and_conflicting_answers_say_so(widget: tuple[Widget, Tab], api: ScriptedAPI) -> None:
    w, _ = widget
    api.script(answer_stream("Philippe Hourdain préside la CCI Hauts-de-France. [1]", degraded=True, conflict=True))
    answer = w.open_and_ask("Qui préside la CCI ?")
    expect(answer).to_have_attribute("data-status", "done")
    expect(answer.locator(".note.degraded")).to_contain_text("le modèle de langage est indisponible")
    expect(answer.locator(".note.conflict")).to_contain_text("les sources ne concordent pas")
    expect(answer.locator(".ref-date")).to_have_text("1 février 2024")


def test_rate_limit_shows_the_wait_then_retries(widget: tuple[Widget, Tab], api: ScriptedAPI) -> None:
    w, _ = widget
    limited = {"message": "rate limit exceeded, retry later", "type": "rate_limit_error", "code": "rate_limited"}
    api.script(Reply(status=429, headers={"Retry-After": "2"}, error=limited))
    answer = w.open_and_ask("Qui préside la CCI ?")
    expect(answer).to_have_attribute("data-status", "error")
    expect(answer.get_by_role("alert")).to_contain_text("Trop de questions en peu de temps. Réessayez dans 2 s.")
    retry = answer.locator("button.retry")
    expect(retry).to_be_disabled()
    expect(retry).to_have_text(re.compile(r"Réessayer \([12] s\)"))
    expect(retry).to_be_enabled(timeout=5_000)
    api.script(answer_stream("Philippe Hourdain préside la CCI Hauts-de-France. [1]"))
    retry.click()
    expect(answer).to_have_attribute("data-status", "done")  # the same message, now answered
    expect(w.answers).to_have_count(1)
    expect(w.users).to_have_count(1)
    assert api.bodies[-1]["messages"] == [{"role": "user", "content": "Qui préside la CCI ?"}]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(status=503, headers={"Retry-After": "1"}, error={"message": "overloaded", "code": "overloaded"}),
            "Le service est momentanément surchargé ou indisponible. Réessayez dans un instant.",
        ),
        (Reply(drop=True), "Impossible de joindre le service. Vérifiez votre connexion, puis réessayez."),
        (Reply(events=[role(), delta("Philippe Hourdain préside")], cut=True), "La réponse a été coupée avant la fin."),
        (
            Reply(status=422, error={"message": "the query is <b>empty</b>", "code": "invalid_query"}),
            "La question n’a pas pu être traitée : the query is <b>empty</b>",
        ),
    ],
    ids=["503", "network", "cut", "422"],
)
def test_failures_show_a_clear_message_and_a_retry(
    reply: Reply, message: str, widget: tuple[Widget, Tab], api: ScriptedAPI
) -> None:
    w, tab = widget
    api.script(reply)
    answer = w.open_and_ask("Qui préside la CCI ?")
    expect(answer).to_have_attribute("data-status", "error")
    expect(answer.get_by_role("alert")).to_contain_text(message)
    assert tab.page.locator("rag-chat-widget b").count() == 0
    api.script(answer_stream("Philippe Hourdain préside la CCI Hauts-de-France. [1]"))
    answer.get_by_role("button", name="Réessayer").click()
    expect(answer).to_have_attribute("data-status", "done")
    expect(answer.locator(".answer")).to_contain_text("Philippe Hourdain")


def test_refused_key_in_english(open_tab: Callable[[set[str]], Tab], api: ScriptedAPI) -> None:
    tab = open_tab({api.url})
    tab.page.goto(api.page("/en.html", lang="fr", data_lang="en"))  # data-lang wins over the page's language
    api.script(Reply(status=401, error={"message": "a valid API key is required", "code": "invalid_api_key"}))
    w = Widget(tab.page)
    answer = w.open_and_ask("Who chairs the CCI?", label="Your question")
    expect(answer).to_have_attribute("data-status", "error")
    expect(answer.get_by_role("alert")).to_contain_text("This site is not allowed to query the service")
    expect(answer.locator("button.retry")).to_have_count(0)  # retrying cannot help


def test_citation_is_found_again_when_offsets_are_stale(widget: tuple[Widget, Tab], api: ScriptedAPI) -> None:
    w, tab = widget
    stale = {**CITATION, "start": 0, "end": len(QUOTE)}  # the document moved on; the quote is still in it
    gone = {**CITATION, "n": 2, "quote": "Une phrase retirée depuis.", "start": 0, "end": 26}
    api.script(answer_stream("Réponse [1] et [2].", citations=[stale, gone]))
    answer = w.open_and_ask("Qui préside la CCI ?")
    expect(answer).to_have_attribute("data-status", "done")
    answer.locator("button.cite").first.click()
    reader = tab.page.locator("rag-chat-widget .reader")
    expect(reader.locator("mark")).to_have_text(QUOTE)
    expect(reader.locator(".reader-meta")).to_contain_text("1 février 2024")
    reader.get_by_role("button", name="Retour à la conversation").click()
    answer.locator("button.cite").nth(1).click()
    expect(reader.locator(".doc-warning")).to_contain_text("le passage cité n’y figure plus")
    expect(reader.locator("mark")).to_have_count(0)
    expect(reader.locator(".doc")).to_have_text(DOC_TEXT)
