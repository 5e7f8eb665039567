# The two commands of the README: `make demo` (the demo study, end to end) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo repro test lint bench clean-venv

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dvc repro
	@$(BIN)/intervisie where

# the study named under `vars:` in dvc.yaml (data_raw/demo unless you changed it)
repro: $(STAMP)
	$(BIN)/dvc repro
	@$(BIN)/intervisie where

# the test files run on every core (pytest-xdist, one file per worker at a time, so each file's
# module fixtures are built once), so the stages inside the tests fit their models serially
# (INTERVISIE_WORKERS=1). (--dist loadgroup would keep several files together, but pytest-xdist
# 3.8 cannot group under pytest 9: it writes the group into a node id pytest no longer reads.)
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/ruff check .
	INTERVISIE_WORKERS=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m benchmarks ingest
	$(BIN)/python -m benchmarks mixed

clean-venv:
	rm -rf $(VENV)
