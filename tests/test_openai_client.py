"""The official ``openai`` client against the real server process (uvicorn, the seeds, the hashing embedder)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from api.app import create_app
from api.routes import chat
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Qui préside la CCI Hauts-de-France ?"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
READY_WITHIN = 120.0


def chat_app() -> FastAPI:
    """``api.app:create_app()`` with the chat router mounted: the server's factory until ``api/app.py`` mounts it."""
    app = create_app()
    if not _mounts_chat(app):
        app.include_router(chat.router)
    return app


def _mounts_chat(app: FastAPI) -> bool:
    return any(getattr(route, "path", None) == "/v1/chat/completions" for route in app.routes)


def _factory() -> str:
    """The real factory once it mounts the chat router (building the app loads no index), else :func:`chat_app`."""
    real = create_app(Settings(_env_file=None))
    return "api.app:create_app" if _mounts_chat(real) else "tests.test_openai_client:chat_app"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server built from the seeds with the hashing embedder and the echo LLM; stopped after the module."""
    work = tmp_path_factory.mktemp("openai-server")  # the cwd: no developer .env is read
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env.update(
        RAG_EMBEDDER="hashing",
        RAG_INDEX_DIR=str(work / "index"),
        RAG_SEEDS_DIR=str(ROOT / "seeds"),
        RAG_EMBED_CACHE_DIR="",
        RAG_LLM_BACKEND="echo",
        RAG_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    port = _free_port()
    log = (work / "server.log").open("wb")
    command = [sys.executable, "-m", "uvicorn", _factory(), "--factory"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_WITHIN
        while True:
            if server.poll() is not None:
                pytest.fail(f"the server exited ({server.returncode}): {(work / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server was not ready within {READY_WITHIN:.0f}s")
            time.sleep(0.2)
        yield f"{url}/v1"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()


@pytest.fixture
def client(base_url: str) -> Iterator[OpenAI]:
    """The official client, pointed at the service."""
    with OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60) as sdk:
        yield sdk


def test_models(client: OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == ["rag-extractive", "rag-local"]


def test_completion_has_citations(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="rag-extractive",
        messages=MESSAGES,
        extra_body={"top_k": 3},
    )
    assert completion.object == "chat.completion" and completion.choices[0].finish_reason == "stop"
    content = completion.choices[0].message.content or ""
    assert "Philippe Hourdain" in content
    extra = completion.model_extra or {}
    assert extra["answerable"] and not extra["degraded"] and extra["index_version"]
    citations: list[dict[str, Any]] = extra["citations"]
    assert citations and all(f"[{c['n']}]" in content for c in citations)
    assert all(c["quote"] and c["end"] > c["start"] for c in citations)
    assert completion.usage is not None and completion.usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["rag-extractive", "rag-local"])
def test_stream_ends_with_citations(client: OpenAI, model: str) -> None:
    stream = client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        extra_body={"top_k": 3},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 2
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    extra = last.model_extra or {}
    assert extra["citations"] and extra["answer"] and extra["index_version"]
    assert all("citations" not in (c.model_extra or {}) for c in chunks[:-1])
    if model == "rag-extractive":
        assert "".join(deltas) == extra["answer"]


def test_unknown_model_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert caught.value.status_code == 404
    assert isinstance(caught.value.body, dict) and caught.value.body.get("code") == "model_not_found"
