import math

import pytest

from eval.metrics import dedupe, mean_metrics, mrr_at, ndcg_at, recall_at, retrieval_metrics


def test_dedupe_keeps_best_rank() -> None:
    assert dedupe(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


def test_recall() -> None:
    assert recall_at(["a", "b", "c"], {"c"}, 2) == 0.0
    assert recall_at(["a", "b", "c"], {"c"}, 3) == 1.0
    assert recall_at(["a", "b"], {"a", "z"}, 5) == 0.5
    assert recall_at(["a"], set(), 5) == 0.0


def test_mrr() -> None:
    assert mrr_at(["x", "y", "a"], {"a"}, 10) == pytest.approx(1 / 3)
    assert mrr_at(["x", "y", "a"], {"a"}, 2) == 0.0


def test_ndcg() -> None:
    assert ndcg_at(["a"], {"a"}, 10) == 1.0
    assert ndcg_at(["x", "a"], {"a"}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at(["x", "a", "b"], {"a", "b"}, 10) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    )
    assert ndcg_at(["x"], {"a"}, 10) == 0.0


def test_retrieval_metrics_dedupes_chunks_of_one_document() -> None:
    m = retrieval_metrics(["x", "x", "x", "a"], {"a"})
    assert m["r@1"] == 0.0 and m["mrr@10"] == 0.5
    assert mean_metrics([{"r@1": 1.0}, {"r@1": 0.0}]) == {"r@1": 0.5}


def test_answer_containment_normalises_case_accents_and_apostrophes() -> None:
    from eval.metrics import contains_answer

    assert contains_answer("La Cité de l’IA compte 150 entreprises.", ["cite de l'ia"])
    assert contains_answer("PHILIPPE  HOURDAIN préside", ["Philippe Hourdain"])
    assert not contains_answer("Manuel Davy", ["Philippe Hourdain"])
    assert contains_answer("le 28 novembre puis le 29 novembre", ["x"], required=["28 novembre", "29 novembre"])
    assert not contains_answer("le 28 novembre", ["28 novembre"], required=["28 novembre", "29 novembre"])
