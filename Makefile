# DALRN: `make demo` resolves the sample dispute, `make test` runs the tests.
# Both install into .venv first when needed (torch first, from the CPU wheel on disk).

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
NODE_MODULES := contracts/node_modules/.package-lock.json
# The portal's npm project: its crypto libraries, esbuild and axe-core (the browser tests inject it).
PORTAL_MODULES := portal/node_modules/.package-lock.json
PYTEST_ARGS ?=

# Product packages: linted by bandit and measured by coverage. Adding a package is one word.
PRODUCT := dalrn_core dalrn_cli flows tasks blocks gateway
COV_MIN := 85

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1

.PHONY: install servers demo test test-slow bench serve stack contracts lint clean chaos

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==25.3
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	$(VENV)/bin/pip check
	touch $(STAMP)

install: $(STAMP)

# Debian's PostgreSQL 15, Redis 7, Prometheus (with promtool and Alertmanager) and Chromium,
# which the tests start on loopback (as an unprivileged user where the server refuses root).
# Installed only when missing; without root or apt the tests that need them say so and skip.
SERVER_PACKAGES := $(if $(wildcard /usr/lib/postgresql/15/bin/postgres),,postgresql-15) \
	$(if $(shell command -v redis-server),,redis-server) \
	$(if $(shell command -v prometheus),,prometheus) \
	$(if $(shell command -v prometheus-alertmanager),,prometheus-alertmanager) \
	$(if $(shell command -v chromium),,chromium)
servers:
	@if [ -n "$(strip $(SERVER_PACKAGES))" ]; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			apt-get install -y -q $(SERVER_PACKAGES) >/dev/null || \
			{ apt-get update -q >/dev/null && apt-get install -y -q $(SERVER_PACKAGES) >/dev/null; }; \
		else echo "servers: $(SERVER_PACKAGES) missing and not installable here (needs root and apt); their tests skip"; fi; \
	fi

$(NODE_MODULES): contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --silent

$(PORTAL_MODULES): portal/package.json portal/package-lock.json
	cd portal && npm ci --no-audit --no-fund --silent

# The portal's script bundle, gateway/portal/static/portal.js, is committed (the gateway serves
# it with no npm at run time); tests/portal/test_bundle.py checks it is what this target builds.
.PHONY: portal
portal: $(PORTAL_MODULES)
	cd portal && node build.mjs

demo: install
	$(VENV)/bin/dalrn demo

test: install servers $(NODE_MODULES) $(PORTAL_MODULES)
	$(PY) -m pytest -n 2 $(addprefix --cov=,$(PRODUCT)) --cov-report=term-missing:skip-covered \
		--cov-fail-under=$(COV_MIN) $(PYTEST_ARGS)

test-slow: install servers $(NODE_MODULES)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: install
	$(PY) -m benchmarks.run

# The reliability numbers (README): a 10-minute RPC outage on a Hardhat node, then 50 kill -9s
# of the dispute worker; writes benchmarks/results/chaos.json. CHAOS_ARGS=--quick: 20 s, 5 kills.
chaos: install $(NODE_MODULES)
	$(PY) -m benchmarks.run chaos $(CHAOS_ARGS)

serve: install
	$(VENV)/bin/dalrn serve

# The production-shaped stack on one machine: PostgreSQL and Redis started under the data
# folder (.dalrn/stack), Prefect's server and the gateway on them, every deployment served.
stack: install servers
	$(VENV)/bin/dalrn serve --backend postgres

contracts: $(NODE_MODULES)
	cd contracts && node compile.js

# solhint: rules whose fix would change the compiled bytecode are off in contracts/.solhint.json
# (NatSpec tags enter the metadata hash, `++x` changes the code); the artifact stays as built.
# The dependency audit says SKIPPED, never "no vulnerabilities", when no advisory data answers.
lint: install $(NODE_MODULES)
	$(VENV)/bin/ruff check $(PRODUCT) tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/bandit -q -c pyproject.toml -r $(PRODUCT)
	cd contracts && npx solhint --disc --max-warnings 0 -c .solhint.json 'src/**/*.sol'
	$(PY) .ci/audit.py

clean:
	rm -rf .dalrn .pytest_cache
