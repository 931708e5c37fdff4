"""How much the span reader reads, and how often the answer is in it: sentence windows against whole chunks.

For the PIAF CI sample (300 questions, hybrid top 5 over all 1,518 passages, the index of ``rag eval piaf``), the
windows the reading answerer would give the reader (``rag.answering.reading.sentence_windows`` at several
character budgets, and the whole chunks) are checked for a reference answer: the share of questions whose answer
lies inside a window, and the mean characters and windows read. No reader runs: this is the ceiling a budget
leaves the reader, and its cost.

Run: ``.venv/bin/python bench/reader_windows.py [--budgets 400,600,900,1200] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.piaf_retrieval import DEFAULT_DATA, load_queries, open_or_build  # noqa: E402
from rag.answering.extractive import ExtractiveAnswerer  # noqa: E402
from rag.answering.question import question_type  # noqa: E402
from rag.answering.reading import ReadingWindow, chunk_windows, sentence_windows  # noqa: E402
from rag.settings import Settings  # noqa: E402


def holds_answer(windows: list[ReadingWindow], answers: list[str]) -> bool:
    """Whether a reference answer (as written, case-insensitive) lies inside one window."""
    texts = [w.text.lower() for w in windows]
    return any(a.lower() in t for a in answers if a for t in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="400,600,900,1200")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--no-dense", action="store_true", help="rank sentences without their vectors (no sentence embeddings)"
    )
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]

    base = Settings()
    settings = base.model_copy(update={"index_dir": ROOT / "data" / f"piaf-index-{base.embedder}", "reader": "none"})
    index = open_or_build(settings, DEFAULT_DATA / "corpus.jsonl")
    scorer = ExtractiveAnswerer(index, dense_candidates=0 if args.no_dense else 10)
    queries, _ = load_queries(DEFAULT_DATA, False)
    rows: dict[str, dict[str, list[float]]] = {
        name: {"hit": [], "chars": [], "windows": []} for name in [*(f"sentences {b}" for b in budgets), "chunks"]
    }
    for q in queries:
        question = str(q["text"])
        answers = [str(a) for a in q["answers"]]
        hits = index.search(question, top_k=5, method="hybrid")
        candidates = scorer.candidates(question, hits, question_type(question))
        layouts = {f"sentences {b}": sentence_windows(candidates, b) for b in budgets}
        layouts["chunks"] = chunk_windows(hits)
        for name, windows in layouts.items():
            rows[name]["hit"].append(float(holds_answer(windows, answers)))
            rows[name]["chars"].append(float(sum(w.end - w.start for w in windows)))
            rows[name]["windows"].append(float(len(windows)))
    report = {
        name: {
            "answer_inside": round(statistics.fmean(r["hit"]), 4),
            "mean_chars": round(statistics.fmean(r["chars"]), 1),
            "mean_windows": round(statistics.fmean(r["windows"]), 2),
        }
        for name, r in rows.items()
    }
    print(f"{'layout':<16} {'answer inside':>13} {'mean chars':>10} {'windows':>8}  ({len(queries)} PIAF CI questions)")
    for name, r in report.items():
        print(f"{name:<16} {r['answer_inside']:13.3f} {r['mean_chars']:10.1f} {r['mean_windows']:8.2f}")
    if args.json:
        out = {"questions": len(queries), "dense": not args.no_dense, "layouts": report}
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
