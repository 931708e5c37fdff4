"""Sanity checks for the gold question/answer set (eval/gold.jsonl).

Fast, no model needed: validates schema, coverage and that every evidence
string / answer really occurs in the seed documents under seeds/.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
GOLD_PATH = ROOT / "eval" / "gold.jsonl"
SEEDS_DIR = ROOT / "seeds"

TYPES = {
    "factual_who",
    "factual_how_many",
    "factual_when",
    "factual_where",
    "factual_what",
    "paraphrase",
    "english",
    "multi_document",
    "inconsistent",
    "unanswerable_absent",
    "unanswerable_out_of_domain",
    "unanswerable_injection",
}
REQUIRED = {
    "id": str,
    "question": str,
    "answers": list,
    "documents": list,
    "evidence": str,
    "type": str,
    "answerable": bool,
}
MIN_ITEMS = 80
MIN_UNANSWERABLE = 15


def normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.split())


def load_gold() -> list[dict]:
    items = []
    with GOLD_PATH.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:  # pragma: no cover - message only
                pytest.fail(f"{GOLD_PATH.name}:{lineno}: invalid JSON: {exc}")
    return items


GOLD = load_gold()


def _label(item: dict) -> str:
    return f"{item.get('id', '?')} ({item.get('question', '')[:60]!r})"


def seed_ids() -> list[str]:
    return sorted(p.stem for p in SEEDS_DIR.glob("*.txt"))


@cache
def doc_text(doc_id: str) -> str:
    path = SEEDS_DIR / f"{doc_id}.txt"
    if not path.is_file():
        raise AssertionError(f"seed document not found: {path}")
    return path.read_text(encoding="utf-8")


@cache
def doc_norm(doc_id: str) -> str:
    return normalise(doc_text(doc_id))


def test_seeds_present():
    assert SEEDS_DIR.is_dir(), f"missing seeds folder: {SEEDS_DIR}"
    assert seed_ids(), f"no *.txt in {SEEDS_DIR}"


def test_min_size():
    assert len(GOLD) >= MIN_ITEMS, f"only {len(GOLD)} gold items (< {MIN_ITEMS})"
    n_unans = sum(1 for it in GOLD if it.get("answerable") is False)
    assert n_unans >= MIN_UNANSWERABLE, f"only {n_unans} unanswerable items (< {MIN_UNANSWERABLE})"


def test_ids_unique():
    dupes = [i for i, n in Counter(it.get("id") for it in GOLD).items() if n > 1]
    assert not dupes, f"duplicate ids: {dupes}"


@pytest.mark.parametrize("item", GOLD, ids=[str(it.get("id")) for it in GOLD])
def test_schema(item):
    label = _label(item)
    for key, typ in REQUIRED.items():
        assert key in item, f"{label}: missing key {key!r}"
        assert isinstance(item[key], typ), f"{label}: {key!r} should be {typ.__name__}"
    assert item["question"].strip(), f"{label}: empty question"
    assert item["type"] in TYPES, f"{label}: unknown type {item['type']!r}"
    assert all(isinstance(a, str) and a.strip() for a in item["answers"]), f"{label}: bad answers"
    assert all(isinstance(d, str) for d in item["documents"]), f"{label}: bad documents"
    if "answers_all" in item:
        assert isinstance(item["answers_all"], list) and all(
            isinstance(a, str) and a.strip() for a in item["answers_all"]
        ), f"{label}: bad answers_all"
    unans_type = item["type"].startswith("unanswerable_")
    if item["answerable"]:
        assert not unans_type, f"{label}: type {item['type']} but answerable=true"
        assert item["answers"], f"{label}: answerable item without answers"
        assert item["documents"], f"{label}: answerable item without documents"
        assert item["evidence"], f"{label}: answerable item without evidence"
    else:
        assert unans_type, f"{label}: answerable=false but type {item['type']}"
        assert item["documents"] == [], f"{label}: unanswerable item must have documents=[]"
        assert item["evidence"] == "", f"{label}: unanswerable item must have evidence=''"
        assert not item.get("answers_all"), f"{label}: unanswerable item with answers_all"
    if item["type"] == "multi_document":
        assert len(set(item["documents"])) >= 2, f"{label}: multi_document needs >= 2 documents"
        ev_all = item.get("evidence_all")
        assert isinstance(ev_all, list) and ev_all, f"{label}: multi_document needs evidence_all"
        covered = {e.get("document") for e in ev_all}
        assert set(item["documents"]) <= covered, f"{label}: evidence_all must cover every document"


def test_every_article_covered():
    counts = Counter(d for it in GOLD if it.get("answerable") for d in it.get("documents", []))
    missing = [d for d in seed_ids() if counts[d] == 0]
    assert not missing, f"articles without any answerable gold question: {missing}"
    unknown = sorted(set(counts) - set(seed_ids()))
    assert not unknown, f"gold refers to unknown documents: {unknown}"


@pytest.mark.parametrize("item", [it for it in GOLD if it.get("answerable")], ids=lambda it: str(it.get("id")))
def test_evidence_verbatim(item):
    label = _label(item)
    first = item["documents"][0]
    assert item["evidence"] in doc_text(first), (
        f"{label}: evidence is not a verbatim substring of {first}.txt: {item['evidence']!r}"
    )
    for entry in item.get("evidence_all", []):
        doc, ev = entry.get("document"), entry.get("evidence")
        assert doc in item["documents"], f"{label}: evidence_all document {doc!r} not in documents"
        assert isinstance(ev, str) and ev, f"{label}: empty evidence_all entry for {doc}"
        assert ev in doc_text(doc), f"{label}: evidence_all entry is not a verbatim substring of {doc}.txt: {ev!r}"


@pytest.mark.parametrize("item", [it for it in GOLD if it.get("answerable")], ids=lambda it: str(it.get("id")))
def test_answers_in_documents(item):
    label = _label(item)
    texts = [doc_norm(d) for d in item["documents"]]
    assert any(normalise(a) in t for a in item["answers"] for t in texts), (
        f"{label}: none of the answers {item['answers']} occurs in documents {item['documents']}"
    )
    for a in item.get("answers_all", []):
        assert any(normalise(a) in t for t in texts), (
            f"{label}: answers_all string {a!r} occurs in none of {item['documents']}"
        )
