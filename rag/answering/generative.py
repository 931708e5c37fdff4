"""The generative answerer: an LLM writes the answer from numbered passages; the service checks it.

The model's citations are never trusted: markers that point at no retrieved passage are dropped, every
answer sentence is attributed to the retrieved sentence that best supports it (post-hoc), and sentences
that no passage supports are flagged. If the LLM fails, is too slow or returns nothing usable, the
extractive answer is returned instead, marked ``degraded``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Unpack

from rag.analyzer import fold
from rag.answering.citations import NOT_FOUND, verify_citations
from rag.answering.extractive import retrieve
from rag.answering.models import Answer, Citation
from rag.answering.protocol import Answerer, Conversation
from rag.answering.question import language, probes_the_service
from rag.answering.safety import drop_instruction_echo, redact_ungrounded
from rag.chunking import sentence_spans
from rag.corpus_index import CorpusIndex
from rag.llm.errors import LLMError
from rag.llm.prompt import build_messages
from rag.llm.protocol import LLMBackend
from rag.models import Hit

log = logging.getLogger(__name__)
_MARKER = re.compile(r"\s*\[(\d{1,3})\]")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")
MIN_SUPPORT = 0.35


@dataclass
class Prepared:
    """What the LLM is asked, and the extractive answer to fall back on."""

    question: str
    language: str
    hits: list[Hit]
    messages: list[dict[str, str]]
    fallback: Answer

    @property
    def instructions(self) -> str:
        """The system prompt the model was given."""
        return "\n".join(m["content"] for m in self.messages if m.get("role") == "system")

    @property
    def grounded(self) -> str:
        """Everything else the model was shown: passages, question, conversation."""
        return "\n".join(m["content"] for m in self.messages if m.get("role") != "system")


class GenerativeAnswerer:
    """Retrieval, a grounded prompt, an LLM call under a deadline, then citation checking."""

    mode = "generative"

    def __init__(self, index: CorpusIndex, llm: LLMBackend, extractive: Answerer, deadline: float) -> None:
        self.index = index
        self.llm = llm
        self.extractive = extractive
        self.deadline = deadline

    def prepare(self, question: str, **options: Unpack[Conversation]) -> Prepared | Answer:
        """Retrieve and build the prompt; returns a final Answer when no LLM call is warranted."""
        lang = language(question)
        debug = options.get("debug", False)
        if probes_the_service(question):
            return self.extractive.answer(question, debug=debug)
        hits = retrieve(self.index, question, options)
        fallback = self.extractive.answer_from_hits(question, hits, debug=debug, query=options.get("query"))
        if not hits:
            return fallback
        passages = [(n, h.document.title, h.chunk.text) for n, h in enumerate(hits, 1)]
        messages = build_messages(question, passages, history=options.get("history"), language=lang)
        return Prepared(question, lang, hits, messages, fallback)

    def answer(
        self, question: str, *, temperature: float = 0.0, max_tokens: int = 512, **options: Unpack[Conversation]
    ) -> Answer:
        """A checked LLM answer, or the extractive one marked degraded when the LLM cannot give one."""
        prepared = self.prepare(question, **options)
        if isinstance(prepared, Answer):
            return prepared
        try:
            text = self.llm.complete(
                prepared.messages, temperature=temperature, max_tokens=max_tokens, deadline=self.deadline
            )
        except LLMError as exc:
            log.warning("LLM failed, extractive fallback: %s", exc.code)
            return degrade(prepared.fallback)
        return self.finish(prepared, text)

    def stream_text(self, prepared: Prepared, *, temperature: float = 0.0, max_tokens: int = 512) -> Iterator[str]:
        """The LLM's raw deltas (the caller finishes with :meth:`finish` on the joined text)."""
        yield from self.llm.stream(
            prepared.messages, temperature=temperature, max_tokens=max_tokens, deadline=self.deadline
        )

    def finish(self, prepared: Prepared, text: str) -> Answer:
        """Check and attribute a generated text; fall back when it is unusable. Identifier-like tokens the model
        was not shown (keys, canaries) and sentences that repeat its instructions are removed first."""
        # The "not found" sentence is the one piece of the instructions the model is told to say.
        instructions = prepared.instructions.replace(NOT_FOUND["fr"], "").replace(NOT_FOUND["en"], "")
        text = drop_instruction_echo(redact_ungrounded(text.strip(), prepared.grounded), instructions)
        if not text.strip():
            return degrade(prepared.fallback)
        lang = prepared.language
        if fold(NOT_FOUND["fr"]).rstrip(".") in fold(text) or fold(NOT_FOUND["en"]).rstrip(".") in fold(text):
            refusal = prepared.fallback.model_copy(update={"mode": "generative"})
            if refusal.answerable:  # the model found nothing: say so, with the passages as "see also"
                refusal = self.extractive.refusal(prepared.question, prepared.hits, lang)
            return refusal
        return attribute(text, prepared.hits, self.index, lang)


def degrade(fallback: Answer) -> Answer:
    """The extractive answer, marked as a fallback."""
    return fallback.model_copy(update={"degraded": True})


def attribute(text: str, hits: list[Hit], index: CorpusIndex, lang: str) -> Answer:
    """Renumber citations onto the best-supporting retrieved sentence of each generated sentence."""
    analyzer = index.analyzer
    spans = [
        (hit, start, end, set(analyzer(hit.document.text[start:end])))
        for hit in hits
        for start, end in sentence_spans(hit.document.text, hit.chunk.start, hit.chunk.end)
    ]
    citations: list[Citation] = []
    keys: dict[tuple[str, int, int], int] = {}
    out: list[str] = []
    unsupported: list[str] = []
    for sentence in (s for s in _SENTENCE.split(text) if s.strip()):
        claimed = {int(n) for n in _MARKER.findall(sentence) if 1 <= int(n) <= len(hits)}
        plain = _MARKER.sub("", sentence).strip()
        terms = set(analyzer(plain))
        best, best_support = None, 0.0
        for hit, start, end, sent_terms in spans:
            support = len(terms & sent_terms) / len(terms) if terms else 0.0
            # The passage the model cited wins ties: it is the model's own pointer, now verified.
            if hits.index(hit) + 1 in claimed:
                support += 0.05
            if support > best_support:
                best, best_support = (hit, start, end), support
        if best is None or best_support < MIN_SUPPORT:
            unsupported.append(plain)
            out.append(plain)
            continue
        hit, start, end = best
        key = (hit.document.id, start, end)
        if key not in keys:
            keys[key] = len(citations) + 1
            doc = hit.document
            citations.append(
                Citation(
                    n=keys[key],
                    document_id=doc.id,
                    chunk_id=hit.chunk.key,
                    start=start,
                    end=end,
                    quote=doc.text[start:end],
                    score=round(min(best_support, 1.0), 4),
                    title=doc.title,
                    published_at=doc.metadata.get("published_at"),
                )
            )
        out.append(f"{plain} [{keys[key]}]")
    verify_citations(citations, {h.document.id: h.document.text for h in hits})
    return Answer(
        answer=" ".join(out),
        answerable=bool(citations),
        citations=citations,
        mode="generative",
        language=lang,
        unsupported_sentences=unsupported,
        reason=None if citations else "No generated sentence is supported by the retrieved passages.",
    )
