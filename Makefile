# The commands the README and CI both call. `make install` is idempotent and re-runs when pyproject.toml changes.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install serve test test-fast lint format bench eval-piaf clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	# CPU torch first, from the local wheel: a bare `torch` requirement would pull CUDA packages.
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

serve: install
	$(VENV)/bin/rag serve

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check rag index api eval tests bench
	$(VENV)/bin/ruff format --check rag index api eval tests bench
	$(VENV)/bin/mypy rag index api

format: install
	$(VENV)/bin/ruff check --fix rag index api eval tests bench
	$(VENV)/bin/ruff format rag index api eval tests bench

bench: install
	$(PY) bench/seeds_bench.py

eval-piaf: install
	$(PY) eval/piaf_retrieval.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
