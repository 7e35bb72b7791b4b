# Two commands: `make run` and `make test`. Everything else is a helper.
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

.PHONY: run test install lint migrate clean mutation

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

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
