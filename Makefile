# The two commands of the README: `make run` and `make test`. Everything they need is set up here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# axe-core, injected by the accessibility browser tests: from the npm registry, by its lock file.
AXE := tests/browser/axe/node_modules/axe-core/axe.min.js

.PHONY: run test lint bench clean

run: $(VENV)/.installed
	$(BIN)/mosaic serve

test: $(VENV)/.test-installed $(AXE)
	scripts/system-deps.sh
	@# The optional compiled send path, if gcc came with system-deps after the first install.
	@! command -v gcc >/dev/null || $(BIN)/python -c 'import mosaic.rtc._fastpath' 2>/dev/null \
		|| $(BIN)/pip install --quiet --no-deps -e . || true
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# BENCH_ARGS=--quick for a harness check in seconds; see `python -m bench --help`.
bench: $(VENV)/.test-installed
	scripts/system-deps.sh
	$(BIN)/python -m bench $(BENCH_ARGS)

$(VENV)/bin/python:
	scripts/make-venv.sh $(PYTHON) $(VENV)

$(VENV)/.installed: pyproject.toml setup.py mosaic/rtc/_fastpath.c | $(VENV)/bin/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(AXE): tests/browser/axe/package.json tests/browser/axe/package-lock.json
	scripts/system-deps.sh
	npm ci --prefix tests/browser/axe --no-audit --no-fund --ignore-scripts
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/browser/axe/node_modules
