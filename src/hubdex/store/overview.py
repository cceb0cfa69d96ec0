"""model_overview: the analyst's starting table, kept as a table rather than a view.

One row per scored model: its id, task, library, licence class, gating, size band, signals, rank,
prices and figures. As a view (model_scores joined to models) every facet Datasette counted was a
million-row join at a million models (0.3-2 s each); as a table each facet is one scan of a
covering index (store/shape.py, the `idx_model_overview_*` indexes).

It is refreshed by every derive (the derive job runs `refresh` after the scores are written, in
the same transaction) for the models that moved in that run (model_changes), or whole when the
derive rebuilt everything or the table disagrees with model_scores in size; `hubdex serve` fills it
once for a database derived before it existed.
"""

from __future__ import annotations

from dataclasses import dataclass

# The size band of a parameter count; unknown when it could not be read (never "small").
SIZE_BAND_SQL = """CASE WHEN m.params IS NULL OR m.params <= 0 THEN 'unknown'
    WHEN m.params < 100000000 THEN 'under 100M' WHEN m.params < 1000000000 THEN '100M-1B'
    WHEN m.params < 10000000000 THEN '1B-10B' WHEN m.params < 100000000000 THEN '10B-100B'
    ELSE '100B and more' END"""

COLUMNS = ("model_key", "model_id", "pipeline_tag", "library_name", "licence_family", "gated", "size_band", "rank",
           "adoption", "quality", "ecosystem", "pricing", "match", "capabilities_count", "licence", "commercial_use",
           "pricing_class", "cheapest_provider", "cheapest_input_usd_per_m", "cheapest_output_usd_per_m", "params",
           "downloads", "downloads_all_time", "likes", "trending_score", "growth_7d", "growth_30d", "created_at")

SELECT = f"""SELECT s.model_key, m.id, m.pipeline_tag, m.library_name, s.licence_family, m.gated, {SIZE_BAND_SQL},
    s.rank, s.adoption, s.quality, s.ecosystem, s.pricing, s.match, s.capabilities_count, s.licence, s.commercial_use,
    s.pricing_class, s.cheapest_provider, s.cheapest_input_usd_per_m, s.cheapest_output_usd_per_m, m.params,
    m.downloads, m.downloads_all_time, m.likes, m.trending_score, s.growth_7d, s.growth_30d, m.created_at
    FROM model_scores s JOIN models m ON m.key = s.model_key"""


# The facets the trends are kept for: (name in overview_trends, model_overview's column).
TREND_FACETS = (("task", "pipeline_tag"), ("library", "library_name"), ("licence_class", "licence_family"),
                ("gated", "gated"), ("size_band", "size_band"))


# The facet columns the start page counts from overview_cube (serve's facet class reads it).
CUBE_COLUMNS = ("pipeline_tag", "library_name", "licence_family", "gated", "size_band")


def refresh_cube(conn):
    """overview_cube: model_overview's rows counted per combination of its facet columns."""
    columns = ", ".join(CUBE_COLUMNS)
    conn.execute("DELETE FROM overview_cube")
    conn.execute(f"INSERT INTO overview_cube SELECT {columns}, count(*) FROM model_overview GROUP BY {columns}")


def refresh_breakdowns(conn):
    """overview_breakdowns: models per licence (family, commercial use) and per pricing class, with
    their ranks and prices, as hubdex serve's licence_breakdown and pricing_breakdown show them."""
    conn.execute("DELETE FROM overview_breakdowns")
    conn.execute("""INSERT INTO overview_breakdowns (breakdown, licence_family, commercial_use, licence, models,
                        mean_rank, best_rank)
        SELECT 'licence', licence_family, commercial_use, licence, count(*), round(avg(rank), 1), max(rank)
        FROM model_scores GROUP BY licence_family, commercial_use, licence""")
    conn.execute("""INSERT INTO overview_breakdowns (breakdown, pricing_class, models, with_hosted_providers,
                        cheapest_input_usd_per_m, cheapest_output_usd_per_m, mean_rank)
        SELECT 'pricing', pricing_class, count(*), sum(hosted_providers > 0), min(cheapest_input_usd_per_m),
               min(cheapest_output_usd_per_m), round(avg(rank), 1)
        FROM model_scores GROUP BY pricing_class""")


def refresh_trends(conn, day: int | None):
    """overview_trends from model_overview: the models created each month per facet value (whole,
    every derive), and, on `day`, the catalogue's totals per facet value (that day's rows replaced);
    then overview_cube and overview_breakdowns."""
    refresh_cube(conn)
    refresh_breakdowns(conn)
    conn.execute("DELETE FROM overview_trends WHERE kind = 'created'")
    for facet, column in TREND_FACETS:
        conn.execute(f"""INSERT INTO overview_trends
            SELECT 'created', ?, coalesce({column}, '(none)'), coalesce(substr(created_at, 1, 7), 'unknown'),
                   count(*), sum(downloads), sum(downloads_all_time), sum(likes)
            FROM model_overview GROUP BY 3, 4""", (facet,))
    if day is not None:
        date = conn.execute("SELECT date(? * 86400, 'unixepoch')", (day,)).fetchone()[0]
        conn.execute("DELETE FROM overview_trends WHERE kind = 'day' AND period = ?", (date,))
        conn.execute("""INSERT INTO overview_trends
            SELECT 'day', facet, value, ?, sum(models), sum(downloads), sum(downloads_all_time), sum(likes)
            FROM overview_trends WHERE kind = 'created' GROUP BY facet, value""", (date,))


@dataclass
class OverviewResult:
    rows: int
    whole: bool

    def summary(self) -> str:
        return f"model_overview: {self.rows:,} rows {'rebuilt' if self.whole else 'refreshed'}"


def _count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def refresh(conn, run_id: int | None = None, rebuild_all: bool = False, day: int | None = None) -> OverviewResult:
    """Bring model_overview in step with model_scores and models (the models model_changes lists for
    `run_id`: new, renamed, metadata, metrics, scores, removed; or every model), then overview_trends."""
    result = _refresh_rows(conn, run_id, rebuild_all)
    refresh_trends(conn, day)
    return result


def _refresh_rows(conn, run_id, rebuild_all) -> OverviewResult:
    insert = f"INSERT OR REPLACE INTO model_overview ({', '.join(COLUMNS)}) {SELECT}"
    if rebuild_all or run_id is None or _count(conn, "model_overview") != _count(conn, "model_scores"):
        conn.execute("DELETE FROM model_overview")
        conn.execute(insert)
        return OverviewResult(_count(conn, "model_overview"), True)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS overview_moved (model_key INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.overview_moved")
    conn.execute("INSERT OR IGNORE INTO temp.overview_moved SELECT model_key FROM model_changes WHERE run_id = ?",
                 (run_id,))
    conn.execute("DELETE FROM model_overview WHERE model_key IN (SELECT model_key FROM temp.overview_moved)")
    cur = conn.execute(insert + " WHERE s.model_key IN (SELECT model_key FROM temp.overview_moved)")
    moved = cur.rowcount
    conn.execute("DELETE FROM temp.overview_moved")
    if _count(conn, "model_overview") != _count(conn, "model_scores"):  # a row the changes did not name
        return _refresh_rows(conn, None, True)
    return OverviewResult(moved, False)


def needs_filling(conn) -> str | None:
    """What a database derived before these tables existed lacks: 'overview' (scores, no
    model_overview: everything to fill), 'cube' (no overview_cube or overview_breakdowns), or None."""
    if not conn.execute("SELECT 1 FROM model_scores LIMIT 1").fetchone():
        return None
    if not conn.execute("SELECT 1 FROM model_overview LIMIT 1").fetchone():
        return "overview"
    if not conn.execute("SELECT 1 FROM overview_cube LIMIT 1").fetchone():
        return "cube"
    if not conn.execute("SELECT 1 FROM overview_breakdowns LIMIT 1").fetchone():
        return "cube"
    return None
