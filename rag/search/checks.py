"""The rules every query and question obeys before anything is searched: not empty, not over-long."""

from __future__ import annotations

from rag.errors import InvalidQueryError

MAX_QUERY_CHARS = 2000
"""The longest query or question, in characters."""


def checked_text(text: str, noun: str = "query") -> str:
    """``text`` stripped; empty or longer than :data:`MAX_QUERY_CHARS` is an :class:`InvalidQueryError` (4xx)
    naming the ``noun`` ("query", "question")."""
    text = text.strip()
    if not text:
        raise InvalidQueryError(f"the {noun} is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"the {noun} is longer than {MAX_QUERY_CHARS} characters")
    return text
