# Two commands for a fresh machine: `make test` and `make demo`. Both build .venv from pyproject.toml first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test test-fast demo serve chromium bench bench-pipeline bench-replica bench-crawl bench-derive bench-export bench-serve bench-match clean

# The fast tier, for your own loop (under a minute, no large catalogue): units, layout, licences,
# cards, docs, CLI. `make test` runs everything, these included; CI runs `make test`.
FAST_TESTS := tests/unit tests/test_layout.py tests/test_licences.py tests/test_cards.py tests/test_docs.py tests/test_cli.py

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# The browser tests (tests/test_serve.py, tests/test_compare.py) drive Debian's chromium with Playwright; Playwright's own
# browser download can't reach the internet here, so chromium comes from apt-get where it is missing.
# Where it can't be installed, this step fails and says so (the tests would fail too, never skip).
CHROMIUM := /usr/bin/chromium

chromium:
	@test -x $(CHROMIUM) || { echo "installing chromium (apt-get) for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || { echo "ERROR: cannot install chromium with apt-get; the browser tests need $(CHROMIUM)" >&2; exit 1; }; }

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(FAST_TESTS)

demo: $(STAMP)
	$(BIN)/python -m hubdex.demo

# Datasette on db/hub.db (after `make demo`), http://127.0.0.1:8001/
serve: $(STAMP)
	$(BIN)/hubdex serve --db db/hub.db

bench: bench-replica bench-crawl bench-derive bench-export bench-serve bench-match

bench-replica: $(STAMP)
	$(BIN)/python bench/replica_serving.py

bench-crawl: $(STAMP)
	$(BIN)/python bench/crawl_full.py

bench-derive: $(STAMP)
	$(BIN)/python bench/derive_signals.py

# `make bench-export DB=path/to/crawled.db` copies that database (never writing it); without DB it crawls one.
bench-export: $(STAMP)
	$(BIN)/python bench/export_parquet.py $(if $(DB),--db $(DB))

# p95 latency of every canned query, dashboard chart and start page over HTTP through Datasette, on a database it
# builds (100,000 models; MODELS=1000000 for the issue-24 target) or a copy of DB=path.
bench-serve: $(STAMP)
	$(BIN)/python bench/serve_queries.py $(if $(DB),--db $(DB)) $(if $(MODELS),--models $(MODELS))

clean:
	rm -rf $(VENV) build src/*.egg-info

# `make bench-match DB=path/to/crawled.db` (a copy is used; the file is never written); without DB it
# crawls synthetic:1000000 first.
bench-match: $(STAMP)
	$(BIN)/python bench/match_graph.py $(if $(DB),--db $(DB))

# The product as users run it: full crawl, cards, search, derive; 1% changed, incremental crawl,
# derive; a no-change derive. N models (default 1,000,000): `make bench-pipeline N=100000`.
N ?= 1000000
bench-pipeline: $(STAMP)
	cd bench && nice ../$(BIN)/python pipeline.py --models $(N) $(if $(KEEP),--keep --workdir $(KEEP))
