"""Stage 7, export: the database as Parquet for DuckDB and Spark (`hubdex export DIR`).

  tables.py   what is exported, and how each SQLite column type becomes an Arrow type
  state.py    the manifest (what DIR holds), fingerprints (what changed), export_state / history_prunes
  writer.py   bounded batches into Parquet files, written aside and renamed into place
  prune.py    --prune-history-before: history rows out of SQLite once the export is proven to hold them

`export()` reads every selected table in one read transaction (each fingerprint is of the rows
written beside it), compares each data table's fingerprint and each history day's with the
manifest, writes only those that differ (or whose file is missing or holds another row count),
installs them, then writes the manifest and `export_state`. A rerun with nothing new writes no file.
Export imports only the clock and the store.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from ..clock import Clock
from ..store.db import path_of
from .state import (FORMAT, data_file, footer_rows, history_fingerprints, load_manifest, partition_file,
                    partition_name, pruned_before, record, save_manifest, table_fingerprint, totals)
from .tables import (HISTORY_TABLES, PARTITION_COLUMN, UnknownTable, arrow_schema, columns_of, select_sql, select_tables,
                     table_exists)
from .writer import DirLock, ExportBusy, Staging, batch_rows, remove_leftovers, write_file, write_partitions

__all__ = ["ExportBusy", "ExportResult", "UnknownTable", "export", "select_tables"]


@dataclass
class ExportResult:
    out_dir: str
    tables_written: list = field(default_factory=list)
    partitions_written: dict = field(default_factory=dict)  # table -> ["2026-12-01", ...]
    rows_written: int = 0
    bytes_written: int = 0
    tables_unchanged: int = 0
    partitions_unchanged: int = 0
    partitions_kept: int = 0  # in DIR, no longer in SQLite (pruned): kept as exported
    leftovers_removed: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def files_written(self) -> int:
        return len(self.tables_written) + sum(len(v) for v in self.partitions_written.values())

    def summary(self) -> str:
        parts = sum(len(v) for v in self.partitions_written.values())
        written = (f"{self.files_written:,} files written ({len(self.tables_written):,} tables, {parts:,} history "
                   f"partitions; {self.rows_written:,} rows, {self.bytes_written / 1e6:,.1f} MB)")
        line = (f"exported to {self.out_dir}: {written} in {self.seconds:.1f} s; {self.tables_unchanged:,} tables and "
                f"{self.partitions_unchanged:,} partitions unchanged")
        if self.partitions_kept:
            line += f", {self.partitions_kept:,} partitions kept (no longer in SQLite)"
        return "\n".join([line] + [f"note: {n}" for n in self.notes])


def export(db, out_dir: str, *, tables=None, since: int | None = None, run_id: int | None = None, now: str = "",
           rows_per_batch: int | None = None) -> ExportResult:
    """Export the tables asked for (all by default) to `out_dir`; history days from `since` on.
    Raises UnknownTable, ExportBusy, OSError (the directory can't be written)."""
    t0 = time.perf_counter()
    out_dir = os.path.abspath(out_dir)
    selected = select_tables(tables)
    os.makedirs(out_dir, exist_ok=True)
    result = ExportResult(out_dir)
    conn = db.conn
    with DirLock(out_dir):
        result.leftovers_removed = remove_leftovers(out_dir)
        if result.leftovers_removed:
            result.notes.append(f"removed what a killed export left: {', '.join(result.leftovers_removed)}")
        manifest = load_manifest(out_dir)
        staging = Staging(out_dir, f"{run_id or 0}-{os.getpid()}")
        ctx = _Ctx(conn, out_dir, manifest, staging, result, now, run_id, rows_per_batch)
        conn.execute("BEGIN")  # one snapshot for every table: the fingerprints are of the rows written
        try:
            for table in selected:
                if not table_exists(conn, table):
                    result.notes.append(f"{table}: not in this database")
                elif table in HISTORY_TABLES:
                    _history(ctx, table, since)
                else:
                    _table(ctx, table)
        except BaseException:
            conn.execute("ROLLBACK")
            staging.discard()
            raise
        conn.execute("COMMIT")
        if result.files_written:
            staging.install()
            manifest.update(format=FORMAT, database=path_of(db), exported_at=now, run_id=run_id)
            totals(manifest)
            save_manifest(out_dir, manifest)
            record(db, out_dir, manifest, run_id)
        else:
            staging.discard()
    result.seconds = time.perf_counter() - t0
    return result


@dataclass
class _Ctx:
    conn: object
    out_dir: str
    manifest: dict
    staging: Staging
    result: ExportResult
    now: str
    run_id: int | None
    rows_per_batch: int | None

    def batch(self, row_bytes: float) -> int:
        return self.rows_per_batch or batch_rows(row_bytes)

    def whole(self, rel: str, rows: int) -> bool:
        """The file is there and holds the rows the manifest says."""
        return footer_rows(os.path.join(self.out_dir, rel)) == rows


def _table(ctx: _Ctx, table: str):
    columns = columns_of(ctx.conn, table)
    desc = [c.describe() for c in columns]
    fp = table_fingerprint(ctx.conn, table, columns)
    prev = ctx.manifest["tables"].get(table) or {}
    rel = data_file(table)
    if (prev.get("kind") == "table" and prev.get("fingerprint") == fp["fingerprint"] and prev.get("columns") == desc
            and ctx.whole(rel, prev["rows"])):
        ctx.result.tables_unchanged += 1
        return
    for name, n in fp["unparsed"].items():
        ctx.result.notes.append(f"{table}.{name}: {n:,} values are not ISO-8601 times; exported as null")
    cur = ctx.conn.execute(select_sql(table, columns))
    rows, nbytes = write_file(cur, ctx.staging.path(rel), arrow_schema(table, columns), columns,
                              ctx.batch(fp["row_bytes"]))
    ctx.manifest["tables"][table] = {"kind": "table", "rows": rows, "file": rel, "bytes": nbytes,
                                     "fingerprint": fp["fingerprint"], "columns": desc, "exported_at": ctx.now,
                                     "run_id": ctx.run_id}
    ctx.result.tables_written.append(table)
    ctx.result.rows_written += rows
    ctx.result.bytes_written += nbytes


def _history(ctx: _Ctx, table: str, since: int | None):
    columns = columns_of(ctx.conn, table)
    desc = [c.describe() for c in columns]
    prev = ctx.manifest["tables"].get(table) or {}
    same_shape = prev.get("kind") == "history" and prev.get("columns") == desc
    parts = dict(prev.get("partitions", {})) if same_shape else {}
    entry = {"kind": "history", "partition_by": f"{PARTITION_COLUMN}=YYYY-MM-DD", "columns": desc,
             "partitions": parts, "rows": 0}
    if prev.get("pruned_before"):
        entry["pruned_before"] = prev["pruned_before"]
    frozen = pruned_before(ctx.conn, table)  # days before it hold only each model's latest row in SQLite
    days = history_fingerprints(ctx.conn, table, columns, since)
    write, partial = [], set()
    for day, f in days.items():
        date = Clock.date_of(day)
        p = parts.get(partition_name(date))
        if p is not None and frozen is not None and day < frozen and ctx.whole(p["file"], p["rows"]):
            ctx.result.partitions_unchanged += 1  # pruned from SQLite after it was exported whole: DIR has it all
        elif p is not None and p["fingerprint"] == f["fingerprint"] and ctx.whole(p["file"], p["rows"]):
            ctx.result.partitions_unchanged += 1
        else:
            write.append(day)
            if frozen is not None and day < frozen:
                partial.add(day)
    in_sqlite = {partition_name(Clock.date_of(d)) for d in days}
    ctx.result.partitions_kept += sum(1 for k in parts if k not in in_sqlite
                                      and (since is None or k >= partition_name(Clock.date_of(since))))
    if not write:
        if table not in ctx.manifest["tables"]:
            ctx.manifest["tables"][table] = entry  # listed even with no day yet (saved if anything is written)
        return
    cur = ctx.conn.execute(select_sql(table, columns, write))
    written = ctx.result.partitions_written.setdefault(table, [])

    def done(day, rows, nbytes):
        date = Clock.date_of(day)
        assert rows == days[day]["rows"], (table, date, rows, days[day])  # same snapshot as the fingerprint
        parts[partition_name(date)] = {"rows": rows, "file": partition_file(table, date), "bytes": nbytes,
                                       "fingerprint": days[day]["fingerprint"], "exported_at": ctx.now,
                                       "run_id": ctx.run_id, **({"partial": True} if day in partial else {})}
        written.append(date)
        ctx.result.rows_written += rows
        ctx.result.bytes_written += nbytes

    write_partitions(cur, lambda d: ctx.staging.path(partition_file(table, Clock.date_of(d))),
                     arrow_schema(table, columns), columns, ctx.batch(8.0 * (len(columns) + 1)), done)
    if partial:
        ctx.result.notes.append(f"{table}: {len(partial):,} days before the last prune were written with only the "
                                "rows SQLite kept (each model's latest); the whole days are in the directory "
                                "history_prunes names")
    ctx.manifest["tables"][table] = entry
