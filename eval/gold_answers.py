"""Gold-set answer check: the extractive answerer over ``eval/gold.jsonl`` and the seed index.

Prints containment on answerable questions, wrong refusals, abstention on unanswerable ones, citation
exactness and median answer length. (The full suite with retrieval metrics and reports is ``rag eval``'s job.)

Run: ``.venv/bin/python eval/gold_answers.py [--verbose]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from eval.metrics import contains_answer
from rag.answering.service import AnswerService
from rag.service import build_index
from rag.settings import Settings
from rag.threads import limit_threads

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--verbose", action="store_true", help="print every miss")
    args = parser.parse_args()
    limit_threads()
    items = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", seeds_dir=ROOT / "seeds")
        index, _ = build_index(settings, settings.seeds_dir)
        service = AnswerService(index, settings)
        found = refused = abstained = exact = cited = 0
        lengths = []
        for item in items:
            answer = service.ask(item["question"])
            for c in answer.citations:
                cited += 1
                exact += index.documents[c.document_id].text[c.start : c.end] == c.quote
            if item["answerable"]:
                lengths.append(len(answer.answer))
                ok = answer.answerable and contains_answer(
                    answer.answer, item["answers"], item.get("answers_all") or ()
                )
                found += ok
                refused += not answer.answerable
            else:
                ok = not answer.answerable
                abstained += ok
            if args.verbose and not ok:
                print(f"MISS {item['id']} [{item['type']}] {item['question']}\n     -> {answer.answer[:200]}")
    answerable = sum(1 for i in items if i["answerable"])
    unanswerable = len(items) - answerable
    print(f"gold: {len(items)} questions ({answerable} answerable, {unanswerable} unanswerable), extractive")
    print(
        f"containment {found / answerable:.3f}  wrong refusals {refused / answerable:.3f}  "
        f"abstention {abstained / unanswerable:.3f}  citations exact {exact}/{cited}  "
        f"median answer {statistics.median(lengths):.0f} chars"
    )


if __name__ == "__main__":
    main()
