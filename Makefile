PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit serve schema bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check modelmux tests benchmarks
	$(BIN)/ruff format --check modelmux tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict modelmux

unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

serve: $(STAMP)
	$(BIN)/modelmux serve $(CONFIG)

schema: $(STAMP)
	$(BIN)/modelmux schema > schemas/modelmux.schema.json

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
