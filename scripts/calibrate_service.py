"""Calibrate the service's abstention threshold (``RAG_READER_THRESHOLD``) at question level, as the service
decides it: on the reader's best relevance over what it reads of the top 5 retrieved chunks (the sentence windows
or whole chunks, ``RAG_READER_WINDOWS``).

Held-out PIAF only (never ``eval/gold.jsonl``, never the CI sample): the dev split of ``scripts/reader_data.py``
(articles no training question comes from) plus a fixed sample of the other questions asked about the CI-sample
passages (held out of training; the CI questions themselves excluded). Each question is asked twice against the
PIAF index:

* answerable: the hybrid top 5, as the service retrieves them;
* unanswerable: the top 5 once every chunk of the question's own passage is removed (the other passages are
  what a corpus that lacks the answer offers: hard, on-topic distractors).

For each threshold: abstention recall (unanswerable refused), wrong refusals (answerable refused), span F1 on
all answerable questions (refused = 0). The default is the lowest threshold reaching the target recall; the
curve and the choice go to ``eval/reports/reader-calibration.json`` and into the weights' json
(``default_threshold``, ``service_calibration``).

Run: ``.venv/bin/python scripts/calibrate_service.py [--sample 500] [--target 0.85] [--dry-run]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from reader_data import PIAF, ci_ids, load_piaf, split_by_passage  # noqa: E402

from eval.metrics import span_scores  # noqa: E402
from eval.piaf_retrieval import open_or_build  # noqa: E402
from rag.answering.answer_service import AnswerService  # noqa: E402
from rag.answering.reading import Evidence, ReadingAnswerer  # noqa: E402
from rag.reader.inference import DEFAULT_WEIGHTS, E5Reader  # noqa: E402
from rag.reader.protocol import Abstention  # noqa: E402
from rag.settings import Settings  # noqa: E402

THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 19)] + [0.92, 0.94, 0.96, 0.97, 0.98, 0.99, 0.995]
FINE = [round(0.01 * i, 2) for i in range(1, 100)]
"""Thresholds tried on the combined answerability."""


def paths(weights: Path) -> tuple[Path, Path]:
    """Where the report (committed) and every question's evidence (``data/`` is ignored) go for these weights:
    ``eval/reports/reader-calibration.json`` for the package's, ``reader-calibration-<stem>.json`` for others."""
    suffix = "" if weights.resolve() == DEFAULT_WEIGHTS.resolve() else f"-{weights.stem}"
    return (
        ROOT / "eval" / "reports" / f"reader-calibration{suffix}.json",
        ROOT / "data" / "reader-train" / f"calibration-rows{suffix}.json",
    )


def _relevance(evidence: Evidence) -> float:
    return max((r.reading.relevance for r in evidence.readings), default=0.0)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Logistic regression by Newton's method, L2 on every weight but the last column's (the bias: a column of 1s).
    The weights, one per column of ``x``."""
    w = np.zeros(x.shape[1])
    penalty = np.diag([l2] * (x.shape[1] - 1) + [0.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + penalty @ w
        hess = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w


def fit_abstention(rows: list[dict[str, Any]], l2: float = 1.0) -> Abstention:
    """Logistic regression of answerable (own passage retrieved) against near miss (own passage removed) on two
    features: the logit of the top relevance and the best sentence score."""
    x, y = [], []
    for r in rows:
        for side, label in (("pos", 1.0), ("neg", 0.0)):
            sentence = r[f"{side}_sentence"] if math.isfinite(r[f"{side}_sentence"]) else -20.0
            x.append([_logit(r[side]), sentence, 1.0])
            y.append(label)
    w = logistic(np.array(x), np.array(y), l2)
    return Abstention(relevance_logit=float(w[0]), sentence_score=float(w[1]), bias=float(w[2]))


def _point(rows: list[dict[str, Any]], threshold: float, abstention: Abstention) -> dict[str, Any]:
    """Abstention recall, wrong refusals and span F1 when answers need an answerability >= threshold."""

    def kept(r: dict[str, Any], side: str) -> bool:
        return abstention.probability(r[side], r[f"{side}_sentence"]) >= threshold

    return {
        "threshold": threshold,
        "abstention_recall": round(sum(not kept(r, "neg") for r in rows) / len(rows), 4),
        "wrong_refusals": round(sum(not kept(r, "pos") for r in rows) / len(rows), 4),
        "span_f1": round(sum(r["f1"] for r in rows if kept(r, "pos")) / len(rows), 4),
    }


def _choose(curve: list[dict[str, Any]], max_wrong: float | None, target: float) -> dict[str, Any]:
    if max_wrong is not None:  # the most abstention that keeps answerable questions refused at most this often
        kept = [c for c in curve if c["wrong_refusals"] <= max_wrong]
        return kept[-1] if kept else curve[0]
    reaching = [c for c in curve if c["abstention_recall"] >= target]
    return reaching[0] if reaching else curve[-1]


def cross_validated(
    rows: list[dict[str, Any]], max_wrong: float | None, target: float, seed: int, combine: bool
) -> dict[str, Any]:
    """Two-fold: fit and choose the threshold on one half, measure on the other (both ways, averaged)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    halves = [[rows[i] for i in order[: len(rows) // 2]], [rows[i] for i in order[len(rows) // 2 :]]]
    results = []
    for fit_on, test_on in (halves, halves[::-1]):
        abstention = fit_abstention(fit_on) if combine else Abstention()
        t = _choose([_point(fit_on, t, abstention) for t in FINE], max_wrong, target)["threshold"]
        results.append(_point(test_on, t, abstention))
    return {k: round(sum(r[k] for r in results) / 2, 4) for k in ("abstention_recall", "wrong_refusals", "span_f1")}


def calibration_questions(sample: int = 500, seed: int = 11) -> tuple[list[Any], list[Any]]:
    """The held-out questions calibrated on: the dev split, and ``sample`` other questions on the CI passages (the
    CI questions themselves excluded) in a fixed shuffled order."""
    questions, _, _ = load_piaf(PIAF)
    ci = ci_ids(PIAF)
    parts = split_by_passage(questions, ci)
    extra = [q for q in parts["heldout_ci"] if q.id not in ci]
    random.Random(seed).shuffle(extra)
    return parts["dev"], extra[:sample]


def piaf_reader() -> tuple[Any, ReadingAnswerer, Settings]:
    """The PIAF index (built once under ``data/``), the service's reading answerer over it (no reranking), and the
    settings they run with."""
    base = Settings()
    settings = base.model_copy(update={"index_dir": ROOT / "data" / f"piaf-index-{base.embedder}", "rerank_depth": 0})
    index = open_or_build(settings, PIAF / "retrieval" / "corpus.jsonl")
    answerer = AnswerService(index, settings).extractive
    if not isinstance(answerer, ReadingAnswerer):
        raise SystemExit("RAG_READER=none: no reader to calibrate")
    return index, answerer, settings


def collect(chosen: list[Any], relevance_score: str | None = None) -> list[dict[str, Any]]:
    """Ask each question twice against the PIAF index (own passage retrieved, own passage removed) with no
    gate, and keep what the gate decides on: the top relevance and the best sentence score of each."""
    index, service_reader, settings = piaf_reader()
    reader = ReadingAnswerer(  # no gate: always answers, so that every threshold and floor can be scored
        index,
        service_reader.reader,
        service_reader.sentences,
        threshold=0.0,
        abstention=Abstention(),
        windows=settings.reader_windows,
        max_chars=settings.reader_chars,
    )
    reader.reader.warm_up()
    if relevance_score is not None:  # the relevance head, or the best span against the null answer
        reader.reader.inner.relevance_score = relevance_score  # type: ignore[attr-defined]
    rows: list[dict[str, Any]] = []
    for n, q in enumerate(chosen, 1):
        hits = index.search(q.question, top_k=30, rerank=False)
        answerable = hits[:5]
        absent = [h for h in hits if h.document.id != q.context_id][:5]
        seen = reader.evidence(q.question, answerable)
        unseen = reader.evidence(q.question, absent)
        answer = reader.decide(q.question, answerable, seen, "fr")
        f1 = span_scores(answer.answer, [a for a, _ in q.answers])[0] if answer.answerable else 0.0
        rows.append(
            {
                "id": q.id,
                "pos": _relevance(seen),
                "neg": _relevance(unseen),
                "pos_sentence": seen.best_sentence,
                "neg_sentence": unseen.best_sentence,
                "f1": f1,
            }
        )
        if n % 100 == 0:
            print(f"{n}/{len(chosen)}", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=500, help="held-out (non-CI) questions added to dev")
    parser.add_argument("--target", type=float, default=0.85, help="abstention recall to reach")
    parser.add_argument(
        "--max-wrong-refusals",
        type=float,
        default=0.05,
        help="choose the highest threshold refusing at most this share of answerable questions (default 0.05); "
        "negative: the lowest threshold reaching --target instead",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dry-run", action="store_true", help="print, write nothing")
    parser.add_argument(
        "--abstention",
        choices=["relevance", "relevance+sentence"],
        default="relevance",
        help="what answerability is: the reader's relevance alone (default), or a logistic combination with the "
        "sentence scorer's best score (better on PIAF, whose questions reuse their passage's words, but it refuses "
        "paraphrased questions: see the README)",
    )
    parser.add_argument(
        "--relevance-score",
        choices=["head", "span-margin"],
        help="override the weights' relevance_score: the relevance head, or the best span's score against the "
        "null (CLS) answer's, as Hugging Face's QA heads score it; written into the json with the threshold",
    )
    parser.add_argument("--from-rows", action="store_true", help="refit from the evidence saved by the last run")
    args = parser.parse_args()
    weights = Settings().reader_weights or DEFAULT_WEIGHTS
    report_path, rows_path = paths(weights)
    if args.max_wrong_refusals is not None and args.max_wrong_refusals < 0:
        args.max_wrong_refusals = None

    dev, others = calibration_questions(args.sample, args.seed)
    chosen = dev + others

    if args.from_rows:
        saved = json.loads(rows_path.read_text(encoding="utf-8"))
        if args.relevance_score is not None and args.relevance_score != saved["relevance_score"]:
            raise SystemExit(f"{rows_path} was collected with --relevance-score {saved['relevance_score']}")
        rows, args.relevance_score = saved["rows"], saved["relevance_score"]
    else:
        rows = collect(chosen, args.relevance_score)
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        # the rows remember how relevance was scored, so that a refit writes the threshold with its scoring
        saved = {"relevance_score": args.relevance_score, "rows": rows}
        rows_path.write_text(json.dumps(saved) + "\n", encoding="utf-8")
    alone = Abstention()
    curve = [_point(rows, t, alone) for t in THRESHOLDS]  # the reader's relevance alone
    combine = args.abstention == "relevance+sentence"
    abstention = fit_abstention(rows) if combine else Abstention()
    combined = [_point(rows, t, abstention) for t in FINE]
    chosen_row = _choose(combined, args.max_wrong_refusals, args.target)
    report = {
        "questions": len(rows),
        "from": {"dev": len(dev), "held_out_non_ci": len(others)},
        "target_recall": args.target,
        "rule": f"highest threshold with wrong refusals <= {args.max_wrong_refusals}"
        if args.max_wrong_refusals is not None
        else f"lowest threshold with abstention recall >= {args.target}",
        "abstention": asdict(abstention),
        "default_threshold": chosen_row["threshold"],
        "chosen": chosen_row,
        "cross_validated": cross_validated(rows, args.max_wrong_refusals, args.target, args.seed, combine),
        "combined_alternative": {
            "abstention": asdict(fit_abstention(rows)),
            "cross_validated": cross_validated(rows, args.max_wrong_refusals, args.target, args.seed, True),
        },
        "reader_alone": _choose(curve, args.max_wrong_refusals, args.target),
        "span_f1_without_abstention": round(sum(r["f1"] for r in rows) / len(rows), 4),
        "curve_reader_alone": curve,
        "curve": combined[::5],
    }
    print(f"{'threshold':>9} {'abst. recall':>12} {'wrong refusals':>14} {'span F1':>8}  (reader relevance alone)")
    for c in curve:
        print(f"{c['threshold']:9.2f} {c['abstention_recall']:12.3f} {c['wrong_refusals']:14.3f} {c['span_f1']:8.3f}")
    print(f"answerability = {abstention} (reader relevance and best sentence score)")
    for c in combined[::5]:
        print(f"{c['threshold']:9.2f} {c['abstention_recall']:12.3f} {c['wrong_refusals']:14.3f} {c['span_f1']:8.3f}")
    print(f"chosen: {chosen_row}; two-fold cross-validated: {report['cross_validated']} ({len(rows)} questions)")
    if args.dry_run:
        return
    report_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    weights_json = E5Reader(weights).config_path
    meta = json.loads(weights_json.read_text(encoding="utf-8"))
    meta["default_threshold"] = chosen_row["threshold"]
    meta["abstention"] = report["abstention"]
    if args.relevance_score is not None:
        meta["relevance_score"] = args.relevance_score
    meta["service_calibration"] = {k: v for k, v in report.items() if not k.startswith("curve")} | {
        "report": str(report_path.name)
    }
    weights_json.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {report_path} and the default threshold into {weights_json}")


if __name__ == "__main__":
    main()
