"""LLM backends by name, as a plain dict of factories taking the settings.

The ``llm_*`` settings are read with :func:`getattr` and defaults, so this module works with a
:class:`~rag.settings.Settings` that does not declare them (yet).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from rag.errors import UnknownComponentError
from rag.llm.breaker import CircuitBreaker, GuardedBackend
from rag.llm.echo import EchoBackend
from rag.llm.openai_backend import OpenAIBackend
from rag.llm.protocol import LLMBackend
from rag.settings import Settings

DEFAULT_BASE_URL = "http://127.0.0.1:8080/v1"
DEFAULT_MODEL = "local"
DEFAULT_TIMEOUT = 10.0
DEFAULT_DEADLINE = 20.0
DEFAULT_BREAKER_FAILURES = 3
DEFAULT_BREAKER_RESET = 30.0


def _api_key(settings: Settings) -> str | None:
    key = getattr(settings, "llm_api_key", None)
    if isinstance(key, SecretStr):
        key = key.get_secret_value()
    return key or None


def _openai(settings: Settings) -> LLMBackend:
    """An :class:`OpenAIBackend` behind a circuit breaker."""
    backend = OpenAIBackend(
        base_url=getattr(settings, "llm_base_url", DEFAULT_BASE_URL),
        model=getattr(settings, "llm_model", DEFAULT_MODEL),
        api_key=_api_key(settings),
        timeout=float(getattr(settings, "llm_timeout", DEFAULT_TIMEOUT)),
        deadline=float(getattr(settings, "llm_deadline", DEFAULT_DEADLINE)),
    )
    breaker = CircuitBreaker(
        failure_threshold=int(getattr(settings, "llm_breaker_failures", DEFAULT_BREAKER_FAILURES)),
        reset_after=float(getattr(settings, "llm_breaker_reset", DEFAULT_BREAKER_RESET)),
    )
    return GuardedBackend(backend, breaker)


def _echo(settings: Settings) -> LLMBackend:
    """The deterministic test backend (it reads no setting)."""
    return EchoBackend()


LLM_BACKENDS: dict[str, Callable[[Settings], LLMBackend]] = {
    "openai": _openai,
    "echo": _echo,
}


def get_llm(name: str, settings: Settings) -> LLMBackend:
    """A new backend; it opens no connection until its first call."""
    try:
        factory = LLM_BACKENDS[name]
    except KeyError:
        raise UnknownComponentError(
            f"unknown LLM backend {name!r} (known: {', '.join(sorted(LLM_BACKENDS))})"
        ) from None
    return factory(settings)


def configured_llm(settings: Settings) -> LLMBackend | None:
    """The backend named by ``settings.llm_backend``, or ``None`` when no LLM is configured."""
    name = getattr(settings, "llm_backend", None)
    return get_llm(name, settings) if name else None
