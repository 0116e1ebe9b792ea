# modelship: `make demo` runs the product end to end, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= $(HOME)/.local/state/modelship/demo

.PHONY: deps system-deps images crds check-crds lint test test-unit test-cluster test-chaos demo demo-down dev-cluster bench bench-judge bench-breach bench-drift bench-providers bench-idle bench-promotion bench-failover bench-fleet bench-dashboard clean

$(STAMP): pyproject.toml testenv/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' -e ./testenv
	touch $(STAMP)

deps: $(STAMP) ## install Python dependencies into .venv (modelship and testenv/, editable)

system-deps: ## Debian packages the tests, images and demo need (openssl, prometheus, git, buildah, mmdebstrap, chromium)
	bash hack/system-deps.sh

images: $(STAMP) system-deps ## build the operator and runtime images with buildah (root; docs/images.md)
	$(PY) hack/images.py build

crds: $(STAMP) ## regenerate crds/ from the API models
	$(PY) -m modelship crds --output crds
	$(PY) hack/chart.py

check-crds: $(STAMP) ## fail if crds/ is stale
	$(PY) -m modelship crds --output crds --check

lint: $(STAMP) ## ruff, mypy and the import layers (lint-imports)
	$(VENV)/bin/ruff check operator testenv tests bench hack
	$(VENV)/bin/ruff format --check operator testenv tests bench hack
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo
	test -z "$$(gofmt -l hack/argocd-lua hack/podsecurity-check)"
	$(PY) hack/argocd_cm.py --check
	$(PY) hack/chart.py --check
	$(PY) hack/grafana.py --check

test: $(STAMP) system-deps ## every test: lint, unit, and the real control plane (built on first use)
	$(MAKE) lint
	$(PY) -m pytest tests -ra -m "not chaos_full"

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit -ra

test-cluster: $(STAMP) system-deps
	$(PY) -m pytest tests/integration -ra -m "not chaos_full"

# `make test` runs a bounded subset of the chaos suite; this runs every kill point and fault.
test-chaos: $(STAMP) system-deps ## the whole chaos suite (tests marked chaos_full too; ARGS=--durations=0)
	$(PY) -m pytest $(wildcard tests/integration/test_chaos*.py) -ra -m "chaos_full or not chaos_full" $(ARGS)

dev-cluster: $(STAMP) ## start the local control plane (builds it the first time)
	$(PY) -m modelship dev-cluster up

demo: $(STAMP) ## cluster up, CRDs, operator, examples Ready, a rolled-back canary, a promotion
	bash hack/system-deps.sh demo
	$(PY) hack/demo.py --state-dir $(DEMO_DIR)

demo-down: $(STAMP) ## stop the demo's operator and control plane
	$(PY) hack/demo.py --state-dir $(DEMO_DIR) --down

bench: $(STAMP) ## apply->Deployment and apply->Ready latency, operator RSS
	$(PY) bench/apply_bench.py

bench-judge: $(STAMP) ## decision quality of canary judges on simulated traffic
	$(PY) bench/judge_bench.py

bench-breach: $(STAMP) ## time from a canary's breach to traffic back on stable
	$(PY) bench/breach_bench.py

bench-drift: $(STAMP) ## drift decisions: false alarms, detection, CPU per cycle
	$(PY) bench/drift_bench.py

bench-providers: $(STAMP) ## metrics providers' CPU (and scrape memory) per drift window
	$(PY) bench/provider_bench.py

bench-idle: $(STAMP) ## reconciles/min and CPU of 300 canaries paused for a person
	$(PY) bench/idle_bench.py

bench-promotion: $(STAMP) ## approval -> target canary latency, evidence size
	$(PY) bench/promotion_bench.py

bench-failover: $(STAMP) ## leader election: SIGKILL/SIGTERM/SIGSTOP of the leader to a new leader
	$(PY) bench/failover_bench.py

bench-fleet: $(STAMP) ## 1,000 analysed, drift-monitored models on a real Prometheus (ARGS=--models 100)
	$(PY) bench/fleet_bench.py $(ARGS)

bench-dashboard: $(STAMP) system-deps ## dashboard page load and live-update latency, 100 models, headless chromium
	$(PY) bench/dashboard_bench.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .grimp_cache
