"""`rag serve --workers 2`: one port, two processes, one index; a change made through one is served by both, and
connections are shared out evenly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import SEEDS
from .servers import free_port, server_env, wait_until_up


def _pids(root: int) -> set[int]:
    """``root``'s child processes (Linux /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == root:
            out.add(int(stat.parent.name))
    return out


def test_two_workers_serve_one_index_and_see_each_others_changes(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(
        RAG_EMBEDDER="hashing",
        RAG_INDEX_DIR=str(tmp_path / "index"),
        RAG_SEEDS_DIR=str(SEEDS),
        RAG_REFRESH_SECONDS="0.2",
        RAG_DRAIN_SECONDS="0",
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--workers", "2", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(process, url, log, within=120)
        deadline = time.monotonic() + 60
        while len(_pids(process.pid)) < 2:  # multiprocessing may add a helper process: at least two workers
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        text = "Le projet Iota ouvre un centre de calcul quantique à Besançon."
        with httpx.Client(base_url=url, timeout=30) as client:
            created = client.post("/v1/documents", json={"id": "iota", "text": text})
            assert created.status_code in (200, 201), created.text
        time.sleep(0.5)  # past RAG_REFRESH_SECONDS
        seen = set()
        for _ in range(12):  # fresh connections land on either worker
            with httpx.Client(base_url=url, timeout=30) as client:
                hits = client.post("/v1/search", json={"query": "calcul quantique Besançon", "top_k": 1}).json()
                seen.add(hits["data"][0]["chunk"]["document_id"] if hits.get("data") else str(hits))
        assert seen == {"iota"}, seen
        # the parent hands connections out in turn: four keep-alive clients, two on each worker
        clients = [httpx.Client(base_url=url, timeout=30) for _ in range(4)]
        try:
            pids = [c.get("/health").json()["pid"] for c in clients]
            assert sorted(pids.count(p) for p in set(pids)) == [2, 2], pids
            assert [c.get("/health").json()["pid"] for c in clients] == pids  # each connection stays put
        finally:
            for c in clients:
                c.close()
        # a worker killed outright: new connections go to the other one at once, then to its replacement too
        os.kill(pids[0], signal.SIGKILL)
        served: set[int] = set()
        deadline = time.monotonic() + 90
        while not (served - set(pids)):
            assert time.monotonic() < deadline, (served, log.read_text()[-2000:])
            with httpx.Client(base_url=url, timeout=30) as client:
                answer = client.get("/health")
                assert answer.status_code == 200, answer.text
                served.add(answer.json()["pid"])
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_dying_or_dead_worker_is_told_apart_from_a_live_one() -> None:
    from api.workers import exiting

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not exiting(child.pid) and not exiting(os.getpid()) and not exiting(None)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not exiting(child.pid):  # dying, then a zombie until reaped
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        child.kill()
        child.wait()
    assert exiting(child.pid)  # reaped: no such process
