# make demo: create .venv, install sdpnets, run the main job (a real solve, printed table).
# make test: install the test extras into .venv and run the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test install bench clean docs notebooks

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/sdpnets demo

# one pytest-xdist worker per core (two here), each with one BLAS thread (tests/conftest.py)
test: $(VENV)/.installed-test
	$(PY) -m pytest -q -n auto

$(VENV)/.installed-docs: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[docs]'
	touch $(VENV)/.installed $@

# make docs: build the documentation (docs/) into docs/_build/html; warnings are errors.
docs: $(VENV)/.installed-docs
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

$(VENV)/.installed-bench: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[bench]'
	touch $(VENV)/.installed $@

# make bench: a `small` sweep of every instance family on every available backend (rerun:
# it resumes), then its report and performance profiles, all under benchmarks/results/.
BENCH_DIR := benchmarks/results
bench: $(VENV)/.installed-bench
	mkdir -p $(BENCH_DIR)
	$(VENV)/bin/sdpnets bench --preset small --out $(BENCH_DIR)/small.jsonl
	$(VENV)/bin/sdpnets bench report $(BENCH_DIR)/small.jsonl --plot $(BENCH_DIR) \
		> $(BENCH_DIR)/small-report.txt
	cat $(BENCH_DIR)/small-report.txt

$(VENV)/.installed-notebooks: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[notebooks]'
	touch $(VENV)/.installed $@

# make notebooks: execute the teaching notebooks once into notebooks/_build/ (executed .ipynb,
# with their figures, for Jupyter) and render those as HTML pages; the stored notebooks stay
# without outputs.
notebooks: $(VENV)/.installed-notebooks
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=python3 \
		--ExecutePreprocessor.timeout=600 --output-dir notebooks/_build notebooks/*.ipynb
	$(VENV)/bin/jupyter nbconvert --to html notebooks/_build/*.ipynb
	@echo "open notebooks/_build/*.html (or the executed notebooks/_build/*.ipynb in Jupyter)"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis docs/_build docs/generated notebooks/_build
