# Two commands for a fresh machine: `make test` and `make demo`. Both build .venv from pyproject.toml first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test test-fast demo bench bench-replica bench-crawl bench-derive bench-export clean

# The fast tier, for your own loop (under a minute, no large catalogue): units, layout, licences,
# cards, docs, CLI. `make test` runs everything, these included; CI runs `make test`.
FAST_TESTS := tests/unit tests/test_layout.py tests/test_licences.py tests/test_cards.py tests/test_docs.py tests/test_cli.py

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(FAST_TESTS)

demo: $(STAMP)
	$(BIN)/python -m hubdex.demo

bench: bench-replica bench-crawl bench-derive bench-export

bench-replica: $(STAMP)
	$(BIN)/python bench/replica_serving.py

bench-crawl: $(STAMP)
	$(BIN)/python bench/crawl_full.py

bench-derive: $(STAMP)
	$(BIN)/python bench/derive_signals.py

# `make bench-export DB=path/to/crawled.db` copies that database (never writing it); without DB it crawls one.
bench-export: $(STAMP)
	$(BIN)/python bench/export_parquet.py $(if $(DB),--db $(DB))

clean:
	rm -rf $(VENV) build src/*.egg-info
