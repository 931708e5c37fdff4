"""What a question asks: its language, the entity type it expects, whether it probes the service itself."""

from __future__ import annotations

import re
from typing import Literal

from rag.analyzer import fold
from rag.text import ENGLISH_MONTHS, FRENCH_MONTHS

Language = Literal["fr", "en"]
QuestionType = Literal["person", "number", "date", "place", "other"]

_EN = {
    "the",
    "what",
    "who",
    "whom",
    "when",
    "where",
    "how",
    "which",
    "is",
    "are",
    "does",
    "did",
    "do",
    "of",
    "many",
    "much",
    "why",
    "was",
    "were",
    "and",
    "to",
    "a",
    "an",
    "in",
    "on",
    "for",
    "by",
    "with",
    "has",
    "have",
    "it",
    "its",
    "this",
    "that",
    "there",
    "about",
    "can",
    "you",
    "your",
}
_FR = {
    "le",
    "la",
    "les",
    "quel",
    "quelle",
    "quels",
    "quelles",
    "qui",
    "quand",
    "ou",
    "combien",
    "est",
    "des",
    "du",
    "de",
    "un",
    "une",
    "et",
    "pourquoi",
    "comment",
    "que",
    "qu",
    "au",
    "aux",
    "dans",
    "en",
    "sur",
    "pour",
    "par",
    "avec",
    "ce",
    "cette",
    "il",
    "elle",
    "ont",
    "sont",
    "a",
    "l",
    "d",
}
_WORD = re.compile(r"[a-z]+")

_TYPE_PATTERNS: list[tuple[QuestionType, re.Pattern[str]]] = [
    (
        "number",
        re.compile(
            r"\b(combien|how many|how much|quel(le)?s? (est le |sont les )?(nombre|montant|"
            r"pourcentage|part|taux|surface|superficie|budget|effectifs?)|what (number|percentage|"
            r"share|amount)|nombre de)\b"
        ),
    ),
    (
        "date",
        re.compile(
            r"\b(quand|depuis quand|en quelle annee|quelle (date|annee)|a quelle (date|epoque)|when|"
            r"what (year|date)|which year|in what year|since when)\b"
        ),
    ),
    (
        "place",
        re.compile(
            r"\b(ou|d'ou|where|(dans |en )?quel(le)? (ville|lieu|region|pays|endroit|departement|"
            r"commune|site|locaux)|which (city|place|region|country)|in what (city|place))\b"
        ),
    ),
    (
        "person",
        re.compile(
            r"(^|\b(a|par|de|avec|pour) )qui\b|\bqui (est|etait|a|sont|preside|dirige|fonde|"
            r"pilote)\b|\bwho\b|\bwhom\b|\b(quel(le)? est le nom|nom du|nom de la)\b"
        ),
    ),
]

_PROBE = re.compile(
    r"(prompt|instructions? (systeme|system|initiales?|precedentes?|previous|above|internes?)|"
    r"ignore[sz]? (tes|vos|les|all|previous|your|the)|oublie[sz]? (tes|vos|les)|"
    r"(cle|cles|key|keys|token|jeton)s? (d'?api|api|secrete?s?|openai|d'acces)|api[ _-]?keys?|"
    r"mot de passe|password|\bsecrets?\b|\bconfiguration|\bconfig\b|variables? d'environnement|environment variables?|"
    r"system message|message systeme|jailbreak|developer mode|mode developpeur|reveal|revele[rz]?|"
    r"repete[rz]? (tout|le texte|ce qui precede)|repeat (everything|the text|your))"
)

MONTHS = (*FRENCH_MONTHS, *ENGLISH_MONTHS)
_YEAR = re.compile(r"\b(?:1[89]|20)\d{2}\b")
_MONTH = re.compile(r"\b(" + "|".join(MONTHS) + r")\b")
_NUMBER = re.compile(r"\d")
_PERSON = re.compile(r"\b[A-ZÀ-Ý][a-zà-ÿ]+(?:-[A-ZÀ-Ý][a-zà-ÿ]+)?\s+(?:[A-ZÀ-Ý]\.\s+)?[A-ZÀ-Ý][A-Za-zà-ÿ'-]+")
_PLACE = re.compile(r"\b(?:à|au|aux|en|dans|sur|depuis|de)\s+(?:l['’]|la |le )?[A-ZÀ-Ý][\w'’-]+")


def language(question: str) -> Language:
    """``en`` when English function words outnumber French ones, else ``fr`` (the default)."""
    words = _WORD.findall(fold(question).replace("'", " "))
    en = sum(w in _EN for w in words)
    fr = sum(w in _FR for w in words)
    return "en" if en > fr else "fr"


def question_type(question: str) -> QuestionType:
    """The entity type a question expects, from its interrogative words (French or English)."""
    folded = fold(question)
    for kind, pattern in _TYPE_PATTERNS:
        if pattern.search(folded):
            return kind
    return "other"


def probes_the_service(question: str) -> bool:
    """Whether the question tries to make the service reveal its prompt, keys or configuration."""
    return bool(_PROBE.search(fold(question)))


def has_entity(text: str, kind: QuestionType) -> bool:
    """Whether ``text`` contains something of the expected type (a cheap, French-aware check)."""
    if kind == "number":
        return bool(_NUMBER.search(text))
    if kind == "date":
        return bool(_YEAR.search(text) or _MONTH.search(fold(text)))
    if kind == "person":
        return bool(_PERSON.search(text))
    if kind == "place":
        return bool(_PLACE.search(text))
    return True


def new_entity(text: str, kind: QuestionType, question: str) -> bool:
    """Whether ``text`` holds an entity of the expected type that the question does not already name."""
    asked = fold(question)
    if kind in ("number", "date"):
        return bool(values(text, kind) - values(question, kind)) or (
            kind == "number" and any(v not in asked for v in re.findall(r"\d+", text))
        )
    if kind == "person":
        return any(fold(m.group(0)) not in asked for m in _PERSON.finditer(text))
    if kind == "place":
        return any(fold(m.group(0).split()[-1]) not in asked for m in _PLACE.finditer(text))
    return True


def values(text: str, kind: QuestionType) -> set[str]:
    """The typed values a sentence states (numbers or dates), normalised, for conflict detection."""
    folded = fold(text)
    if kind == "date":
        days = re.findall(r"\b(\d{1,2})(?:er)? (" + "|".join(MONTHS) + r")\b", folded)
        return {f"{int(d)} {m}" for d, m in days} or set(_YEAR.findall(folded))
    if kind == "number":
        joined = re.sub(r"(?<=\d)[ \u00a0\u202f](?=\d{3}\b)", "", folded)
        return set(re.findall(r"\d+(?:[.,]\d+)?", joined))
    return set()
