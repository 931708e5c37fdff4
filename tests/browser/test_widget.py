"""The chat widget in Debian's chromium against the real ``rag serve`` process (seeds, hashing embedder).

The demo page at ``/`` and host pages of another origin (``HostPages``, allowed by the server's CORS list)
embed ``widget.js`` with the documented ``<script>`` tag. Questions go
through the UI only; the expectations come from the API itself where they can (citations, documents).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops

from tests.browser.conftest import ROOT, HostPages, Server, Tab, embed_tag, needs_playwright, shadow_active

needs_playwright()
from playwright.sync_api import Locator, Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

QUESTION = "Qui préside la CCI Hauts-de-France ?"
FOLLOW_UP = "Que dit-il des acteurs de la région ?"
"""Answered about Philippe Hourdain only with the first question as context."""
UNANSWERABLE = "Quelle est la recette de la tarte Tatin ?"
CCI_TITLE = 'Dans les Hauts-de-France, la "Vallée de l’IA" s’esquisse'
DONE = re.compile(r"^(done|error|stopped)$")
UPDATE_SCREENSHOT = bool(os.environ.get("RAG_UPDATE_WIDGET_SCREENSHOT"))
"""Copy the answered demo page to docs/widget.png (read at import: tests run with the RAG_* variables cleared)."""

XSS_ID = "xss-demo"
XSS_TITLE = "<script>window.__pwned='title';alert('title')</script>Médiathèque <img src=x onerror=alert('title')>"
XSS_TEXT = (
    "Jeanne Zorglub dirige la médiathèque de Trifouilly <img src=x onerror=\"window.__pwned='img';alert('img')\"> "
    "<img src=\"https://evil.example/pixel.png\"> <script>window.__pwned='script';alert('script')</script> "
    "depuis sa création.\nLe bâtiment compte trois étages."
)
XSS_QUESTION = "Qui dirige la médiathèque de Trifouilly ?"
CANARY = '<img src="https://evil.example/canary.png" onerror="window.__pwned=\'canary\'">'

AGGRESSIVE_CSS = """
* { all: unset !important; }
html, body { display: block !important; background: #00ff66 !important; color: #ff00ff !important;
  font: italic 900 48px/3 "Comic Sans MS", cursive !important; letter-spacing: 6px !important;
  text-transform: uppercase !important; text-align: right !important; direction: rtl !important;
  visibility: visible !important; cursor: wait !important; word-spacing: 30px !important; }
body * { display: block !important; border: 6px dashed red !important; padding: 24px !important;
  margin: 12px !important; background: #000 !important; color: orange !important; box-sizing: content-box !important; }
*::before, *::after { content: "!!" !important; color: red !important; font-size: 40px !important; }
button, textarea, div, span, p, ol, li, svg, mark, h2, h3 { font-size: 36px !important;
  outline: 9px solid lime !important; }
rag-chat-widget, [data-rag-widget] { position: static !important; display: none !important; opacity: .2 !important;
  transform: rotate(8deg) scale(1.5) !important; width: 10px !important; height: 10px !important;
  filter: blur(3px) !important; font-size: 60px !important; line-height: 4 !important; color: red !important; }
"""
SITE_KEY = "site-query-key-0123"
"""The host page's ``data-key`` (the server has no keys: it is only checked to be sent, through CORS)."""
MAX_DIFFERENT = 0.01
"""Share of the widget's pixels that may differ noticeably (text antialiasing)."""
DEMO_SUGGESTIONS = re.search(r'data-suggestions="([^"]*)"', (ROOT / "api" / "static" / "index.html").read_text())
NEUTRAL_BACKDROP = """on => {
  if (!on) { document.adoptedStyleSheets = document.adoptedStyleSheets.filter(s => s !== window.__backdrop); return; }
  const sheet = window.__backdrop = new CSSStyleSheet();
  sheet.replaceSync(`html, body { background: #808080 !important; }
    html > head, body > :not(rag-chat-widget) { visibility: hidden !important; display: none !important; }`);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}"""
"""Hides the page around the widget before a comparison shot, so that its transparent corners show the same
grey on both pages (a constructed stylesheet: the demo page's CSP refuses inline style elements)."""


# ---- helpers --------------------------------------------------------------------------------------------------


def ask_api(server: Server, messages: list[dict[str, str]]) -> dict[str, Any]:
    """The non-streamed chat completion for ``messages``: what the widget must show."""
    response = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "rag-extractive", "messages": messages},
        timeout=60,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _unmarked(answer: str) -> str:
    """The answer without its ``[n]`` markers (the widget turns them into citation chips)."""
    return re.sub(r"\s*\[\d+\]", "", answer).strip()


class Widget:
    """The widget on a page, driven like a visitor would."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.host = page.locator("rag-chat-widget")
        self.launcher = page.locator("rag-chat-widget .launcher")
        self.panel = page.locator("rag-chat-widget .panel")
        self.input = page.get_by_label("Votre question")
        self.answers = page.locator("rag-chat-widget .msg.assistant")
        self.reader = page.locator("rag-chat-widget .reader")

    def open(self) -> None:
        """Click the launcher; the panel shows."""
        self.launcher.click()
        expect(self.panel).to_be_visible()

    def ask(self, question: str) -> Locator:
        """Type ``question``, press Enter, wait for the answer to settle; returns the answer's element."""
        before = self.answers.count()
        self.input.fill(question)
        self.input.press("Enter")
        answer = self.answers.nth(before)
        expect(answer).to_have_attribute("data-status", DONE, timeout=30_000)
        return answer


def goto_demo(tab: Tab, server: Server) -> Widget:
    """The demo page, with its CSP checked."""
    response = tab.page.goto(f"{server.url}/")
    assert response is not None and response.ok
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(tab.page.locator("rag-chat-widget .launcher")).to_be_visible()
    return Widget(tab.page)


def host_page(server: Server, *, css: str = "", lang: str = "fr", key: str | None = None) -> str:
    """A third-party article page (no CSP) that embeds the widget with the documented tag (and the demo page's
    example questions)."""
    suggestions = f' data-suggestions="{DEMO_SUGGESTIONS.group(1)}"' if DEMO_SUGGESTIONS else ""
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Un site hôte</title><style>{css}</style></head>
<body><h1>Actualités de la région</h1>
<p>Un article d’un site tiers, qui ajoute l’assistant avec une seule balise script.</p>
<button type="button">Un bouton du site</button>
{embed_tag(server.url, key=key, extra=suggestions)}
</body></html>"""


def clean(tab: Tab) -> None:
    """Nothing left the allowed origins, no script error, no CSP violation, no dialog."""
    assert tab.traffic.refused == []
    assert tab.traffic.page_errors == []
    assert tab.traffic.console_errors == []
    assert tab.traffic.dialogs == []


def chat_bodies(tab: Tab) -> list[dict[str, Any]]:
    """The JSON bodies the widget posted to /v1/chat/completions, in order."""
    return [
        json.loads(request.post_data or "{}")
        for request in tab.traffic.requests
        if request.method == "POST" and request.url.endswith("/v1/chat/completions")
    ]


@pytest.fixture
def demo(open_tab: Callable[[set[str]], Tab], server: Server) -> Tab:
    """A new tab that may only talk to the server."""
    return open_tab({server.url})


@pytest.fixture
def third_party(open_tab: Callable[[set[str]], Tab], server: Server, host_pages: HostPages) -> Callable[[], Tab]:
    """New tabs that may talk to the server and the host pages' origin."""
    return lambda: open_tab({server.url, host_pages.origin})


# ---- tests ----------------------------------------------------------------------------------------------------


def test_answer_names_the_president_and_its_citation_opens_the_article(
    demo: Tab, server: Server, artifacts: Path
) -> None:
    widget = goto_demo(demo, server)
    widget.open()
    answer = widget.ask(QUESTION)

    expected = ask_api(server, [{"role": "user", "content": QUESTION}])
    citation = expected["citations"][0]
    assert "Philippe Hourdain" in answer.locator(".answer").inner_text()
    assert chat_bodies(demo)[-1]["stream"] is True
    chip = answer.locator("button.cite").first
    expect(chip).to_have_attribute("aria-label", re.compile(re.escape(CCI_TITLE)))
    source = answer.locator(".ref").first
    expect(source.locator(".ref-title")).to_have_text(citation["title"])
    expect(source.locator(".ref-quote")).to_contain_text(citation["quote"][:80])
    expect(widget.page.locator("rag-chat-widget .log")).to_have_attribute("aria-busy", "false")

    demo.page.screenshot(path=artifacts / "demo-answered.png", animations="disabled", caret="hide")
    if UPDATE_SCREENSHOT:
        shutil.copyfile(artifacts / "demo-answered.png", ROOT / "docs" / "widget.png")

    chip.click()
    mark = widget.reader.locator("mark")
    expect(mark).to_have_text(citation["quote"])
    document = httpx.get(f"{server.url}/v1/documents/{citation['document_id']}", timeout=30).json()
    assert document["text"][citation["start"] : citation["end"]] == citation["quote"]
    expect(widget.reader.locator(".reader-title")).to_have_text(document["title"])
    expect(widget.reader.locator(".doc")).to_contain_text(document["text"][:60])
    assert any(url.endswith(f"/v1/documents/{citation['document_id']}") for url in demo.traffic.urls())
    scroller, box = widget.reader.locator(".doc").bounding_box(), mark.bounding_box()
    assert scroller and box and scroller["y"] <= box["y"] and box["y"] + 10 <= scroller["y"] + scroller["height"]
    demo.page.screenshot(path=artifacts / "demo-citation.png", animations="disabled", caret="hide")
    clean(demo)


def test_follow_up_uses_the_conversation_and_survives_a_reload(demo: Tab, server: Server) -> None:
    widget = goto_demo(demo, server)
    widget.open()
    first = widget.ask(QUESTION)
    first_text = first.locator(".answer").inner_text()

    demo.page.reload()
    widget = Widget(demo.page)
    expect(widget.panel).to_be_visible()  # it was open: it still is
    expect(widget.answers).to_have_count(1)
    expect(widget.answers.first.locator(".answer")).to_have_text(first_text)
    expect(widget.answers.first.locator("button.cite")).to_have_count(1)

    follow_up = widget.ask(FOLLOW_UP)
    sent = chat_bodies(demo)[-1]["messages"]
    expected = ask_api(server, sent)
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == QUESTION and sent[2]["content"] == FOLLOW_UP
    assert "Philippe Hourdain" in sent[1]["content"]
    assert expected["answerable"] is True
    with_context = expected["choices"][0]["message"]["content"]
    expect(follow_up).not_to_have_class(re.compile("not-found"))
    expect(follow_up.locator(".answer")).to_contain_text(_unmarked(with_context))
    expect(follow_up.locator(".ref-title").first).to_have_text(CCI_TITLE)

    widget.page.get_by_role("button", name="Nouvelle conversation").click()
    expect(widget.answers).to_have_count(0)
    expect(widget.page.locator("rag-chat-widget .welcome")).to_be_visible()
    stored = demo.page.evaluate("() => Object.values(sessionStorage).join('')")
    assert "Hourdain" not in stored
    alone = widget.ask(FOLLOW_UP)
    assert [m["role"] for m in chat_bodies(demo)[-1]["messages"]] == ["user"]
    by_itself = ask_api(server, [{"role": "user", "content": FOLLOW_UP}])["choices"][0]["message"]["content"]
    assert by_itself != with_context  # the premise: without the first question, "il" is not resolved
    expect(alone.locator(".answer")).to_contain_text(_unmarked(by_itself))
    clean(demo)


def test_unanswerable_question_says_so_and_offers_nearby_passages(demo: Tab, server: Server) -> None:
    expected = ask_api(server, [{"role": "user", "content": UNANSWERABLE}])
    assert expected["answerable"] is False and expected["see_also"]

    widget = goto_demo(demo, server)
    widget.open()
    answer = widget.ask(UNANSWERABLE)
    expect(answer).to_have_class(re.compile("not-found"))
    expect(answer.locator(".badge")).to_have_text("Pas dans les documents")
    expect(answer.locator(".answer")).to_have_text(expected["choices"][0]["message"]["content"])
    expect(answer.locator("button.cite")).to_have_count(0)
    nearby = answer.locator(".see-also")
    assert nearby.count() >= 1
    first = expected["see_also"][0]
    expect(nearby.first.locator(".ref-title")).to_have_text(first["title"])

    nearby.first.click()
    document = httpx.get(f"{server.url}/v1/documents/{first['document_id']}", timeout=30).json()
    expect(widget.reader.locator("mark")).to_have_text(document["text"][first["start"] : first["end"]])
    expect(widget.reader.locator(".reader-meta")).to_contain_text("Passage proche")
    clean(demo)


PDF_ID = "rapport-widget"
PDF_QUESTION = "Depuis quand le phare de Cordouan veille-t-il sur l'estuaire ?"


@pytest.fixture
def pdf_document(server: Server) -> Iterator[bytes]:
    """A four-page PDF uploaded through the API (the phrase asked about is on page 3); removed afterwards."""
    from tests.doc_files import report_pdf

    pdf = report_pdf()
    created = httpx.post(
        f"{server.url}/v1/documents",
        files={"file": (f"{PDF_ID}.pdf", pdf, "application/pdf")},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    try:
        yield pdf
    finally:
        httpx.delete(f"{server.url}/v1/documents/{PDF_ID}", timeout=60)


def test_pdf_citation_shows_its_page_and_links_to_the_original(demo: Tab, server: Server, pdf_document: bytes) -> None:
    expected = ask_api(server, [{"role": "user", "content": PDF_QUESTION}])
    citation = next(c for c in expected["citations"] if c["document_id"] == PDF_ID)
    assert citation["page"] == 3

    widget = goto_demo(demo, server)
    widget.open()
    answer = widget.ask(PDF_QUESTION)
    source = answer.locator(".ref").first
    expect(source.locator(".ref-page")).to_have_text("p. 3")
    link = answer.locator("a.ref-original").first
    expect(link).to_have_attribute("href", f"{server.url}/v1/documents/{PDF_ID}/original#page=3")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    original = httpx.get(str(link.get_attribute("href")).split("#")[0], timeout=30)
    assert original.status_code == 200 and original.content == pdf_document
    assert original.headers["content-type"] == "application/pdf"
    clean(demo)


def test_with_a_key_the_original_is_fetched_with_it(
    third_party: Callable[[], Tab], server: Server, host_pages: HostPages, pdf_document: bytes
) -> None:
    """A plain link cannot carry the API key: with ``data-key`` the widget fetches the file with it and opens it
    from a blob: URL at the cited page."""
    tab = third_party()
    tab.page.goto(host_pages.add("/keyed.html", host_page(server, key=SITE_KEY)))
    widget = Widget(tab.page)
    widget.open()
    answer = widget.ask(PDF_QUESTION)
    link = answer.locator("a.ref-original").first
    expect(link).to_have_attribute("href", f"{server.url}/v1/documents/{PDF_ID}/original#page=3")
    with tab.page.context.expect_page() as opened:
        link.click()
    shown = opened.value
    shown.wait_for_url(re.compile(r"^blob:.*#page=3$"))
    fetched = [r for r in tab.traffic.requests if r.url == f"{server.url}/v1/documents/{PDF_ID}/original"]
    assert fetched and fetched[-1].all_headers().get("authorization") == f"Bearer {SITE_KEY}"
    shown.close()
    clean(tab)


@pytest.fixture
def xss_document(server: Server) -> Iterator[None]:
    """A document whose title and text carry script and image payloads; removed afterwards."""
    created = httpx.post(
        f"{server.url}/v1/documents",
        json={"id": XSS_ID, "title": XSS_TITLE, "text": XSS_TEXT, "metadata": {"published_at": "2024-05-03"}},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    try:
        yield
    finally:
        httpx.delete(f"{server.url}/v1/documents/{XSS_ID}", timeout=60)


def _pwned(page: Page) -> Any:
    return page.evaluate("() => window.__pwned")


@pytest.mark.usefixtures("xss_document")
@pytest.mark.parametrize("where", ["host page without CSP", "demo page"])
def test_answer_and_document_payloads_render_as_text(
    where: str, third_party: Callable[[], Tab], server: Server, host_pages: HostPages
) -> None:
    expected = ask_api(server, [{"role": "user", "content": XSS_QUESTION}])
    citation = expected["citations"][0]
    quote, shown = citation["quote"], citation.get("context") or citation["quote"]
    assert "<img src=x onerror=" in shown and "<script>" in shown  # the payloads reach the widget
    tab = third_party()
    if where == "demo page":
        widget = goto_demo(tab, server)
    else:
        tab.page.goto(host_pages.add("/article.html", host_page(server)))
        widget = Widget(tab.page)
    widget.open()
    answer = widget.ask(XSS_QUESTION)
    answer.locator("button.cite").first.click()
    expect(widget.reader.locator("mark")).to_be_visible()
    tab.page.wait_for_timeout(300)  # time for an injected image to load or fail

    assert _pwned(tab.page) is None
    assert tab.traffic.dialogs == []
    assert tab.traffic.refused == []
    assert not any("evil.example" in url or url.endswith("/x") for url in tab.traffic.urls())
    assert widget.host.locator("img, script").count() == 0
    clean(tab)
    assert "Jeanne Zorglub" in answer.locator(".answer").inner_text()  # the service strips markup from answers
    expect(answer.locator(".ref-quote")).to_have_text(f"« {shown} »")  # quotes are exact: the payloads, as text
    expect(answer.locator(".ref-title")).to_have_text(XSS_TITLE)
    expect(widget.reader.locator(".reader-title")).to_have_text(XSS_TITLE)
    expect(widget.reader.locator("mark")).to_have_text(quote)
    expect(widget.reader.locator(".doc")).to_contain_text("Le bâtiment compte trois étages.")
    expect(widget.reader.locator(".reader-meta")).to_contain_text("2024")

    # The detectors work: markup parsed as HTML on the same page is caught (or, on the demo page, refused).
    if where == "demo page":
        refused = tab.page.evaluate(
            "html => { try { document.body.insertAdjacentHTML('beforeend', html); return null }"
            " catch (e) { return e.name } }",
            CANARY,
        )
        assert refused == "TypeError"  # Trusted Types: the CSP forbids HTML sinks outright
    else:
        tab.page.evaluate("html => document.body.insertAdjacentHTML('beforeend', html)", CANARY)
        tab.page.wait_for_function("() => window.__pwned === 'canary'")  # onerror ran once the image was refused
        assert tab.traffic.refused == ["https://evil.example/canary.png"]


def _element_shot(page: Page, name: str, folder: Path) -> Image.Image:
    """The widget's shadow host, over a neutral backdrop."""
    path = folder / name
    page.evaluate(NEUTRAL_BACKDROP, True)
    page.locator("rag-chat-widget").screenshot(path=path, animations="disabled", caret="hide")
    page.evaluate(NEUTRAL_BACKDROP, False)
    return Image.open(path).convert("RGB")


def _compare(plain: Image.Image, hostile: Image.Image, name: str, folder: Path) -> float:
    """Share of pixels that differ noticeably; the diff image is saved next to the screenshots."""
    assert plain.size == hostile.size, (name, plain.size, hostile.size)
    diff = ImageChops.difference(plain, hostile)
    diff.save(folder / f"{name}-diff.png")
    channels = diff.split()
    worst = ImageChops.lighter(ImageChops.lighter(channels[0], channels[1]), channels[2])
    different = sum(1 for value in worst.point(lambda v: 255 if v > 40 else 0).tobytes() if value)
    return different / (plain.size[0] * plain.size[1])


def test_aggressive_host_css_does_not_change_the_widget(
    third_party: Callable[[], Tab], server: Server, host_pages: HostPages, artifacts: Path
) -> None:
    folder = artifacts / "isolation"
    folder.mkdir(exist_ok=True)
    plain_tab, hostile_tab = third_party(), third_party()
    hostile_tab.page.goto(host_pages.add("/hostile.html", host_page(server, css=AGGRESSIVE_CSS, key=SITE_KEY)))
    plain = goto_demo(plain_tab, server)
    hostile = Widget(hostile_tab.page)
    body_font = hostile_tab.page.evaluate("() => getComputedStyle(document.body).fontSize")
    assert body_font == "48px"  # the hostile stylesheet is in force on the host page
    expect(hostile.launcher).to_be_visible()

    hostile_tab.page.screenshot(path=folder / "hostile-page-closed.png")
    results = {}
    for state in ("closed", "open", "answered"):
        if state == "open":
            plain.open()
            hostile.open()
        if state == "answered":
            plain.ask(QUESTION)
            hostile.ask(QUESTION)
            hostile_tab.page.screenshot(path=folder / "hostile-page-answered.png")
        shots = [
            _element_shot(w.page, f"{state}-{label}.png", folder)
            for w, label in ((plain, "plain"), (hostile, "hostile"))
        ]
        results[state] = _compare(*shots, state, folder)
        print(f"widget isolation, {state}: {results[state]:.4%} of the pixels differ")
    assert all(share <= MAX_DIFFERENT for share in results.values()), results
    posted = [r for r in hostile_tab.traffic.requests if r.method == "POST"]
    assert posted and posted[-1].all_headers().get("authorization") == f"Bearer {SITE_KEY}"  # data-key, across CORS
    box = hostile.host.bounding_box()
    assert box and box["x"] + box["width"] <= 1280 - 19 and box["y"] + box["height"] <= 800 - 19  # still bottom right
    clean(plain_tab)
    clean(hostile_tab)


def test_keyboard_only(demo: Tab, server: Server) -> None:
    widget = goto_demo(demo, server)
    page = demo.page
    page.keyboard.press("Tab")
    assert shadow_active(page).startswith("button.launcher")
    assert page.evaluate(
        "() => { const el = document.querySelector('rag-chat-widget').shadowRoot.activeElement;"
        " const s = getComputedStyle(el); return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 }"
    ), "the focused launcher has no visible focus ring"
    page.keyboard.press("Enter")
    expect(widget.panel).to_be_visible()
    assert shadow_active(page).startswith("textarea")

    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    expect(widget.answers.first).to_have_attribute("data-status", DONE, timeout=30_000)
    assert "Philippe Hourdain" in widget.answers.first.locator(".answer").inner_text()

    for _ in range(6):  # back from the text box to the answer's citation chip
        page.keyboard.press("Shift+Tab")
        if shadow_active(page).startswith("button.cite"):
            break
    assert shadow_active(page).startswith("button.cite"), shadow_active(page)
    page.keyboard.press("Enter")
    expect(widget.reader.locator("mark")).to_be_visible()
    assert shadow_active(page).startswith("h3.reader-title")
    page.keyboard.press("Escape")  # closes the article, back on the chip
    expect(widget.reader).to_be_hidden()
    assert shadow_active(page).startswith("button.cite")
    page.keyboard.press("Tab")  # the sources list: the same citation, with its title and quote
    assert shadow_active(page).startswith("button.ref")
    page.keyboard.press("Enter")
    expect(widget.reader.locator("mark")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")  # closes the panel, back on the launcher
    expect(widget.panel).to_be_hidden()
    assert shadow_active(page).startswith("button.launcher")
    expect(widget.launcher).to_have_attribute("aria-expanded", "false")
    clean(demo)


CONTRAST_AUDIT = """
() => {
  const root = document.querySelector('rag-chat-widget').shadowRoot;
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ({ r, g, b }) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = el => { for (let e = el; e; e = e.parentElement || (e.getRootNode().host ?? null)) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a >= 0.99) return c; }
    return { r: 255, g: 255, b: 255, a: 1 }; };
  const failures = []; let checked = 0;
  for (const el of root.querySelectorAll('*')) {
    const text = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    if (!text || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    const fg = parse(style.color), bg = background(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    checked++;
    const what = `${el.className || el.tagName} (${text.slice(0, 30)})`;
    if (ratio < needed) failures.push(`${what}: ${ratio.toFixed(2)} < ${needed}`);
  }
  return { checked, failures };
}
"""


def test_accessibility_basics(third_party: Callable[[], Tab], server: Server, host_pages: HostPages) -> None:
    tab = third_party()
    tab.page.goto(host_pages.add("/en.html", host_page(server, lang="en").replace(' data-lang="fr"', "")))
    expect(tab.page.get_by_role("button", name="Ask a question")).to_be_visible()  # the page's language
    tab.page.get_by_role("button", name="Ask a question").click()
    expect(tab.page.get_by_label("Your question")).to_be_focused()

    widget = goto_demo(third_party(), server)
    widget.open()
    log = widget.page.locator("rag-chat-widget [role=log]")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(widget.page.get_by_role("dialog", name="Questions sur nos articles")).to_be_visible()
    widget.ask(QUESTION)
    audit = widget.page.evaluate(CONTRAST_AUDIT)
    assert audit["checked"] >= 10 and audit["failures"] == [], audit
    widget.ask(UNANSWERABLE)
    audit = widget.page.evaluate(CONTRAST_AUDIT)
    assert audit["failures"] == [], audit
