import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.errors import SourceError
from rag.html_text import html_to_text
from rag.ingest import find_boilerplate, iter_source, make_document, read_file

from .conftest import SEEDS


def _seed(stem: str):
    return read_file(next(SEEDS.glob(f"{stem}_*.txt")))


def test_seed_ids_are_file_stems_and_text_is_kept_verbatim() -> None:
    docs = list(iter_source(SEEDS))
    assert [d.id for d in docs] == sorted(p.stem for p in SEEDS.glob("*.txt"))
    for doc in docs:
        assert doc.text == (SEEDS / f"{doc.id}.txt").read_text(encoding="utf-8")


def test_boilerplate_lines_are_skipped_with_exact_offsets() -> None:
    doc = _seed("002")
    skipped = [doc.text[s.start : s.end] for s in doc.skipped]
    assert "Sauvegarder l'article" in skipped
    assert any(s.startswith("Identifiez vous") for s in skipped)
    caption = "Chat GPT, symbole de la révolution de l'IA générative."
    assert skipped.count(caption) == 1  # the repeat goes, the first occurrence stays indexed
    assert "S'abonner" in [_seed("001").text[s.start : s.end] for s in _seed("001").skipped]


def test_kept_spans_exclude_skipped_lines() -> None:
    doc = _seed("001")
    kept = "".join(doc.text[s.start : s.end] for s in doc.kept_spans())
    assert "S'abonner" not in kept
    assert "Philippe Hourdain" in kept


def test_title_and_leading_date() -> None:
    assert _seed("000").title == "Rouen Normandy Invest mise sur l’Intelligence artificielle"
    assert _seed("001").title.startswith("Dans les Hauts-de-France")
    marseille = _seed("004")
    assert marseille.metadata["published_at"] == "2020-01"
    assert marseille.text[marseille.skipped[0].start : marseille.skipped[0].end].strip() == "date 2020-01"
    assert not marseille.title.startswith("date")
    assert marseille.metadata["source"].endswith("004_8bc2cf3f64c3db73.txt")


def test_published_le_date() -> None:
    doc = make_document("x", "Titre de l'article ici\nPublié le 3 mars 2024 à 10h\nTexte.")
    assert doc.metadata["published_at"] == "2024-03-03"


def test_html_goes_through_a_parser(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Onglet</title><style>p{}</style>"
        '<meta property="article:published_time" content="2023-05-02"></head>'
        "<body><nav>Menu</nav><h1>Le titre</h1><p>Premier <b>paragraphe</b>.</p><script>alert(1)</script>"
        "<p>Second &amp; dernier.</p></body></html>",
        encoding="utf-8",
    )
    doc = read_file(page)
    assert doc.title == "Le titre"
    assert doc.metadata["published_at"] == "2023-05-02"
    assert "Premier paragraphe." in doc.text and "Second & dernier." in doc.text
    assert "alert" not in doc.text and "Menu" not in doc.text


def test_jsonl_records(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "Un texte.", "title": "A", "metadata": {"published_at": "2021"}})
        + "\n\n"
        + json.dumps({"id": "b", "text": "Autre texte."})
        + "\n",
        encoding="utf-8",
    )
    docs = list(iter_source(path))
    assert [(d.id, d.title, d.metadata.get("published_at")) for d in docs] == [
        ("a", "A", "2021"),
        ("b", "Autre texte.", None),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00bad", "not valid UTF-8"),
        (b"", "empty"),
        (b"   \n\n ", "empty"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as info:
        read_file(path)
    assert "\n" not in str(info.value)


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        list(iter_source(tmp_path / "nope"))
    with pytest.raises(SourceError, match=r"no \.txt"):
        list(iter_source(tmp_path))


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '{"id": 3, "text": "x"}', '{"id": "a/b", "text": "x"}'])
def test_bad_jsonl_records(tmp_path: Path, line: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"bad\.jsonl:1"):
        list(iter_source(path))


def test_only_boilerplate_is_rejected() -> None:
    with pytest.raises(SourceError, match="no text left"):
        make_document("x", "S'abonner\nS'abonner\n")


def test_boilerplate_spans_point_at_lines() -> None:
    text = "Titre\nS'abonner\nCorps du texte.\nTitre\n"
    assert [text[s.start : s.end] for s in find_boilerplate(text)] == ["S'abonner", "Titre"]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_html_parser_takes_any_unicode(text: str) -> None:
    out, meta = html_to_text(f"<html><body><p>{text}</p><div>{text}</div></body></html>")
    assert isinstance(out, str) and isinstance(meta, dict)


def test_html_parser_survives_deep_nesting_and_long_lines() -> None:
    assert html_to_text("<div>" * 50_000 + "fond")[0] == "fond"
    assert len(html_to_text("<p>" + "x" * 1_000_000 + "</p>")[0]) == 1_000_000
