# Two commands set everything up on a fresh machine (Python 3.11+):
#   make demo   run the platform (SQLite, embedded broker, one local worker, the digits demo);
#               installs what the platform needs to run and nothing for tests
#   make test   run the whole test suite; adds the test extras, chromium and docker-compose, and
#               starts (installs, where root on Debian) PostgreSQL and Redis on their default ports

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev system test-system demo test lint bench clean

install: $(STAMP)
install-dev: $(DEV_STAMP)

# The sandbox needs bubblewrap and setpriv, and (when workers run as root) an unprivileged user
# for participant code. Installed here where we are root on Debian; otherwise `arena serve`
# and `arena worker` say at start what is missing and the command that fixes it.
system:
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap"; \
	    (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null)) \
	    || echo "could not install bubblewrap: participant code will not run (see README)"; \
	  else echo "bubblewrap (bwrap) is missing: sudo apt-get install bubblewrap (see README)"; fi; \
	fi
	@if ! ldconfig -p 2>/dev/null | grep -q libseccomp.so.2; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing libseccomp2 (the sandbox's system-call filter)"; \
	    (apt-get install -y -qq libseccomp2 >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libseccomp2 >/dev/null)) \
	    || echo "could not install libseccomp2: participant code will not run (see README)"; \
	  else echo "libseccomp2 is missing: sudo apt-get install libseccomp2 (see README)"; fi; \
	fi
	@if [ "$$(id -u)" = 0 ] && ! id arena-sandbox >/dev/null 2>&1; then \
	  useradd --system --no-create-home --shell /usr/sbin/nologin arena-sandbox || true; \
	fi

# What only the tests need: Debian's chromium (browser tests), docker-compose (the compose file's
# check), and PostgreSQL and Redis answering on 127.0.0.1 (scripts/test-services.sh).
test-system: system
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (for the browser tests)"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null)) \
	    || echo "could not install chromium: the UI tests will fail (see README, Tests)"; \
	  else echo "chromium is missing: sudo apt-get install chromium (for the UI tests)"; fi; \
	fi
	@if ! command -v docker-compose >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing docker-compose (the deployment tests check docker-compose.yml with it)"; \
	    (apt-get install -y -qq docker-compose >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq docker-compose >/dev/null)) \
	    || echo "could not install docker-compose: tests/e2e/test_deploy.py will fail (see README)"; \
	  else echo "docker-compose is missing: sudo apt-get install docker-compose (tests/e2e/test_deploy.py)"; fi; \
	fi
	@bash scripts/test-services.sh

# python3 -m venv needs ensurepip, which Debian and Ubuntu ship apart (python3-venv)
$(BIN)/python:
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || { \
	  echo "python3-venv is missing: run  sudo apt-get install python3-venv  then make again"; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)

# torch: the build that suits the machine (scripts/install-torch.sh), then the project itself
$(STAMP): pyproject.toml | $(BIN)/python
	@sh scripts/install-torch.sh $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(DEV_STAMP)

demo: $(STAMP) system
	$(BIN)/arena serve

test: $(DEV_STAMP) test-system lint
	$(BIN)/python -m pytest

# lint and format (ruff), and strict types on scoring/ and core/ (mypy, see pyproject.toml)
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf var .pytest_cache .ruff_cache
