from hypothesis import given, settings
from hypothesis import strategies as st

from rag.analyzer import FrenchAnalyzer, fold, get_analyzer


def test_elisions_are_split_in_both_apostrophe_styles() -> None:
    analyzer = get_analyzer()
    assert analyzer("l’association") == analyzer("l'association") == analyzer("association")
    assert analyzer("jusqu'à l'entreprise") == analyzer("entreprise")
    assert "qu" not in analyzer("qu’il présente")


def test_case_and_accents_fold_after_stemming() -> None:
    analyzer = get_analyzer()
    assert analyzer("RÉGION") == analyzer("région") == analyzer("region")
    assert analyzer("présidente") == analyzer("Présidentes")


def test_stopwords_and_question_words_are_dropped() -> None:
    assert get_analyzer()("Quel est le nombre de la ?") == ["nombr"]
    assert get_analyzer()("le la les de des ! ?") == []


def test_french_digit_groups_are_joined() -> None:
    analyzer = get_analyzer()
    assert analyzer("5 000 entreprises") == analyzer("5000 entreprises") == analyzer("5\u202f000 entreprises")
    assert "5000" in analyzer("5\u00a0000")


def test_fold() -> None:
    assert fold("Élysée’s ÇA") == "elysee's ca"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_unicode_is_analysed_without_error(text: str) -> None:
    terms = FrenchAnalyzer()(text)
    assert all(isinstance(t, str) and t for t in terms)


def test_hostile_inputs() -> None:
    analyzer = get_analyzer()
    assert analyzer("\ud800\udfff lone \u202e rtl") == ["lon", "rtl"]
    assert len(analyzer("mot " * 250_000)) == 250_000
