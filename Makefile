# ednas_tf — set-up, demo and tests. `make demo` and `make test` work on a fresh Debian machine
# with Python 3.11: they create .venv and install the pinned requirements first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: venv data demo test lint bench clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "warning: ednas_tf is pinned and verified for Python 3.11"; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Fashion-MNIST from Debian's dataset-fashion-mnist package, unpacked without root into .cache/.
data:
	@bash tools/get_fashion_mnist.sh || true

demo: venv
	@if bash tools/get_fashion_mnist.sh; then dataset=fashion_mnist; else \
		echo "demo: Fashion-MNIST unavailable, searching on the synthetic dataset instead"; \
		dataset=synthetic; fi; \
	$(PY) pipelines/search.py --flagfile=configs/fmnist_tda2x.cfg --dataset=$$dataset \
		--output_dir=runs/demo --noresume
	@echo "demo outputs: runs/demo (arch.json, gates.csv, history.json, tb/, ckpt/)"

lint: venv
	$(VENV)/bin/ruff check .

test: venv lint
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

bench: venv
	$(PY) bench/supernet_cost.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
