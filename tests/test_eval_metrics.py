"""The evaluation metrics on small hand-made cases."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    SpanRef,
    abstention_scores,
    answer_tokens,
    citation_precision,
    contains_answer,
    covers_evidence,
    evidence_labels,
    locate_evidence,
    overlap,
    percentile,
    shortest_span,
    span_retrieval_metrics,
    span_scores,
    squad_scores,
    token_f1,
)


def test_locate_evidence_finds_the_first_occurrence() -> None:
    assert locate_evidence("abc def abc", "abc", "d") == SpanRef("d", 0, 3)
    assert locate_evidence("abc def", "def", "d") == SpanRef("d", 4, 7)
    assert locate_evidence("abc", "xyz", "d") is None
    assert locate_evidence("abc", "", "d") is None


def test_overlap_needs_the_same_document() -> None:
    assert overlap(SpanRef("a", 0, 10), SpanRef("a", 5, 20)) == 5
    assert overlap(SpanRef("a", 0, 10), SpanRef("b", 5, 20)) == 0
    assert overlap(SpanRef("a", 0, 5), SpanRef("a", 5, 9)) == 0


def test_a_chunk_must_cover_half_of_the_evidence() -> None:
    evidence = SpanRef("a", 100, 120)
    assert covers_evidence(SpanRef("a", 0, 110), evidence)  # exactly half
    assert not covers_evidence(SpanRef("a", 0, 109), evidence)  # 9 of 20
    assert covers_evidence(SpanRef("a", 90, 200), evidence)
    assert not covers_evidence(SpanRef("b", 90, 200), evidence)


def test_each_evidence_counts_once_at_its_best_rank() -> None:
    evidence = [SpanRef("a", 10, 20), SpanRef("b", 10, 20)]
    ranked = [SpanRef("c", 0, 50), SpanRef("a", 0, 50), SpanRef("a", 5, 30), SpanRef("b", 0, 15)]
    assert evidence_labels(ranked, evidence) == ["miss0", "e0", "miss2", "e1"]


def test_span_retrieval_metrics_single_evidence() -> None:
    evidence = [SpanRef("a", 10, 20)]
    ranked = [SpanRef("b", 0, 50), SpanRef("a", 0, 50)]
    m = span_retrieval_metrics(ranked, evidence)
    assert m["r@1"] == 0.0
    assert m["r@5"] == 1.0
    assert m["mrr@10"] == 0.5
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(3))


def test_span_retrieval_metrics_multi_document() -> None:
    evidence = [SpanRef("a", 10, 20), SpanRef("b", 10, 20)]
    ranked = [SpanRef("a", 0, 50)] + [SpanRef("z", i, i + 1) for i in range(10)] + [SpanRef("b", 0, 50)]
    m = span_retrieval_metrics(ranked, evidence)
    assert m["r@1"] == 0.5 and m["r@10"] == 0.5
    assert m["mrr@10"] == 1.0
    assert m["ndcg@10"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert span_retrieval_metrics([], evidence)["ndcg@10"] == 0.0


def test_accuracy_reuses_containment() -> None:
    assert contains_answer("C'est l’Insa de Rouen [1].", ["insa de rouen"])
    assert not contains_answer("Le 28 novembre [1].", [], ["28 novembre", "29 novembre"])
    assert contains_answer("Le 28 ou le 29 novembre", ["x"], ["28", "29 NOVEMBRE"])


def test_answer_tokens_fold_and_drop_markers_and_articles() -> None:
    assert answer_tokens("L’Élysée [1], la Présidence !") == ["elysee", "presidence"]
    assert answer_tokens("the [12] cat") == ["cat"]


def test_token_f1() -> None:
    assert token_f1(["a1", "b"], ["a1", "b"]) == 1.0
    assert token_f1(["x"], ["y"]) == 0.0
    assert token_f1(["x", "y", "z", "w"], ["x", "y"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1([], []) == 1.0
    assert token_f1([], ["x"]) == 0.0


def test_shortest_span_picks_the_best_window() -> None:
    answer = "Le président de la CCI est Frédéric Motte depuis 2021 [1]."
    window, f1 = shortest_span(answer, "Frédéric Motte")
    assert window == ["frederic", "motte"] and f1 == 1.0
    window, f1 = shortest_span(answer, "Monsieur Frédéric Motte")  # 3 tokens: windows of 1 to 5 tokens
    assert window == ["frederic", "motte"] and f1 == pytest.approx(0.8)
    window, f1 = shortest_span("Motte", "Frédéric Motte Junior Senior")  # shorter than any window: taken whole
    assert window == ["motte"] and f1 == pytest.approx(0.4)


def test_squad_scores_take_the_best_reference() -> None:
    f1, em = squad_scores("Il s'agit de Vekia, une entreprise lilloise [2].", ["Manuel Davy", "Vekia"])
    assert (f1, em) == (1.0, 1.0)
    f1, em = squad_scores("Je ne sais pas.", ["Vekia"])
    assert (f1, em) == (0.0, 0.0)
    f1, em = squad_scores("Le 28 novembre 2024", ["29 novembre"])
    assert em == 0.0 and f1 == pytest.approx(2 / 3)  # the one-token window "novembre"
    assert squad_scores("anything", []) == (0.0, 0.0)


def test_citation_precision_counts_overlapping_citations() -> None:
    evidence = [SpanRef("a", 10, 20)]
    citations = [SpanRef("a", 0, 11), SpanRef("a", 20, 30), SpanRef("b", 10, 20)]
    assert citation_precision(citations, evidence) == (1, 3)
    assert citation_precision([], evidence) == (0, 0)
    assert citation_precision(citations, []) == (0, 3)


def test_abstention_precision_and_recall() -> None:
    abstained = [True, True, False, False, True]
    unanswerable = [True, False, True, False, True]
    scores = abstention_scores(abstained, unanswerable)
    assert scores["abstention_precision"] == pytest.approx(2 / 3)
    assert scores["abstention_recall"] == pytest.approx(2 / 3)
    assert abstention_scores([False, False], [False, False]) == {
        "abstention_precision": None,
        "abstention_recall": None,
    }


def test_percentile_interpolates() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4 + 0.8 * 96)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 100.0
    assert percentile([], 50) == 0.0


def test_span_scores_judge_the_whole_answer() -> None:
    assert span_scores("Philippe Hourdain [1]", ["Philippe Hourdain"]) == (1.0, 1.0)
    f1, em = span_scores("le président Philippe Hourdain [1]", ["Hourdain"])
    assert em == 0.0 and 0.4 < f1 < 0.6  # 1 of 3 tokens ("le" dropped): precision 1/3, recall 1
    # the best-window measure forgives the extra words; the span measure does not
    assert squad_scores("le président Philippe Hourdain [1]", ["Hourdain"]) == (1.0, 1.0)
    assert span_scores("", ["x"]) == (0.0, 0.0) and span_scores("x", []) == (0.0, 0.0)
