"""The writer the crash test kills: applies random document changes to an index, logging each one.

Every change is one ``CorpusIndex`` call (the code path of ``POST``/``DELETE /v1/documents`` and of the CLI):
adding (or replacing) one to three documents, or removing one. Before a call the child appends
``begin <json>`` to its log, after the call returns (the acknowledgement) ``ack <json>``, with ``os.write``
on an ``O_APPEND`` descriptor, so what the log says survives a SIGKILL of the child. The parent
(``test_crash.py``) knows from the log which changes were acknowledged and which one, at most, was in flight.

Run alone: ``python tests/reliability/ingest_child.py run --index DIR --seed 3 --ops 40 --log FILE``.
``zygote`` mode imports everything once, then forks one writer per line of JSON read on stdin
(``{"index", "seed", "ops", "log", "ack_early"}``) and answers its pid: a trial then costs a fork, not a
Python start-up. ``--ack-early`` logs the acknowledgement *before* the change, the bug the test must catch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # a single-threaded zygote forks safely
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag.corpus_index import CorpusIndex  # noqa: E402
from rag.embedders.hashing import HashingEmbedder  # noqa: E402
from rag.ingest import make_document  # noqa: E402
from rag.settings import Settings  # noqa: E402

IDS = [f"c{i:02d}" for i in range(24)]
WORDS = [
    "ballon",
    "montgolfière",
    "Quimper",
    "baie",
    "région",
    "entreprise",
    "intelligence",
    "artificielle",
    "données",
    "centre",
    "formation",
    "commune",
    "habitants",
    "conseil",
    "président",
    "projet",
    "chambre",
    "commerce",
    "industrie",
    "innovation",
    "recherche",
    "laboratoire",
    "université",
    "startup",
    "financement",
    "investissement",
    "emploi",
    "territoire",
    "agglomération",
    "métropole",
    "port",
    "navire",
]


def settings_for(index_dir: Path) -> Settings:
    """The settings parent and child share: hashing embedder, small chunks (documents span several)."""
    return Settings(
        index_dir=index_dir,
        embedder="hashing",
        embed_cache_dir=None,
        chunk_tokens=48,
        chunk_overlap=8,
        threads=1,
        _env_file=None,
    )


def text_for(rng: random.Random, doc_id: str) -> str:
    """A few French-looking sentences (one to four chunks of 48 tokens)."""
    sentences = []
    for _ in range(rng.randint(2, 14)):
        words = rng.choices(WORDS, k=rng.randint(5, 14))
        sentences.append(f"{' '.join(words).capitalize()} {rng.randint(1, 9999)}.")
    return f"Document {doc_id}. " + " ".join(sentences)


def sha(text: str) -> str:
    """The digest the log and the checks compare texts by."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def plan(rng: random.Random, present: set[str]) -> dict[str, Any]:
    """The next change, given the ids present: add or replace one to three documents, or remove one."""
    if present and rng.random() < 0.3:
        return {"op": "remove", "id": rng.choice(sorted(present))}
    docs = {doc_id: text_for(rng, doc_id) for doc_id in rng.sample(IDS, rng.randint(1, 3))}
    return {"op": "add", "docs": docs}


def run(index_dir: Path, seed: int, ops: int, log_path: Path, *, ack_early: bool = False) -> None:
    """Apply ``ops`` changes to the published index at ``index_dir``, logging begin/ack lines."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def note(kind: str, change: dict[str, Any]) -> None:
        summary = {"op": change["op"]}
        if change["op"] == "add":
            summary["docs"] = {doc_id: sha(text) for doc_id, text in change["docs"].items()}
        else:
            summary["id"] = change["id"]
        os.write(log, f"{kind} {json.dumps(summary, sort_keys=True)}\n".encode())

    index = CorpusIndex.load(settings_for(index_dir), HashingEmbedder())
    rng = random.Random(seed)
    for _ in range(ops):
        change = plan(rng, set(index.documents))
        note("begin", change)
        if ack_early:
            note("ack", change)
        if change["op"] == "add":
            index.add_documents([make_document(i, t) for i, t in change["docs"].items()])
        else:
            index.remove_document(change["id"])
        if not ack_early:
            note("ack", change)
    os.write(log, b"done\n")
    os.close(log)


def zygote() -> None:
    """Fork a writer per request line on stdin; answer each with the child's pid."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel: no zombies to wait for
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run(
                    Path(request["index"]),
                    request["seed"],
                    request["ops"],
                    Path(request["log"]),
                    ack_early=request.get("ack_early", False),
                )
            except BaseException as exc:
                sys.stderr.write(f"writer failed: {exc!r}\n")
                code = 1
            os._exit(code)
        print(pid, flush=True)


def main() -> None:
    """``run`` one writer, or start a ``zygote``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    one = sub.add_parser("run")
    one.add_argument("--index", type=Path, required=True)
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--ops", type=int, default=10)
    one.add_argument("--log", type=Path, required=True)
    one.add_argument("--ack-early", action="store_true")
    sub.add_parser("zygote")
    args = parser.parse_args()
    if args.mode == "zygote":
        zygote()
    else:
        run(args.index, args.seed, args.ops, args.log, ack_early=args.ack_early)


if __name__ == "__main__":
    main()
