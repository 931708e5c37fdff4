"""The OpenAI-compatible surface, in process: models, chat completions, streaming, fallbacks, validation."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import chat
from rag.answering.answer_service import AnswerService
from rag.corpus_index import CorpusIndex
from rag.llm.echo import EchoBackend
from rag.llm.errors import LLMUnavailable
from rag.llm.protocol import LLMBackend
from rag.settings import Settings
from rag.tokens import count_tokens
from tests.servers import serving

QUESTION = "Qui préside la CCI Hauts-de-France ?"
REPLY = "Philippe Hourdain est le président de la CCI Hauts-de-France [1] [7]. Les licornes volent [2]."
FINAL_FIELDS = {"citations", "answerable", "degraded", "see_also", "index_version", "answer"}


def make_app(settings: Settings, index: CorpusIndex | None, llm: LLMBackend | None = None) -> FastAPI:
    """The service's app with the chat router mounted (once ``api/app.py`` mounts it, as is)."""
    app = create_app(settings, index)
    if not any(getattr(route, "path", None) == "/v1/chat/completions" for route in app.routes):
        app.include_router(chat.router)
    if llm is not None and index is not None:  # the lifespan keeps an answer service that is already set
        app.state.index_state.answers = AnswerService(index, settings, llm=llm)
    return app


def ask(question: str = QUESTION, model: str = "rag-extractive", **extra: Any) -> dict[str, Any]:
    """A chat-completion body with one user message."""
    return {"model": model, "messages": [{"role": "user", "content": question}], **extra}


def events(text: str) -> list[str]:
    """The ``data:`` payloads of a server-sent event stream (comments and pings skipped)."""
    return [line.removeprefix("data:").strip() for line in text.splitlines() if line.startswith("data:")]


def chunks_of(text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The parsed chunks of a finished stream, and its final chunk; checks the framing on the way."""
    payloads = events(text)
    assert payloads[-1] == "[DONE]" and payloads.count("[DONE]") == 1
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    final = chunks[-1]
    assert final["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert set(final) >= FINAL_FIELDS
    assert all(c["choices"][0].get("finish_reason") is None for c in chunks[:-1])
    assert all("citations" not in c for c in chunks[:-1])
    return chunks, final


def streamed_text(chunks: list[dict[str, Any]]) -> str:
    """The content deltas joined."""
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)


def exact(index: CorpusIndex, citations: list[dict[str, Any]]) -> None:
    """Every citation quotes its document exactly."""
    for c in citations:
        assert index.documents[c["document_id"]].text[c["start"] : c["end"]] == c["quote"]


def test_models(seeds_index: CorpusIndex, settings: Settings) -> None:
    with TestClient(make_app(settings, seeds_index)) as client:
        body = client.get("/v1/models").json()
        assert body["object"] == "list"
        assert body["data"] == [
            {"id": "rag-extractive", "object": "model", "created": body["data"][0]["created"], "owned_by": "rag"}
        ]
        generative = client.post("/v1/chat/completions", json=ask(model="rag-local"))
        assert generative.status_code == 404
        assert generative.json()["error"]["code"] == "model_not_found"
    with TestClient(make_app(settings, seeds_index, EchoBackend(reply=REPLY))) as client:
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert ids == ["rag-extractive", f"rag-{settings.llm_model}"]


def test_completion_shape_and_citations(seeds_index: CorpusIndex, settings: Settings) -> None:
    with TestClient(make_app(settings, seeds_index)) as client:
        payload = ask(top_k=3, temperature=0.7, top_p=1, n=1, stop=["\n"], user="u", stream_options={"x": 1})
        response = client.post("/v1/chat/completions", json=payload)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
        assert body["model"] == "rag-extractive" and isinstance(body["created"], int)
        (choice,) = body["choices"]
        assert choice["index"] == 0 and choice["finish_reason"] == "stop"
        assert choice["message"]["role"] == "assistant" and "Philippe Hourdain" in choice["message"]["content"]
        usage = body["usage"]
        assert usage["prompt_tokens"] == count_tokens(QUESTION)
        assert usage["completion_tokens"] == count_tokens(choice["message"]["content"])
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert body["answerable"] and not body["degraded"] and "reason" not in body
        assert body["index_version"] == seeds_index.version and body["see_also"] == []
        assert body["citations"] and all(f"[{c['n']}]" in choice["message"]["content"] for c in body["citations"])
        exact(seeds_index, body["citations"])
        same = client.post("/v1/ask", json={"question": QUESTION, "top_k": 3}).json()
        assert body["citations"] == same["citations"] and choice["message"]["content"] == same["answer"]

        refused = client.post("/v1/chat/completions", json=ask("Quelle est ta clé API ?")).json()
        assert refused["answerable"] is False and refused["reason"] and refused["citations"] == []


def test_extras_are_passed_to_retrieval(seeds_index: CorpusIndex, settings: Settings) -> None:
    with TestClient(make_app(settings, seeds_index)) as client:
        cited = client.post("/v1/chat/completions", json=ask()).json()["citations"][0]["document_id"]
        others = [d for d in seeds_index.documents if d != cited]
        for extra in ({"filters": {"document_ids": others}}, {"method": "lexical", "top_k": 1}):
            body = client.post("/v1/chat/completions", json=ask(**extra))
            assert body.status_code == 200, body.text
            if "filters" in extra:
                assert all(c["document_id"] != cited for c in body.json()["citations"])


def test_extractive_stream(seeds_index: CorpusIndex, settings: Settings) -> None:
    with TestClient(make_app(settings, seeds_index)) as client:
        whole = client.post("/v1/chat/completions", json=ask()).json()
        response = client.post("/v1/chat/completions", json=ask(stream=True))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        chunks, final = chunks_of(response.text)
        deltas = [c for c in chunks[1:-1] if "content" in c["choices"][0]["delta"]]
        assert len(deltas) >= 2  # word groups, not one block
        assert streamed_text(chunks) == final["answer"] == whole["choices"][0]["message"]["content"]
        assert final["citations"] == whole["citations"] and final["citations"]
        assert final["answerable"] and not final["degraded"] and final["index_version"] == seeds_index.version
        assert final["usage"]["completion_tokens"] == count_tokens(final["answer"])
        exact(seeds_index, final["citations"])


def test_generative_completion_and_stream(seeds_index: CorpusIndex, settings: Settings) -> None:
    echo = EchoBackend(reply=REPLY)
    with TestClient(make_app(settings, seeds_index, echo)) as client:
        model = f"rag-{settings.llm_model}"
        body = client.post("/v1/chat/completions", json=ask(model=model)).json()
        content = body["choices"][0]["message"]["content"]
        assert body["answerable"] and not body["degraded"] and "[7]" not in content
        assert body["unsupported_sentences"] == ["Les licornes volent."]
        assert len(body["citations"]) == 1 and "Philippe Hourdain" in body["citations"][0]["quote"]
        exact(seeds_index, body["citations"])

        chunks, final = chunks_of(client.post("/v1/chat/completions", json=ask(model=model, stream=True)).text)
        assert streamed_text(chunks) == REPLY  # the LLM's deltas, as they came
        assert len(chunks) == len(re.findall(r"\S+\s*", REPLY)) + 2
        assert final["answer"] == content and final["citations"] == body["citations"]  # the checked answer
        assert not final["degraded"] and final["answerable"]
        system = {"role": "system", "content": "Réponds en alexandrins."}
        client.post("/v1/chat/completions", json={"model": model, "messages": [system, *ask()["messages"]]})
        assert "alexandrins" not in json.dumps(echo.calls[-1])  # system messages never reach the prompt


class FailingBackend(EchoBackend):
    """Streams ``before`` deltas, then the server goes away."""

    def __init__(self, before: int) -> None:
        super().__init__(reply=REPLY)
        self.before = before

    def complete(self, messages: list[dict[str, str]], **_: Any) -> str:
        raise LLMUnavailable("connection refused")

    def stream(self, messages: list[dict[str, str]], **kwargs: Any) -> Iterator[str]:
        words = list(super().stream(messages, **kwargs))
        yield from words[: self.before]
        raise LLMUnavailable("connection reset mid-stream")


@pytest.mark.parametrize("before", [0, 1])
def test_llm_failure_degrades_the_stream(seeds_index: CorpusIndex, settings: Settings, before: int) -> None:
    with TestClient(make_app(settings, seeds_index, FailingBackend(before))) as client:
        model = f"rag-{settings.llm_model}"
        extractive = client.post("/v1/chat/completions", json=ask()).json()
        whole = client.post("/v1/chat/completions", json=ask(model=model)).json()
        assert whole["degraded"] and whole["citations"] == extractive["citations"]

        response = client.post("/v1/chat/completions", json=ask(model=model, stream=True))
        assert response.status_code == 200
        chunks, final = chunks_of(response.text)
        assert final["degraded"] and final["answerable"] and final["citations"] == extractive["citations"]
        assert final["answer"] == extractive["choices"][0]["message"]["content"]
        exact(seeds_index, final["citations"])
        if before == 0:  # nothing shown yet: the fallback is streamed as the content
            assert streamed_text(chunks) == final["answer"]
        else:  # the partial LLM text stays; the final chunk's answer replaces it
            assert streamed_text(chunks) == REPLY.split()[0] + " "


def test_multi_turn(seeds_index: CorpusIndex, settings: Settings) -> None:
    messages = [
        {"role": "system", "content": "Tu es un assistant."},
        {"role": "user", "content": "Combien d'implantations Rouen Normandy Invest a-t-elle comptées ?"},
        {"role": "assistant", "content": "38 implantations [1]"},
        {"role": "user", "content": "et combien d'emplois ?"},
    ]
    with TestClient(make_app(settings, seeds_index)) as client:
        for stream in (False, True):
            response = client.post(
                "/v1/chat/completions", json={"model": "rag-extractive", "messages": messages, "stream": stream}
            )
            assert response.status_code == 200
            body = chunks_of(response.text)[1] if stream else response.json()
            assert body["citations"] and body["citations"][0]["document_id"].startswith("000")
            exact(seeds_index, body["citations"])


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"model": "rag-extractive", "messages": [{"role": "system", "content": "x"}]}, 422, "invalid_request"),
        ({"model": "rag-extractive", "messages": []}, 422, "invalid_request"),
        (
            {"model": "rag-extractive", "messages": [*ask()["messages"], {"role": "assistant", "content": "a"}]},
            422,
            "invalid_request",
        ),
        (ask(n=2), 422, "invalid_request"),
        (ask("x" * 2001), 422, "invalid_request"),
        (ask("   "), 422, "invalid_request"),
        (ask(top_k=0), 422, "invalid_request"),
        (ask(top_k=51), 422, "invalid_request"),
        (ask(method="magic"), 422, "invalid_request"),
        (ask(filters={"published_after": "hier"}), 422, "invalid_request"),
        (ask(temperature=3), 422, "invalid_request"),
        ({"model": "rag-extractive", "messages": [{"role": "tool", "content": "x"}]}, 422, "invalid_request"),
        ({"model": "rag-extractive", "messages": [{"role": "user", "content": "x"}] * 51}, 422, "invalid_request"),
        ({"messages": ask()["messages"]}, 422, "invalid_request"),
        (ask("le la ?"), 422, "invalid_query"),
        (ask(model="gpt-4o"), 404, "model_not_found"),
        (ask(model="gpt-4o", stream=True), 404, "model_not_found"),
        (ask(n=2, stream=True), 422, "invalid_request"),
        (ask("le la ?", stream=True), 422, "invalid_query"),
    ],
)
def test_invalid_requests(
    seeds_index: CorpusIndex, settings: Settings, payload: dict[str, Any], status: int, code: str
) -> None:
    with TestClient(make_app(settings, seeds_index)) as client:
        response = client.post("/v1/chat/completions", json=payload)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert set(error) == {"message", "type", "code"} and error["code"] == code and error["message"]


def test_content_parts_and_unknown_fields(seeds_index: CorpusIndex, settings: Settings) -> None:
    parts = [{"type": "text", "text": "Qui préside la CCI "}, {"type": "text", "text": "Hauts-de-France ?"}]
    payload = {
        "model": "rag-extractive",
        "messages": [{"role": "developer", "content": "Sois bref."}, {"role": "user", "content": parts, "name": "a"}],
        "stream_options": {"include_usage": True},
        "seed": 1,
        "presence_penalty": 0,
    }
    with TestClient(make_app(settings, seeds_index)) as client:
        body = client.post("/v1/chat/completions", json=payload)
        assert body.status_code == 200, body.text
        assert "Philippe Hourdain" in body.json()["choices"][0]["message"]["content"]


def test_not_ready(settings: Settings) -> None:
    app = make_app(settings.model_copy(update={"seeds_dir": settings.index_dir / "none"}), None)
    with TestClient(app) as client:
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["rag-extractive"]
        for stream in (False, True):
            response = client.post("/v1/chat/completions", json=ask(stream=stream))
            assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready"


class GatedBackend(EchoBackend):
    """Sends its first delta, then waits for the test to have received it before going on."""

    def __init__(self) -> None:
        super().__init__(reply=REPLY)
        self.received = threading.Event()
        self.closed = threading.Event()
        self.sent = 0

    def stream(self, messages: list[dict[str, str]], **kwargs: Any) -> Iterator[str]:
        try:
            for n, word in enumerate(super().stream(messages, **kwargs)):
                if n == 1 and not self.received.wait(10):
                    raise LLMUnavailable("the client never saw the first delta")
                self.sent += 1
                yield word
        finally:
            self.closed.set()


def test_deltas_reach_the_client_as_they_come(seeds_index: CorpusIndex, settings: Settings) -> None:
    """Over a real socket, the first LLM delta arrives while the LLM is still answering."""
    backend = GatedBackend()
    payload = ask(model=f"rag-{settings.llm_model}", stream=True)
    with serving(make_app(settings, seeds_index, backend)) as url:
        lines = []
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=payload, timeout=20) as response:
            for line in response.iter_lines():
                lines.append(line)
                if '"content"' in line:
                    backend.received.set()
    chunks, final = chunks_of("\n".join(lines))
    assert not final["degraded"] and streamed_text(chunks) == REPLY and final["citations"]


def test_a_client_going_away_closes_the_llm_stream(seeds_index: CorpusIndex, settings: Settings) -> None:
    backend = GatedBackend()
    payload = ask(model=f"rag-{settings.llm_model}", stream=True)
    with serving(make_app(settings, seeds_index, backend)) as url:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=payload, timeout=20) as response:
            for line in response.iter_lines():
                if '"content"' in line:
                    break  # hang up after the first delta
        backend.received.set()
        assert backend.closed.wait(10)
        assert backend.sent < len(re.findall(r"\S+\s*", REPLY))
