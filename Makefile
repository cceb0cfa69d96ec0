# Two commands for a fresh machine: `make test` and `make demo`. Both build .venv from pyproject.toml first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo bench bench-replica bench-crawl bench-derive clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

demo: $(STAMP)
	$(BIN)/python -m hubdex.demo

bench: bench-replica bench-crawl bench-derive

bench-replica: $(STAMP)
	$(BIN)/python bench/replica_serving.py

bench-crawl: $(STAMP)
	$(BIN)/python bench/crawl_full.py

bench-derive: $(STAMP)
	$(BIN)/python bench/derive_signals.py

clean:
	rm -rf $(VENV) build src/*.egg-info
