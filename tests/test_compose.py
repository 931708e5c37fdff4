"""docker-compose.yml and the Dockerfile: validated by Compose itself (no Docker engine needed), and checked
against the settings the service really reads.

``docker compose config`` (Compose v2) is used when the Docker CLI has it, else ``docker-compose config``
(Compose v1.29, Debian's ``docker-compose`` package, which ``.ci/run`` installs). Without either, the tests
skip, unless ``RAG_TEST_REQUIRE_COMPOSE=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


def compose_command() -> list[str] | None:
    """The Compose CLI available here, v2 first."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    command = compose_command()
    if command is None:
        if os.environ.get("RAG_TEST_REQUIRE_COMPOSE") == "1":
            pytest.fail("RAG_TEST_REQUIRE_COMPOSE=1 but neither `docker compose` nor `docker-compose` is installed")
        pytest.skip("no Compose CLI (apt-get install docker-compose)")
    return command


def config(compose: list[str], *profiles: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``compose config`` for the given profiles, parsed; fails the test with Compose's message if invalid."""
    args = [*compose, "-f", str(COMPOSE)]
    for profile in profiles:
        args += ["--profile", profile]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "LLM_"))}
    result = subprocess.run(
        [*args, "config"], capture_output=True, text=True, cwd=ROOT, env={**clean, **(env or {})}, timeout=60
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)
    return parsed


def test_default_services_are_valid(compose: list[str]) -> None:
    parsed = config(compose)
    services = parsed["services"]
    assert "profiles" not in services["api"]
    for name in set(services) - {"api"}:  # the LLM servers (and any other companion) are opt-in profiles
        assert services[name].get("profiles"), name
    api = services["api"]
    assert Path(api["build"]["context"]).resolve() == ROOT and api["build"]["dockerfile"] == "Dockerfile"
    assert any(str(v.get("target", v) if isinstance(v, dict) else v).split(":")[1] == "/data" for v in api["volumes"])
    assert "/ready" in " ".join(api["healthcheck"]["test"])
    assert api["environment"]["RAG_INDEX_DIR"] == "/data/index"
    assert api["environment"]["RAG_LLM_BACKEND"] == ""  # extractive only unless asked


@pytest.mark.parametrize(
    ("profile", "url", "image"),
    [("llm", "http://llm:8080/v1", "llama.cpp"), ("ollama", "http://ollama:11434/v1", "ollama")],
)
def test_llm_profiles_are_wired_through_rag_llm_base_url(
    compose: list[str], profile: str, url: str, image: str
) -> None:
    parsed = config(compose, profile, env={"RAG_LLM_BACKEND": "openai", "RAG_LLM_BASE_URL": url})
    assert {"api", profile} <= set(parsed["services"])
    assert image in parsed["services"][profile]["image"]
    env = parsed["services"]["api"]["environment"]
    assert env["RAG_LLM_BACKEND"] == "openai" and env["RAG_LLM_BASE_URL"] == url
    if profile == "llm":
        llm = parsed["services"]["llm"]
        assert any("/models" in str(v) for v in llm["volumes"]) and "/models/model.gguf" in llm["command"]


def test_the_default_llm_url_points_at_the_llm_profile(compose: list[str]) -> None:
    env = config(compose)["services"]["api"]["environment"]
    assert env["RAG_LLM_BASE_URL"] == "http://llm:8080/v1"


def test_every_rag_variable_is_a_real_setting() -> None:
    """A typo in a variable name would be silently ignored by the service: catch it here."""
    fields = {name.upper() for name in Settings.model_fields}
    text = COMPOSE.read_text() + DOCKERFILE.read_text()
    used = set(re.findall(r"\bRAG_([A-Z_]+)\b", text)) - {"PUBLISHED_PORT"}  # a Compose-only knob
    assert used, "no RAG_ variables found"
    assert used <= fields, used - fields


def test_dockerfile_installs_cpu_torch_and_serves_with_a_ready_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"--index-url\s+\S*\$TORCH_INDEX_URL", text) and "whl/cpu" in text
    assert "torch==2.13.0" in text
    assert re.search(r"HEALTHCHECK .*\n?.*?/ready", text)
    assert 'CMD ["rag", "serve"]' in text
    for folder in ("rag", "index", "api", "eval", "seeds"):
        assert f"COPY {folder} ./{folder}" in text
    assert "USER rag" in text and "HF_HUB_OFFLINE=1" in text
