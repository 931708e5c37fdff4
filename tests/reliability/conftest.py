"""Reliability tests: shared fixtures and the summary of their figures.

Each test records its figure through :mod:`tests.reliability.figures`; the terminal summary below prints
them at the end of the run, whatever the capture mode.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.ingest import iter_source
from rag.settings import Settings
from tests.reliability import figures

SEEDS = figures.ROOT / "seeds"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures the reliability tests recorded in this run."""
    if figures.RECORDED:
        size = "long (RAG_RELIABILITY_LONG=1)" if figures.LONG else "CI-sized"
        terminalreporter.write_sep("=", f"reliability figures, {size}")
        for line in figures.RECORDED:
            terminalreporter.write_line(line)


def service_settings(index_dir: Path, **overrides: object) -> Settings:
    """The service's settings for these tests: hashing embedder, sentence answers (no model), no passage cache,
    no access log."""
    values: dict[str, object] = {
        "index_dir": index_dir,
        "seeds_dir": SEEDS,
        "embedder": "hashing",
        "reader": "none",
        "embed_cache_dir": None,
        "threads": 1,
        "access_log": False,
        **overrides,
    }
    return Settings(**values, _env_file=None)  # type: ignore[arg-type]


@pytest.fixture
def seeds_copy(tmp_path: Path) -> CorpusIndex:
    """The seeds indexed (hashing embedder) in a temporary directory, with the service's settings."""
    index = CorpusIndex(service_settings(tmp_path / "index"), HashingEmbedder())
    index.add_documents(iter_source(SEEDS))
    return index
