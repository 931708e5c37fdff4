"""Where the span reader loses its answers, and what choosing differently among its readings would win.

Held-out PIAF only (the calibration questions of ``scripts/calibrate_service.py``: the dev split plus 500 other
questions on the CI passages; never the gold set, never the CI-300 questions). Each question is read as the
service reads it (hybrid top 5, sentence windows), once with its own passage and once without it (a near miss).
Every window keeps its relevance (the head), its null-answer margin (``sigmoid(best span - null)``), its best three
spans with their scores and F1 against the references, and its place in the sentence scorer's order. Then:

* **ceilings**: span F1 of the service's choice (the most relevant window's best span) against the best window's
  best span (perfect choice among windows) and the best of any window's top 3 spans (perfect choice of span);
* **selection**: choosing the window (and the abstention) by a logistic regression of the relevance, the span
  score, the null margin, the window's order and its term coverage, two-fold cross-validated, against the relevance
  alone; abstention at the threshold refusing at most 5 % of the answerable questions;
* **cascade**: reading the best sentence's window alone and the others only when its relevance is below
  ``tau`` (figure and date questions always read every window: the figure check and conflicts need them);
* **counted nouns**: how often the noun counted by PIAF's reference answer differs from the one a
  ``combien de <noun>`` question asks for (no model: would a check that they match refuse good answers?).

The readings are saved to ``data/reader-selection.json`` (``--from-rows`` reuses them: ~4 min to collect on 2 cores).
Run: ``.venv/bin/python bench/reader_selection.py [--from-rows] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from calibrate_service import _logit, calibration_questions, logistic, piaf_reader  # noqa: E402
from reader_data import PIAF, load_piaf  # noqa: E402

from eval.metrics import span_scores  # noqa: E402
from rag.analyzer import fold  # noqa: E402
from rag.answering.question import question_type  # noqa: E402
from rag.answering.reading import ReadingAnswerer, figure_units  # noqa: E402
from rag.models import Hit  # noqa: E402
from rag.settings import Settings  # noqa: E402

ROWS = ROOT / "data" / "reader-selection.json"
MAX_WRONG = 0.05
Row = dict[str, Any]


def read_windows(answerer: ReadingAnswerer, question: str, hits: list[Hit], answers: list[str]) -> list[Row]:
    """The windows the service reads for ``question``, each with what the reader found in it (read by the inner
    reader: the service's memo of readings would answer the second scoring with the first's)."""
    inner: Any = answerer.reader.inner  # type: ignore[attr-defined]
    windows, _ = answerer.windows_for(question, hits)
    texts = [w.text for w in windows]
    inner.relevance_score = "head"
    head = inner.read(question, texts)
    inner.relevance_score = "span-margin"
    margin = inner.read(question, texts)
    inner.relevance_score = "head"
    out = []
    for i, (w, h, m) in enumerate(zip(windows, head, margin, strict=True)):
        spans = [
            {"text": w.text[s.start : s.end], "score": s.score, "f1": span_scores(w.text[s.start : s.end], answers)[0]}
            for s in h.spans
        ]
        row = {"i": i, "coverage": w.coverage, "rel": h.relevance, "margin": m.relevance, "chars": len(w.text)}
        out.append({**row, "spans": spans})
    return out


def collect() -> list[Row]:
    dev, others = calibration_questions()
    chosen = dev + others
    index, answerer, _ = piaf_reader()
    answerer.reader.warm_up()
    rows = []
    for n, q in enumerate(chosen, 1):
        hits = index.search(q.question, top_k=30, rerank=False)
        answers = [a for a, _ in q.answers]
        absent = [h for h in hits if h.document.id != q.context_id][:5]
        rows.append(
            {
                "question": q.question,
                "seen": read_windows(answerer, q.question, hits[:5], answers),
                "unseen": read_windows(answerer, q.question, absent, answers),
            }
        )
        if n % 100 == 0:
            print(f"{n}/{len(chosen)}", file=sys.stderr, flush=True)
    return rows


FEATURES = ("rel", "span", "margin", "order", "coverage")


def features(w: Row) -> list[float]:
    return [_logit(w["rel"]), w["spans"][0]["score"], _logit(w["margin"]), w["i"], w["coverage"], 1.0]


def choose(windows: list[Row], score: Any) -> tuple[Row | None, float]:
    """The window ``score`` ranks first (among those with a span) and its score."""
    scored = [(score(w), w) for w in windows if w["spans"]]
    if not scored:
        return None, -math.inf
    s, w = max(scored, key=lambda t: t[0])
    return w, s


def gated(rows: list[Row], score: Any, threshold: float | None = None) -> tuple[float, dict[str, float]]:
    """Span F1 (refused = 0), wrong refusals and abstention recall when the chosen window's score gates."""
    pos = [choose(r["seen"], score) for r in rows]
    neg = [choose(r["unseen"], score)[1] for r in rows]
    if threshold is None:
        threshold = sorted(s for _, s in pos)[int(MAX_WRONG * len(pos))]
    f1 = [w["spans"][0]["f1"] if w is not None and s >= threshold else 0.0 for w, s in pos]
    return threshold, {
        "span_f1": float(np.mean(f1)),
        "wrong_refusals": float(np.mean([s < threshold for _, s in pos])),
        "abstention_recall": float(np.mean([s < threshold for s in neg])),
    }


def fit(rows: list[Row]) -> Any:
    """The logistic window score: P(the window's best span is right), answerable windows against near misses."""
    x, y = [], []
    for r in rows:
        for side in ("seen", "unseen"):
            for w in r[side]:
                if w["spans"]:
                    x.append(features(w))
                    y.append(int(side == "seen" and w["spans"][0]["f1"] >= 0.5))
    weights = logistic(np.array(x), np.array(y, dtype=float))
    return lambda w: float(np.dot(weights, features(w)))


def cross_validated(rows: list[Row], make: Any) -> dict[str, float]:
    order = list(range(len(rows)))
    random.Random(5).shuffle(order)
    folds = [[rows[i] for i in order[::2]], [rows[i] for i in order[1::2]]]
    results = []
    for train, test in ((folds[0], folds[1]), (folds[1], folds[0])):
        score = make(train)
        threshold, _ = gated(train, score)
        results.append(gated(test, score, threshold)[1])
    return {k: round(float(np.mean([r[k] for r in results])), 3) for k in results[0]}


def ceilings(rows: list[Row]) -> dict[str, float]:
    chosen, best_window, best_span = [], [], []
    for r in rows:
        ws = [w for w in r["seen"] if w["spans"]]
        w, _ = choose(ws, lambda w: w["rel"])
        chosen.append(w["spans"][0]["f1"] if w else 0.0)
        best_window.append(max((w["spans"][0]["f1"] for w in ws), default=0.0))
        best_span.append(max((s["f1"] for w in ws for s in w["spans"]), default=0.0))
    return {
        "service_choice": round(float(np.mean(chosen)), 3),
        "best_window_best_span": round(float(np.mean(best_window)), 3),
        "best_of_top3_spans": round(float(np.mean(best_span)), 3),
    }


def cascade(rows: list[Row], threshold: float, taus: list[float | None]) -> list[dict[str, Any]]:
    """Span F1 (gated at the service's threshold) and characters read when the rest is read only below ``tau``
    (None: every window read, as the service does)."""
    out = []
    for tau in taus:
        f1, chars = [], []
        for r in rows:
            ws = r["seen"]
            q = r["question"]
            whole = question_type(q) == "date" or figure_units(q) is not None
            read = ws[:1] if ws and tau is not None and not whole and ws[0]["rel"] >= tau else ws
            chars.append(sum(w["chars"] for w in read))
            w, s = choose(read, lambda w: w["rel"])
            f1.append(w["spans"][0]["f1"] if w is not None and s >= threshold else 0.0)
        out.append({"tau": tau, "span_f1": round(float(np.mean(f1)), 3), "chars": round(float(np.mean(chars)))})
    return out


COUNTED = re.compile(r"\bcombien (?:de |d'|d’)(\w+)", re.IGNORECASE)
NUMBER_NOUN = re.compile(
    r"(\d[\d\s.,]*|\b(?:deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|cent|mille)\b)"
    r"\s*(?:de |d'|d’)?([A-Za-zÀ-ÿ]+)",
    re.IGNORECASE,
)


def counted_nouns() -> dict[str, int]:
    """For PIAF's ``combien de <noun>`` questions: does the noun after the reference answer's number match?"""
    questions, _, _ = load_piaf(PIAF)
    same = other = none = 0
    for q in questions:
        asked = COUNTED.search(q.question)
        if not asked:
            continue
        text, at = q.answers[0]
        found = NUMBER_NOUN.search(q.context[at : at + len(text) + 25])
        if not found:
            none += 1
        elif fold(found.group(2))[:5] == fold(asked.group(1))[:5]:
            same += 1
        else:
            other += 1
    return {"same_noun": same, "other_noun": other, "no_counted_noun": none}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from-rows", action="store_true", help=f"reuse the readings saved in {ROWS}")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.from_rows:
        rows = json.loads(ROWS.read_text(encoding="utf-8"))
    else:
        rows = collect()
        ROWS.parent.mkdir(parents=True, exist_ok=True)
        ROWS.write_text(json.dumps(rows) + "\n", encoding="utf-8")
    threshold = Settings().reader_threshold
    if threshold is None:
        from rag.reader.inference import E5Reader

        threshold = E5Reader(Settings().reader_weights).threshold
    result = {
        "questions": len(rows),
        "ceilings": ceilings(rows),
        "selection": {
            "relevance (the service)": cross_validated(rows, lambda _: lambda w: w["rel"]),
            "span score": cross_validated(rows, lambda _: lambda w: w["spans"][0]["score"]),
            "null margin": cross_validated(rows, lambda _: lambda w: w["margin"]),
            "logistic(" + ", ".join(FEATURES) + ")": cross_validated(rows, fit),
        },
        "cascade": cascade(rows, threshold, [0.8, 0.9, 0.95, None]),
        "counted_nouns": counted_nouns(),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
