"""hubdex's schema, as `sqlite_utils.Migrations`: one function per change, never edited once applied.

Tables are STRICT with explicit types. JSON values are TEXT columns holding JSON. Dates are the
Hub's ISO-8601 strings; history days are integers (days since 1970-01-01, UTC), which keeps a
history row to a few bytes.
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("hubdex")

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


# Indexes that serve analysts, not the crawl. A first full pass into an empty database drops them
# and builds them once at the end (maintaining them row by row costs a third of the ingest time).
ANALYST_INDEXES = {
    "idx_models_author": "models(author)",
    "idx_models_pipeline_tag": "models(pipeline_tag)",
    "idx_models_downloads": "models(downloads)",
    "idx_model_tags_tag": "model_tags(tag)",
    "idx_model_relations_parent_relation": "model_relations(parent, relation)",
    "idx_model_spaces_space_id": "model_spaces(space_id)",
    "idx_model_providers_provider": "model_providers(provider)",
}


def ensure_analyst_indexes(conn):
    for name, target in ANALYST_INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def drop_analyst_indexes(conn):
    for name in ANALYST_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")


@migrations()
def m001_models_and_children(db):
    db["models"].create(MODEL_TYPES, pk="id", not_null={"key", "oid", "raw", "meta_hash", "first_seen"},
                        strict=True)
    for name, expr in JSON_COLUMNS.items():
        db.execute(f"ALTER TABLE models ADD COLUMN {name} TEXT GENERATED ALWAYS AS ({expr}) VIRTUAL")
    db["models"].create_index(["key"], unique=True)
    db["models"].create_index(["oid"], unique=True)
    for table, columns in CHILD_TABLES_SQL.items():
        db.execute(f"CREATE TABLE {table} (model_key INTEGER NOT NULL REFERENCES models(key), {columns}) "
                   "WITHOUT ROWID, STRICT")
    ensure_analyst_indexes(db.conn)


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
    db.execute("""CREATE VIEW model_daily_metrics AS
        SELECT m.id AS model_id, d.date AS date, h.downloads, h.downloads_all_time, h.likes, h.trending_score,
               h.day = d.day AS moved
        FROM models m
        JOIN metric_days d
        JOIN metrics_history h ON h.model_key = m.key AND h.day = (
            SELECT max(h2.day) FROM metrics_history h2 WHERE h2.model_key = m.key AND h2.day <= d.day)""")


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
    ensure_search_index(db)


SEARCH_TRIGGERS = ("model_search_ai", "model_search_ad", "model_search_au")


def ensure_search_index(db, rebuild: bool = False):
    """The FTS5 index over model_search and the triggers that keep it in step; `rebuild` refills it
    from the table (after a bulk first pass, which ran without the triggers)."""
    present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    if rebuild or not set(SEARCH_TRIGGERS) <= present:
        db["model_search"].enable_fts(["id", "author", "tags", "card"], fts_version="FTS5", create_triggers=True,
                                      tokenize="porter", replace=True)


def drop_search_triggers(conn):
    for name in SEARCH_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")


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
    db.execute("""CREATE VIEW model_capabilities AS
        SELECT r.model_key, n.name AS capability, r.detail, e.evidence_kind, e.evidence_source, e.confidence
        FROM model_capability_rows r JOIN capability_names n ON n.id = r.capability_id
        JOIN capability_evidence e ON e.id = r.evidence_id""")
    # Every capability of a model, from the card and from the metadata, with where it came from.
    db.execute("""CREATE VIEW all_capabilities AS
        SELECT m.id AS model_id, c.capability, c.detail, c.evidence_kind, c.evidence_source, c.confidence,
               'card' AS origin
        FROM capabilities c JOIN models m ON m.key = c.model_key
        UNION ALL
        SELECT m.id, c.capability, c.detail, c.evidence_kind, c.evidence_source, c.confidence, 'metadata'
        FROM model_capabilities c JOIN models m ON m.key = c.model_key""")
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
    parts = (["p_" + k for k in ADOPTION_INPUTS] + ["pt_" + k for k in ADOPTION_INPUTS]
             + ["q_" + k for k in QUALITY_PARTS] + ["e_" + k for k in ECOSYSTEM_PARTS])
    db.execute(f"""CREATE TABLE model_scores (
        model_key INTEGER PRIMARY KEY, capabilities_count INTEGER,
        licence TEXT, licence_family TEXT, commercial_use TEXT, licence_via TEXT,
        pricing_class TEXT, cheapest_provider TEXT, cheapest_input_usd_per_m REAL, cheapest_output_usd_per_m REAL,
        hosted_providers INTEGER, growth_7d INTEGER, growth_30d INTEGER, eval_standing REAL,
        adoption REAL, quality REAL, ecosystem REAL, pricing REAL, match REAL, rank REAL,
        adoption_pct REAL, quality_pct REAL, ecosystem_pct REAL, pricing_pct REAL, rank_pct REAL,
        {', '.join(c + ' REAL' for c in parts)}, weights_id TEXT) STRICT""")
    db["model_scores"].create_index(["rank"])
    db.execute("""CREATE VIEW model_overview AS
        SELECT m.id AS model_id, m.pipeline_tag, s.rank, s.adoption, s.quality, s.ecosystem, s.pricing, s.match,
               s.capabilities_count, s.licence, s.licence_family, s.commercial_use, s.pricing_class,
               s.cheapest_provider, s.cheapest_input_usd_per_m, s.cheapest_output_usd_per_m,
               m.downloads, m.downloads_all_time, m.likes, m.trending_score, s.growth_7d, s.growth_30d
        FROM model_scores s JOIN models m ON m.key = s.model_key""")


# The parts of each signal, as the weights file names them (columns p_/pt_/q_/e_<part> of
# model_scores). Literal here: a migration must not change when the code around it does.
ADOPTION_INPUTS = ("downloads_30d", "downloads_all_time", "likes", "trending", "growth_7d", "growth_30d")
QUALITY_PARTS = ("card", "evaluations", "paper", "licence", "safe_weights")
ECOSYSTEM_PARTS = ("finetunes", "adapters", "quantizations", "merges", "spaces", "providers", "library", "formats",
                   "datasets")
