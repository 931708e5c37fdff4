"""Calibrate the reader's abstention threshold on held-out PIAF (the dev split) plus unanswerable pairs.

Answerable pairs: each dev question with its gold passage. Unanswerable pairs: the same question with (a) a
passage the project's hybrid retriever ranks in its top 10 that holds no answer string (hard), and (b) a random
passage of another dev article (synthetic). A pair is refused when ``relevance < threshold``. For each threshold:
abstention recall (unanswerable pairs refused), abstention precision (refusals that were unanswerable), wrong
refusals (answerable pairs refused) and answer F1 kept (mean F1 over answerable pairs, refused = 0). The default
threshold is the one with abstention recall >= 0.85 and the fewest wrong refusals (when several, the lowest);
the curve and the choice are written into the weights' json.

Run: ``.venv/bin/python scripts/calibrate_reader.py`` (train_reader.py calls it after exporting).
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from reader_data import TRAIN_DIR, Question, best_scores, ci_ids, hard_negatives, load_piaf, split  # noqa: E402

from rag.reader.inference import DEFAULT_WEIGHTS, E5Reader  # noqa: E402

SEED = 7
TARGET_RECALL = 0.85


def auc(pos: list[float], neg: list[float]) -> float:
    """P(score of a random answerable pair > that of a random unanswerable pair), ties counted half."""
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    rank_sum = 0.0
    i = 0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        avg = (i + j + 1) / 2
        rank_sum += avg * sum(1 for k in range(i, j) if allv[k][1] == 1)
        i = j
    n_pos, n_neg = len(pos), len(neg)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / max(1, n_pos * n_neg)


def calibrate(
    weights: Path,
    dev: list[Question],
    corpus: dict[str, str],
    hard: dict[str, list[str]],
    article_of: dict[str, str],
    reader: E5Reader | None = None,
) -> dict[str, Any]:
    reader = reader or E5Reader(weights)
    reader.warm_up()
    # which relevance score separates answerable from unanswerable pairs better on dev
    aucs = {}
    for mode in ("head", "span-margin"):
        reader.relevance_score = mode
        aucs[mode] = _pairs(reader, dev, corpus, hard, article_of)
    best_mode = max(aucs, key=lambda m: aucs[m][0])
    reader.relevance_score = best_mode
    print(f"relevance AUC by score: { {m: round(a[0], 4) for m, a in aucs.items()} } -> {best_mode}", flush=True)
    answerable, unanswerable, q_pos, q_neg = aucs[best_mode][1]
    return _curves(
        weights, best_mode, {m: round(a[0], 4) for m, a in aucs.items()}, answerable, unanswerable, q_pos, q_neg
    )


def _pairs(
    reader: E5Reader,
    dev: list[Question],
    corpus: dict[str, str],
    hard: dict[str, list[str]],
    article_of: dict[str, str],
) -> tuple[float, Any]:
    rng = random.Random(SEED)
    dev_cids = sorted({q.context_id for q in dev})
    answerable: list[tuple[float, float]] = []  # (relevance, f1)
    unanswerable: list[tuple[float, str]] = []  # (relevance, kind)
    # question level, as the service sees it: max relevance over a small set of passages
    q_pos: list[tuple[float, float]] = []  # gold + hard negative: (max relevance, f1 of the gold reading)
    q_neg: list[float] = []  # hard + random negatives only
    for q in dev:
        hard_c = [c for c in hard.get(q.id, []) if c in article_of][:1]
        rand_c = [c for c in rng.sample(dev_cids, min(5, len(dev_cids))) if article_of[c] != q.article][:1]
        passages = [q.context] + [corpus[c] for c in hard_c + rand_c]
        readings = reader.read(q.question, passages, top_spans=1)
        gold = readings[0]
        pred = q.context[gold.spans[0].start : gold.spans[0].end] if gold.spans else ""
        answerable.append((gold.relevance, best_scores(pred, [t for t, _ in q.answers])[1]))
        kinds = ["hard"] * len(hard_c) + ["random"] * len(rand_c)
        unanswerable.extend((r.relevance, k) for r, k in zip(readings[1:], kinds, strict=True))
        q_pos.append((max(r.relevance for r in readings[: 1 + len(hard_c)]), answerable[-1][1]))
        if len(readings) > 1:
            q_neg.append(max(r.relevance for r in readings[1:]))
    auc_value = auc([r for r, _ in answerable], [r for r, _ in unanswerable])
    return auc_value, (answerable, unanswerable, q_pos, q_neg)


def _curves(
    weights: Path,
    mode: str,
    aucs: dict[str, float],
    answerable: list[tuple[float, float]],
    unanswerable: list[tuple[float, str]],
    q_pos: list[tuple[float, float]],
    q_neg: list[float],
) -> dict[str, Any]:
    curve = []
    for t in [0.005, 0.01, *(t100 / 100 for t100 in range(2, 100, 2)), 0.99, 0.995]:
        refused_neg = sum(1 for r, _ in unanswerable if r < t)
        refused_pos = sum(1 for r, _ in answerable if r < t)
        curve.append(
            {
                "threshold": t,
                "abstention_recall": round(refused_neg / max(1, len(unanswerable)), 4),
                "abstention_recall_hard": round(
                    sum(1 for r, k in unanswerable if r < t and k == "hard")
                    / max(1, sum(1 for _, k in unanswerable if k == "hard")),
                    4,
                ),
                "abstention_precision": round(refused_neg / max(1, refused_neg + refused_pos), 4),
                "wrong_refusals": round(refused_pos / max(1, len(answerable)), 4),
                "answer_f1_kept": round(100 * sum(f for r, f in answerable if r >= t) / max(1, len(answerable)), 2),
            }
        )
    question_curve = []
    for t100 in range(2, 100, 4):
        t = t100 / 100
        refused_neg = sum(1 for r in q_neg if r < t)
        refused_pos = sum(1 for r, _ in q_pos if r < t)
        question_curve.append(
            {
                "threshold": t,
                "abstention_recall": round(refused_neg / max(1, len(q_neg)), 4),
                "abstention_precision": round(refused_neg / max(1, refused_neg + refused_pos), 4),
                "wrong_refusals": round(refused_pos / max(1, len(q_pos)), 4),
                "answer_f1_kept": round(100 * sum(f for r, f in q_pos if r >= t) / max(1, len(q_pos)), 2),
            }
        )
    ok = [c for c in curve if c["abstention_recall"] >= TARGET_RECALL]
    chosen = min(ok, key=lambda c: (c["wrong_refusals"], c["threshold"])) if ok else curve[-1]
    result = {
        "pairs": {
            "answerable": len(answerable),
            "unanswerable_hard": sum(1 for _, k in unanswerable if k == "hard"),
            "unanswerable_random": sum(1 for _, k in unanswerable if k == "random"),
        },
        "score": f"relevance ({mode}: max over windows of sigmoid(relevance head) or of sigmoid(best span - null)); "
        "refuse when below threshold",
        "relevance_score": mode,
        "auc_by_score": aucs,
        "relevance_auc": round(auc([r for r, _ in answerable], [r for r, _ in unanswerable]), 4),
        "relevance_auc_hard": round(auc([r for r, _ in answerable], [r for r, k in unanswerable if k == "hard"]), 4),
        "oracle_f1_no_abstention": round(100 * sum(f for _, f in answerable) / max(1, len(answerable)), 2),
        "curve": curve,
        "question_level": {
            "about": "answerable = {gold, top hard negative}, unanswerable = {hard negative, random passage}; "
            "refuse when the max relevance over the set is below the threshold",
            "auc": round(auc([r for r, _ in q_pos], q_neg), 4),
            "curve": question_curve,
        },
        "default_threshold": chosen["threshold"],
        "default_point": chosen,
        "rule": f"lowest wrong-refusal rate with abstention recall >= {TARGET_RECALL}",
    }
    meta_path = weights.with_suffix(".json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["calibration"] = result
    meta["default_threshold"] = chosen["threshold"]
    meta["relevance_score"] = mode
    meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"calibration: AUC {result['relevance_auc']} (hard {result['relevance_auc_hard']}); default {chosen}")
    for c in curve[::5]:
        print(c)
    return result


def main() -> None:
    questions, corpus, _ = load_piaf()
    splits = split(questions, ci_ids())
    article_of = {q.context_id: q.article for q in questions}
    hard = hard_negatives(splits["train"] + splits["dev"], TRAIN_DIR / "hard_negatives.json")
    calibrate(DEFAULT_WEIGHTS, splits["dev"], corpus, hard, article_of)


if __name__ == "__main__":
    main()
