# callcontrol — `make help` lists the targets.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# llama-cpp-python is built from source; skipping the multimodal (llava) part saves ~15 %.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast check bench eval eval-postcall eval-intents load clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[models,dev]"
	@touch $@

install: $(VENV)/.installed ## create .venv and install callcontrol, its bundled models and the dev tools

run: install ## start the service on its embedded defaults (SQLite, in-process bus, local Qdrant)
	$(BIN)/callcontrol serve

test: install ## install what the tests need, then run the whole suite
	$(BIN)/pytest

test-fast: install ## unit tests only (no models, no browser)
	$(BIN)/pytest -m "not integration and not browser and not slow"

check: install ## ruff (lint + format check) and mypy --strict on callcontrol/, the fakes and the unit tests
	$(BIN)/ruff check callcontrol tests
	$(BIN)/ruff format --check callcontrol tests
	$(BIN)/mypy

bench: install ## run the benchmarks (BENCH=name… for some); JSON in bench-results/
	$(BIN)/python -m tests.bench $(BENCH)

eval: install ## answer quality + caller-side latency on spoken questions (make eval EVAL="--path direct --limit 5")
	$(BIN)/python -m tests.eval $(EVAL)

eval-postcall: install ## post-call extraction precision/recall on annotated calls → bench-results/
	$(BIN)/python -m tests.eval.postcall --out bench-results/postcall-$$(date -u +%Y%m%dT%H%M%SZ).json

eval-intents: install ## scripted flows: spoken yes/no, numbers, dates, choices read right → bench-results/
	$(BIN)/python -m tests.eval.intents --out bench-results/intents-$$(date -u +%Y%m%dT%H%M%SZ).json

load: install ## sipp load test: make load TARGET=host:port RATE=1 CALLS=10
	$(BIN)/python -m tests.load.run --target "$(TARGET)" --rate "$(or $(RATE),1)" --calls "$(or $(CALLS),10)"

clean: ## remove the virtualenv and local state
	rm -rf $(VENV) var bench-results .pytest_cache .mypy_cache .ruff_cache
