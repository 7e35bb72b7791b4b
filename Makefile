# Two commands: `make run` and `make test`. Everything else is a helper.
#
#   make test                     the whole suite, in parallel (pytest-xdist, WORKERS processes)
#   make test-fast                the same without the slow groups (browser, fuzz, quick start,
#                                 races, real processes): for the edit-test loop
#   make test WORKERS=0           in one process (e.g. to debug with -s or --pdb)
#   make mutation                 mutation testing of the rule modules (docs/testing.md; not in CI)
#
#   make run                      web server on :8000, worker, demo Mastodon instance on 127.0.0.1:8001
#   make run DEMO=1               the same, with `bootstrap --demo` (demo users and data) first
#   make run PORT=9000 DEMO_PORT=9001
#   make run VENV=/path/to/venv   use an existing environment of yours as it is (nothing installed)
#
# Ctrl-C (SIGINT), or SIGTERM to make's process group, stops the web server, the worker and the
# demo instance; make then ends by that signal (the shell shows 130 for Ctrl-C, 143 for SIGTERM).
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
DEMO_PORT ?= 8001
DEMO ?=
# Test workers: more than the cores, because much of the suite waits on local servers and
# subprocesses rather than computing (docs/testing.md has the measurements).
WORKERS ?= 4
BIN := $(VENV)/bin

# A VENV given on the command line or in the environment that already exists belongs to the
# caller: make neither creates it nor installs into it (an editable install from here would
# repoint it at this checkout).
ifneq ($(origin VENV),file)
ifneq ($(wildcard $(VENV)/bin/python),)
EXTERNAL_VENV := 1
endif
endif

ifdef EXTERNAL_VENV
STAMP :=
else
STAMP := $(VENV)/.installed
endif

BOOTSTRAP := $(if $(filter 1 yes true,$(DEMO)),bootstrap --demo,bootstrap)

.PHONY: run test test-fast install lint migrate clean mutation

ifndef EXTERNAL_VENV
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,server]'
	touch $(STAMP)
endif

install: $(STAMP)

.env: | $(STAMP)
	$(BIN)/python -m config.envfile .env --demo-port $(DEMO_PORT)

# The demo instance always runs next to the web server, on DEMO_PORT; DEMO_INSTANCE_URL follows
# it whatever .env says, so the SSRF guard and `bootstrap --demo` find it.
run: export DEMO_INSTANCE_URL = http://127.0.0.1:$(DEMO_PORT)
run: $(STAMP) .env
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py $(BOOTSTRAP)
	$(BIN)/python manage.py serve --port $(PORT) --demo-instance $(DEMO_PORT)

# Two runs at once: the suite on WORKERS processes at the lowest CPU priority, and beside it the
# tests that measure wall-clock time (pacing gaps, timeouts) at normal priority, so the kernel
# runs them the moment they wake and busy workers cannot make them late. Both always run; the
# target fails if either does. pytest's exit code 5 is "nothing collected", e.g. PYTEST_ARGS
# naming a file without timing tests.
PYTEST := $(BIN)/python -m pytest
# Python's cache of compiled (and pytest's of assertion-rewritten) modules, in __pycache__ (ignored
# by git), even where the environment turns it off: without it every worker compiles all 600 test
# modules again, about 10 s of CPU each.
test test-fast: export PYTHONDONTWRITEBYTECODE =
define run_suite
	@log=$$(mktemp); \
	$(PYTEST) -m "$(1)timing" $(PYTEST_ARGS) >$$log 2>&1 & timing=$$!; \
	trap 'kill $$timing 2>/dev/null; rm -f $$log; exit 130' INT; \
	trap 'kill $$timing 2>/dev/null; rm -f $$log; exit 143' TERM; \
	status=0; \
	nice -n 19 $(PYTEST) -n $(WORKERS) --dist loadgroup -m "$(1)not timing" $(PYTEST_ARGS) || status=$$?; \
	wait $$timing; rc=$$?; \
	printf '\n== beside them, at normal priority, the tests marked timing:\n'; cat $$log; rm -f $$log; \
	[ $$rc -eq 0 ] || [ $$rc -eq 5 ] || status=$$rc; \
	exit $$status
endef

test: $(STAMP)
	$(call run_suite,)

test-fast: $(STAMP)
	$(call run_suite,not slow and )

# Mutation testing of the rule modules (docs/testing.md): minutes, not run by .ci/run.
#   make mutation                                  all modules of tests/mutation/config.py
#   make mutation MODULES="core/retry.py core/crypto.py" MUTATION_JOBS=1 MUTATION_ARGS=-v
MUTATION_JOBS ?= 2
mutation: $(STAMP)
	$(BIN)/python -m tests.mutation --jobs $(MUTATION_JOBS) $(MODULES) $(MUTATION_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

migrate: $(STAMP) .env
	$(BIN)/python manage.py migrate --noinput

clean:
	rm -rf $(if $(EXTERNAL_VENV),,$(VENV)) var/static .pytest_cache
