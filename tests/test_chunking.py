import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import Chunker
from rag.ingest import make_document, read_file
from rag.models import Document, Span
from rag.tokens import count_tokens

from .conftest import SEEDS


def _covered(doc: Document, spans) -> None:
    covered = [False] * len(doc.text)
    for c in spans:
        for i in range(c.start, c.end):
            covered[i] = True
    for kept in doc.kept_spans():
        for i in range(kept.start, kept.end):
            assert covered[i] or doc.text[i].isspace(), f"character {i} ({doc.text[i]!r}) is in no chunk"
    for skip in doc.skipped:
        for c in spans:
            assert c.end <= skip.start or c.start >= skip.end, "a chunk crosses a skipped span"


def test_seed_chunks_respect_budget_offsets_and_coverage() -> None:
    chunker = Chunker(128, 16)
    for path in sorted(SEEDS.glob("*.txt")):
        doc = read_file(path)
        spans = chunker.split(doc)
        assert [c.ordinal for c in spans] == list(range(len(spans)))
        for c in spans:
            text = doc.text[c.start : c.end]
            assert text == text.strip() and text
            assert count_tokens(text) <= 128
        _covered(doc, spans)


def test_chunks_end_at_sentence_boundaries() -> None:
    doc = read_file(SEEDS / "003_6b08da96d5b97ebd.txt")
    for c in Chunker(256, 0).split(doc)[:-1]:  # no sentence of this article exceeds 256 tokens
        assert doc.text[c.end - 1] in '.!?…;:»"”)' or doc.text[c.end : c.end + 1] == "\n"


def test_overlap_repeats_whole_sentences() -> None:
    text = " ".join(f"Phrase numéro {i} du texte." for i in range(60))
    spans = Chunker(40, 12).split(make_document("d", text))
    assert any(b.start < a.end for a, b in itertools.pairwise(spans))
    assert all(b.start > a.start for a, b in itertools.pairwise(spans))


def test_a_single_huge_line_is_cut_within_budget() -> None:
    doc = make_document("big", "mot" * 200_000)
    spans = Chunker(64, 8).split(doc)
    assert all(count_tokens(doc.text[c.start : c.end]) <= 64 for c in spans)
    _covered(doc, spans)


_texts = st.text(
    alphabet=st.sampled_from([*"abcdé ÉÀ.!?\n\t’'«»0123456789-", "\u202e", "\ud800", "😀", "漢"]), max_size=3000
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, budget=st.integers(8, 200), overlap_share=st.floats(0, 0.9))
def test_property_coverage_budget_roundtrip(text: str, budget: int, overlap_share: float) -> None:
    overlap = min(budget - 1, int(budget * overlap_share))
    doc = Document(id="p", text=text, skipped=[Span(0, min(5, len(text)))] if len(text) > 20 else [])
    spans = Chunker(budget, overlap).split(doc)
    for c in spans:
        assert 0 <= c.start < c.end <= len(text)
        assert count_tokens(doc.text[c.start : c.end]) <= budget
    _covered(doc, spans)
