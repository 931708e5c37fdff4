"""A fake OpenAI-compatible chat-completions server on 127.0.0.1, misbehaving on demand.

Modes: ``ok`` (a valid completion, streamed as SSE when asked, after ``delay`` seconds), ``error500``,
``malformed`` (200 with a body that is not JSON), ``trickle`` (a valid answer sent one byte per
``interval`` seconds, status line included), ``reset`` (the connection is reset once the request is read),
``silent`` (the request is read, nothing is ever answered), ``obedient`` (answers with every message it was
sent, the system prompt included: the worst model there is). Every request body received is kept, so a test
can check what reached the LLM.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import struct
import threading
import time
from typing import Any

MODES = ("ok", "error500", "malformed", "trickle", "reset", "silent", "obedient")


class FakeLLM:
    """The server; use as a context manager. ``mode``, ``reply``, ``delay`` can change between requests."""

    def __init__(self, mode: str = "ok", reply: str = "Réponse du faux modèle.", delay: float = 0.0) -> None:
        self.mode = mode
        self.reply = reply
        self.delay = delay
        self.interval = 1.0
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake._handle(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.allow_reuse_address = True
        self._server.server_bind()
        self._server.server_activate()
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def calls(self) -> int:
        """Requests received so far."""
        return len(self.requests)

    def _handle(self, sock: socket.socket) -> None:
        body = _read_request(sock)
        if body is None:
            return
        try:
            self.requests.append(json.loads(body))
        except ValueError:
            self.requests.append({})
        mode, payload = self.mode, self.requests[-1]
        if mode == "silent":
            self._stop.wait(120)
            return
        if mode == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        if mode == "error500":
            sock.sendall(_response(500, b'{"error": {"message": "model crashed"}}'))
            return
        if mode == "malformed":
            sock.sendall(_response(200, b'{"choices": [{"message": {"content": "cut'))
            return
        reply = self.reply
        if mode == "obedient":
            messages = payload.get("messages") or []
            reply = "\n\n".join(f"{m.get('role')}: {m.get('content')}" for m in messages if isinstance(m, dict))
        answer = self._answer(bool(payload.get("stream")), reply)
        if mode == "trickle":
            for byte in answer:
                if self._stop.wait(self.interval):
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up: what the test expects
            return
        if self._stop.wait(self.delay):
            return
        sock.sendall(answer)

    def _answer(self, stream: bool, reply: str) -> bytes:
        if not stream:
            content = {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
            return _response(200, json.dumps(content).encode())
        events = [json.dumps({"choices": [{"index": 0, "delta": {"content": word}}]}) for word in _pieces(reply)]
        chunks = "".join(f"data: {event}\n\n" for event in events) + "data: [DONE]\n\n"
        return _response(200, chunks.encode(), "text/event-stream")


def _pieces(text: str) -> list[str]:
    """``text`` in word-sized deltas (whitespace kept) that join back to it."""
    return re.findall(r"\S+\s*|\s+", text)


def _read_request(sock: socket.socket) -> bytes | None:
    """The body of one HTTP/1.1 request (Content-Length framed), or None if the client went away."""
    data = b""
    sock.settimeout(30)
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            body += chunk
    except OSError:
        return None
    return body


def _response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    reason = {200: "OK", 500: "Internal Server Error"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + body


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
