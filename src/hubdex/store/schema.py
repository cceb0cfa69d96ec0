"""hubdex's tables, as `sqlite_utils.Migrations`: one function per change.

Migrations create and change tables only; views, the full-text index and the analyst indexes are
the derived shape, declared once in `shape.py` and applied by `ensure_shape` on every open. Each
migration holds its own literals (column lists, types) so that it never changes when the code
around it does: a database migrated a year ago and a new one end up with the same tables. (Views
and indexes were once created here too; those lines moved to shape.py, which creates the same
objects, and no table changed.)

Tables are STRICT with explicit types. JSON values are TEXT columns holding JSON. Dates are the
Hub's ISO-8601 strings; history days are integers (days since 1970-01-01, UTC), which keeps a
history row to a few bytes.
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("hubdex")


@migrations()
def m001_models_and_children(db):
    MODEL_TYPES = {
        "id": str, "key": int, "oid": str, "author": str, "sha": str, "last_modified": str, "created_at": str,
        "private": int, "gated": str, "disabled": int, "pipeline_tag": str, "library_name": str,
        "license": str, "license_name": str, "license_link": str, "card_license": str,
        "params": int, "used_storage": int, "context_length": int, "base_model_relation": str,
        "children_finetune": int, "children_adapter": int, "children_quantized": int, "children_merge": int,
        "spaces_count": int, "providers_count": int, "inference": str, "mask_token": str,
        "raw": str, "meta_hash": str,
        "downloads": int, "downloads_all_time": int, "likes": int, "trending_score": int,
        "first_seen": str, "updated_at": str, "removed_at": str, "detail_at": str, "detail": str,
    }
    # JSON parts of the payload, as columns computed from `raw` (VIRTUAL: stored once, in `raw`).
    # Fields that only model_info gives (model-index, widgetData) come from `detail` when fetched.
    JSON_COLUMNS = {
        "card_data": "json_extract(raw, '$.cardData')",
        "config": "json_extract(raw, '$.config')",
        "transformers_info": "json_extract(raw, '$.transformersInfo')",
        "safetensors": "json_extract(raw, '$.safetensors')",
        "gguf": "json_extract(raw, '$.gguf')",
        "base_models": "json_extract(raw, '$.baseModels')",
        "model_index": "coalesce(json_extract(detail, '$.\"model-index\"'), json_extract(raw, '$.\"model-index\"'))",
        "widget_data": "json_extract(detail, '$.widgetData')",
    }

    # Child tables: keyed by the model's integer key (a rename touches one row of `models`, nothing
    # here), WITHOUT ROWID so the primary key is the table (no second copy of every row).
    CHILD_TABLES_SQL = {
        "model_tags": "tag TEXT NOT NULL, PRIMARY KEY (model_key, tag)",
        "model_files": "path TEXT NOT NULL, size INTEGER, blob_id TEXT, lfs_sha256 TEXT, PRIMARY KEY (model_key, path)",
        "model_relations": "parent TEXT NOT NULL, relation TEXT, PRIMARY KEY (model_key, parent)",
        "model_spaces": "space_id TEXT NOT NULL, PRIMARY KEY (model_key, space_id)",
        "model_providers": ("provider TEXT NOT NULL, provider_id TEXT, status TEXT, task TEXT, "
                            "PRIMARY KEY (model_key, provider)"),
    }
    db["models"].create(MODEL_TYPES, pk="id", not_null={"key", "oid", "raw", "meta_hash", "first_seen"},
                        strict=True)
    for name, expr in JSON_COLUMNS.items():
        db.execute(f"ALTER TABLE models ADD COLUMN {name} TEXT GENERATED ALWAYS AS ({expr}) VIRTUAL")
    db["models"].create_index(["key"], unique=True)
    db["models"].create_index(["oid"], unique=True)
    for table, columns in CHILD_TABLES_SQL.items():
        db.execute(f"CREATE TABLE {table} (model_key INTEGER NOT NULL REFERENCES models(key), {columns}) "
                   "WITHOUT ROWID, STRICT")


@migrations()
def m002_history(db):
    # One row per model per day *on which its figures moved* (or it was first seen). WITHOUT ROWID
    # clusters the rows by (model, day): a model's series is one range read, and no rowid is stored.
    db.execute("""CREATE TABLE metrics_history (
        model_key INTEGER NOT NULL, day INTEGER NOT NULL,
        downloads INTEGER, downloads_all_time INTEGER, likes INTEGER, trending_score INTEGER,
        PRIMARY KEY (model_key, day)) WITHOUT ROWID, STRICT""")
    # The days on which figures were recorded: with the rows above, any model's daily series.
    db["metric_days"].create({"day": int, "date": str, "models_moved": int}, pk="day", strict=True)
    # (the view model_daily_metrics over these two tables is in shape.py)


@migrations()
def m003_crawl_bookkeeping(db):
    db["crawl_state"].create({"key": str, "value": str, "updated_at": str}, pk="key", strict=True)
    # The _ids each committed page of a full pass saw: at the end of the pass, the models not seen
    # get their tombstone. One row per page, so an unchanged model still costs no write.
    db["pass_pages"].create({"pass_id": str, "page": int, "oids": str}, pk=("pass_id", "page"), strict=True)
    db["runs"].create({
        "id": int, "mode": str, "scope": str, "endpoint": str, "started_at": str, "ended_at": str, "status": str,
        "reason": str, "pages": int, "models_seen": int, "models_new": int, "models_changed": int,
        "models_renamed": int, "models_removed": int, "models_revived": int, "metrics_moved": int,
        "details": int, "requests": int, "retries": int, "throttled": int, "errors": int, "quarantined": int,
        "waited_seconds": float, "args": str,
    }, pk="id", not_null={"mode", "started_at", "status"}, strict=True)
    db["quarantine"].create({"id": int, "run_id": int, "seen_at": str, "url": str, "model_id": str, "reason": str,
                             "raw": bytes}, pk="id", not_null={"seen_at", "reason"}, strict=True)


@migrations()
def m004_cards(db):
    # What each model's card says, as of the commit it was read at (`sha`): a card is read again only
    # when the model's sha moves. `source` says how: readme, cardData (gated repo), none, unparsable.
    db["cards"].create({"model_key": int, "sha": str, "fetched_at": str, "source": str, "bytes": int,
                        "truncated": int, "problems": str, "front_matter": str, "sections_count": int,
                        "evaluations_count": int, "capabilities_count": int},
                       pk="model_key", not_null={"sha", "fetched_at", "source"}, strict=True)
    for table, columns in {
        "card_sections": "level INTEGER, title TEXT, path TEXT, text TEXT",
        "evaluations": ("metric TEXT, value REAL, dataset TEXT, subject TEXT, split TEXT, task TEXT, "
                        "source TEXT, location TEXT"),
        "capabilities": "capability TEXT, detail TEXT, evidence_kind TEXT, evidence_source TEXT, confidence REAL",
    }.items():
        db.execute(f"CREATE TABLE {table} (model_key INTEGER NOT NULL REFERENCES models(key), seq INTEGER NOT NULL, "
                   f"{columns}, PRIMARY KEY (model_key, seq)) WITHOUT ROWID, STRICT")
    db["capabilities"].create_index(["capability"])
    db["evaluations"].create_index(["metric"])
    db["runs"].add_column("cards", int)


@migrations()
def m005_search(db):
    # Full-text search over id, author, tags and card text: one row per model, written by the crawl
    # when a model or its card changes; the FTS5 index follows by triggers (sqlite-utils enable_fts).
    db["model_search"].create({"model_key": int, "id": str, "author": str, "tags": str, "card": str},
                              pk="model_key", strict=True)
    # (its FTS5 index and triggers are in shape.py)


@migrations()
def m006_derived(db):
    # Prices the inference router quotes, as seen on a day: one row per (model, provider, day seen),
    # so the current catalogue is the latest day and its history is kept (a few hundred rows a day).
    db["router_prices"].create({
        "model_id": str, "provider": str, "day": int, "date": str, "status": str, "input_usd_per_m": float,
        "output_usd_per_m": float, "context_length": int, "supports_tools": int, "supports_structured_output": int,
        "is_free": int}, pk=("model_id", "provider", "day"), not_null={"status", "date"}, strict=True)
    # Capabilities hubdex reads off the crawled metadata (tags, config, files, relations, providers,
    # licence); the card's own are in `capabilities`. Stored compactly, a million models giving ten
    # million rows: (model, capability id, detail, evidence id), one row per fact, whichever piece of
    # evidence found it first; the view `model_capabilities` spells them out.
    db["capability_names"].create({"id": int, "name": str}, pk="id", not_null={"name"}, strict=True)
    db["capability_evidence"].create({"id": int, "evidence_kind": str, "evidence_source": str, "confidence": float},
                                     pk="id", strict=True)
    db.execute("""CREATE TABLE model_capability_rows (
        model_key INTEGER NOT NULL, capability_id INTEGER NOT NULL, detail TEXT NOT NULL, evidence_id INTEGER NOT NULL,
        PRIMARY KEY (model_key, capability_id, detail)) WITHOUT ROWID, STRICT""")
    # Per model, what the signals read of those rows (so a derive that rebuilt few models does not
    # rescan ten million rows): their count, safe / pickled weights, formats, datasets, a paper.
    db["capability_summary"].create({"model_key": int, "rows": int, "safe_weights": int, "pickled_weights": int,
                                     "formats": int, "datasets": int, "paper": int}, pk="model_key", strict=True)
    # (the views model_capabilities and all_capabilities are in shape.py)
    # The licence catalogue (src/hubdex/data/licences.csv), reloaded by every derive, for joins.
    db["licences"].create({"id": str, "family": str, "commercial": str, "attribution": str, "share_alike": str,
                           "hub_listed": int, "name": str}, pk="id", strict=True)
    # The rank weights each result was computed with (src/hubdex/data/weights.toml or --weights).
    db["rank_weights"].create({"id": str, "weights": str, "first_used": str}, pk="id", strict=True)
    # Signals history: a row on the days a model's signals moved by a point or more since its last
    # row (or it was first scored), so it stays small at millions of models.
    db.execute("""CREATE TABLE signals_history (
        model_key INTEGER NOT NULL, day INTEGER NOT NULL, adoption REAL, quality REAL, ecosystem REAL,
        pricing REAL, match REAL, rank REAL, PRIMARY KEY (model_key, day)) WITHOUT ROWID, STRICT""")
    db["runs"].add_column("prices", int)
    # What each model's derived rows were computed from: a model whose metadata hash, details, card or
    # id differs from this is rebuilt by the next derive (exact, unlike comparing clock times).
    db.execute("""CREATE TABLE derive_inputs (model_key INTEGER PRIMARY KEY, id TEXT, meta_hash TEXT, detail_at TEXT,
        card_sha TEXT, card_fetched_at TEXT) WITHOUT ROWID, STRICT""")
    # The current signals and rank of every model, with the parts that explain them (rewritten whole
    # by each derive: percentiles are relative, so one model's change moves the others).
    # The parts of each signal as the weights file named them then (columns p_/pt_/q_/e_<part>);
    # a part added later comes with a migration of its own.
    adoption = ("downloads_30d", "downloads_all_time", "likes", "trending", "growth_7d", "growth_30d")
    quality = ("card", "evaluations", "paper", "licence", "safe_weights")
    ecosystem = ("finetunes", "adapters", "quantizations", "merges", "spaces", "providers", "library", "formats",
                 "datasets")
    parts = (["p_" + k for k in adoption] + ["pt_" + k for k in adoption]
             + ["q_" + k for k in quality] + ["e_" + k for k in ecosystem])
    db.execute(f"""CREATE TABLE model_scores (
        model_key INTEGER PRIMARY KEY, capabilities_count INTEGER,
        licence TEXT, licence_family TEXT, commercial_use TEXT, licence_via TEXT,
        pricing_class TEXT, cheapest_provider TEXT, cheapest_input_usd_per_m REAL, cheapest_output_usd_per_m REAL,
        hosted_providers INTEGER, growth_7d INTEGER, growth_30d INTEGER, eval_standing REAL,
        adoption REAL, quality REAL, ecosystem REAL, pricing REAL, match REAL, rank REAL,
        adoption_pct REAL, quality_pct REAL, ecosystem_pct REAL, pricing_pct REAL, rank_pct REAL,
        {', '.join(c + ' REAL' for c in parts)}, weights_id TEXT) STRICT""")
    db["model_scores"].create_index(["rank"])
    # (model_overview, once a view in shape.py, is a table since m012: store/overview.py)


@migrations()
def m007_derive_runs_and_changes(db):
    # Each derive run's figures (its row in `runs` has mode 'derive'); `rebuilt_all` marks a run that
    # rebuilt every model's capabilities (--all, a first derive, new capability code or catalogue).
    db["derive_runs"].create({"run_id": int, "day": int, "models": int, "inputs_changed": int, "rebuilt": int,
                              "rebuilt_all": int, "capability_rows": int, "scores_written": int,
                              "scores_removed": int, "history_rows": int, "weights_id": str, "seconds": float},
                             pk="run_id", strict=True)
    # Which models changed in a derive run, and why: one row per (run, model, reason). Reasons: new,
    # renamed, metadata, details, card, prices, metrics, removed (inputs), and scores (its
    # model_scores row was rewritten because a value moved). What comes downstream (comparisons)
    # rebuilds from these rows instead of from the whole catalogue.
    db.execute("""CREATE TABLE model_changes (run_id INTEGER NOT NULL, model_key INTEGER NOT NULL, reason TEXT NOT NULL,
        PRIMARY KEY (run_id, model_key, reason)) WITHOUT ROWID, STRICT""")
    db.execute("CREATE INDEX idx_model_changes_model ON model_changes(model_key, run_id)")
    # The figures each model's scores were derived from, beside its other inputs: a metrics crawl
    # that moved them is a change of reason 'metrics'.
    for column in ("downloads", "downloads_all_time", "likes", "trending_score"):
        db.execute(f"ALTER TABLE derive_inputs ADD COLUMN {column} INTEGER")
    # A hash of every value in a model_scores row: the derive rewrites a row only when it differs.
    db.execute("ALTER TABLE model_scores ADD COLUMN row_hash INTEGER")
    # Each distinct (license, license_name, license_link) of the current models, classified once per
    # derive; capabilities and signals join it. `id` is stable only within one derive.
    db["licence_classes"].create({"id": int, "license": str, "license_name": str, "license_link": str,
                                  "licence": str, "family": str, "commercial": str, "attribution": str,
                                  "share_alike": str, "via": str}, pk="id", strict=True)
    db.execute("CREATE UNIQUE INDEX idx_licence_classes_triple ON licence_classes(license, license_name, license_link)")
    # The match signal per model, written by the match graph's derive step; empty until it exists,
    # and a model absent from it has no match score (unknown, not 0).
    db["match_scores"].create({"model_key": int, "score": float, "times_matched": int}, pk="model_key",
                              strict=True)


@migrations()
def m008_export(db):
    # What each export directory holds (`hubdex export DIR`), as of its last export that wrote
    # anything: one row per (directory, table, partition; '' for a table's one file). The manifest in
    # the directory is what the next export compares with; this is the database's copy of it.
    db.execute("""CREATE TABLE export_state (dir TEXT NOT NULL, table_name TEXT NOT NULL, part TEXT NOT NULL,
        rows INTEGER NOT NULL, fingerprint TEXT NOT NULL, file TEXT NOT NULL, bytes INTEGER, exported_at TEXT NOT NULL,
        run_id INTEGER, PRIMARY KEY (dir, table_name, part)) WITHOUT ROWID, STRICT""")
    # History pruned out of SQLite after an export proved it holds those days: before `before_day`
    # the table keeps only each model's latest row; the rest is in `dir`.
    db["history_prunes"].create({"id": int, "run_id": int, "table_name": str, "before_day": int, "dir": str,
                                 "rows_deleted": int, "pruned_at": str}, pk="id",
                                not_null={"table_name", "before_day", "dir", "rows_deleted", "pruned_at"}, strict=True)
    for column in ("files_written", "rows_written", "rows_pruned"):
        db["runs"].add_column(column, int)


@migrations()
def m009_match_graph(db):
    # The search crawl (`hubdex crawl --search`): each query it runs, where the query came from, and
    # when its stored results were fetched (a query is re-run only past its refresh period).
    # endpoint: 'models' (/api/models?search= or a task listing) or 'quicksearch' (/api/quicksearch).
    db.execute("""CREATE TABLE search_queries (id INTEGER PRIMARY KEY, endpoint TEXT NOT NULL, query TEXT NOT NULL,
        params TEXT NOT NULL, origin TEXT NOT NULL, weight REAL NOT NULL, refresh_days INTEGER NOT NULL,
        fetched_day INTEGER, fetched_at TEXT, results INTEGER, total INTEGER, run_id INTEGER, status TEXT,
        UNIQUE (endpoint, query, params)) STRICT""")
    # Raw results, as ranked on the day they were fetched: position 1 is the first result.
    db.execute("""CREATE TABLE search_results (query_id INTEGER NOT NULL, day INTEGER NOT NULL, position INTEGER NOT NULL,
        model_id TEXT NOT NULL, PRIMARY KEY (query_id, day, position)) WITHOUT ROWID, STRICT""")
    # The match graph, rebuilt by derive from the raw evidence above and in cards, evaluations and
    # relations (so that its weights can change without refetching anything).
    # Copies (quantised and format copies) fold into the model they copy: never its competitors.
    db.execute("""CREATE TABLE match_copies (model_key INTEGER PRIMARY KEY, canonical_key INTEGER NOT NULL,
        via TEXT NOT NULL) WITHOUT ROWID, STRICT""")
    db.execute("CREATE INDEX idx_match_copies_canonical ON match_copies(canonical_key)")
    # One row per evidence set: a query's results on a day, a benchmark (dataset and metric), a card's
    # comparison table, a base model's finetunes, a task and size neighbourhood. `source` names the
    # rows it stands for (JSON), `weight` its own discount (a generic query or benchmark says less).
    db.execute("""CREATE TABLE match_evidence (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL,
        source TEXT NOT NULL, members INTEGER NOT NULL, weight REAL NOT NULL) STRICT""")
    # Edges between canonical models (a_key < b_key): competitors share a task; complements were
    # found together across tasks. Each kind's contribution to the weight is kept beside it.
    db.execute("""CREATE TABLE match_edges (a_key INTEGER NOT NULL, b_key INTEGER NOT NULL, relation TEXT NOT NULL,
        task TEXT, weight REAL NOT NULL, search REAL NOT NULL, benchmark REAL NOT NULL, card_table REAL NOT NULL,
        sibling REAL NOT NULL, size REAL NOT NULL, evidence INTEGER NOT NULL,
        PRIMARY KEY (a_key, b_key)) WITHOUT ROWID, STRICT""")
    db.execute("CREATE INDEX idx_match_edges_b ON match_edges(b_key)")
    # Which evidence sets made each edge, with what each says of the pair (positions, both values,
    # the table's location).
    db.execute("""CREATE TABLE match_edge_evidence (a_key INTEGER NOT NULL, b_key INTEGER NOT NULL,
        evidence_id INTEGER NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (a_key, b_key, evidence_id)) WITHOUT ROWID, STRICT""")
    db["runs"].add_column("searches", int)


@migrations()
def m010_card_blob_ids(db):
    # The git blob id of the README.md a card was read from, checked against the response's ETag
    # when it was fetched. NULL on a card stored before bodies were checked (it may be short): the
    # card crawl reads those again.
    db["cards"].add_column("blob_id", str)


@migrations()
def m011_comparisons(db):
    # "A vs B" entries (hubdex.compare): one row per unordered pair, model_a < model_b (ids). The
    # entry as JSON and as Markdown; inputs_hash is the hash of exactly what the entry shows, so a
    # derive rebuilds an entry only when it moves. An entry whose side was removed (or that is no
    # longer among either side's top competitors) is marked stale with its reason, never deleted.
    db.execute("""CREATE TABLE comparisons (model_a TEXT NOT NULL, model_b TEXT NOT NULL, a_key INTEGER NOT NULL,
        b_key INTEGER NOT NULL, inputs_hash TEXT NOT NULL, generated_at TEXT NOT NULL, run_id INTEGER,
        entry TEXT NOT NULL, markdown TEXT NOT NULL, stale INTEGER NOT NULL DEFAULT 0, stale_reason TEXT,
        stale_since TEXT, PRIMARY KEY (model_a, model_b)) WITHOUT ROWID, STRICT""")
    db.execute("CREATE INDEX idx_comparisons_b ON comparisons(model_b)")
    # Per model in an entry: the hash of its side (what entries show of it) and the shown key (its
    # rounded scores, times matched, copies: what no model_changes row reports), so that a derive
    # reads again only the sides that may have moved.
    db.execute("""CREATE TABLE comparison_sides (model_key INTEGER PRIMARY KEY, side_hash TEXT NOT NULL,
        shown TEXT NOT NULL) WITHOUT ROWID, STRICT""")
    # Each derive run's comparison step: entries built (new), rebuilt (hash moved), left alone, marked stale.
    db["comparison_runs"].create({"run_id": int, "pairs": int, "built": int, "rebuilt": int, "unchanged": int,
                                  "stale": int, "revived": int, "sides_read": int, "top_m": int,
                                  "seconds": float, "cpu_seconds": float}, pk="run_id",
                                 strict=True)


@migrations()
def m012_hardening_model_renames(db):
    # Ids a model had before the Hub renamed it (seen by a crawl: same `_id`, new id), so that every
    # command finds a model by the id a user remembers (store/lookup.py).
    db.execute("""CREATE TABLE model_renames (old_id TEXT PRIMARY KEY, model_key INTEGER NOT NULL,
        renamed_at TEXT NOT NULL) WITHOUT ROWID, STRICT""")


@migrations()
def m012_evidence_eval_results(db):
    # Evidence of quality (issue 22), one table every reader shares: each result a model has on a
    # benchmark, from any origin. origin: 'evalResults' (the listing's expand=evalResults, or
    # model_info where the listing could not carry them), 'leaderboard' (GET /api/datasets/{id}/
    # leaderboard), 'model-index' (the card's front matter). A benchmark is (dataset_id, task_id,
    # split, metric): task_id is the Hub's task id or the model-index `dataset.config` (glue/sst2 and
    # glue/mnli are two benchmarks); NULL where the source names none. kind: 'verified' (a verify
    # token / verified badge), 'third-party' (a source other than the model's author: a leaderboard,
    # an evaluator), 'claim' (the author's own figure, a community pull request). model_key is the
    # crawled model's key (NULL while a leaderboard names a model not crawled yet).
    db.execute("""CREATE TABLE eval_results (id INTEGER PRIMARY KEY, model_id TEXT NOT NULL, model_key INTEGER,
        origin TEXT NOT NULL, dataset_id TEXT NOT NULL, task_id TEXT, split TEXT, metric TEXT, value REAL NOT NULL,
        kind TEXT NOT NULL, source_name TEXT, source_url TEXT, source_by TEXT, date TEXT, notes TEXT, filename TEXT,
        rank INTEGER, fetched_at TEXT NOT NULL, run_id INTEGER) STRICT""")
    db.execute("CREATE INDEX idx_eval_results_model ON eval_results(model_key, origin)")
    db.execute("CREATE INDEX idx_eval_results_model_id ON eval_results(model_id, origin)")
    db.execute("CREATE INDEX idx_eval_results_benchmark ON eval_results(dataset_id, task_id, split, metric)")
    # Benchmark datasets (GET /api/datasets?filter=benchmark:official) and what their leaderboards
    # taught: lower_is_better from the leaderboard's rank order (NULL: not known), when it was read.
    db.execute("""CREATE TABLE benchmarks (dataset_id TEXT PRIMARY KEY, official INTEGER NOT NULL, listed_day INTEGER,
        leaderboard_day INTEGER, leaderboard_status TEXT, entries INTEGER, lower_is_better INTEGER,
        direction_via TEXT, raw TEXT) STRICT""")
    # Spaces that load models (GET /api/spaces?models=ID&expand=models): every model each Space loads,
    # so a Space that loads two models is evidence that people use or compare them together.
    db.execute("""CREATE TABLE space_models (space_id TEXT NOT NULL, model_id TEXT NOT NULL, day INTEGER NOT NULL,
        likes INTEGER, PRIMARY KEY (space_id, model_id)) WITHOUT ROWID, STRICT""")
    db.execute("CREATE INDEX idx_space_models_model ON space_models(model_id)")
    # Which models' Spaces were asked for, and when (the spaces crawl refreshes them weekly).
    db.execute("""CREATE TABLE space_queries (model_id TEXT PRIMARY KEY, day INTEGER NOT NULL, spaces INTEGER,
        status TEXT) WITHOUT ROWID, STRICT""")
    # The signals' new parts: quality from evidence with documentation apart, family adoption
    # (downloads of copies counted toward the canonical model), and what the rank could know.
    for column, kind in (("documentation", "REAL"), ("quality_benchmarks", "INTEGER"), ("quality_sources", "TEXT"),
                         ("family_downloads_30d", "INTEGER"), ("p_family_downloads_30d", "REAL"),
                         ("pt_family_downloads_30d", "REAL"), ("rank_known_weight", "REAL"), ("task_group", "TEXT")):
        db.execute(f"ALTER TABLE model_scores ADD COLUMN {column} {kind}")


@migrations()
def m012_serve_model_overview(db):
    # model_overview was a view (model_scores joined to models). Datasette counts each facet over
    # the whole view: at a million models every facet was a million-row join (0.3-2 s each). It is
    # now a table of its own, one row per scored model with the columns the analyst's start page
    # shows and facets (task, library, licence class, gated, size band), refreshed by every derive
    # for the models that moved (store/overview.py), so each facet is one covering-index scan.
    db.execute("DROP VIEW IF EXISTS model_overview")
    db.execute("""CREATE TABLE model_overview (model_key INTEGER PRIMARY KEY, model_id TEXT NOT NULL,
        pipeline_tag TEXT, library_name TEXT, licence_family TEXT, gated TEXT, size_band TEXT NOT NULL,
        rank REAL, adoption REAL, quality REAL, ecosystem REAL, pricing REAL, match REAL,
        capabilities_count INTEGER, licence TEXT, commercial_use TEXT, pricing_class TEXT,
        cheapest_provider TEXT, cheapest_input_usd_per_m REAL, cheapest_output_usd_per_m REAL,
        params INTEGER, downloads INTEGER, downloads_all_time INTEGER, likes INTEGER, trending_score INTEGER,
        growth_7d INTEGER, growth_30d INTEGER, created_at TEXT) STRICT""")
    # The trends the analysts' dashboards chart (tasks, libraries, licence classes, gating, size
    # bands over time), a few thousand rows however many models: kind 'created' counts the models
    # created each month (period YYYY-MM) with their current figures, recomputed by every derive;
    # kind 'day' is what the catalogue held on each derive's day (period YYYY-MM-DD), kept.
    db.execute("""CREATE TABLE overview_trends (kind TEXT NOT NULL, facet TEXT NOT NULL, value TEXT NOT NULL,
        period TEXT NOT NULL, models INTEGER NOT NULL, downloads INTEGER, downloads_all_time INTEGER, likes INTEGER,
        PRIMARY KEY (kind, facet, value, period)) WITHOUT ROWID, STRICT""")


@migrations()
def m013_serve_overview_cube(db):
    # The start page's facet counts: model_overview's rows counted per combination of its five facet
    # columns (some tens of thousands of rows at a million models), so a facet count, unfiltered or
    # within other facets' values, sums a small table instead of scanning a million index entries
    # (300-400 ms each, five per page). Refreshed with overview_trends by every derive.
    db.execute("""CREATE TABLE overview_cube (pipeline_tag TEXT, library_name TEXT, licence_family TEXT, gated TEXT,
        size_band TEXT, models INTEGER NOT NULL) STRICT""")


@migrations()
def m014_serve_overview_breakdowns(db):
    # The licence and pricing breakdowns (hubdex serve's licence_breakdown and pricing_breakdown),
    # computed by every derive: as queries each scanned a million index entries (600-800 ms at a
    # million models under load).
    db.execute("""CREATE TABLE overview_breakdowns (breakdown TEXT NOT NULL, licence_family TEXT,
        commercial_use TEXT, licence TEXT, pricing_class TEXT, models INTEGER NOT NULL, mean_rank REAL, best_rank REAL,
        with_hosted_providers INTEGER, cheapest_input_usd_per_m REAL, cheapest_output_usd_per_m REAL) STRICT""")


@migrations()
def m013_match_rivals(db):
    # (branch `match`, issue 22: renumber freely) The match graph's edges gain the Spaces that load
    # both models as a kind of evidence, the tier of the strongest evidence (3 measured: a shared
    # benchmark or a comparison table; 2 Spaces; 1 search only) and `standing`, the order a chooser
    # reads rivals in (tier, then evidence strength in quarters, then both sides' adoption in
    # half-decades of downloads). `relation` may now also be 'family' (same family, another size or
    # generation: listed apart, never a rival). `sibling` and `size` are no longer written (0).
    have = set(db["match_edges"].columns_dict)  # (a database migrated under this migration's earlier name)
    for column, kind in (("spaces", "REAL"), ("tier", "INTEGER"), ("standing", "REAL")):
        if column not in have:
            db.execute(f"ALTER TABLE match_edges ADD COLUMN {column} {kind} NOT NULL DEFAULT 0")


@migrations()
def m014_site_model_configs(db):
    # (branch `site`, issue 23: renumber freely) The small JSON configuration files a chooser's facts
    # come from (context length, embedding dimension, max input), read with the card at the same sha:
    # config.json, sentence_bert_config.json, 1_Pooling/config.json, ... (crawl/cards.py CONFIG_FILES).
    db.execute("""CREATE TABLE model_configs (model_key INTEGER NOT NULL REFERENCES models(key), path TEXT NOT NULL,
        sha TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (model_key, path)) WITHOUT ROWID, STRICT""")
PERCENTILE_SIGNALS = ("adoption", "quality", "ecosystem", "pricing", "rank")


@migrations()
def m012_scale_percentiles_apart(db):
    # A signal's percentile among all models is a function of its value alone (mid-rank, ties
    # shared), and moves whenever any model's value crosses it: kept in model_scores it moved 99% of
    # the rows after 1% of models changed. Kept apart, one row per (signal, value) (at most 10,001 a
    # signal at two decimals), a derive writes only the values whose percentile moved; the view
    # model_score_percentiles gives each model's, as the columns did.
    db.execute("""CREATE TABLE score_percentiles (signal TEXT NOT NULL, value REAL NOT NULL, pct REAL,
        PRIMARY KEY (signal, value)) WITHOUT ROWID, STRICT""")
    for s in PERCENTILE_SIGNALS:
        db.execute(f"INSERT OR IGNORE INTO score_percentiles SELECT '{s}', {s}, {s}_pct FROM model_scores "
                   f"WHERE {s} IS NOT NULL")
    for s in PERCENTILE_SIGNALS:
        db.execute(f"ALTER TABLE model_scores DROP COLUMN {s}_pct")


@migrations()
def m016_derivefast_match_contributions(db):
    # (branch `derivefast`, issues 22/25: renumber freely) match_edge_evidence holds what every evidence
    # set says of every pair, gated pairs included (they have no row in match_edges), with the kind of
    # the set and the contribution's value: a rebuild after a few models changed recomputes only the
    # sets that hold one and re-reduces only their pairs, the other sets' contributions read from here.
    # (Rows written before carry kind -1: the next build, a full one since its code changed, rewrites them.)
    have = set(db["match_edge_evidence"].columns_dict)
    if "kind" not in have:
        db.execute("ALTER TABLE match_edge_evidence ADD COLUMN kind INTEGER NOT NULL DEFAULT -1")
    if "value" not in have:
        db.execute("ALTER TABLE match_edge_evidence ADD COLUMN value REAL NOT NULL DEFAULT 0")
    if "close" not in have:  # (how near the two stand on one leaderboard, NULL where the set orders nobody)
        db.execute("ALTER TABLE match_edge_evidence ADD COLUMN close REAL")
    db.execute("CREATE INDEX IF NOT EXISTS idx_match_edge_evidence_set ON match_edge_evidence(evidence_id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_match_edge_evidence_b ON match_edge_evidence(b_key)")
    # What each model in the graph's evidence last gave the graph, as three digests (`core`: its task,
    # name, size, language and chat tags, relations; `results`: its card's results and eval_results;
    # `spaces`: the Spaces that load it) and its downloads: a model whose card was read again but
    # whose results did not move touches no evidence set, one whose results moved only its
    # leaderboards and tables.
    db.execute("""CREATE TABLE IF NOT EXISTS match_inputs (model_key INTEGER PRIMARY KEY, core INTEGER NOT NULL,
        results INTEGER NOT NULL, spaces INTEGER NOT NULL, downloads INTEGER) STRICT""")


@migrations()
def m015_matchq_side_standings(db):
    # (branch `matchq`, issue 22: renumber freely) The order each side of a competitor edge reads the
    # other in: `a_standing` is b's place in a's list, `b_standing` a's in b's. `standing` is shared by
    # both; a side's adds what makes a distinct alternative (the first of its family or base model's
    # tree in that list), so a list leads with distinct rivals, not three sizes of one family.
    have = set(db["match_edges"].columns_dict)
    for column in ("a_standing", "b_standing"):
        if column not in have:
            db.execute(f"ALTER TABLE match_edges ADD COLUMN {column} REAL NOT NULL DEFAULT 0")
    db.execute("UPDATE match_edges SET a_standing = standing, b_standing = standing")


@migrations()
def m016_matchq_contribution_closeness(db):
    # (branch `matchq`, issue 22: renumber freely) What a pair's contribution says of how close the two
    # stand on that set (1 - the gap between their percentiles on one leaderboard; NULL where the set
    # orders nobody): it orders measured rivals, and an update reads it back with the rest.
    if "close" not in set(db["match_edge_evidence"].columns_dict):
        db.execute("ALTER TABLE match_edge_evidence ADD COLUMN close REAL")
