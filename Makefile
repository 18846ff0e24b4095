# Two commands do everything (see README):  make report   and   make test
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export PYTHONHASHSEED := 0
export TQDM_DISABLE ?= 1
export MPLBACKEND := Agg

NBVAL := $(PY) -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	--nbval-cell-timeout=900

.PHONY: env test test-fast test-unit test-notebooks lint format report refresh-notebooks train-small train-linear train-nonlinear bench lab clean

env: $(STAMP)

# the environment: a venv with the pinned CPU torch, then the package and its extras
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[notebooks,test]'
	touch $(STAMP)

# every test: unit tests and the notebooks' nbval regression in one pytest run
test: $(STAMP)
	$(NBVAL) tests notebooks

# for development: the unit tests without the slow (over ~10 s) and browser ones, in about 2 minutes;
# make test stays the gate (markers: pyproject.toml)
test-fast: $(STAMP)
	$(PY) -m pytest tests -q -m "not slow and not browser"

test-unit: $(STAMP)
	$(PY) -m pytest tests -q

test-notebooks: $(STAMP)
	$(NBVAL) notebooks

# style (pyproject.toml's [tool.ruff]): lint checks without changing anything; format rewrites files
lint: $(STAMP)
	$(VENV)/bin/ruff check icl tests experiments && $(VENV)/bin/ruff format --check icl tests experiments

format: $(STAMP)
	$(VENV)/bin/ruff format icl tests experiments && $(VENV)/bin/ruff check --fix icl tests experiments

# execute every numbered notebook on the committed checkpoints into reports/
report: $(STAMP)
	$(PY) -m icl report

# re-execute the notebooks in place: refreshes the reference outputs nbval compares against
refresh-notebooks: $(STAMP)
	$(PY) -m icl report --in-place

# (re)train or resume every run of the small scale (python -m icl runs --scale small), forking the mixture
# runs from the sparse-only run at their weight curriculum's hold (exact; see docs/training.md, "Forks")
train-small: $(STAMP)
	TQDM_DISABLE=0 $(PY) -m icl train-scale small

# (re)train or resume the five linear runs of chapters 1-2 at cpu scale, one after another
train-linear: $(STAMP)
	for w in 0.00 1.00 0.50 0.25 0.75; do TQDM_DISABLE=0 $(PY) -m icl train linear-w$$w || exit 1; done

# (re)train or resume the six runs of chapters 3-5 (1-D runs first: cheaper inputs), one after another
train-nonlinear: $(STAMP)
	for r in line-only sine-only line-sine-w0.50 linear-only relu-only linear-relu-w0.50; do TQDM_DISABLE=0 $(PY) -m icl train $$r || exit 1; done

# time training (ours vs transformers' GPT2Model), scaling and baselines into reports/benchmarks.{md,json}
bench: $(STAMP)
	$(PY) -c "import transformers, sklearn" 2>/dev/null || $(PY) -m pip install -q -e '.[bench]'
	$(PY) -m icl bench

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf reports/.tmp-* .pytest_cache .ruff_cache
