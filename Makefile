# Two commands, for a fresh machine with Python 3.11:
#   make run    virtual environment, install, migrate SQLite, demo data, start pulsa
#   make test   install the test extras and run the whole test suite
# `make run` ends with the web admin's address and how to sign in (the first time, the
# password of the super admin `admin`); the installation's output goes to a log file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOG := $(VENV)/install.log
QUIET = >>$(LOG) 2>&1 || { cat $(LOG); echo "installation failed: see $(LOG)"; exit 1; }

.PHONY: run test

run: $(VENV)/.installed
	@$(BIN)/pulsa db upgrade
	@$(BIN)/pulsa demo
	@$(BIN)/pulsa serve --first-admin

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

$(VENV)/.installed: setup.cfg pyproject.toml
	@echo "installing pulsa into $(VENV) (its output goes to $(LOG))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@: > $(LOG)
	@$(BIN)/python -m pip install --quiet --upgrade pip $(QUIET)
	@$(BIN)/python -m pip install --quiet -e . $(QUIET)
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	@echo "installing the test extras into $(VENV) (its output goes to $(LOG))"
	@$(BIN)/python -m pip install --quiet -e '.[test]' $(QUIET)
	@touch $@
