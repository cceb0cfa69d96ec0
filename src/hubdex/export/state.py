"""What an export directory holds, and how the export decides what changed since.

The manifest, `DIR/_manifest.json`, is the record the next export compares with: per table its
columns, row count, file and fingerprint, and per history table the same for each day's partition.
It is written last (a temporary file, then `os.replace`), so it never describes a file that isn't
whole. `export_state` in SQLite mirrors it (one row per directory, table and partition) so the
database knows what it handed to which directory; `history_prunes` records what was pruned out of
SQLite after being exported.

Fingerprints, computed by SQLite in one scan, no value passing through Python except as noted:

* a data table: its row count and the sum of a CRC-32 of each whole row (every stored column, as
  SQLite renders it as text, NULLs marked) -- a CRC a row, summed, so an edit anywhere in a row,
  a row added, removed, or a value moved between rows changes it. The CRC is the one Python
  function of the scan (zlib.crc32, C, about a microsecond a row). Limits: a REAL is rendered to 15
  significant digits, so a change below that is missed; two edits whose CRCs cancel in the sum (odds
  of about one in four billion) would be missed.
* a history day: row count and, for each column, the sum of its values modulo 2^31 - 1 (REAL
  columns as truncated millionths first), grouped by day in one scan (SQLite sorts the rows by day
  to group them). Integers, so the same fingerprint can be computed from the Parquet file
  (`file_history_fingerprint`): pruning compares the files themselves with SQLite, not the
  manifest. Limits: changes that cancel in every column's sum are missed (a day's rows are only
  ever added or replaced by a crawl or derive of that day, which moves the sums).

A partition is never deleted by an export: a day the directory holds and SQLite no longer does
(pruned) stays as exported.
"""

from __future__ import annotations

import json
import os
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .tables import PARTITION_COLUMN, Column, quote

FORMAT = "hubdex-export/1"  # bump when the files' shape changes: every table and partition is rewritten
MANIFEST = "_manifest.json"
MODULUS = 2_147_483_647
REAL_SCALE = 1_000_000.0
UNIT, NULL = "\x1f", "\x1e"  # between a row's values; a NULL


def partition_name(date: str) -> str:
    return f"{PARTITION_COLUMN}={date}"


def data_file(table: str) -> str:
    return f"{table}/part-0.parquet"


def partition_file(table: str, date: str) -> str:
    return f"{table}/{partition_name(date)}/part-0.parquet"


# -- fingerprints ---------------------------------------------------------------------------------
class RowBytes:
    """The CRC-32 SQL function; it also counts the bytes it hashed (the export sizes its batches by them)."""

    def __init__(self):
        self.bytes = 0

    def __call__(self, b):
        self.bytes += len(b)
        return zlib.crc32(b)


def table_fingerprint(conn, table: str, columns: list[Column]) -> dict:
    """Rows, fingerprint, bytes a row (as text) and, per timestamp or date column, how many texts
    SQLite could not read as one (exported as null)."""
    crc = RowBytes()
    conn.create_function("hubdex_row_crc", 1, crc, deterministic=True)
    row = f" || '{UNIT}' || ".join(f"coalesce(CAST({quote(c.name)} AS TEXT), '{NULL}')" for c in columns)
    dated = [c for c in columns if c.kind in ("timestamp", "date")]
    checks = "".join(f", sum({quote(c.name)} IS NOT NULL AND julianday({quote(c.name)}) IS NULL)" for c in dated)
    got = conn.execute(f"SELECT count(*), sum(hubdex_row_crc(CAST({row} AS BLOB))){checks} "
                       f"FROM {quote(table)}").fetchone()
    rows = got[0]
    return {"rows": rows, "fingerprint": f"{rows}:{got[1] or 0}", "row_bytes": crc.bytes / rows if rows else 0,
            "unparsed": {c.name: n for c, n in zip(dated, got[2:]) if n}}


def _history_terms(table: str, columns: list[Column]) -> list[str]:
    terms = []
    for c in columns:
        q = quote(c.name)
        if c.sqlite_type in ("INTEGER", "INT"):
            terms.append(f"sum({q} % {MODULUS})")
        elif c.sqlite_type == "REAL":
            terms.append(f"sum(CAST({q} * {REAL_SCALE} AS INTEGER) % {MODULUS})")
        else:
            raise ValueError(f"{table}.{c.name}: a history table holds numbers, not {c.sqlite_type}")
    return terms


def history_fingerprints(conn, table: str, columns: list[Column], since: int | None = None,
                         before: int | None = None) -> dict[int, dict]:
    """Each day's rows and fingerprint (days from `since` on, before `before`), one scan."""
    cond = ([f"{PARTITION_COLUMN} >= {int(since)}"] if since is not None else []) + (
        [f"{PARTITION_COLUMN} < {int(before)}"] if before is not None else [])
    where = f" WHERE {' AND '.join(cond)}" if cond else ""
    sql = (f"SELECT {PARTITION_COLUMN}, count(*), {', '.join(_history_terms(table, columns))} FROM {quote(table)}"
           f"{where} GROUP BY {PARTITION_COLUMN} ORDER BY {PARTITION_COLUMN}")
    return {r[0]: {"rows": r[1], "fingerprint": ":".join(str(v or 0) for v in r[1:])} for r in conn.execute(sql)}


def file_history_fingerprint(path: str, columns: list[Column]) -> dict:
    """The same fingerprint as `history_fingerprints`, from a partition's Parquet file (read in batches)."""
    f = pq.ParquetFile(path)
    rows, sums = 0, [0] * len(columns)
    for batch in f.iter_batches(batch_size=65_536, columns=[c.name for c in columns]):
        rows += batch.num_rows
        for i, c in enumerate(columns):
            col = batch.column(i)
            if c.sqlite_type == "REAL":
                a = np.trunc(pc.fill_null(col, 0.0).to_numpy(zero_copy_only=False) * REAL_SCALE).astype(np.int64)
            else:
                a = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.int64)
            sums[i] += int(np.fmod(a, MODULUS).sum())  # fmod: the sign of the dividend, as SQLite's %
    return {"rows": rows, "fingerprint": ":".join(str(v) for v in [rows] + sums)}


def footer_rows(path: str) -> int | None:
    """A Parquet file's row count from its footer, or None if it is missing or unreadable."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException):
        return None


# -- the manifest ---------------------------------------------------------------------------------
def load_manifest(out_dir: str) -> dict:
    """The directory's manifest; an empty one if there is none or it is of another format (then
    everything is written again)."""
    try:
        with open(os.path.join(out_dir, MANIFEST), encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return {"format": FORMAT, "tables": {}}
    if not isinstance(m, dict) or m.get("format") != FORMAT or not isinstance(m.get("tables"), dict):
        return {"format": FORMAT, "tables": {}}
    return m


def save_manifest(out_dir: str, manifest: dict):
    tmp = os.path.join(out_dir, f".{MANIFEST}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(out_dir, MANIFEST))


def totals(manifest: dict):
    """Each table's rows: a history table's is the sum of its partitions'."""
    for name, t in manifest["tables"].items():
        if t.get("kind") == "history":
            t["rows"] = sum(p["rows"] for p in t.get("partitions", {}).values())


# -- SQLite's record ------------------------------------------------------------------------------
def record(db, out_dir: str, manifest: dict, run_id: int):
    """export_state := the manifest of `out_dir` (one transaction)."""
    rows = []
    for name, t in manifest["tables"].items():
        parts = t.get("partitions", {}).items() if t.get("kind") == "history" else [("", t)]
        for part, p in parts:
            rows.append((out_dir, name, part, p["rows"], p["fingerprint"], p["file"], p.get("bytes"),
                         p["exported_at"], p.get("run_id", run_id)))
    with db.atomic():
        db.conn.execute("DELETE FROM export_state WHERE dir = ?", (out_dir,))
        db.conn.executemany("INSERT INTO export_state (dir, table_name, part, rows, fingerprint, file, bytes, "
                            "exported_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def pruned_before(conn, table: str) -> int | None:
    """The day before which `table` keeps only each model's latest row (its last prune), if pruned."""
    return conn.execute("SELECT max(before_day) FROM history_prunes WHERE table_name = ?", (table,)).fetchone()[0]

