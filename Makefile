# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing and install torch and the package into it first.
#
# TORCH is the torch requirement installed before the package. The default is the CPU build
# that these machines carry. GPU users install their own build into .venv first and pass
# TORCH= (empty) so that nothing replaces it, e.g. `make test TORCH=`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rnnkit-installed

.PHONY: install demo test test-all bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ -n "$(TORCH)" ]; then $(PY) -m pip install --quiet "$(TORCH)"; fi
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m rnnkit.kernels.build
	@touch $(STAMP)

install: $(STAMP)

# The main job on a built-in default: an LSTM classifier on JapaneseVowels (shipped by sktime).
demo: $(STAMP)
	$(PY) -m rnnkit train classify --dataset JapaneseVowels --out runs/demo --overwrite --threads 1

test: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow" tests

test-all: $(STAMP)
	$(PY) -m pytest -q -n 2 tests

# Speed against torch.nn, an autograd loop, JAX and Keras 3 (installs the optional peers).
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/speed.py
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
