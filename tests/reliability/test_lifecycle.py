"""Graceful lifecycle, with real ``rag serve`` processes on 127.0.0.1.

SIGTERM while slow generative answers are in flight: ``/ready`` turns 503 (``draining``) at once, requests
are still served during the drain, every in-flight request completes with 200, and the process exits 0.
Starting on a foreign, unreadable or missing index gives a 503 ``/ready`` that says why, while the process
stays up (``/health`` 200): no crash loop. The servers' logs never contain the API keys.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.ingest import iter_source
from tests.reliability import figures
from tests.reliability.conftest import SEEDS, service_settings
from tests.reliability.fake_llm import FakeLLM, wait_for
from tests.servers import free_port, wait_until_up

pytestmark = pytest.mark.reliability

KEY = "lifecycle-admin-key-6b2f90d1"
DRAIN = 1.5
LLM_DELAY = 3.0
IN_FLIGHT = 4


@contextmanager
def rag_serve(work: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``python -m rag.cli serve`` with the hashing embedder and ``env``; (process, base URL, log path)."""
    port = free_port()
    variables = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    variables.update(
        HF_HUB_OFFLINE="1",
        RAG_EMBEDDER="hashing",
        RAG_EMBED_CACHE_DIR="",
        RAG_THREADS="1",
        RAG_SEEDS_DIR=str(SEEDS),
        RAG_API_KEYS=f"{KEY}:admin",
        RAG_DRAIN_SECONDS=str(DRAIN),
        PYTHONPATH=str(figures.ROOT),
    )
    variables.update(env)
    log = work / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
            cwd=work,
            env=variables,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process, f"http://127.0.0.1:{port}", log
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def test_sigterm_drains_then_completes_every_request_in_flight(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    CorpusIndex(service_settings(index_dir), HashingEmbedder()).add_documents(iter_source(SEEDS))
    auth = {"authorization": f"Bearer {KEY}"}
    results: list[tuple[str, int, dict[str, Any], float]] = []
    llm = FakeLLM(mode="ok", reply="Philippe Hourdain préside la CCI Hauts-de-France.", delay=LLM_DELAY)
    env = {"RAG_INDEX_DIR": str(index_dir), "RAG_LLM_BACKEND": "openai", "RAG_LLM_BASE_URL": llm.base_url}
    with llm as fake, rag_serve(tmp_path, **env, RAG_LLM_DEADLINE="20") as (process, url, log):
        wait_until_up(process, url, log, 90.0, path="/health")
        wait_for(lambda: httpx.get(f"{url}/ready").status_code == 200, 60)

        def slow(kind: str) -> None:
            began = time.monotonic()
            question = "Qui préside la CCI Hauts-de-France ?"
            with httpx.Client(base_url=url, headers=auth, timeout=60) as client:
                if kind == "ask":
                    response = client.post("/v1/ask", json={"question": question, "mode": "generative"})
                    body = response.json()
                else:
                    chat = {"model": "rag-local", "stream": True, "messages": [{"role": "user", "content": question}]}
                    response = client.post("/v1/chat/completions", json=chat)
                    body = json.loads([ln[5:] for ln in response.text.splitlines() if ln.startswith("data:")][-2])
            results.append((kind, response.status_code, body, time.monotonic() - began))

        kinds = ["ask"] * (IN_FLIGHT - 1) + ["chat-stream"]
        threads = [threading.Thread(target=slow, args=(kind,)) for kind in kinds]
        for thread in threads:
            thread.start()
        wait_for(lambda: fake.calls == IN_FLIGHT, 30)  # every request is waiting on the LLM
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        wait_for(lambda: httpx.get(f"{url}/ready").status_code == 503, 2)
        turned = time.monotonic() - sent
        draining = httpx.get(f"{url}/ready").json()["error"]
        during = httpx.post(f"{url}/v1/search", json={"query": "CCI"}, headers=auth, timeout=10)
        for thread in threads:
            thread.join(60)
        code = process.wait(30)
        exited = time.monotonic() - sent
    logged = log.read_text()
    completed = sum(status == 200 and not body.get("degraded") for _, status, body, _ in results)
    figures.record(
        "sigterm",
        f"SIGTERM with {IN_FLIGHT} slow requests in flight: {completed}/{IN_FLIGHT} completed with 200, /ready 503 "
        f"after {turned:.2f} s, requests still served while draining, exit code {code} after {exited:.1f} s "
        f"(drain {DRAIN:g} s)",
        in_flight=IN_FLIGHT,
        completed=completed,
        exit_code=code,
        ready_503_after_s=round(turned, 2),
        exit_after_s=round(exited, 1),
    )
    assert draining["code"] == "draining" and during.status_code == 200
    assert len(results) == IN_FLIGHT and completed == IN_FLIGHT, results
    assert code == 0, logged[-2000:]
    assert exited >= DRAIN
    assert KEY not in logged


@pytest.mark.parametrize("case", ["foreign-format", "other-embedder", "not-a-directory", "missing-no-seeds"])
def test_a_bad_index_is_a_clear_503_not_a_crash_loop(tmp_path: Path, case: str) -> None:
    index_dir = tmp_path / "index"
    env = {"RAG_INDEX_DIR": str(index_dir)}
    if case == "foreign-format":
        index_dir.mkdir()
        (index_dir / "manifest.json").write_text(json.dumps({"format_version": 99, "generation": 1}))
        expected = "format version 99"
    elif case == "other-embedder":
        CorpusIndex(service_settings(index_dir), HashingEmbedder(dim=128)).add_documents(iter_source(SEEDS))
        expected = "built with embedder"
    elif case == "not-a-directory":
        index_dir.write_text("not an index")
        expected = "is not a directory"
    else:
        env["RAG_SEEDS_DIR"] = str(tmp_path / "no-seeds")
        expected = "no such file or folder"
    with rag_serve(tmp_path, **env) as (process, url, log):
        wait_until_up(process, url, log, 90.0, path="/health")
        wait_for(lambda: httpx.get(f"{url}/ready").status_code == 503, 30)
        time.sleep(1.0)
        ready = httpx.get(f"{url}/ready")
        message = ready.json()["error"]["message"]
        assert process.poll() is None and httpx.get(f"{url}/health").status_code == 200  # up, not looping
        assert ready.status_code == 503 and expected in message, message
        refused = httpx.post(f"{url}/v1/search", json={"query": "CCI"}, headers={"authorization": f"Bearer {KEY}"})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_ready"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert KEY not in log.read_text()
    shown = message.replace(str(tmp_path), "…")[:100]
    figures.record(
        f"startup_{case.replace('-', '_')}",
        f'start with a bad index ({case}): /ready 503 "{shown}", /health 200, exit 0 on SIGTERM',
    )
