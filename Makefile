# The commands the README and CI both call. `make install` is idempotent and re-runs when pyproject.toml changes.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install llm-server serve test test-fast test-llm lint format bench eval eval-piaf clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	# CPU torch first, from the local wheel: a bare `torch` requirement would pull CUDA packages.
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# llama.cpp's server and a small GGUF model for the `llm` tests (first build ~13 min on 2 cores, then cached).
llm-server: install
	scripts/llama_server.sh >/dev/null

serve: install
	$(VENV)/bin/rag serve

# Everything: unit, contract, slow (real models, real seeds) and llm (real llama-server) tests.
test: install llm-server
	RAG_TEST_REQUIRE_LLM=1 $(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow and not llm"

test-llm: install llm-server
	RAG_TEST_REQUIRE_LLM=1 $(PY) -m pytest -q -m llm

lint: install
	$(VENV)/bin/ruff check rag index api eval tests bench
	$(VENV)/bin/ruff format --check rag index api eval tests bench
	$(VENV)/bin/mypy rag index api

format: install
	$(VENV)/bin/ruff check --fix rag index api eval tests bench
	$(VENV)/bin/ruff format rag index api eval tests bench

bench: install
	$(PY) bench/seeds_bench.py

# The gold-set suite and its regression gate against the committed baseline.
eval: install
	$(VENV)/bin/rag eval --compare eval/reports/baseline.json

eval-piaf: install
	$(VENV)/bin/rag eval piaf

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
