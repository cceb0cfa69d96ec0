"""What the export writes, and how each SQLite column becomes an Arrow column.

Every table of the database is classified here, once: a data table (one Parquet file), a history
table (one Parquet file per day, in the hive layout `day=YYYY-MM-DD/`), or not exported (the crawl's
and the derive's bookkeeping, with the reason). A table a new migration creates must be added to one
of the three (tests/unit/test_export_schema.py fails until it is), so the match graph's and the
comparisons' tables are exported the day they land.

Types come from SQLite's declared types (`PRAGMA table_info`: the tables are STRICT, so the declared
type is what every value is): INTEGER -> int64, REAL -> float64, TEXT -> string (JSON columns stay
strings), BLOB -> binary, ANY -> string. The ISO-8601 text timestamps named in TIMESTAMPS become
timestamp[ms, UTC], converted by SQLite as it reads (a text that is no time becomes null; the
export counts those), and the `YYYY-MM-DD` texts in DATES become date32. Generated columns (the JSON
parts of `models.raw` / `detail`: card_data, config, ...) are not stored, so not exported: engines
read them from `raw` / `detail` (DuckDB: `json_extract(raw, '$.cardData')`). A history file has no
`day` column: the day is the partition's (`day=2026-12-01`), which DuckDB and Spark read as a date.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# One Parquet file each (DIR/<table>/part-0.parquet).
DATA_TABLES = (
    "models", "model_tags", "model_files", "model_relations", "model_spaces", "model_providers",
    "cards", "card_sections", "evaluations", "capabilities", "model_configs",
    "router_prices", "metric_days",
    "model_capability_rows", "capability_names", "capability_evidence", "capability_summary",
    "licences", "licence_classes", "rank_weights", "model_scores", "score_percentiles", "match_scores",
    "search_queries", "search_results", "match_copies", "match_evidence", "match_edges", "match_edge_evidence",
    "model_renames",
    "eval_results", "benchmarks", "space_models",
)
# Keyed by (model_key, day), a row on the days a model's figures moved: one file per day
# (DIR/<table>/day=YYYY-MM-DD/part-0.parquet).
HISTORY_TABLES = ("metrics_history", "signals_history")
# Not data: what the jobs keep to do their work.
NOT_EXPORTED = {
    "runs": "the job log",
    "crawl_state": "crawl checkpoints and watermarks",
    "pass_pages": "a running full pass's page ids",
    "quarantine": "payloads the crawl could not read",
    "derive_inputs": "what each model was last derived from",
    "match_inputs": "what the match graph last read of each model (a digest, to update the graph)",
    "derive_runs": "the derive's run figures",
    "model_changes": "per-run change records (pruned after 30 days)",
    "model_search": "the full-text search rows (id, author, tags, card text: all exported elsewhere)",
    "export_state": "what each export directory holds",
    "history_prunes": "history pruned out of SQLite, and where it was exported",
    "_sqlite_migrations": "the migrations applied",
    "comparisons": "the comparison entries (JSON documents, their Markdown rendered from them; rebuilt from the exported tables; "
                   "`hubdex site` publishes them)",
    "comparison_sides": "what each comparison side was last built from",
    "comparison_runs": "the comparisons step's run figures",
    "space_queries": "which models' Spaces the evidence crawl asked for, and when",
    "model_overview": "hubdex serve's start page: model_scores and models columns, both exported",
    "overview_trends": "hubdex serve's trend charts, aggregates of model_overview",
    "overview_cube": "hubdex serve's facet counts, aggregates of model_overview",
    "overview_breakdowns": "hubdex serve's licence and pricing breakdowns, aggregates of model_scores",
}
# SQLite's own tables and the FTS index's shadow tables.
INTERNAL_PREFIXES = ("sqlite_", "model_search_fts")

TIMESTAMPS = {
    "models": ("last_modified", "created_at", "first_seen", "updated_at", "removed_at", "detail_at"),
    "cards": ("fetched_at",),
    "model_renames": ("renamed_at",),
    "search_queries": ("fetched_at",),
    "eval_results": ("fetched_at",),
    "rank_weights": ("first_used",),
}
DATES = {"router_prices": ("date",), "metric_days": ("date",)}

# The text a data table's fingerprint hashes (state.py), where a few columns stand for the rest:
# every other text column of `models` is the Hub's payload (`raw`) or read from it, and `meta_hash`
# is the crawl's hash of all of it but metrics and id; `detail` and `mask_token` are written with
# `detail_at`. Other tables hash all their text.
FINGERPRINT_TEXT = {"models": ("id", "oid", "meta_hash", "first_seen", "updated_at", "removed_at", "detail_at")}

PARTITION_COLUMN = "day"
TIMESTAMP_TYPE = pa.timestamp("ms", tz="UTC")
_BASE = {"INTEGER": pa.int64(), "INT": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string(), "BLOB": pa.binary(),
         "ANY": pa.string()}


class UnknownTable(ValueError):
    pass


def exportable() -> tuple[str, ...]:
    return DATA_TABLES + HISTORY_TABLES


def select_tables(names) -> tuple[str, ...]:
    """The tables asked for (`--tables`: names, or comma lists of names), in export order; all
    when none are named. Raises UnknownTable naming what isn't one."""
    asked = [n.strip() for part in (names or ()) for n in part.split(",") if n.strip()]
    if not asked:
        return exportable()
    unknown = [n for n in asked if n not in exportable()]
    if unknown:
        why = [f"{n!r} ({NOT_EXPORTED[n]}: not exported)" if n in NOT_EXPORTED else repr(n) for n in unknown]
        raise UnknownTable(f"not a table the export writes: {', '.join(why)}; choose from {', '.join(exportable())}")
    return tuple(t for t in exportable() if t in asked)


def unclassified(conn) -> list[str]:
    """Tables of the database that none of the lists above names."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    known = set(exportable()) | set(NOT_EXPORTED)
    return sorted(n for n in names if n not in known and not n.startswith(INTERNAL_PREFIXES))


@dataclass(frozen=True)
class Column:
    name: str
    sqlite_type: str
    not_null: bool
    arrow: pa.DataType
    kind: str  # plain, timestamp, date
    pk: int = 0  # its place in the primary key (1, 2, ...), 0 if not part of it

    @property
    def select(self) -> str:
        """How SQLite reads it for the export: timestamps as milliseconds since 1970 (julianday keeps
        milliseconds exactly: its value is a count of them), dates as days since 1970."""
        q = quote(self.name)
        if self.kind == "timestamp":
            return f"CAST(round((julianday({q}) - 2440587.5) * 86400000.0) AS INTEGER)"
        if self.kind == "date":
            return f"CAST(julianday({q}) - 2440587.5 AS INTEGER)"
        if self.sqlite_type == "ANY":
            return f"CAST({q} AS TEXT)"
        return q

    def describe(self) -> dict:
        return {"name": self.name, "sqlite": self.sqlite_type, "arrow": str(self.arrow)}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def columns_of(conn, table: str) -> list[Column]:
    """The stored columns of `table` (generated ones are not listed by table_info), with their Arrow
    types; a history table's `day` is left out (it is the partition)."""
    out = []
    for _cid, name, declared, notnull, _default, pk in conn.execute(f"PRAGMA table_info({quote(table)})"):
        if table in HISTORY_TABLES and name == PARTITION_COLUMN:
            continue
        t = (declared or "ANY").upper()
        if t not in _BASE:
            raise ValueError(f"{table}.{name}: declared type {declared!r} has no Arrow type (tables are STRICT)")
        if name in TIMESTAMPS.get(table, ()) and t == "TEXT":
            out.append(Column(name, t, bool(notnull), TIMESTAMP_TYPE, "timestamp", pk))
        elif name in DATES.get(table, ()) and t == "TEXT":
            out.append(Column(name, t, bool(notnull), pa.date32(), "date", pk))
        else:
            out.append(Column(name, t, bool(notnull), _BASE[t], "plain", pk))
    return out


def select_sql(table: str, columns: list[Column], days=None) -> str:
    """What the export reads: a data table's rows as they are stored; a history table's rows of
    `days`, each led by its day, ordered by day (one partition after the other) and key."""
    values = ", ".join(c.select for c in columns)
    if table not in HISTORY_TABLES:
        return f"SELECT {values} FROM {quote(table)}"
    order = ", ".join([PARTITION_COLUMN] + [quote(c.name) for c in sorted(columns, key=lambda c: c.pk) if c.pk])
    return (f"SELECT {PARTITION_COLUMN}, {values} FROM {quote(table)} "
            f"WHERE {PARTITION_COLUMN} IN ({', '.join(str(int(d)) for d in days)}) ORDER BY {order}")


def table_exists(conn, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None


def arrow_schema(table: str, columns: list[Column]) -> pa.Schema:
    fields = [pa.field(c.name, c.arrow, nullable=not c.not_null, metadata={"sqlite_type": c.sqlite_type})
              for c in columns]
    return pa.schema(fields, metadata={"hubdex_table": table})
