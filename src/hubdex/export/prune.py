"""`--prune-history-before DAY`: history rows out of SQLite, once the export is proven to hold them.

History rows are moves: a model has a row on the days its figures (or signals) moved, and its series
carries the last row forward (`model_daily_metrics`, the derive's growth and its signals_history
comparisons all read "the latest row on or before a day"). So a prune deletes the rows before DAY
except each model's latest one before DAY: the series from DAY on reads the same as before, and the
database keeps one row a model of everything older. DAY may be at most HISTORY_KEPT_DAYS before the
job's day (the derive's 30-day growth reads that far back).

Nothing is deleted unless, for every day before DAY that has rows in SQLite, the export directory
holds that day's partition and the file itself (read back, not its manifest entry) has the same row
count and the same column sums as SQLite's rows of that day. Days already pruned once (SQLite holds
only each model's latest row of them) must still match what the manifest says was exported, and
hold at least the rows SQLite kept. Otherwise the prune refuses, says which days and why, and
deletes nothing. The deletes are one transaction, recorded in `history_prunes` (table, day, the
directory that holds what was deleted, rows). The database file does not shrink (its free pages are
reused; VACUUM returns them).
"""

from __future__ import annotations

import os

import pyarrow as pa

from ..clock import Clock
from .state import (file_history_fingerprint, history_fingerprints, load_manifest, partition_file, partition_name,
                    pruned_before, save_manifest)
from .tables import HISTORY_TABLES, columns_of, quote
from .writer import DirLock

HISTORY_KEPT_DAYS = 30
SHOWN = 5


class PruneRefused(Exception):
    pass


def latest_allowed(today: int) -> int:
    return today - HISTORY_KEPT_DAYS


def check(db, out_dir: str, tables, before: int) -> list[str]:
    """Why the export in `out_dir` can't stand for the history rows before `before` (empty: it can)."""
    conn, manifest, problems = db.conn, load_manifest(out_dir), []
    for table in tables:
        columns = columns_of(conn, table)
        parts = (manifest["tables"].get(table) or {}).get("partitions", {})
        frozen = pruned_before(conn, table)
        for day, f in history_fingerprints(conn, table, columns, before=before).items():
            date = Clock.date_of(day)
            rel = partition_file(table, date)
            p = parts.get(partition_name(date))
            if p is None or not os.path.exists(os.path.join(out_dir, rel)):
                problems.append(f"{table} {date}: {f['rows']:,} rows in SQLite, not exported to {out_dir}")
                continue
            try:
                got = file_history_fingerprint(os.path.join(out_dir, rel), columns)
            except (OSError, pa.ArrowException) as e:
                problems.append(f"{table} {date}: {rel} is unreadable ({e})")
                continue
            if frozen is not None and day < frozen:  # SQLite keeps only each model's latest row of this day
                if got["fingerprint"] != p["fingerprint"]:
                    problems.append(f"{table} {date}: {rel} is no longer what was exported ({got['rows']:,} rows, "
                                    f"the manifest says {p['rows']:,}, or other values)")
                elif got["rows"] < f["rows"]:
                    problems.append(f"{table} {date}: {got['rows']:,} rows in {rel}, {f['rows']:,} in SQLite")
            elif got["rows"] != f["rows"]:
                problems.append(f"{table} {date}: {got['rows']:,} rows in {rel}, {f['rows']:,} in SQLite")
            elif got["fingerprint"] != f["fingerprint"]:
                problems.append(f"{table} {date}: {rel} has the same {got['rows']:,} rows as SQLite but other values "
                                "(column sums differ)")
    return problems


def prune_history(db, out_dir: str, tables, before: int, *, today: int, now: str, run_id: int | None) -> dict:
    """Rows deleted per history table. Raises PruneRefused (nothing deleted)."""
    out_dir = os.path.abspath(out_dir)
    tables = [t for t in tables if t in HISTORY_TABLES]
    if not tables:
        raise PruneRefused("no history table was exported in this run: nothing to prune")
    if before > latest_allowed(today):
        raise PruneRefused(f"not pruning before {Clock.date_of(before)}: the derive reads the last "
                           f"{HISTORY_KEPT_DAYS} days of history; prune before {Clock.date_of(latest_allowed(today))} "
                           "at the latest")
    with DirLock(out_dir):
        problems = check(db, out_dir, tables, before)
        if problems:
            more = f" (and {len(problems) - SHOWN:,} more)" if len(problems) > SHOWN else ""
            raise PruneRefused(f"not pruning history before {Clock.date_of(before)}: "
                               + "; ".join(problems[:SHOWN]) + more + ". Nothing was deleted")
        deleted = {}
        conn = db.conn
        with db.atomic():
            for table in tables:
                deleted[table] = _prune(conn, table, before)
                conn.execute("INSERT INTO history_prunes (run_id, table_name, before_day, dir, rows_deleted, pruned_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (run_id, table, before, out_dir, deleted[table], now))
        manifest = load_manifest(out_dir)
        for table in tables:
            if table in manifest["tables"]:
                manifest["tables"][table]["pruned_before"] = max(
                    manifest["tables"][table].get("pruned_before") or "", Clock.date_of(before))
        save_manifest(out_dir, manifest)
    return deleted


def _prune(conn, table: str, before: int) -> int:
    t = quote(table)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS prune_keep (model_key INTEGER PRIMARY KEY, day INTEGER NOT NULL)")
    conn.execute("DELETE FROM temp.prune_keep")
    # each model's latest row before the day (the table is ordered by model, then day: no sort)
    conn.execute(f"INSERT INTO temp.prune_keep SELECT model_key, max(day) FROM {t} WHERE day < ? GROUP BY model_key",
                 (before,))
    n = conn.execute(f"DELETE FROM {t} WHERE day < ? AND day < (SELECT k.day FROM temp.prune_keep k "
                     f"WHERE k.model_key = {t}.model_key)", (before,)).rowcount
    conn.execute("DROP TABLE temp.prune_keep")
    return n
