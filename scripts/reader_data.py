"""PIAF data for the extractive reader: leakage-safe splits, answer-aware windows, negatives.

Splits: every article (SQuAD ``data[].title``) holding one of the 300 CI-sample questions is held out entirely;
a further ~8 % of the remaining articles (fixed seed) is the dev/calibration split; the rest trains. The
project's gold set and seeds are never read.
"""

from __future__ import annotations

import json
import random
import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PIAF = ROOT.parent / "shared" / "data" / "piaf"
TRAIN_DIR = ROOT / "data" / "reader-train"
DEV_FRACTION = 0.08
SPLIT_SEED = 20261202


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: list[tuple[str, int]]  # (text, char start) in the context
    context: str
    context_id: str  # corpus _id of the context
    article: str


def load_piaf(piaf: Path = PIAF) -> tuple[list[Question], dict[str, str], dict[str, str]]:
    """Every question, the corpus passages by id, and the corpus id -> article title."""
    squad = json.loads((piaf / "piaf-v1.1.json").read_text(encoding="utf-8"))
    corpus: dict[str, str] = {}
    corpus_title: dict[str, str] = {}
    by_text: dict[str, str] = {}
    with (piaf / "retrieval" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                corpus[row["_id"]] = row["text"]
                corpus_title[row["_id"]] = row.get("title", "")
                by_text.setdefault(row["text"].strip(), row["_id"])
    questions: list[Question] = []
    for article in squad["data"]:
        title = article["title"]
        for para in article["paragraphs"]:
            context = para["context"]
            cid = by_text.get(context.strip(), "")
            for qa in para["qas"]:
                answers = [(a["text"], int(a["answer_start"])) for a in qa["answers"]]
                questions.append(Question(str(qa["id"]), qa["question"], answers, context, cid, title))
    return questions, corpus, corpus_title


def ci_ids(piaf: Path = PIAF) -> set[str]:
    with (piaf / "retrieval" / "queries_ci300.jsonl").open(encoding="utf-8") as handle:
        return {str(json.loads(line)["_id"]) for line in handle if line.strip()}


def split(questions: list[Question], ci: set[str]) -> dict[str, list[Question]]:
    """``train`` / ``dev`` / ``heldout_ci`` (the CI questions' articles) by article."""
    ids = {q.id for q in questions}
    missing = ci - ids
    if missing:
        # fall back to matching on question text
        texts = {}
        with (PIAF / "retrieval" / "queries_ci300.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if row["_id"] in missing:
                    texts[row["text"].strip()] = row["_id"]
        ci = (ci - missing) | {q.id for q in questions if q.question.strip() in texts}
    ci_articles = {q.article for q in questions if q.id in ci}
    rest = sorted({q.article for q in questions} - ci_articles)
    rng = random.Random(SPLIT_SEED)
    rng.shuffle(rest)
    dev_articles = set(rest[: max(1, round(len(rest) * DEV_FRACTION))])
    out: dict[str, list[Question]] = {"train": [], "dev": [], "heldout_ci": []}
    for q in questions:
        if q.article in ci_articles:
            out["heldout_ci"].append(q)
        elif q.article in dev_articles:
            out["dev"].append(q)
        else:
            out["train"].append(q)
    return out


def ci_context_ids(questions: list[Question], ci: set[str]) -> set[str]:
    """The passages (corpus ids) of the CI-sample questions."""
    return {q.context_id for q in questions if q.id in ci}


def split_by_passage(questions: list[Question], ci: set[str]) -> dict[str, list[Question]]:
    """``train`` / ``dev`` / ``heldout_ci``, held out by *passage*: every question on a CI-sample passage is held
    out (``heldout_ci``, the CI questions among them), the dev articles of :func:`split` are held out whole, and
    every other PIAF question trains (the CI articles' other passages included)."""
    by_article = split(questions, ci)
    dev_articles = {q.article for q in by_article["dev"]}
    held = ci_context_ids(questions, ci)
    out: dict[str, list[Question]] = {"train": [], "dev": [], "heldout_ci": []}
    for q in questions:
        if q.context_id in held or (not q.context_id and q.article not in dev_articles and q.id in ci):
            out["heldout_ci"].append(q)
        elif q.article in dev_articles:
            out["dev"].append(q)
        else:
            out["train"].append(q)
    return out


# ---------------------------------------------------------------------------------------------- metrics
FR_ARTICLES = re.compile(r"\b(le|la|les|l'|un|une|des|du|de|d')", re.IGNORECASE)
PUNCT = set(string.punctuation) | {"«", "»", "’", "‘", "“", "”", "…", "–", "—"}


def normalize_answer(text: str) -> str:
    """SQuAD normalisation adapted to French: lowercase, keep accents, apostrophes unified, punctuation and the
    articles le/la/les/l'/un/une/des/du/de/d' removed, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text).lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"\b(l|d)'", " ", text)
    text = "".join(" " if ch in PUNCT else ch for ch in text)
    text = re.sub(r"\b(le|la|les|un|une|des|du|de)\b", " ", text)
    return " ".join(text.split())


def f1_score(prediction: str, truth: str) -> float:
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = Counter(p) & Counter(t)
    same = sum(common.values())
    if not p or not t:
        return float(p == t)
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)


def exact(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def best_scores(prediction: str, truths: list[str]) -> tuple[float, float]:
    return max(exact(prediction, t) for t in truths), max(f1_score(prediction, t) for t in truths)


def contains_answer(text: str, answers: list[str]) -> bool:
    low = normalize_answer(text)
    return any(normalize_answer(a) and f" {normalize_answer(a)} " in f" {low} " for a in answers)


# ---------------------------------------------------------------------------------------------- hard negatives
def hard_negatives(questions: list[Question], out: Path, top_k: int = 10) -> dict[str, list[str]]:
    """Per question id, the corpus ids the project's hybrid retriever ranks in its top ``top_k`` that are not the
    gold passage and hold no answer string. Cached in ``out`` (JSON)."""
    if out.is_file():
        cached: dict[str, list[str]] = json.loads(out.read_text(encoding="utf-8"))
        if all(q.id in cached for q in questions):
            return cached
    from eval.piaf_retrieval import open_or_build
    from rag.settings import Settings

    base = Settings()
    settings = base.model_copy(update={"index_dir": ROOT / "data" / f"piaf-index-{base.embedder}"})
    index = open_or_build(settings, PIAF / "retrieval" / "corpus.jsonl")
    result: dict[str, list[str]] = {}
    for n, q in enumerate(questions):
        answers = [a for a, _ in q.answers]
        seen: list[str] = []
        try:
            hits = index.search(q.question, top_k=top_k)
        except Exception:  # an unsearchable question simply has no hard negatives
            hits = []
        for h in hits:
            did = h.document.id
            if did == q.context_id or did in seen or contains_answer(h.document.text, answers):
                continue
            seen.append(did)
        result[q.id] = seen
        if n % 500 == 0:
            print(f"hard negatives: {n}/{len(questions)}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result), encoding="utf-8")
    return result


# ---------------------------------------------------------------------------------------------- swapped questions
# A name: capitalised words, possibly joined by French particles ("Cité de l'IA", "Rouen Normandy Invest").
NAME = re.compile(
    r"(?<![\w'’])[A-ZÀ-ÖØ-Þ][\w’'-]*(?:\s+(?:(?:de|du|des|d'|d’|l'|l’|la|le|et)\s*)?[A-ZÀ-ÖØ-Þ0-9][\w’'-]*)*"
)
YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20[0-4]\d)(?!\d)")


def fold(text: str) -> str:
    """The analyzer's case, accent and apostrophe folding, spaces collapsed: how a name is looked for in a passage."""
    from rag.analyzer import fold as fold_accents

    return " ".join(fold_accents(text).split())


def question_names(question: str) -> list[tuple[int, int]]:
    """Character spans of the names and years a question asks about (never its first word: "Quel", "Qui"...)."""
    spans = [(m.start(), m.end()) for m in NAME.finditer(question) if m.start() > 0]
    spans += [(m.start(), m.end()) for m in YEAR.finditer(question)]
    return sorted(spans)


class Swapper:
    """Near-miss questions made from answerable ones: a name (or year) the question shares with its passage is
    replaced by one the passage never mentions, taken from another article's questions (a year: a nearby other
    year). The passage no longer answers the question: "Quel âge a le président de Vekia ?" over a passage about
    another company. Random other-article passages never teach this; only the question changes here."""

    def __init__(self, questions: list[Question]) -> None:
        self.names: list[tuple[str, str]] = []  # (article, name)
        for q in questions:
            for a, b in question_names(q.question):
                if not YEAR.fullmatch(q.question[a:b]):
                    self.names.append((q.article, q.question[a:b]))

    def swap(self, q: Question, rng: random.Random) -> str | None:
        """``q``'s question with one of its names (present in its passage) replaced, or None when it has none."""
        passage = f" {fold(q.context)} "
        spans = [(a, b) for a, b in question_names(q.question) if f" {fold(q.question[a:b])} " in passage]
        if not spans or not self.names:
            return None
        a, b = spans[rng.randrange(len(spans))]
        old = q.question[a:b]
        old_folded = fold(old)
        for attempt in range(30):
            if YEAR.fullmatch(old):
                new = str(int(old) + rng.choice([-1, 1]) * rng.randint(1, 40))
            else:
                article, new = self.names[rng.randrange(len(self.names))]
                # a name of the same length first: a person for a person more often than not
                if article == q.article or (attempt < 15 and len(new.split()) != len(old.split())):
                    continue
            folded = fold(new)
            if folded not in passage and folded != old_folded:
                return q.question[:a] + new + q.question[b:]
        return None


def summary(splits: dict[str, list[Question]]) -> dict[str, Any]:
    return {
        name: {"questions": len(qs), "articles": len({q.article for q in qs}), "contexts": len({q.context for q in qs})}
        for name, qs in splits.items()
    }


if __name__ == "__main__":
    qs, corpus, _ = load_piaf()
    sp = split(qs, ci_ids())
    print(json.dumps(summary(sp), indent=1))
    print("unmatched contexts:", sum(1 for q in qs if not q.context_id))
    hard_negatives(sp["train"] + sp["dev"], TRAIN_DIR / "hard_negatives.json")
