"""Optional extras: the packages each optional feature needs, checked before the feature touches anything.

A missing package becomes one :class:`~rag.errors.MissingExtraError` line naming the extra to install (the CLI
prints it and exits 1), never a raw ``ModuleNotFoundError`` traceback halfway through a build.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from rag.errors import MissingExtraError
from rag.settings import Settings

INSTALL_HINT = "pip install 'rag[{extra}]' (or make install-extras)"


def require(extra: str, feature: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` can be imported."""
    missing = [name for name in modules if not _importable(name)]
    if missing:
        raise MissingExtraError(
            f"{feature} needs the {extra} extra ({', '.join(missing)} not installed): "
            + INSTALL_HINT.format(extra=extra)
        )


def load(extra: str, feature: str, module: str) -> ModuleType:
    """Import ``module`` of ``extra``, or raise :class:`MissingExtraError` naming the extra."""
    require(extra, feature, module)
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # installed but broken (a missing shared library, a half-removed package)
        raise MissingExtraError(
            f"{feature} needs the {extra} extra ({module} failed to import: {exc}): " + INSTALL_HINT.format(extra=extra)
        ) from exc


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
        return False


def milvus_modules(uri: str) -> tuple[str, ...]:
    """A ``.db`` URI runs Milvus Lite in process; a server URI needs only the client."""
    return ("pymilvus", "milvus_lite") if uri.endswith(".db") else ("pymilvus",)


def check_configured(settings: Settings) -> None:
    """Fail fast when the configuration names an optional feature whose extra is not installed."""
    if settings.vector_store == "milvus":
        require("milvus", "RAG_VECTOR_STORE=milvus", *milvus_modules(settings.milvus_uri))
