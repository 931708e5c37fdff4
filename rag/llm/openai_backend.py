"""A client for any OpenAI-compatible ``/v1/chat/completions`` server (llama-server, Ollama, vLLM, OpenAI)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator, Iterator
from typing import Any, Unpack

import httpx
from pydantic import SecretStr

from rag.llm.deadline import CALL, deadline_transport
from rag.llm.errors import LLMBadResponse, LLMMalformedResponse, LLMTimeout, LLMUnavailable
from rag.llm.protocol import Call, sampling

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A non-streamed answer (or one SSE line) larger than this is refused as a bad response."""
ERROR_BODY_BYTES = 4096
"""How much of an error answer is read to report the server's message."""


class OpenAIBackend:
    """Chat completions over HTTP, whole or streamed (server-sent events).

    ``timeout`` is the connect timeout and, for streams, the inactivity (read) timeout; ``deadline`` is the
    total wall-clock budget of one call. Every socket operation's timeout is clamped to the budget left
    (:class:`DeadlineBackend`), so neither a server that never answers nor one that trickles bytes (the status
    line and headers included) can hold a caller past the deadline; the deadline is also checked after every
    chunk read.

    The API key is sent as ``Authorization: Bearer``; it never appears in ``repr``, logs or error messages.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080/v1",
        model: str = "local",
        api_key: str | SecretStr | None = None,
        *,
        timeout: float = 10.0,
        deadline: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"LLM base URL must be an http(s) URL, got {base_url!r}")
        if timeout <= 0 or deadline <= 0:
            raise ValueError("LLM timeout and deadline must be positive")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.deadline = deadline
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._api_key = key or None
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url + "/", headers=headers, transport=transport or deadline_transport()
        )

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "None"
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r}, api_key={key})"

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (idempotent)."""
        self._client.close()

    # -- public API -------------------------------------------------------------------------------------------

    def complete(self, messages: list[dict[str, str]], **options: Unpack[Call]) -> str:
        """``choices[0].message.content`` of a non-streamed completion; never empty."""
        payload = self._payload(messages, *sampling(options), stream=False)
        body = b"".join(self._body(payload, self._budget(options.get("deadline")), stream=False))
        return _content_of(_parse_json(body, "completion"))

    def stream(self, messages: list[dict[str, str]], **options: Unpack[Call]) -> Iterator[str]:
        """The ``choices[0].delta.content`` pieces of a streamed completion, until ``data: [DONE]``.

        The request starts on the first ``next()``. Comments (``: keep-alive``), blank lines and other SSE
        fields are skipped; a server that ignores ``stream`` and answers plain JSON yields its content at once.
        """
        payload = self._payload(messages, *sampling(options), stream=True)
        budget = self._budget(options.get("deadline"))
        content_type: list[str] = []
        chunks = self._body(payload, budget, stream=True, content_type=content_type)
        try:
            first = next(chunks, b"")
            if content_type and content_type[0].startswith("application/json"):
                yield _content_of(_parse_json(first + b"".join(chunks), "completion"))
                return
            yield from _parse_sse(_lines(_prepend(first, chunks)))
        finally:
            chunks.close()  # after [DONE] or an early stop by the caller: release the connection now

    # -- internals --------------------------------------------------------------------------------------------

    def _budget(self, deadline: float | None) -> float:
        budget = self.deadline if deadline is None else deadline
        if budget <= 0:
            raise ValueError("deadline must be positive")
        return budget

    def _payload(
        self, messages: list[dict[str, str]], temperature: float, max_tokens: int, *, stream: bool
    ) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "stream": stream,
        }

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _body(
        self,
        payload: dict[str, Any],
        budget: float,
        *,
        stream: bool,
        content_type: list[str] | None = None,
    ) -> Generator[bytes, None, None]:
        """The response body in chunks, every read checked against the deadline; errors mapped to LLMError."""
        start = time.monotonic()
        deadline_at = start + budget
        inactivity = min(self.timeout, budget) if stream else budget
        timeout = httpx.Timeout(connect=min(self.timeout, budget), read=inactivity, write=inactivity, pool=budget)
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        received = 0
        outer = getattr(CALL, "deadline", None)
        CALL.deadline = deadline_at
        try:
            with self._client.stream(
                "POST", "chat/completions", json=payload, headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    self._raise_for_status(response, deadline_at)
                if content_type is not None:
                    content_type.append(response.headers.get("content-type", "").lower())
                for chunk in response.iter_bytes():
                    if time.monotonic() > deadline_at:
                        raise LLMTimeout(f"LLM answer not complete within the {budget:g} s deadline")
                    received += len(chunk)
                    if not stream and received > MAX_BODY_BYTES:
                        raise LLMBadResponse(f"LLM answer larger than {MAX_BODY_BYTES} bytes")
                    CALL.deadline = outer
                    yield chunk
                    CALL.deadline = deadline_at  # a stream may be resumed on another thread
        except httpx.TimeoutException as exc:
            if time.monotonic() >= deadline_at - 0.05:
                raise LLMTimeout(f"LLM answer not complete within the {budget:g} s deadline") from None
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise LLMUnavailable(f"LLM server {self.base_url} did not accept a connection") from None
            raise LLMTimeout(f"LLM server sent nothing for {inactivity:g} s") from None
        except httpx.DecodingError as exc:
            raise LLMMalformedResponse(f"LLM answer could not be decoded: {self._redact(str(exc))}") from None
        except httpx.HTTPError as exc:
            log.debug("LLM request to %s failed: %s", self.base_url, type(exc).__name__)
            raise LLMUnavailable(
                f"LLM server {self.base_url} unreachable: {type(exc).__name__}: {self._redact(str(exc))}"
            ) from None
        finally:
            CALL.deadline = outer

    def _raise_for_status(self, response: httpx.Response, deadline_at: float) -> None:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= ERROR_BODY_BYTES or time.monotonic() > deadline_at:
                break
        message = _error_message(body[:ERROR_BODY_BYTES])
        detail = f"LLM server answered HTTP {response.status_code}" + (f": {self._redact(message)}" if message else "")
        if response.status_code >= 500 or response.status_code == 429:
            raise LLMUnavailable(detail)
        raise LLMBadResponse(detail)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _error_message(body: bytes) -> str:
    """The server's error message (``{"error": {"message": ...}}``, ``{"error": "..."}`` or text), one line."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        message = text
    else:
        error = data.get("error", data) if isinstance(data, dict) else data
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    return " ".join(message.split())[:300]


def _parse_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise LLMMalformedResponse(f"LLM {what} is not valid JSON: {body[:120]!r}") from None


def _content_of(data: Any) -> str:
    """``choices[0].message.content`` of a completion object, refusing errors and empty content."""
    if isinstance(data, dict) and data.get("error"):
        raise LLMBadResponse(f"LLM server reported an error: {_error_message(json.dumps(data).encode())}")
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMBadResponse("LLM completion has no choices[0].message.content") from None
    if not isinstance(content, str) or not content.strip():
        raise LLMBadResponse("LLM completion is empty")
    return content


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """UTF-8 lines of a byte stream (``\\n`` or ``\\r\\n``), a character split across chunks kept whole."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            yield _decode_line(raw)
        if len(buffer) > MAX_BODY_BYTES:
            raise LLMBadResponse(f"LLM stream line longer than {MAX_BODY_BYTES} bytes")
    if buffer:
        yield _decode_line(buffer)


def _decode_line(raw: bytes) -> str:
    try:
        return raw.rstrip(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        raise LLMMalformedResponse(f"LLM stream line is not UTF-8: {raw[:120]!r}") from None


def _parse_sse(lines: Iterator[str]) -> Iterator[str]:
    """Content deltas of OpenAI-style server-sent events; one JSON object per ``data:`` line."""
    produced = finished = False
    for line in lines:
        if not line or line.startswith(":"):  # event separator or comment (keep-alive)
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "error":  # llama-server reports a failure mid-stream as an `error:` event
            raise LLMBadResponse(f"LLM server reported an error: {_error_message(value.encode())}")
        if field != "data":  # event:, id:, retry:
            continue
        if value.strip() == "[DONE]":
            finished = True
            break
        event = _parse_json(value.encode(), "stream event")
        if not isinstance(event, dict):
            raise LLMBadResponse(f"LLM stream event is not an object: {value[:120]!r}")
        if event.get("error"):
            raise LLMBadResponse(f"LLM server reported an error: {_error_message(value.encode())}")
        choices = event.get("choices")
        if not choices:  # e.g. a final usage-only chunk
            continue
        if not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise LLMBadResponse(f"LLM stream event has malformed choices: {value[:120]!r}")
        delta = choices[0].get("delta") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content:
            produced = True
            yield content
        if choices[0].get("finish_reason"):
            finished = True
    if not finished:
        raise LLMUnavailable("LLM stream ended before data: [DONE]")
    if not produced:
        raise LLMBadResponse("LLM completion is empty")
