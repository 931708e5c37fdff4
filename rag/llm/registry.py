"""LLM backends by name, as a registry of factories taking the settings (which declare every ``llm_*`` field)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from rag.llm.breaker import CircuitBreaker, GuardedBackend
from rag.llm.echo import EchoBackend
from rag.llm.openai_backend import OpenAIBackend
from rag.llm.protocol import LLMBackend
from rag.registry import Registry
from rag.settings import Settings


def _api_key(settings: Settings) -> str | None:
    key = settings.llm_api_key
    return (key.get_secret_value() if isinstance(key, SecretStr) else key) or None


def _openai(settings: Settings) -> LLMBackend:
    """An :class:`OpenAIBackend` behind a circuit breaker."""
    backend = OpenAIBackend(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=_api_key(settings),
        timeout=settings.llm_timeout,
        deadline=settings.llm_deadline,
    )
    breaker = CircuitBreaker(failure_threshold=settings.llm_breaker_failures, reset_after=settings.llm_breaker_reset)
    return GuardedBackend(backend, breaker)


def _echo(settings: Settings) -> LLMBackend:
    """The deterministic test backend (it reads no setting)."""
    return EchoBackend()


LLM_BACKENDS: Registry[Callable[[Settings], LLMBackend]] = Registry("LLM backend", {"openai": _openai, "echo": _echo})


def get_llm(name: str, settings: Settings) -> LLMBackend:
    """A new backend; it opens no connection until its first call."""
    return LLM_BACKENDS.get(name)(settings)


def configured_llm(settings: Settings) -> LLMBackend | None:
    """The backend named by ``settings.llm_backend``, or ``None`` when no LLM is configured."""
    return get_llm(settings.llm_backend, settings) if settings.llm_backend else None
