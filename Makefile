# ednas_tf — set-up, demo and tests. `make demo` and `make test` work on a fresh Debian machine
# with Python 3.11: they create .venv and install the pinned requirements first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: venv data demo test lint bench bazel-test clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "warning: ednas_tf is pinned and verified for Python 3.11"; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Fashion-MNIST from Debian's dataset-fashion-mnist package, unpacked without root into .cache/.
data:
	@bash tools/get_fashion_mnist.sh || true

# search -> train -> merge + QAT -> export + TIDL check -> report -> summary, on the embedded default
# (TDA2x). Only the search names the data and the device: every later stage reads them from the
# run directory's record (runs/demo/run.json).
DEMO := runs/demo
BIN := $(VENV)/bin
demo: venv
	@mkdir -p runs
	@if bash tools/get_fashion_mnist.sh; then echo fashion_mnist > $(DEMO).dataset; else \
		echo "demo: Fashion-MNIST unavailable, running on the synthetic dataset instead"; \
		echo synthetic > $(DEMO).dataset; fi
	$(BIN)/ednas-search --flagfile=configs/fmnist_tda2x.cfg \
		--dataset=$$(cat $(DEMO).dataset) --output_dir=$(DEMO) --noresume
	$(BIN)/ednas-train --run_dir=$(DEMO) --epochs=4 --steps_per_epoch=150 --warmup_epochs=1 --verbose=2
	$(BIN)/ednas-qat --run_dir=$(DEMO) --scheme=both --epochs=1 --steps_per_epoch=60 --verbose=2
	$(BIN)/ednas-export --run_dir=$(DEMO)
	$(BIN)/ednas-report --run_dir=$(DEMO)
	@echo; echo "== ednas_tf demo: $(DEMO) (report: $(DEMO)/report.html) =="; \
		$(BIN)/ednas-summary --run_dir=$(DEMO)

lint: venv
	$(VENV)/bin/ruff check .

test: venv lint
	@$(PY) -m pytest -n auto --maxprocesses=4; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

bench: venv
	$(PY) -m bench.supernet_cost

# The same test suite through Bazel (BUILD), offline with Debian's bazel-bootstrap: installs it when
# root, unpacks the mock repositories into .cache/bazel-offline, runs `bazel test --config=offline
# //...`. BAZEL_ARGS adds `bazel test` arguments, e.g. BAZEL_ARGS="--local_test_jobs=1 //:test_arch".
bazel-test: venv
	bash tools/bazel_offline.sh $(BAZEL_ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache
