"""The official ``openai`` client against the real server process (uvicorn, the seeds, the hashing embedder)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.servers import free_port, server_env, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Qui préside la CCI Hauts-de-France ?"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
READY_WITHIN = 120.0


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server built from the seeds with the hashing embedder and the echo LLM; stopped after the module."""
    work = tmp_path_factory.mktemp("openai-server")  # the cwd: no developer .env is read
    env = server_env(
        RAG_EMBEDDER="hashing",
        RAG_INDEX_DIR=str(work / "index"),
        RAG_SEEDS_DIR=str(ROOT / "seeds"),
        RAG_EMBED_CACHE_DIR="",
        RAG_LLM_BACKEND="echo",
        RAG_THREADS="1",
    )
    port = free_port()
    log = (work / "server.log").open("wb")
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, url, work / "server.log", READY_WITHIN)
        yield f"{url}/v1"
    finally:
        stop(server)
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
    assert len(deltas) >= (2 if model == "rag-local" else 1)  # a short span answer is one delta
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
