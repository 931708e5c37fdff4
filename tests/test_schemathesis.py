"""Property-based API conformance: schemathesis against the in-process ASGI app and its own OpenAPI document.

Every operation of ``/openapi.json`` is fuzzed with positive and negative data (the examples, coverage and
fuzzing phases) with every built-in check on: no 5xx, every status code and content type documented,
response bodies and headers matching the schema, invalid data rejected and valid data accepted. The run is
reproducible (``derandomize=True``, no example database) and bounded: read operations get
``READ_EXAMPLES`` generated examples each, the document writes (each one publishes an index generation on
disk) ``WRITE_EXAMPLES``. Everything runs twice: without authentication, and with API keys configured and
the admin key sent as ``Authorization: Bearer``.

The schemas are loaded from ``app.openapi()`` at import (building the app loads nothing); the seeds index
(hashing embedder) is built once per module by a fixture and handed to both apps before their first request.
schemathesis's lazy ``from_fixture`` loader is not used: it relies on a pytest attribute pytest 9 removed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from pydantic import SecretStr

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency: pip install -e '.[dev]'")

from schemathesis import BaseSchema, Case, CheckContext, Response  # noqa: E402
from schemathesis.checks import CheckFunction  # noqa: E402
from schemathesis.core.failures import Failure  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method  # noqa: E402

from api.app import create_app  # noqa: E402
from rag.corpus_index import CorpusIndex  # noqa: E402
from rag.embedders.hashing import HashingEmbedder  # noqa: E402
from rag.ingest import iter_source  # noqa: E402
from rag.settings import Settings  # noqa: E402

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SMALL_GOLD = Path(__file__).resolve().parent / "data" / "gold_small.jsonl"
"""What ``POST /v1/eval`` runs when no items are posted: four items, not the whole gold set, per request."""
ADMIN_KEY = "schemathesis-admin-key"
QUERY_KEY = "schemathesis-query-key"
READ_EXAMPLES = 30
"""Generated examples per read operation (search, ask, chat, listings…), per configuration."""
WRITE_EXAMPLES = 20
"""Generated examples per document write (``POST``/``DELETE /v1/documents``), per configuration."""
MIN_CASES = 500
"""Requests the whole module must have sent (both configurations, every phase)."""
GUARD_EXAMPLES = 5
"""Generated examples per operation sent without a key (401) or with a query-only key to a write (403)."""
WRITES_PATH = r"^/v1/documents"
WRITE_METHODS = ["POST", "DELETE"]
# The body-size guard answers 413 before the body is parsed, so an oversized invalid body is rightly a 413.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
HYPOTHESIS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)

DOMAIN_REJECTIONS = {
    (422, "invalid_query", "only stopwords"),  # a question of only stopwords or punctuation: nothing to search
    (422, "invalid_request", "the last user message is empty"),  # a chat whose question is empty
    (422, "invalid_request", "at least one user message"),  # a chat without a question
    (422, "invalid_request", "the last message must be from the user"),  # a chat that asks nothing
    (400, "invalid_source", "unsupported file type"),  # an upload that is not .txt, .md, .html, .pdf or .docx
    (400, "invalid_source", "no text found in the file"),  # a well-formed file with nothing to read (a blank PDF page)
    (400, "invalid_source", "file is empty"),  # an upload of zero bytes or only whitespace
}
"""(status, error code, message part) of the answers to schema-valid but meaningless requests: rules JSON
Schema cannot state, so ``positive_data_acceptance`` lets exactly these through."""

CASES: Counter[str] = Counter()
"""Requests sent, per ``configuration METHOD /path``."""
FAILED: Counter[str] = Counter()
"""Cases that failed a check, per ``configuration METHOD /path`` (for the figure ``test_enough_cases`` records)."""


def _settings(index_dir: Path, api_keys: str | None = None) -> Settings:
    """The service's settings: hashing embedder, the echo LLM (generative mode served, in process), no passage
    cache, one thread, no access log, a four-item default gold set for ``POST /v1/eval``."""
    return Settings(
        index_dir=index_dir,
        seeds_dir=SEEDS,
        embedder="hashing",
        embed_cache_dir=None,
        threads=1,
        access_log=False,
        llm_backend="echo",
        eval_gold=SMALL_GOLD,
        api_keys=SecretStr(api_keys) if api_keys else None,
        _env_file=None,
    )


# The index is injected by `_served` before the first request, so these paths are never read or written.
OPEN_APP = create_app(_settings(Path("unused-open-index")))
KEYED_APP = create_app(_settings(Path("unused-keyed-index"), f"{ADMIN_KEY}:admin,{QUERY_KEY}:query"))


def _schema(app: FastAPI, headers: dict[str, str] | None = None) -> BaseSchema:
    """``app``'s OpenAPI document as a schemathesis schema whose cases are sent to ``app`` in process, with
    every check enabled and ``headers`` on every request (the checks' own follow-up requests included)."""
    config = schemathesis.Config.from_dict(
        {
            "headers": headers or {},
            # POST /v1/eval runs every posted question (up to 300) before it answers.
            "request-timeout": 120,
            "checks": {"enabled": True, "negative_data_rejection": {"expected-statuses": REJECTED}},
        }
    )
    schema = schemathesis.openapi.from_dict(app.openapi(), config=config)
    schema.app = app
    return schema


open_api = _schema(OPEN_APP)
keyed_api = _schema(KEYED_APP, {"Authorization": f"Bearer {ADMIN_KEY}"})
anonymous_api = _schema(KEYED_APP)
query_key_api = _schema(KEYED_APP, {"Authorization": f"Bearer {QUERY_KEY}"})


@pytest.fixture(scope="module")
def _served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hand each app its own seeds index (hashing embedder) in a temporary directory; print the case counts."""
    for name, app in (("open", OPEN_APP), ("keyed", KEYED_APP)):
        config = _settings(tmp_path_factory.mktemp(f"schemathesis-{name}") / "index")
        index = CorpusIndex(config, HashingEmbedder())
        index.add_documents(iter_source(SEEDS))
        app.state.index_state.index = index
    yield
    for label, count in sorted(CASES.items()):
        print(f"schemathesis: {count:4d} cases  {label}")
    print(f"schemathesis: {sum(CASES.values())} cases in total")


def _domain_rejection(response: Response) -> bool:
    """Whether ``response`` is a rejection of a schema-valid request the service means (see DOMAIN_REJECTIONS)."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(
        response.status_code == status and error.get("code") == code and part in str(error.get("message"))
        for status, code, part in DOMAIN_REJECTIONS
    )


def positive_data_acceptance_or_domain_rule(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """schemathesis's ``positive_data_acceptance``, letting the documented domain rejections through."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if _domain_rejection(response):
            return None
        raise


def _run(case: Case, configuration: str, *, routed_after_auth: bool = False) -> None:
    """Send ``case`` to its app and run every check on the response.

    ``routed_after_auth``: the request is refused by the guard (401/403), which answers before routing, so
    an undeclared method gets that refusal rather than a 405 and ``unsupported_method`` does not apply.
    """
    CASES[f"{configuration} {case.operation.label}"] += 1
    excluded: list[CheckFunction] = [positive_data_acceptance]
    if routed_after_auth:
        excluded.append(unsupported_method)
    try:
        case.call_and_validate(excluded_checks=excluded, additional_checks=[positive_data_acceptance_or_domain_rule])
    except BaseException:
        FAILED[f"{configuration} {case.operation.label}"] += 1
        raise


@open_api.exclude(path_regex=WRITES_PATH, method=WRITE_METHODS).parametrize()
@settings(HYPOTHESIS, max_examples=READ_EXAMPLES)
def test_reads_open(case: Case, _served: None) -> None:
    """Every read operation, no authentication."""
    _run(case, "open")


@keyed_api.exclude(path_regex=WRITES_PATH, method=WRITE_METHODS).parametrize()
@settings(HYPOTHESIS, max_examples=READ_EXAMPLES)
def test_reads_keyed(case: Case, _served: None) -> None:
    """Every read operation with API keys configured, as the admin."""
    _run(case, "keyed")


@open_api.include(path_regex=WRITES_PATH, method=WRITE_METHODS).parametrize()
@settings(HYPOTHESIS, max_examples=WRITE_EXAMPLES)
def test_writes_open(case: Case, _served: None) -> None:
    """Document writes (each publishes an index generation), no authentication."""
    _run(case, "open")


@keyed_api.include(path_regex=WRITES_PATH, method=WRITE_METHODS).parametrize()
@settings(HYPOTHESIS, max_examples=WRITE_EXAMPLES)
def test_writes_keyed(case: Case, _served: None) -> None:
    """Document writes with API keys configured, as the admin."""
    _run(case, "keyed")


@anonymous_api.parametrize()
@settings(HYPOTHESIS, max_examples=GUARD_EXAMPLES)
def test_without_a_key(case: Case, _served: None) -> None:
    """API keys configured, none sent: every guarded operation documents the 401 it answers."""
    _run(case, "anonymous", routed_after_auth=True)


@query_key_api.include(path_regex=WRITES_PATH, method=WRITE_METHODS).parametrize()
@settings(HYPOTHESIS, max_examples=GUARD_EXAMPLES)
def test_writes_with_a_query_key(case: Case, _served: None) -> None:
    """A query-only key on the document writes: they document the 403 they answer."""
    _run(case, "query-key", routed_after_auth=True)


def test_enough_cases(request: pytest.FixtureRequest) -> None:
    """The module as a whole sent at least ``MIN_CASES`` requests (checked only after a full run)."""
    fuzzers = {"test_reads_open", "test_reads_keyed", "test_writes_open", "test_writes_keyed"}
    selected = {getattr(item, "originalname", item.name) for item in request.session.items}
    if not fuzzers <= selected:
        pytest.skip("only part of the module was selected")
    assert sum(CASES.values()) >= MIN_CASES, dict(CASES)
    from tests.reliability import figures

    figures.record(
        "schemathesis",
        f"schemathesis: {sum(CASES.values())} cases over {len({k.split(' ', 1)[1] for k in CASES})} operations, "
        f"every check, derandomized: {sum(FAILED.values())} failing (5xx, undocumented status, schema mismatch)",
        cases=sum(CASES.values()),
        failing=dict(FAILED),
    )
