"""Searches run together; a change holds them back only to apply and publish what it already embedded; other
processes' generations are picked up (server workers, a `rag index add` from a shell)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from index.manifest import read_manifest
from rag.corpus.rwlock import LockUpgradeError, ReadWriteLock
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.models import Document
from rag.settings import Settings


def test_readers_share_the_lock_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    inside = threading.Barrier(3, timeout=5)
    order: list[str] = []

    def reader() -> None:
        with lock.read():
            inside.wait()  # all three readers inside at once, or the barrier times out
            time.sleep(0.2)
            order.append("read")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    with lock.write():
        order.append("write")
    for t in threads:
        t.join()
    assert order == ["read", "read", "read", "write"]


def test_a_waiting_writer_holds_new_readers_back_and_reentry_does_not_deadlock() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    release = threading.Event()

    def first_reader() -> None:
        with lock.read():
            release.wait(5)
            with lock.read():  # re-entered while a writer waits: must not block
                events.append("nested read")

    def writer() -> None:
        with lock.write(), lock.write(), lock.read():  # reentrant, and a writer may read
            events.append("write")

    def late_reader() -> None:
        with lock.read():
            events.append("late read")

    r = threading.Thread(target=first_reader)
    r.start()
    time.sleep(0.05)
    w = threading.Thread(target=writer)
    w.start()
    time.sleep(0.05)
    late = threading.Thread(target=late_reader)
    late.start()
    time.sleep(0.05)
    assert events == []  # the late reader queues behind the waiting writer
    release.set()
    for t in (r, w, late):
        t.join(5)
    assert events == ["nested read", "write", "late read"]


def test_a_reader_cannot_upgrade_to_writer() -> None:
    lock = ReadWriteLock()
    with lock.read(), pytest.raises(LockUpgradeError), lock.write():
        pass
    with lock.write():  # and the lock is still usable
        pass


class SlowEmbedder(HashingEmbedder):
    """Hashing vectors, with passages taking ``delay`` seconds per call (a real model's cost)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.started = threading.Event()

    @property
    def fingerprint(self) -> str:
        return HashingEmbedder().fingerprint

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.started.set()
        time.sleep(self.delay)
        return super().embed_passages(texts)


def test_searches_go_on_while_a_change_embeds_and_never_see_it_before_it_is_published(
    seeds_index: CorpusIndex, settings: Settings
) -> None:
    embedder = SlowEmbedder(delay=1.5)
    index = CorpusIndex.load(settings, embedder)
    writer = threading.Thread(
        target=index.add_documents,
        args=([Document(id="zeta", text="Le projet Zeta installe un supercalculateur à Grenoble.")],),
    )
    before = read_manifest(settings.index_dir).version
    writer.start()
    assert embedder.started.wait(5)
    latencies = []
    while writer.is_alive():
        began = time.perf_counter()
        hits = index.search("supercalculateur Zeta Grenoble", top_k=3, method="lexical")
        latencies.append(time.perf_counter() - began)
        if any(h.document.id == "zeta" for h in hits):
            # seen only once published (the writer thread may still be tidying up after publishing)
            assert read_manifest(settings.index_dir).version != before
        time.sleep(0.01)
    writer.join()
    assert len(latencies) > 10 and max(latencies) < 0.5  # the 1.5 s embedding never held a search back
    assert index.search("supercalculateur Zeta Grenoble", top_k=1, method="lexical")[0].document.id == "zeta"


def test_a_server_serves_what_another_process_published(seeds_index: CorpusIndex, settings: Settings) -> None:
    s = settings.model_copy(update={"refresh_seconds": 0.05})
    serving = CorpusIndex.load(s, HashingEmbedder())
    other = CorpusIndex.load(settings, HashingEmbedder())
    other.add_documents([Document(id="eta", text="Le projet Eta ouvre une école de la donnée à Rennes.")])
    assert "eta" not in serving.documents
    time.sleep(0.06)
    hits = serving.search("école de la donnée à Rennes", top_k=1, method="lexical")
    assert hits[0].document.id == "eta" and serving.version == other.version
    assert not serving.refresh()  # nothing newer: a clock check, then the manifest, then nothing


def test_refresh_is_off_with_zero_and_never_runs_inside_a_search(seeds_index: CorpusIndex, settings: Settings) -> None:
    off = CorpusIndex.load(settings.model_copy(update={"refresh_seconds": 0}), HashingEmbedder())
    on = CorpusIndex.load(settings.model_copy(update={"refresh_seconds": 0.01}), HashingEmbedder())
    CorpusIndex.load(settings, HashingEmbedder()).add_documents([Document(id="theta", text="Theta à Dijon.")])
    time.sleep(0.02)
    assert not off.refresh_due() and not off.refresh() and "theta" not in off.documents
    with on.snapshot():
        assert not on.refresh()  # inside a read: a swap would wait for itself
    time.sleep(0.02)
    assert on.refresh() and "theta" in on.documents
