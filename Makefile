# Two entry points: `make demo` and `make test`. Both set up everything they need
# (system packages first: the venv's install compiles catalog/_hmac_batch.c).
# `make test-fast` is the inner loop: lint and the tests that need no sandbox, database
# server, JVM or browser (markers in pyproject.toml), on any host with the venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the runtime image's pins constrain the venv too: a job behaves alike under bubblewrap
# (this venv) and docker (the image)
RUNTIME_PINS := sandbox/runtime/requirements.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml catalog/_hmac_batch.c $(RUNTIME_PINS) | sha256sum | cut -c1-12)
FAST := not (sandbox or docker or postgres or spark or browser or slow)

.PHONY: demo test test-fast system ruff lint clean

$(STAMP): pyproject.toml catalog/_hmac_batch.c $(RUNTIME_PINS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c $(RUNTIME_PINS) -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

system:
	bash scripts/system-deps.sh

demo: system $(STAMP)
	$(BIN)/sluice demo

ruff: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint: ruff
	$(BIN)/mypy

test: system $(STAMP) lint
	bash scripts/start-services.sh
	$(BIN)/pytest -q

test-fast: ruff
	$(BIN)/pytest -q -m "$(FAST)"

clean:
	rm -rf $(VENV) .sluice-demo
