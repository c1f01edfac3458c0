# One command per habit, the same on a laptop and in CI (architecture rule 10).
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install models run test test-unit test-integration test-e2e bench lint clean fuzz soak overload chaos autoscale

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first and exact: pip takes the local CPU wheel, so nothing pulls a CUDA build.
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[build,dev]'
	touch $(STAMP)

install: $(STAMP)

models: $(STAMP)
	$(BIN)/python -m models.build --out models/build
	$(BIN)/maas models register-built --models-dir models/build

run: models
	$(BIN)/maas run

# Several processes: unit tests that build in-process data planes (real ONNX sessions for every model on every
# tier) keep them, so one pytest of everything reached 12-22 GB here and met the OOM killer. Each group returns its
# memory before the next starts; the Ray suites run last, in one process (one Ray instance per package).
UNIT_PLANES_A := $(wildcard tests/unit/test_api_admin*.py) tests/unit/test_api_usage_route.py tests/unit/test_cli_remote.py
UNIT_PLANES_B := tests/unit/test_api_metrics.py tests/unit/test_api_stats.py tests/unit/test_api_ui.py tests/unit/test_cli_top.py
UNIT_PLANES_C := $(filter-out $(UNIT_PLANES_A) $(UNIT_PLANES_B),$(wildcard tests/unit/test_api_*.py)) tests/unit/test_fuzz_smoke.py
UNIT_PLANES := $(UNIT_PLANES_A) $(UNIT_PLANES_B) $(UNIT_PLANES_C)

test: models
	$(BIN)/pytest tests/unit -q $(addprefix --ignore=,$(UNIT_PLANES))
	$(BIN)/pytest $(UNIT_PLANES_A) -q
	$(BIN)/pytest $(UNIT_PLANES_B) -q
	$(BIN)/pytest $(UNIT_PLANES_C) -q
	$(BIN)/pytest tests/integration tests/multinode tests/e2e -q

test-unit: models
	$(BIN)/pytest tests/unit -q

bench: models
	PYTHONPATH=. $(BIN)/python -m bench.bench_serving
	PYTHONPATH=. $(BIN)/python -m bench.bench_batching  # batching off/on rows (in-process TierWorker, MiniLM)

# Issue 17 (benchmarks, not CI): fuzz a platform (URL= KEY= ADMIN_KEY= to use a running one, else a local one is
# started), the overload curve before/after admission, faults under load, and a soak at 50% of PEAK req/s.
CASES ?= 10000
DURATION ?= 3600
fuzz: models
	PYTHONPATH=. $(BIN)/python -m bench.bench_fuzz --cases $(CASES) $(if $(URL),--url $(URL) --key $(KEY) --admin-key $(ADMIN_KEY))

overload: models
	PYTHONPATH=. $(BIN)/python -m bench.bench_overload $(if $(PEAK),--peak-rps $(PEAK))

autoscale: models
	PYTHONPATH=. $(BIN)/python -m bench.bench_autoscaling --fixed

chaos: models
	PYTHONPATH=. $(BIN)/python -m bench.bench_chaos

soak: models
	PYTHONPATH=. $(BIN)/python -m bench.bench_soak --duration-s $(DURATION) --peak-rps $(or $(PEAK),400)

# ruff (style, and TID251: only maas/serving imports ray) and lint-imports (every arrow of the layer table,
# [tool.importlinter] in pyproject.toml); either fails the target.
lint: $(STAMP)
	$(BIN)/ruff check maas tests bench models
	$(BIN)/lint-imports --no-cache --no-logo

clean:
	rm -rf models/build $(VENV)
