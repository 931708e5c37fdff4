"""LLM isolation: whatever the LLM server does, generative answers degrade to the extractive one, on time.

A fake OpenAI-compatible server on 127.0.0.1 (``fake_llm.py``) answers 500, answers malformed JSON, trickles
one byte per second, resets the connection, or never answers. Every ``/v1/ask`` and ``/v1/chat/completions``
(whole and streamed) in generative mode must answer 200 with ``degraded: true`` and exactly the extractive
answer, within the configured deadline + 0.5 s. After three consecutive failures the circuit breaker opens:
the server is not called again until the breaker half-opens, and one good answer closes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.corpus_index import CorpusIndex
from tests.reliability import figures
from tests.reliability.fake_llm import FakeLLM

pytestmark = pytest.mark.reliability

DEADLINE = 1.0
SLACK = 0.5
QUESTION = "Qui préside la CCI Hauts-de-France ?"
FAILING = ["error500", "malformed", "trickle", "reset", "silent"]
MODEL = "rag-local"


def client_for(index: CorpusIndex, fake: FakeLLM, **overrides: Any) -> TestClient:
    """The app with the OpenAI backend pointed at ``fake``."""
    settings = index.settings.model_copy(
        update={
            "llm_backend": "openai",
            "llm_base_url": fake.base_url,
            "llm_deadline": DEADLINE,
            "llm_timeout": 10.0,  # the deadline, not the per-read timeout, must bound each call
            "llm_breaker_failures": 1000,
            **overrides,
        }
    )
    return TestClient(create_app(settings, index))


def final_chunk(text: str) -> dict[str, Any]:
    """The last chunk of an SSE chat stream (the one with the answer and its verdict)."""
    payloads = [line.removeprefix("data:").strip() for line in text.splitlines() if line.startswith("data:")]
    assert payloads[-1] == "[DONE]", payloads[-3:]
    final: dict[str, Any] = json.loads(payloads[-2])
    return final


def generative_calls(client: TestClient) -> Iterator[tuple[str, float, dict[str, Any]]]:
    """(surface, seconds, {answer, degraded}) for /v1/ask, chat, and streamed chat, in generative mode."""
    chat = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}]}
    for surface in ("ask", "chat", "chat-stream"):
        began = time.monotonic()
        if surface == "ask":
            response = client.post("/v1/ask", json={"question": QUESTION, "mode": "generative"})
        else:
            response = client.post("/v1/chat/completions", json={**chat, "stream": surface == "chat-stream"})
        seconds = time.monotonic() - began
        assert response.status_code == 200, (surface, response.status_code, response.text[:300])
        if surface == "ask":
            body = response.json()
        elif surface == "chat":
            body = {**response.json(), "answer": response.json()["choices"][0]["message"]["content"]}
        else:
            body = final_chunk(response.text)
        yield surface, seconds, body


def test_every_failure_mode_degrades_within_the_deadline(seeds_copy: CorpusIndex) -> None:
    worst: dict[str, float] = {}
    calls = 0
    with FakeLLM() as fake, client_for(seeds_copy, fake) as client:
        extractive = client.post("/v1/ask", json={"question": QUESTION, "mode": "extractive"}).json()["answer"]
        assert "Hourdain" in extractive
        for mode in FAILING:
            fake.mode = mode
            for surface, seconds, body in generative_calls(client):
                reached = fake.calls
                assert body["degraded"] is True, (mode, surface, body)
                assert body["answer"] == extractive, (mode, surface)
                assert seconds <= DEADLINE + SLACK, (mode, surface, seconds)
                worst[f"{mode} {surface}"] = round(seconds, 2)
                calls += 1
            assert reached >= 3 * (FAILING.index(mode) + 1)  # every call did reach the LLM server
        fake.mode = "ok"
        healthy = client.post("/v1/ask", json={"question": QUESTION, "mode": "generative"}).json()
        assert healthy["degraded"] is False
    slowest = max(worst, key=lambda k: worst[k])
    figures.record(
        "llm_isolation",
        f"LLM isolation: {calls} generative calls over {len(FAILING)} failure modes, {calls} × 200 degraded to "
        f"the extractive answer, slowest {worst[slowest]:.2f} s ({slowest}) for a {DEADLINE:g} s deadline",
        deadline=DEADLINE,
        seconds=worst,
    )


@pytest.mark.parametrize("mode", FAILING)
def test_the_breaker_opens_after_three_failures(seeds_copy: CorpusIndex, mode: str) -> None:
    with FakeLLM(mode=mode) as fake, client_for(seeds_copy, fake, llm_breaker_failures=3, llm_breaker_reset=60) as c:
        for _ in range(3):
            assert c.post("/v1/ask", json={"question": QUESTION, "mode": "generative"}).json()["degraded"]
        assert fake.calls == 3
        for surface, seconds, body in generative_calls(c):
            assert body["degraded"] and seconds < 0.5, (surface, seconds)
        assert fake.calls == 3  # open: the server was not called


def test_the_breaker_half_opens_then_closes(seeds_copy: CorpusIndex) -> None:
    ask = {"question": QUESTION, "mode": "generative"}
    breaker = {"llm_breaker_failures": 3, "llm_breaker_reset": 1.0}
    with FakeLLM(mode="error500") as fake, client_for(seeds_copy, fake, **breaker) as c:
        for _ in range(5):
            assert c.post("/v1/ask", json=ask).json()["degraded"]
        assert fake.calls == 3
        time.sleep(1.05)
        assert c.post("/v1/ask", json=ask).json()["degraded"]  # the half-open trial, which fails
        assert fake.calls == 4
        assert c.post("/v1/ask", json=ask).json()["degraded"] and fake.calls == 4  # open again
        fake.mode = "ok"
        time.sleep(1.05)
        assert c.post("/v1/ask", json=ask).json()["degraded"] is False and fake.calls == 5  # the trial succeeds
        assert c.post("/v1/ask", json=ask).json()["degraded"] is False and fake.calls == 6  # closed
    figures.record(
        "breaker",
        "breaker: opens after 3 consecutive failures in each of 5 failure modes (0 calls while open), half-opens "
        "after its reset time for one trial, closes on success",
    )
