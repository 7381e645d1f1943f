# Two commands do all set-up on a fresh clone:
#   make demo   creates .venv, installs stepsieve, runs the main job on the embedded default
#   make test   creates .venv (and the test model server's own venv, and a headless Chromium from the
#               distribution's packages for the step viewer test), runs `make check`, then the whole suite
#   make check  lint (ruff), type-check (mypy) and the import-layer contract (import-linter)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo check test clean

$(BIN)/stepsieve: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: this exact CPU build is on disk; a range could pull a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/stepsieve

venv: $(BIN)/stepsieve

demo: venv
	$(BIN)/python scripts/demo.py

# Config for all three lives in pyproject.toml ([tool.ruff], [tool.mypy], [tool.importlinter]).
check: venv
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

test: venv check
	bash scripts/setup_test_server.sh
	bash scripts/setup_browser.sh
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) .venv-vllm
