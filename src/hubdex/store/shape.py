"""The derived shape of the database: views, the full-text index and the analyst indexes.

Migrations (schema.py) create and change tables; everything here is derived from those tables, so
it is declared once, in this file, and applied by `ensure_shape`, which is idempotent: a view whose
SQL differs from its declaration is replaced, a missing index or trigger is created, and nothing
else is touched. `open_db` calls it, so every database is in shape however old it is.
"""

from __future__ import annotations

# Indexes that serve analysts, not the crawl. A first full pass into an empty database drops them
# and builds them once at the end (maintaining them row by row costs a third of the ingest time).
ANALYST_INDEXES = {
    "idx_models_author": "models(author)",
    "idx_models_downloads": "models(downloads)",
    "idx_model_tags_tag": "model_tags(tag)",
    "idx_model_relations_parent_relation": "model_relations(parent, relation)",
    "idx_model_spaces_space_id": "model_spaces(space_id)",
    "idx_model_providers_provider": "model_providers(provider)",
    # The match graph's reads (derive/match.py): every model's task without touching the rows, and
    # models by repo name, case-insensitively (format copies, names in comparison tables).
    "idx_models_key_pipeline_tag": "models(key, pipeline_tag)",
    "idx_models_repo_name": "models(lower(substr(id, instr(id, '/') + 1)), key)",
    # For `hubdex serve` (Datasette): every column a default sort, a facet or a canned query reads
    # is indexed, since an unindexed sort or GROUP BY over a million rows runs past the time limit.
    # The breakdowns' indexes cover their queries (no lookup into the table).
    "idx_models_library_name": "models(library_name)",
    # A facet clicked on `models` (a task) then sorted by downloads, and the other facets within it:
    # without these, 20,000 full rows read and sorted per page at 100,000 models.
    "idx_models_task_downloads": "models(pipeline_tag, downloads)",
    "idx_models_task_library_author": "models(pipeline_tag, library_name, author)",
    "idx_models_live_sha": "models(key, sha, removed_at) WHERE removed_at IS NULL",  # the card backlog's count
    "idx_model_scores_licence": "model_scores(licence_family, commercial_use, licence, rank)",
    "idx_model_scores_pricing": ("model_scores(pricing_class, rank, hosted_providers, cheapest_input_usd_per_m, "
                                 "cheapest_output_usd_per_m)"),
    # partial: only growing models are ever listed by growth (fewer entries for the derive to write)
    "idx_model_scores_growth_7d": "model_scores(growth_7d) WHERE growth_7d > 0",
    "idx_model_scores_growth_30d": "model_scores(growth_30d) WHERE growth_30d > 0",
    "idx_router_prices_day": "router_prices(day, status)",
    "idx_router_prices_provider": "router_prices(provider)",
    "idx_runs_mode": "runs(mode, id)",
    "idx_runs_status": "runs(status)",
    "idx_cards_source": "cards(source)",
    # crawl_health's card backlog: every card's (key, sha) read from this narrow index, not the rows
    "idx_cards_sha": "cards(sha)",
    # model_overview (a table: store/overview.py), the analyst's start page. Its default sort
    # (rank, descending) and each of its five facets: one index per facet column, led by it, then
    # rank, then the four other facet columns. An unfiltered facet's count is one scan of its index;
    # a page filtered by a facet value reads its rows down that index already in rank order (no
    # sort of the value's rows: 950,000 of them for gated = 'false' at a million models) and counts
    # the other four facets inside the same index range (covering: no row read). Also read by
    # models_by_size_band and the trends dashboard's size-bands chart (by_size, by_task).
    "idx_model_overview_rank": "model_overview(rank)",
    "idx_model_overview_by_task": ("model_overview(pipeline_tag, rank, library_name, licence_family, gated, "
                                   "size_band)"),
    "idx_model_overview_by_library": ("model_overview(library_name, rank, pipeline_tag, licence_family, gated, "
                                      "size_band)"),
    "idx_model_overview_by_licence": ("model_overview(licence_family, rank, pipeline_tag, library_name, gated, "
                                      "size_band)"),
    "idx_model_overview_by_gated": ("model_overview(gated, rank, pipeline_tag, library_name, licence_family, "
                                    "size_band)"),
    "idx_model_overview_by_size": ("model_overview(size_band, rank, pipeline_tag, library_name, licence_family, "
                                   "gated)"),
    # models_by_size_band and the trends dashboard's size-bands chart for one task: the task's range
    # read in band order from this narrow index (the wide by_task one needed a sort of its range)
    "idx_model_overview_task_size": "model_overview(pipeline_tag, size_band)",
    # each task's top growers (partial: growing models only): movers_per_task, the trends dashboard's
    # movers-per-task chart and fastest_growing_7d with a task; fastest_growing_30d with a task
    "idx_model_overview_task_growth": "model_overview(pipeline_tag, growth_7d) WHERE growth_7d > 0",
    "idx_model_overview_task_growth_30d": "model_overview(pipeline_tag, growth_30d) WHERE growth_30d > 0",
}

# Views, in dependency order (a view is created after those it reads).
VIEWS = {
    # Any model's daily series: its figures on each recorded day, carried forward between moves.
    "model_daily_metrics": """
        SELECT m.id AS model_id, d.date AS date, h.downloads, h.downloads_all_time, h.likes, h.trending_score,
               h.day = d.day AS moved
        FROM models m
        JOIN metric_days d
        JOIN metrics_history h ON h.model_key = m.key AND h.day = (
            SELECT max(h2.day) FROM metrics_history h2 WHERE h2.model_key = m.key AND h2.day <= d.day)""",
    # The inference router's offers as of the latest catalogue seen (older days are history). The
    # one definition of "current prices": capabilities, signals and analysts all read it.
    "current_router_prices": """
        SELECT * FROM router_prices WHERE day = (SELECT max(day) FROM router_prices)""",
    # The compact metadata capability rows, spelt out.
    "model_capabilities": """
        SELECT r.model_key, n.name AS capability, r.detail, e.evidence_kind, e.evidence_source, e.confidence
        FROM model_capability_rows r JOIN capability_names n ON n.id = r.capability_id
        JOIN capability_evidence e ON e.id = r.evidence_id""",
    # Every capability of a model, from the card and from the metadata, with where it came from.
    "all_capabilities": """
        SELECT m.id AS model_id, c.capability, c.detail, c.evidence_kind, c.evidence_source, c.confidence,
               'card' AS origin
        FROM capabilities c JOIN models m ON m.key = c.model_key
        UNION ALL
        SELECT m.id, c.capability, c.detail, c.evidence_kind, c.evidence_source, c.confidence, 'metadata'
        FROM model_capabilities c JOIN models m ON m.key = c.model_key""",
    # Each model's percentile of each signal among all models, looked up by value (score_percentiles:
    # written apart so that a percentile moving rewrites one row a value, not a row a model).
    "model_score_percentiles": """
        SELECT s.model_key, a.pct AS adoption_pct, q.pct AS quality_pct, e.pct AS ecosystem_pct,
               p.pct AS pricing_pct, r.pct AS rank_pct
        FROM model_scores s
        LEFT JOIN score_percentiles a ON a.signal = 'adoption' AND a.value = s.adoption
        LEFT JOIN score_percentiles q ON q.signal = 'quality' AND q.value = s.quality
        LEFT JOIN score_percentiles e ON e.signal = 'ecosystem' AND e.value = s.ecosystem
        LEFT JOIN score_percentiles p ON p.signal = 'pricing' AND p.value = s.pricing
        LEFT JOIN score_percentiles r ON r.signal = 'rank' AND r.value = s.rank""",
    # What each derive run found changed, by model id (the comparisons rebuild from this).
    "model_changes_by_id": """
        SELECT c.run_id, r.started_at, m.id AS model_id, c.reason
        FROM model_changes c JOIN runs r ON r.id = c.run_id JOIN models m ON m.key = c.model_key""",
}

SEARCH_TABLE, SEARCH_COLUMNS = "model_search", ["id", "author", "tags", "card"]
SEARCH_TRIGGERS = ("model_search_ai", "model_search_ad", "model_search_au")


def _view_sql(name: str, body: str) -> str:
    return f"CREATE VIEW {name} AS{body}"


def ensure_views(conn):
    present = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall())
    stale = [n for n, body in VIEWS.items() if present.get(n) != _view_sql(n, body)]
    if not stale:
        return
    # A view that changed may be read by a later one: drop from the end, create from the start.
    first = min(list(VIEWS).index(n) for n in stale)
    names = list(VIEWS)[first:]
    for name in reversed(names):
        conn.execute(f"DROP VIEW IF EXISTS {name}")
    for name in names:
        conn.execute(_view_sql(name, VIEWS[name]))


# Indexes no query needs any more, dropped where an older database has them: models(pipeline_tag) is
# the leading column of idx_models_task_downloads and idx_models_task_library_author, which serve
# every lookup, facet and GROUP BY on the task it served (~25 B a model).
OBSOLETE_INDEXES = ("idx_models_pipeline_tag",)


def ensure_analyst_indexes(conn):
    for name in OBSOLETE_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    for name, target in ANALYST_INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def drop_analyst_indexes(conn):
    for name in ANALYST_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")


def ensure_search_index(db, rebuild: bool = False):
    """The FTS5 index over model_search and the triggers that keep it in step; `rebuild` refills it
    from the table (after a bulk first pass, which ran without the triggers)."""
    present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    if rebuild or not set(SEARCH_TRIGGERS) <= present:
        db[SEARCH_TABLE].enable_fts(SEARCH_COLUMNS, fts_version="FTS5", create_triggers=True, tokenize="porter",
                                    replace=True)


def drop_search_triggers(conn):
    for name in SEARCH_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")


def begin_bulk_load(conn):
    """A first pass into an empty database writes faster without the analyst indexes and the search
    triggers; `ensure_shape(db, rebuild_search=True)` puts them back at its end."""
    drop_analyst_indexes(conn)
    drop_search_triggers(conn)


def ensure_shape(db, *, bulk_load_in_progress: bool = False, rebuild_search: bool = False):
    """Views always; indexes and the search index unless a first pass is bulk-loading (it builds them
    at its end; if it was killed and is not being resumed, the next open builds them)."""
    ensure_views(db.conn)
    if not bulk_load_in_progress:
        ensure_analyst_indexes(db.conn)
        ensure_search_index(db, rebuild=rebuild_search)
