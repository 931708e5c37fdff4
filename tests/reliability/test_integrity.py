"""Integrity on load: random corruptions of an index never crash it and never serve a wrong answer.

An index with three generations is built, and the answers of each generation to a few probe queries are
recorded. Each trial damages a copy of it (a bit flipped, a file truncated, zeroed, extended, deleted, or
swapped with another generation's or another file's) and opens it as the server does
(``CorpusIndex.load(fallback=True)``). Allowed outcomes: a typed error (the server's ``/ready`` then answers
503 with the reason), or an index that answers every probe exactly as the generation it reports did. A
crash (any other exception) or an answer that differs from its generation's is a failure.
"""

from __future__ import annotations

import random
import re
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from index.generations import generation_dirs
from index.manifest import MANIFEST
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.errors import IndexReadOnlyError, RagError
from rag.ingest import iter_source, make_document
from tests.reliability import figures
from tests.reliability.conftest import SEEDS, service_settings

pytestmark = pytest.mark.reliability

TRIALS = figures.sized(200, 1000)
API_EVERY = 10
"""Every tenth trial also starts the app on the damaged index and checks ``/ready`` and ``/v1/search``."""
PROBES = [
    "président de la CCI Hauts-de-France",
    "Cité de l'IA entreprises sensibilisées",
    "rIAlity Marseille surface",
    "feuille de route intelligence artificielle Auvergne-Rhône-Alpes",
    "Rouen Normandy Invest soirée",
    "dirigeable rouge de Quimper",
]
KINDS = ["bitflip", "bitflip", "truncate", "zero", "append", "delete", "swap-files", "swap-generation"]

Answers = dict[str, list[tuple[str, float]]]


def answers(index: CorpusIndex) -> Answers:
    """The index's hits (chunk key, score) for every probe."""
    return {q: [(h.chunk.key, round(h.score, 4)) for h in index.search(q, top_k=5)] for q in PROBES}


def build(index_dir: Path) -> dict[str, Answers]:
    """Three generations (the seeds, then two more documents); each version's answers."""
    index = CorpusIndex(service_settings(index_dir), HashingEmbedder())
    index.add_documents(iter_source(SEEDS))
    expected = {index.version: answers(index)}
    for i, text in enumerate(["Le dirigeable rouge de Quimper survole la baie.", "Quimper accueille un port."]):
        index.add_documents([make_document(f"extra-{i}", text)])
        expected[index.version] = answers(index)
    return expected


def corrupt(rng: random.Random, root: Path) -> str:
    """Damage one thing in the index at ``root``; what was done."""
    gens = generation_dirs(root)
    newest = gens[0]
    targets = [root / MANIFEST, *sorted(p for p in newest.iterdir())]
    if rng.random() < 0.2:  # now and then an older generation, which must not matter while the newest is sound
        targets = sorted(p for g in gens[1:] for p in g.iterdir())
    kind = rng.choice(KINDS)
    path = rng.choice(targets)
    data = bytearray(path.read_bytes())
    where = f"{path.relative_to(root)}"
    if kind == "bitflip" and data:
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        return f"bitflip {where}@{at}"
    if kind == "truncate" or not data:
        size = rng.randrange(len(data)) if data else 0
        path.write_bytes(bytes(data[:size]))
        return f"truncate {where} to {size}"
    if kind == "zero":
        at = rng.randrange(len(data))
        length = rng.randint(1, 4096)
        data[at : at + length] = bytes(len(data[at : at + length]))
        path.write_bytes(bytes(data))
        return f"zero {where}@{at}+{length}"
    if kind == "append":
        path.write_bytes(bytes(data) + rng.randbytes(rng.randint(1, 64)))
        return f"append {where}"
    if kind == "delete":
        path.unlink()
        return f"delete {where}"
    if kind == "swap-files":
        other = rng.choice([p for p in targets if p != path] or [path])
        other_data = other.read_bytes()
        other.write_bytes(bytes(data))
        path.write_bytes(other_data)
        return f"swap {where} with {other.relative_to(root)}"
    source = rng.choice([g for g in gens if g != path.parent]) / path.name  # the same file of another generation
    if source.exists():
        shutil.copyfile(source, path)
    return f"replace {where} with {source.relative_to(root)}"


def check(index_dir: Path, expected: dict[str, Answers]) -> str:
    """Open the damaged index as the server does; the outcome. Raises AssertionError on a wrong answer."""
    try:
        index = CorpusIndex.load(service_settings(index_dir), HashingEmbedder(), fallback=True)
    except RagError:
        return "refused"
    assert index.version in expected, f"serves version {index.version}, which was never published"
    assert answers(index) == expected[index.version], f"{index.version} answers differently"
    newest = max(expected, key=lambda v: int(v.split("-")[0]))
    if index.read_only:
        with pytest.raises(IndexReadOnlyError):
            index.add_documents([make_document("late", "Un ajout refusé.")])
        return "earlier generation, read-only"
    if index.load_problem:
        return "recovered"
    return "served" if index.version == newest else "earlier generation"


def check_api(index_dir: Path, expected: dict[str, Answers]) -> None:
    """The app on the damaged index: /ready is 503 with a reason, or 200 and /v1/search answers right."""
    app = create_app(service_settings(index_dir, seeds_dir=index_dir / "no-seeds"))
    with TestClient(app, raise_server_exceptions=False) as client:
        ready = client.get("/ready")
        if ready.status_code == 503:
            assert ready.json()["error"]["message"], ready.json()
            return
        assert ready.status_code == 200, ready.text
        version = ready.json()["index_version"]
        probe = PROBES[0]
        found = client.post("/v1/search", json={"query": probe, "top_k": 5})
        assert found.status_code == 200, found.text
        hits = [(h["chunk"]["id"], round(h["score"], 4)) for h in found.json()["data"]]
        assert hits == expected[version][probe]


def test_random_corruptions_never_crash_or_answer_wrong(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    expected = build(pristine)
    rng = random.Random(1234)
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    wrong: list[str] = []
    began = time.monotonic()
    for trial in range(TRIALS):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(pristine, work)
        what = corrupt(rng, work)
        try:
            outcomes[check(work, expected)] += 1
            if trial % API_EVERY == 0:
                check_api(work, expected)
        except AssertionError as exc:
            wrong.append(f"{what}: {exc}")
        except Exception as exc:
            crashes.append(f"{what}: {type(exc).__name__}: {exc}")
    figures.record(
        "corruption",
        f"corruption: {TRIALS} random corruptions, {len(crashes)} crashes, {len(wrong)} wrong answers "
        f"({', '.join(f'{n} {k}' for k, n in sorted(outcomes.items()))})",
        trials=TRIALS,
        crashes=len(crashes),
        wrong_answers=len(wrong),
        outcomes=dict(outcomes),
        seconds=round(time.monotonic() - began, 1),
        examples=(crashes + wrong)[:10],
    )
    assert not crashes and not wrong, (crashes + wrong)[:5]
    assert outcomes["refused"] + outcomes["earlier generation, read-only"] + outcomes["recovered"] > TRIALS // 4


def test_ready_explains_a_fallback(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    expected = build(index_dir)
    newest = generation_dirs(index_dir)[0]
    (newest / "lexical.jsonl").write_bytes(b"[]\n")
    with TestClient(create_app(service_settings(index_dir))) as client:
        ready = client.get("/ready").json()
        assert ready["status"] == "ready" and "checksum mismatch" in ready["problem"] and ready["read_only"]
        assert ready["index_version"] in expected and not ready["index_version"].startswith("3-")
        refused = client.post("/v1/documents", json={"id": "x", "text": "Un document de plus."})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "index_read_only"
        assert client.post("/v1/search", json={"query": PROBES[0]}).status_code == 200


def test_every_generation_damaged_is_a_503_with_the_reason(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build(index_dir)
    for gen in generation_dirs(index_dir):
        (gen / "documents.jsonl").write_text("{}\n")
    with TestClient(create_app(service_settings(index_dir))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503 and "no earlier generation verifies" in ready.json()["error"]["message"]
        assert client.get("/health").status_code == 200


def test_no_pickle_anywhere() -> None:
    """Index files are FAISS's own format, .npy without objects, JSON; nothing unpickles."""
    sources = [p for d in ("rag", "index", "api") for p in (figures.ROOT / d).rglob("*.py")]
    offending = [
        str(p.relative_to(figures.ROOT))
        for p in sources
        if any(word in p.read_text() for word in ("import pickle", "allow_pickle=True", "torch.load(", "joblib"))
    ]
    assert not offending
    for path in sources:
        for call in re.findall(r"np\.load\((.*)", path.read_text()):
            assert "allow_pickle=False" in call, f"{path}: np.load without allow_pickle=False"
