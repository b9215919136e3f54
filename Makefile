# Two commands set everything up on a fresh machine (Python 3.11+ and pip):
#   make demo   run the platform (SQLite, embedded broker, one local worker, the digits demo)
#   make test   run the whole test suite (needs PostgreSQL and Redis on 127.0.0.1, see README)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch 2.13.0 (CPU build) installs from local disk where the machine has it; elsewhere the
# project's own requirement pulls torch from the package index.
$(STAMP): pyproject.toml | $(BIN)/python
	@$(BIN)/python -m pip install --quiet torch==2.13.0 2>/dev/null \
	  || echo "torch 2.13.0 is not available here; installing torch from the package index"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/arena serve

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf var .pytest_cache .ruff_cache
