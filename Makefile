# DALRN: `make demo` resolves the sample dispute, `make test` runs the tests.
# Both install into .venv first when needed (torch first, from the CPU wheel on disk).

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
NODE_MODULES := contracts/node_modules/.package-lock.json
PYTEST_ARGS ?=

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1

.PHONY: install demo test test-slow bench serve contracts lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==25.3
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	$(VENV)/bin/pip check
	touch $(STAMP)

install: $(STAMP)

$(NODE_MODULES): contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --silent

demo: install
	$(VENV)/bin/dalrn demo

test: install $(NODE_MODULES)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

test-slow: install $(NODE_MODULES)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: install
	$(PY) -m benchmarks.run

serve: install
	$(VENV)/bin/dalrn serve

contracts: $(NODE_MODULES)
	cd contracts && node compile.js

lint: install
	$(VENV)/bin/ruff check dalrn_core dalrn_cli flows tasks blocks tests benchmarks

clean:
	rm -rf .dalrn .pytest_cache
