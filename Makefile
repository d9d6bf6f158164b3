# The two commands of the README: `make quickstart` and `make test`; `make docs` builds the site.
# Each creates .venv and installs kit with its dependencies on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export KERAS_BACKEND ?= tensorflow
export TF_CPP_MIN_LOG_LEVEL ?= 2

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[dev,docs]'
	touch $@

.PHONY: install quickstart test test-slow lint docs
install: $(VENV)/.installed

quickstart: $(VENV)/.installed
	$(PY) -m kit run notebooks/00_quickstart.ipynb -p workdir runs/quickstart

test: $(VENV)/.installed
	$(PY) -m pytest

test-slow: $(VENV)/.installed
	$(PY) -m pytest -m slow

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check kit tests benchmarks notebooks
	$(VENV)/bin/lint-imports --no-cache

# The documentation site (site/): executes the notebooks it shows (small settings, cached in
# build/docs-notebooks/), then `mkdocs build --strict`. See docs/build.py.
docs: $(VENV)/.docs-installed
	$(PY) docs/build.py
