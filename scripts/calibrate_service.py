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
import os
import random
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from reader_data import PIAF, ci_ids, load_piaf, split_by_passage  # noqa: E402

from eval.metrics import span_scores  # noqa: E402
from eval.piaf_retrieval import open_or_build  # noqa: E402
from rag.answering.answer_service import AnswerService  # noqa: E402
from rag.answering.reading import ReadingAnswerer  # noqa: E402
from rag.settings import Settings  # noqa: E402

THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 19)] + [0.92, 0.94, 0.96, 0.97, 0.98, 0.99, 0.995]
REPORT = ROOT / "eval" / "reports" / "reader-calibration.json"


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
    args = parser.parse_args()
    if args.max_wrong_refusals is not None and args.max_wrong_refusals < 0:
        args.max_wrong_refusals = None

    questions, _, _ = load_piaf(PIAF)
    ci = ci_ids(PIAF)
    parts = split_by_passage(questions, ci)
    extra = [q for q in parts["heldout_ci"] if q.id not in ci]
    random.Random(args.seed).shuffle(extra)
    chosen = parts["dev"] + extra[: args.sample]

    base = Settings()
    settings = base.model_copy(update={"index_dir": ROOT / "data" / f"piaf-index-{base.embedder}", "rerank_depth": 0})
    index = open_or_build(settings, PIAF / "retrieval" / "corpus.jsonl")
    service = AnswerService(index, settings)
    if not isinstance(service.extractive, ReadingAnswerer):
        raise SystemExit("RAG_READER=none: no reader to calibrate")
    reader = ReadingAnswerer(  # threshold 0: always answers, so that every threshold can be scored
        index,
        service.extractive.reader,
        service.sentences,
        threshold=0.0,
        windows=settings.reader_windows,
        max_chars=settings.reader_chars,
    )
    reader.reader.warm_up()
    rows: list[dict[str, Any]] = []
    for n, q in enumerate(chosen, 1):
        hits = index.search(q.question, top_k=30, rerank=False)
        answerable = hits[:5]
        absent = [h for h in hits if h.document.id != q.context_id][:5]
        pos = max((r.reading.relevance for r in reader.read(q.question, answerable)), default=0.0)
        neg = max((r.reading.relevance for r in reader.read(q.question, absent)), default=0.0)
        answer = reader.answer_from_hits(q.question, answerable)
        f1 = span_scores(answer.answer, [a for a, _ in q.answers])[0] if answer.answerable else 0.0
        rows.append({"id": q.id, "pos": pos, "neg": neg, "f1": f1})
        if n % 100 == 0:
            print(f"{n}/{len(chosen)}", file=sys.stderr, flush=True)

    curve = []
    for t in THRESHOLDS:
        curve.append(
            {
                "threshold": t,
                "abstention_recall": round(sum(r["neg"] < t for r in rows) / len(rows), 4),
                "wrong_refusals": round(sum(r["pos"] < t for r in rows) / len(rows), 4),
                "span_f1": round(sum(r["f1"] for r in rows if r["pos"] >= t) / len(rows), 4),
            }
        )
    if args.max_wrong_refusals is not None:
        # the most abstention that keeps answerable questions refused at most this often
        kept = [c for c in curve if c["wrong_refusals"] <= args.max_wrong_refusals]
        chosen_row = kept[-1] if kept else curve[0]
    else:
        reaching = [c for c in curve if c["abstention_recall"] >= args.target]
        chosen_row = reaching[0] if reaching else curve[-1]
    report = {
        "questions": len(rows),
        "from": {"dev": len(parts["dev"]), "held_out_non_ci": min(args.sample, len(extra))},
        "target_recall": args.target,
        "rule": f"highest threshold with wrong refusals <= {args.max_wrong_refusals}"
        if args.max_wrong_refusals is not None
        else f"lowest threshold with abstention recall >= {args.target}",
        "default_threshold": chosen_row["threshold"],
        "chosen": chosen_row,
        "span_f1_without_abstention": round(sum(r["f1"] for r in rows) / len(rows), 4),
        "curve": curve,
    }
    print(f"{'threshold':>9} {'abst. recall':>12} {'wrong refusals':>14} {'span F1':>8}")
    for c in curve:
        print(f"{c['threshold']:9.2f} {c['abstention_recall']:12.3f} {c['wrong_refusals']:14.3f} {c['span_f1']:8.3f}")
    print(f"default threshold: {chosen_row['threshold']} ({len(rows)} held-out questions)")
    if args.dry_run:
        return
    REPORT.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    weights_json = reader.reader.inner.config_path  # type: ignore[attr-defined]
    meta = json.loads(weights_json.read_text(encoding="utf-8"))
    meta["default_threshold"] = chosen_row["threshold"]
    meta["service_calibration"] = {k: v for k, v in report.items() if k != "curve"} | {"report": str(REPORT.name)}
    weights_json.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {REPORT} and the default threshold into {weights_json}")


if __name__ == "__main__":
    main()
