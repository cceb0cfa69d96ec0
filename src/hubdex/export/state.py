"""What an export directory holds, and how the export decides what changed since.

The manifest, `DIR/_manifest.json`, is the record the next export compares with: per table its
columns, row count, file and fingerprint, and per history table the same for each day's partition.
It is written last (a temporary file, then `os.replace`), so it never describes a file that isn't
whole. `export_state` in SQLite mirrors it (one row per directory, table and partition) so the
database knows what it handed to which directory; `history_prunes` records what was pruned out of
SQLite after being exported.

Fingerprints, computed by SQLite in one scan of each table (the export's first read of it):

* a data table: its row count; each INTEGER column summed modulo 2^31 - 1 and each REAL column
  summed, every value weighted by its row's key (the rowid, or a WITHOUT ROWID table's first
  integer key column), so a value moving between rows counts; and a CRC-32 of each row's text
  (its TEXT columns joined, NULLs marked), weighted and summed the same way -- the one Python
  function of the scan (zlib.crc32). In `models` the CRC covers tables.FINGERPRINT_TEXT: `meta_hash`
  (the crawl's hash of the payload but metrics and id) stands for `raw` and every column read from
  it, `detail_at` for `detail`. Limits: an edit outside hubdex that changes `raw` but not
  `meta_hash`; a REAL change lost in its column's floating-point sum; changes that cancel out in
  every sum (the odds of a CRC collision are about one in two billion) -- each goes unseen until
  something else in the table changes.
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

from .tables import FINGERPRINT_TEXT, PARTITION_COLUMN, Column, quote

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
def _row_weight(conn, table: str, columns: list[Column]) -> str:
    """An integer that tells a table's rows apart, for weighting their sums (so two rows swapping a
    value change the fingerprint): the rowid, or a WITHOUT ROWID table's first integer key column."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ? UNION ALL "
                       "SELECT sql FROM sqlite_temp_master WHERE type = 'table' AND name = ?", (table, table)).fetchone()
    if "WITHOUT ROWID" not in (sql[0] if sql else "").upper():
        ident = "rowid"
    else:
        keys = [c for c in sorted(columns, key=lambda c: c.pk) if c.pk and c.sqlite_type in ("INTEGER", "INT")]
        ident = quote(keys[0].name) if keys else "1"
    return f"(({ident} % 65521) + 1)"


def table_fingerprint(conn, table: str, columns: list[Column]) -> dict:
    """Rows, fingerprint, text bytes a row and, per timestamp or date column, how many texts SQLite
    could not read as one (exported as null). One scan."""
    conn.create_function("hubdex_crc32", 1, zlib.crc32, deterministic=True)
    w = _row_weight(conn, table, columns)
    terms = []
    for c in columns:
        q = quote(c.name)
        if c.sqlite_type in ("INTEGER", "INT"):
            terms.append(f"sum((({q} % {MODULUS}) * {w}) % {MODULUS})")
        elif c.sqlite_type == "REAL":
            terms.append(f"total({q} * {w})")
    text = [c for c in columns if c.sqlite_type in ("TEXT", "BLOB", "ANY")
            and (table not in FINGERPRINT_TEXT or c.name in FINGERPRINT_TEXT[table])]
    if text:
        row = f" || '{UNIT}' || ".join(f"coalesce(CAST({quote(c.name)} AS TEXT), '{NULL}')" for c in text)
        terms.append(f"sum(((hubdex_crc32(CAST({row} AS BLOB)) % {MODULUS}) * {w}) % {MODULUS})")
    dated = [c for c in columns if c.kind in ("timestamp", "date")]
    checks = [f"sum({quote(c.name)} IS NOT NULL AND julianday({quote(c.name)}) IS NULL)" for c in dated]
    got = conn.execute(f"SELECT {', '.join(['count(*)'] + terms + checks)} FROM {quote(table)}").fetchone()
    rows, sums, bad = got[0], got[1:1 + len(terms)], got[1 + len(terms):]
    return {"rows": rows, "fingerprint": ":".join(str(v if v is not None else 0) for v in (rows, *sums)),
            "row_bytes": row_bytes(conn, table, columns) if rows else 0,
            "unparsed": {c.name: n for c, n in zip(dated, bad) if n}}


def row_bytes(conn, table: str, columns: list[Column], sample: int = 2000) -> float:
    """About how many bytes a row's values take (8 a number, the text's length), from its first rows."""
    text = [c for c in columns if c.sqlite_type in ("TEXT", "BLOB", "ANY")]
    if not text:
        return 8.0 * len(columns)
    got = conn.execute(f"SELECT count(*), total({' + '.join(f'coalesce(length({quote(c.name)}), 0)' for c in text)}) "
                       f"FROM (SELECT * FROM {quote(table)} LIMIT {sample})").fetchone()
    return 8.0 * (len(columns) - len(text)) + (got[1] / got[0] if got[0] else 0.0)


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

