"""French text analysis for the lexical index: elisions, case and accent folding, stopwords, Snowball stemming."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_FRENCH

from rag.text import safe_text

# Interrogatives carry the question's shape, not its topic; the answerer reads them from the raw text.
_QUESTION_WORDS = {
    "quel",
    "quelle",
    "quels",
    "quelles",
    "quand",
    "combien",
    "comment",
    "pourquoi",
    "lequel",
    "laquelle",
    "lesquels",
    "lesquelles",
    "est-ce",
    "ceci",
    "cela",
    "ça",
    "donc",
    "alors",
}
# English questions over French text are common: their function words must not count as terms either.
# ("an", "but" are French nouns and stay.)
_ENGLISH = {
    "a",
    "and",
    "are",
    "as",
    "at",
    "be",
    "by",
    "for",
    "if",
    "in",
    "into",
    "is",
    "it",
    "no",
    "not",
    "of",
    "on",
    "or",
    "such",
    "that",
    "the",
    "their",
    "then",
    "there",
    "these",
    "they",
    "this",
    "to",
    "was",
    "will",
    "with",
    "what",
    "who",
    "whom",
    "when",
    "where",
    "which",
    "why",
    "how",
    "many",
    "much",
    "does",
    "did",
    "do",
    "has",
    "have",
    "had",
    "were",
    "can",
    "could",
    "would",
    "should",
    "your",
    "you",
    "we",
    "our",
    "its",
    "from",
    "about",
}
_ELISION = re.compile(r"\b(?:qu|jusqu|lorsqu|puisqu|quoiqu|presqu|[cdjlmnst])['’‘`´]", re.IGNORECASE)
# French writes thousands as "5 000" (space, no-break space or narrow no-break space).
_DIGIT_GROUP = re.compile(r"(?<=\d)[ \u00a0\u202f](?=\d{3}(?!\d))")
_TOKEN = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lowercase and strip accents (``Élysée`` → ``elysee``); also maps typographic apostrophes to ``'``."""
    text = text.replace("’", "'").replace("‘", "'").casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


STOPWORDS: frozenset[str] = frozenset(fold(w) for w in (*STOPWORDS_FRENCH, *_QUESTION_WORDS, *_ENGLISH))


class FrenchAnalyzer:
    """Turns French text into index terms. Deterministic and safe on any Unicode input.

    ``version`` names the analysis: an index records it, and refuses queries analysed differently.
    """

    version = "french-snowball-v2"

    def __init__(self, stopwords: frozenset[str] = STOPWORDS) -> None:
        self._stopwords = stopwords
        self._stemmer = Stemmer.Stemmer("french")

    def words(self, text: str) -> list[str]:
        """Lowercased surface words with elisions removed and digit groups joined, before stopwords."""
        text = safe_text(text)  # lone surrogates cannot reach the stemmer
        text = _DIGIT_GROUP.sub("", text)
        text = _ELISION.sub(" ", text.casefold())
        return _TOKEN.findall(text)

    def __call__(self, text: str) -> list[str]:
        """Index terms of ``text``: stopwords dropped, Snowball-stemmed, then accent-folded."""
        words = [w for w in self.words(text) if fold(w) not in self._stopwords]
        return [_fold_term(s) for s in self._stemmer.stemWords(words)]


@lru_cache(maxsize=100_000)
def _fold_term(term: str) -> str:
    return fold(term)


@lru_cache(maxsize=1)
def get_analyzer() -> FrenchAnalyzer:
    """A shared analyzer (the stemmer is cheap but not free to build)."""
    return FrenchAnalyzer()
