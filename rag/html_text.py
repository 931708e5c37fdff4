"""HTML to plain text through a real parser (selectolax/Lexbor), keeping block structure as line breaks."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

_DROP = ("script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside", "form", "iframe")
_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "table",
    "tr",
    "figure",
    "figcaption",
    "br",
    "hr",
    "dd",
    "dt",
    "dl",
    "title",
}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n+")


def _walk(root: LexborNode, out: list[str]) -> None:
    # Iterative: hostile pages nest deeper than Python's recursion limit.
    stack: list[LexborNode | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        tag = item.tag
        if tag == "-text":
            out.append(item.text_content or "")
            continue
        if tag in _DROP or tag == "-comment":
            continue
        block = tag in _BLOCKS and item is not root
        if block:
            out.append("\n")
            stack.append("\n")
        children = []
        child = item.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend(reversed(children))


def html_to_text(html: str) -> tuple[str, dict[str, str]]:
    """Return the readable text of an HTML page and the metadata it declares (title, published_at)."""
    tree = LexborHTMLParser(html)
    meta: dict[str, str] = {}
    title_node = tree.css_first("h1") or tree.css_first("title")
    if title_node is not None and title_node.text(strip=True):
        meta["title"] = _SPACES.sub(" ", title_node.text(strip=True))
    for selector, attr in (
        ('meta[property="article:published_time"]', "content"),
        ('meta[name="date"]', "content"),
        ("time[datetime]", "datetime"),
    ):
        node = tree.css_first(selector)
        value = node.attributes.get(attr) if node is not None else None
        if value:
            meta["published_at"] = value.strip()
            break
    root = tree.body or tree.root
    parts: list[str] = []
    if root is not None:
        _walk(root, parts)
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    text = _BLANKS.sub("\n\n", "\n".join(lines)).strip()
    return text, meta
