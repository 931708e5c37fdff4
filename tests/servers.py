"""Real servers for the tests: a free loopback port, an app behind uvicorn in a thread, a server process
waited for and stopped. Shared by the API, OpenAI-client, browser and reliability tests."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from rag.process import free_port, stop

__all__ = ["free_port", "server_env", "serving", "stop", "wait_until_up"]

ROOT = Path(__file__).resolve().parents[1]


def server_env(**overrides: str) -> dict[str, str]:
    """The environment of a server process: this one without any ``RAG_*`` variable, offline, the repository
    importable, then ``overrides``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    env.update(overrides)
    return env


@contextmanager
def serving(app: FastAPI, timeout: float = 30.0) -> Iterator[str]:
    """``app`` behind a real uvicorn server on 127.0.0.1, in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path, within: float, path: str = "/ready") -> None:
    """Poll ``url + path`` until it answers 200; raise ``AssertionError`` with the log's tail if the process
    exits or ``within`` seconds pass first."""
    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the server did not answer {path} within {within:.0f}s: {log.read_text()[-2000:]}")
        time.sleep(0.1)
