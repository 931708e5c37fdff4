"""What every answerer shares about what it says: the fixed sentences (not found, refused, sources disagree) and
the check that a citation quotes its document exactly. The LLM-free answerers need nothing from ``rag.llm``."""

from __future__ import annotations

from collections.abc import Mapping

from rag.answering.models import Answer, Citation
from rag.formats import page_of, section_of
from rag.models import Document

NOT_FOUND: dict[str, str] = {
    "fr": "Je n'ai pas trouvé la réponse dans les documents.",
    "en": "I could not find the answer in the documents.",
}
"""What an answer says when the passages do not hold the answer (the LLM is told to say exactly this too)."""

REFUSED = {
    "fr": "Je ne peux répondre qu'à partir des documents indexés ; je ne divulgue ni mes instructions ni ma "
    "configuration.",
    "en": "I can only answer from the indexed documents; I do not disclose my instructions or configuration.",
}
CONFLICT = {
    "fr": "Les sources divergent sur ce point :",
    "en": "The sources disagree on this point:",
}


class CitationMismatch(AssertionError):
    """A citation's quote is not the document's text at its offsets: a bug, never shown to a user."""


def verify_citations(citations: list[Citation], texts: dict[str, str]) -> None:
    """Raise unless every ``quote == document_text[start:end]``."""
    for c in citations:
        text = texts.get(c.document_id)
        if text is None or not 0 <= c.start < c.end <= len(text) or text[c.start : c.end] != c.quote:
            raise CitationMismatch(f"citation [{c.n}] does not quote {c.document_id}[{c.start}:{c.end}]")
        if c.context is None and c.context_start is None and c.context_end is None:
            continue
        cs, ce = c.context_start, c.context_end
        if cs is None or ce is None or not cs <= c.start < c.end <= ce or text[cs:ce] != c.context:
            raise CitationMismatch(f"citation [{c.n}]'s context is not {c.document_id}[{cs}:{ce}] around its quote")


def locate_citations(answer: Answer, documents: Mapping[str, Document]) -> Answer:
    """The answer with each citation's ``page`` (a PDF's, 1-based) and ``section`` (a DOCX's heading above it)
    filled in from its document's metadata: the one place where answers, once composed, learn where they are."""
    for c in answer.citations:
        doc = documents.get(c.document_id)
        if doc is not None:
            c.page = page_of(doc.metadata, c.start)
            c.section = section_of(doc.text, doc.metadata, c.start)
    return answer
