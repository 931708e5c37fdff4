"""Small text helpers shared across modules."""

from __future__ import annotations


def safe_text(text: str) -> str:
    """``text`` with lone surrogates replaced: native tokenizers and engines only take valid UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


# Month names, folded (lowercase, no accents), in calendar order.
FRENCH_MONTHS = ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre",
                 "novembre", "decembre")  # fmt: skip
ENGLISH_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
                  "october", "november", "december")  # fmt: skip
