"""Duplicate passages: a chunk whose text is already stored is kept as an alias of the first (``RAG_DEDUP_PASSAGES``),
embedded and indexed once; when the stored one goes, the first of its aliases is stored in its place."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from rag.models import Chunk


def text_key(text: str) -> bytes:
    """Identity of a passage's text (16 bytes of BLAKE2b: collisions are out of reach at any corpus size)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def text_owners(chunks: Mapping[int, Chunk], aliases: Mapping[int, int]) -> dict[bytes, int]:
    """Text key -> id of the stored (not aliased) chunk with that text."""
    return {text_key(c.text): cid for cid, c in chunks.items() if cid not in aliases}


def promote_heirs(aliases: dict[int, int], gone: set[int]) -> list[int]:
    """Stored chunks ``gone`` were removed: the first alias of each becomes stored (it leaves ``aliases``) and the
    others now point at it. Returns the heirs, which the caller stores."""
    orphans: dict[int, list[int]] = {}
    for alias, owner in aliases.items():
        if owner in gone:
            orphans.setdefault(owner, []).append(alias)
    heirs = [min(group) for group in orphans.values()]
    for group in orphans.values():
        heir = min(group)
        for alias in group:
            if alias == heir:
                del aliases[alias]
            else:
                aliases[alias] = heir
    return heirs
