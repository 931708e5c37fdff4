"""Multi-turn: turn the last user message of a conversation into a standalone search query."""

from __future__ import annotations

import re

from rag.analyzer import fold, get_analyzer

# A follow-up leans on the previous turn: it opens with a connective or points back at something.
_FOLLOW_UP = re.compile(
    r"^(et|mais|alors|aussi|ou|and|but|what about|how about|also)\b|\b(il|elle|ils|elles|celui|celle|ce projet|"
    r"cette|ces|son|sa|ses|leur|leurs|y|en|it|its|they|their|this|that|there)\b"
)
MAX_CONTEXT_TURNS = 2


def user_turns(messages: list[dict[str, str]]) -> list[str]:
    """The text of the user messages, oldest first."""
    return [str(m.get("content") or "") for m in messages if m.get("role") == "user"]


def standalone_query(messages: list[dict[str, str]]) -> str:
    """The last user question, completed with the previous user turns when it is a follow-up.

    "et combien d'emplois ?" after a question about Rouen becomes "<that question> et combien d'emplois ?",
    so retrieval sees the subject; a self-contained question is returned unchanged.
    """
    turns = [t.strip() for t in user_turns(messages) if t.strip()]
    if not turns:
        return ""
    last = turns[-1]
    if len(turns) == 1:
        return last
    terms = get_analyzer()(last)
    if len(terms) > 4 and not _FOLLOW_UP.search(fold(last)):
        return last
    context = turns[-1 - MAX_CONTEXT_TURNS : -1]
    return " ".join([*context, last])
