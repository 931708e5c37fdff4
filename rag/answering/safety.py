"""What an answer may show: text that is safe to render as Markdown and reaches nothing outside the service.

Passages are untrusted (whoever can add a document writes in them) and an LLM repeats what it reads, so an
answer's text, extractive or generated, whole or streamed, goes through :func:`safe_text`:

- Markdown images and links keep their text and lose their target; link reference definitions are dropped
  (so ``[text][ref]`` and ``![alt][ref]`` stay plain text);
- HTML tags (``<img src>``, ``<a href>``, ``<script>``, autolinks) are removed;
- URLs (any ``scheme://``, or protocol-relative ``//host``) are cut down to their host name, so nothing is
  fetched or sent anywhere, not even on a click; ``javascript:``, ``vbscript:`` and ``data:`` schemes are
  removed.

Generated text also goes through :func:`redact_ungrounded`: identifier-like tokens (letters and at least two
digits, 10 characters or more: keys, tokens, canaries) that appear in none of the passages, questions or turns the
model was shown are replaced by ``[…]``, and :func:`drop_instruction_echo` removes the sentences that copy
the system prompt. Neither can change an answer built from the passages.

Citation quotes (``quote == document.text[start:end]``), titles and "see also" texts are document data and
stay exact: clients must render them as text, never as Markdown or HTML.
"""

from __future__ import annotations

import re

REDACTED = "[…]"
SHINGLE_WORDS = 6
"""Consecutive words shared with the system prompt that make a generated sentence an echo of it."""
STREAM_HOLD_CHARS = 2000
"""A streamed piece without whitespace is released (sanitised) once this long."""

_AUTOLINK = re.compile(r"<((?:[a-z][a-z0-9+.\-]*:)?//[^\s<>]+)>", re.IGNORECASE)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_REFERENCE = re.compile(r"^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*\S+.*$", re.MULTILINE)
_TAG = re.compile(r"<!--.*?-->|</?[a-zA-Z][\w:-]*(?:\s[^<>]*)?/?>", re.DOTALL)
_URL = re.compile(
    r"(?:\b[a-z][a-z0-9+.\-]*:)?//(?:[^\s/?#<>\"'()\[\]@]*@)?(?P<host>[^\s/?#<>\"'()\[\]@:]+)(?::\d+)?"
    r"[^\s<>\"'()\[\]]*",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"\b(?:javascript|vbscript):|\bdata:(?=[a-z]+/)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"(?<![\w-])(?=(?:[\w-]*?\d){2})(?=[\w-]*[^\W\d_])[\w-]{10,}(?![\w-])")
_MARKER = re.compile(r"\[(\d{1,3})\]")
_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")


def safe_text(text: str) -> str:
    """``text`` with no image, link, HTML or URL that could fetch or point outside (see the module doc)."""
    if not any(c in text for c in "<[/:"):
        return text
    text = _AUTOLINK.sub(r"\1", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REFERENCE.sub("", text)  # without its definition, a reference-style link or image is plain text
    text = _TAG.sub("", text)
    text = _URL.sub(lambda m: _host(m.group("host")), text)
    return _SCHEME.sub("", text)


def _host(host: str) -> str:
    host = host.lower()
    return host.removeprefix("www.")  # "www.x.y" would be linkified by GitHub-flavoured Markdown


def drop_dangling_markers(text: str, numbers: set[int]) -> str:
    """``text`` without the ``[n]`` markers that point at no citation (a document's own "[7]", say)."""
    return _MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in numbers else "", text)


def redact_ungrounded(text: str, grounded: str) -> str:
    """``text`` with every identifier-like token that ``grounded`` (what the model was shown besides its
    instructions) does not contain replaced by ``[…]``: a key or canary can only come from elsewhere."""
    return _IDENTIFIER.sub(lambda m: m.group(0) if m.group(0) in grounded else REDACTED, text)


def drop_instruction_echo(text: str, instructions: str) -> str:
    """``text`` without the sentences that share ``SHINGLE_WORDS`` consecutive words with ``instructions``."""
    shingles = _shingles(instructions)
    if not shingles:
        return text
    kept = [s for s in _SENTENCE.split(text) if s.strip() and not (_shingles(s) & shingles)]
    return " ".join(kept)


_CLOSED_LINK = re.compile(r"\[[^\]\n]*\](?:\([^)\n]*\)|(?!\())")


def _first_unclosed(text: str) -> int | None:
    """Where the first Markdown link (``[…](…)``) or HTML tag (``<…>``) still open at the end of ``text`` starts."""
    for match in re.finditer(r"[\[<]", text):
        rest = text[match.start() :]
        if rest[0] == "<" and ">" not in rest:
            return match.start()
        if rest[0] == "[" and "\n" not in rest and not _CLOSED_LINK.match(rest):
            return match.start()
    return None


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = [w.casefold() for w in _WORD.findall(text)]
    return {tuple(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


class StreamGuard:
    """Applies :func:`safe_text` and :func:`redact_ungrounded` to streamed deltas.

    A delta's trailing partial word is held back until the next whitespace, and an opened Markdown link or
    HTML tag until it is closed, so that no URL, markup or identifier is ever split across the checks;
    everything else goes out at once.
    """

    def __init__(self, grounded: str) -> None:
        self.grounded = grounded
        self._pending = ""

    def _clean(self, text: str) -> str:
        return redact_ungrounded(safe_text(text), self.grounded)

    def feed(self, delta: str) -> str:
        """What of ``delta`` (and what was held back) can be shown now."""
        self._pending += delta
        if len(self._pending) >= STREAM_HOLD_CHARS:
            return self.flush()
        cut = max(self._pending.rfind(c) for c in " \n\t\r") + 1
        opened = _first_unclosed(self._pending[:cut])
        if opened is not None:
            cut = opened
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._clean(ready) if ready else ""

    def flush(self) -> str:
        """What was held back, at the end of the stream."""
        ready, self._pending = self._pending, ""
        return self._clean(ready) if ready else ""
