# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint fmt statecharts bench bench-quick fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	rm -f demo.db demo.db-wal demo.db-shm
	$(BIN)/aftersales --store demo.db demo
	$(BIN)/aftersales --store demo.db audit
	$(BIN)/aftersales --store demo.db verify

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

statecharts: $(STAMP)
	$(BIN)/aftersales diagrams --out statecharts

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

fuzz: $(STAMP)
	AFTERSALES_FUZZ=long $(BIN)/python -m pytest tests/test_stateful.py tests/test_fuzz_files.py tests/test_fees.py tests/test_reliability_keys.py tests/test_conflicts.py tests/test_refund_cap.py tests/test_determinism.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo.db*
