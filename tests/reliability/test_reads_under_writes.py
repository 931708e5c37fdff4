"""Consistent reads under writes: readers query a real server while a writer adds and deletes documents.

Over HTTP (uvicorn on 127.0.0.1, the seeds index with the hashing embedder), three readers loop on
``/v1/search``, ``/v1/ask`` and ``GET /v1/documents`` while one writer adds documents and deletes earlier
ones, each acknowledged with the index version it published. Checked afterwards: no error at all; the
version each reader sees never goes backwards; a read that started after a deletion was acknowledged, or that
reports a version at or after the deletion's, never shows the deleted document; and a read that started
after a write was acknowledged reports at least that write's version.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from rag.corpus_index import CorpusIndex
from tests.reliability import figures
from tests.servers import serving

pytestmark = pytest.mark.reliability

SECONDS = figures.sized(5.0, 15.0)
READERS = 3
MARKER = "zorglub"
"""A word only the writer's documents contain, so that searches find them."""


@dataclass
class Read:
    """One reader request: when it started and ended, the version it reported, the documents it showed."""

    kind: str
    started: float
    ended: float
    status: int
    version: int = -1
    documents: set[str] = field(default_factory=set)


@dataclass
class Write:
    """One acknowledged write."""

    kind: str
    doc_id: str
    acknowledged: float
    status: int
    version: int = -1


def generation(version: str) -> int:
    """The generation number of an index version (``"12-ab34…"`` → 12)."""
    return int(version.split("-", 1)[0])


def reader(url: str, stop: threading.Event, reads: list[Read], seed: int) -> None:
    """Search, ask and list documents until ``stop``."""
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            kind = rng.choice(["search", "ask", "list"])
            started = time.monotonic()
            try:
                if kind == "search":
                    response = client.post("/v1/search", json={"query": f"{MARKER} document", "top_k": 50})
                elif kind == "ask":
                    response = client.post("/v1/ask", json={"question": f"Que dit le document {MARKER} ?"})
                else:
                    response = client.get("/v1/documents", params={"limit": 500})
            except httpx.HTTPError:
                reads.append(Read(kind, started, time.monotonic(), 0))
                continue
            read = Read(kind, started, time.monotonic(), response.status_code)
            if response.status_code == 200:
                body = response.json()
                read.version = generation(body["index_version"])
                if kind == "search":
                    read.documents = {hit["chunk"]["document_id"] for hit in body["data"]}
                elif kind == "ask":
                    read.documents = {c["document_id"] for c in body["citations"]}
                else:
                    read.documents = {d["id"] for d in body["data"]}
            reads.append(read)


def writer(url: str, stop: threading.Event, writes: list[Write]) -> None:
    """Add documents, and delete an earlier one every other time, until ``stop``."""
    rng = random.Random(7)
    live: list[str] = []
    n = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            n += 1
            doc_id = f"rw-{n:05d}"
            text = f"Le document {MARKER} numéro {n} parle du ballon {rng.randint(1, 10**6)} de la baie de Quimper."
            response = client.post("/v1/documents", json={"id": doc_id, "text": text})
            write = Write("add", doc_id, time.monotonic(), response.status_code)
            if response.status_code == 201:
                write.version = generation(response.json()["index_version"])
                live.append(doc_id)
            writes.append(write)
            if len(live) > 5 and rng.random() < 0.5:
                victim = live.pop(rng.randrange(len(live)))
                response = client.delete(f"/v1/documents/{victim}")
                write = Write("delete", victim, time.monotonic(), response.status_code)
                if response.status_code == 200:
                    write.version = generation(response.json()["index_version"])
                writes.append(write)


def violations(reads_by_reader: list[list[Read]], writes: list[Write]) -> dict[str, list[str]]:
    """Errors, versions going backwards, deleted documents seen again, acknowledged writes not yet seen."""
    found: dict[str, list[str]] = {"errors": [], "backwards": [], "reappeared": [], "stale": []}
    found["errors"] += [f"{w.kind} {w.doc_id}: {w.status}" for w in writes if w.status not in (200, 201)]
    deletions = [w for w in writes if w.kind == "delete"]
    for reads in reads_by_reader:
        last = -1
        for r in reads:
            if r.status != 200:
                found["errors"].append(f"{r.kind}: {r.status}")
                continue
            if r.version < last:
                found["backwards"].append(f"{r.kind}: version {r.version} after {last}")
            last = max(last, r.version)
            for d in deletions:
                if d.doc_id in r.documents and (r.started > d.acknowledged or r.version >= d.version):
                    found["reappeared"].append(
                        f"{r.kind} (version {r.version}) shows {d.doc_id} deleted in {d.version}"
                    )
            acked = [w.version for w in writes if w.acknowledged < r.started and w.version >= 0]
            if acked and r.version < max(acked):
                found["stale"].append(f"{r.kind}: version {r.version} after {max(acked)} was acknowledged")
    return found


def test_reads_stay_consistent_while_documents_change(seeds_copy: CorpusIndex, tmp_path: Path) -> None:
    app = create_app(seeds_copy.settings, seeds_copy)
    reads_by_reader: list[list[Read]] = [[] for _ in range(READERS)]
    writes: list[Write] = []
    stop = threading.Event()
    with serving(app) as url:
        threads = [threading.Thread(target=writer, args=(url, stop, writes))]
        threads += [threading.Thread(target=reader, args=(url, stop, reads_by_reader[i], i)) for i in range(READERS)]
        for thread in threads:
            thread.start()
        time.sleep(SECONDS)
        stop.set()
        for thread in threads:
            thread.join(60)
    found = violations(reads_by_reader, writes)
    reads = [r for rs in reads_by_reader for r in rs]
    adds = sum(w.kind == "add" for w in writes)
    seen_deleted = sum(1 for r in reads for w in writes if w.kind == "delete" and w.doc_id in r.documents)
    figures.record(
        "reads_under_writes",
        f"reads under writes: {SECONDS:g} s, {len(reads)} reads, {adds} adds + {len(writes) - adds} deletes, "
        f"{len(found['errors'])} errors, {len(found['backwards'])} versions backwards, "
        f"{len(found['reappeared'])} deleted documents seen again",
        seconds=SECONDS,
        reads=len(reads),
        writes=len(writes),
        reads_showing_a_document_before_its_deletion=seen_deleted,
        **{k: len(v) for k, v in found.items()},
        examples={k: v[:3] for k, v in found.items() if v},
    )
    assert not any(found.values()), {k: v[:3] for k, v in found.items() if v}
    assert len(writes) >= 10 and len(reads) >= 30 and seen_deleted > 0  # the documents were really visible


def test_the_checker_sees_a_reappearance() -> None:
    """The checks themselves: a deleted document shown by a later read, and a version going back, are caught."""
    writes = [Write("add", "a", 1.0, 201, 2), Write("delete", "a", 2.0, 200, 3)]
    reads = [[Read("search", 2.5, 2.6, 200, 3, {"a"}), Read("search", 2.7, 2.8, 200, 2)]]
    found = violations(reads, writes)
    assert found["reappeared"] and found["backwards"] and found["stale"]
