# Two commands set everything up on a fresh machine (Python 3.11+ and pip):
#   make demo   run the platform (SQLite, embedded broker, one local worker, the digits demo)
#   make test   run the whole test suite (needs PostgreSQL and Redis on 127.0.0.1, see README)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system demo test lint bench clean

install: $(STAMP)

# The sandbox needs bubblewrap and setpriv, and (when workers run as root) an unprivileged user
# for participant code; the browser tests need Debian's chromium. Installed here where we are
# root; otherwise the worker refuses to run participant code (see README, "Sandbox").
system:
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap"; \
	    (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null)) \
	    || echo "could not install bubblewrap: participant code will not run (see README)"; \
	  else echo "bubblewrap (bwrap) is missing: install the package 'bubblewrap' (see README)"; fi; \
	fi
	@if ! ldconfig -p 2>/dev/null | grep -q libseccomp.so.2; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing libseccomp2 (the sandbox's system-call filter)"; \
	    (apt-get install -y -qq libseccomp2 >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libseccomp2 >/dev/null)) \
	    || echo "could not install libseccomp2: participant code will not run (see README)"; \
	  else echo "libseccomp2 is missing: install Debian's 'libseccomp2' (see README)"; fi; \
	fi
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (for the browser tests)"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null)) \
	    || echo "could not install chromium: the UI tests will fail (see README, Tests)"; \
	  else echo "chromium is missing: install Debian's 'chromium' for the UI tests (see README)"; fi; \
	fi
	@if ! command -v docker-compose >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing docker-compose (the deployment tests check docker-compose.yml with it)"; \
	    (apt-get install -y -qq docker-compose >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq docker-compose >/dev/null)) \
	    || echo "could not install docker-compose: tests/e2e/test_deploy.py will fail (see README)"; \
	  else echo "docker-compose is missing: install Debian's 'docker-compose' for tests/e2e/test_deploy.py"; fi; \
	fi
	@if [ "$$(id -u)" = 0 ] && ! id arena-sandbox >/dev/null 2>&1; then \
	  useradd --system --no-create-home --shell /usr/sbin/nologin arena-sandbox || true; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch 2.13.0 (CPU build) installs from local disk where the machine has it; elsewhere the
# project's own requirement pulls torch from the package index.
$(STAMP): pyproject.toml | $(BIN)/python
	@$(BIN)/python -m pip install --quiet torch==2.13.0 2>/dev/null \
	  || echo "torch 2.13.0 is not available here; installing torch from the package index"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP) system
	$(BIN)/arena serve

test: $(STAMP) system lint
	$(BIN)/python -m pytest

# lint and format (ruff), and strict types on scoring/ and core/ (mypy, see pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf var .pytest_cache .ruff_cache
