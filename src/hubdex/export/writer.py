"""Rows out of SQLite into Parquet files, in bounded batches, written aside then renamed into place.

A table is read with one cursor, `fetchmany` at most BATCH_ROWS rows at a time (fewer when its rows
are wide: about BATCH_BYTES of values a batch), each batch turned into Arrow arrays column by column
and the Python rows dropped; batches are gathered into row groups of up to ROW_GROUP_ROWS rows or
ROW_GROUP_BYTES of Arrow data and written by one `ParquetWriter` (zstd). Memory is bounded by a
batch and a row group, whatever the table's size.

Every file is written under `DIR/.tmp-<run>-<pid>/` first, in the layout it will have; only when
every file of the export is whole are they moved into place (`os.replace`, one rename each, on the
same file system), and the manifest goes last. A kill while writing (the long part) leaves the
previous export exactly as it was, with a `.tmp-` directory that the next export removes; a kill
among the renames leaves each file whole (old or new) under the previous manifest, and the next
export compares again and rewrites what differs.

One export at a time writes a directory (`DirLock`: an flock on `DIR/.hubdex-export.lock`).
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..store.lockfile import Busy, LockFile
from .tables import Column

BATCH_ROWS = 50_000
BATCH_BYTES = 16 * 2**20
MIN_BATCH_ROWS = 500
ROW_GROUP_ROWS = 1_000_000
ROW_GROUP_BYTES = 32 * 2**20
COMPRESSION = "zstd"
STAGING_PREFIX = ".tmp-"
LOCK_FILE = ".hubdex-export.lock"


class ExportBusy(Exception):
    """Another export is writing the directory."""


class DirLock(LockFile):
    """One export at a time writes a directory: an flock on DIR/.hubdex-export.lock."""

    def __init__(self, out_dir: str):
        # never written: a rerun that exports nothing leaves every file in DIR as it was
        super().__init__(os.path.join(out_dir, LOCK_FILE), "export", record_holder=False)

    def __enter__(self):
        try:
            return super().__enter__()
        except Busy:
            raise ExportBusy(f"another export is writing {os.path.dirname(self.path)}") from None


def remove_leftovers(out_dir: str) -> list[str]:
    """Staging directories of exports that were killed (the caller holds the DirLock)."""
    gone = []
    for name in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, name)
        if name.startswith(STAGING_PREFIX) and os.path.isdir(path):
            shutil.rmtree(path)
            gone.append(name)
    return gone


class Staging:
    """Files written aside, in DIR/.tmp-<tag>/<relative path>, then moved into place together."""

    def __init__(self, out_dir: str, tag: str):
        self.out_dir = out_dir
        self.root = os.path.join(out_dir, f"{STAGING_PREFIX}{tag}")
        self.files: list[str] = []

    def path(self, rel: str) -> str:
        p = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        self.files.append(rel)
        return p

    def install(self):
        for rel in self.files:
            final = os.path.join(self.out_dir, rel)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(os.path.join(self.root, rel), final)
        self.discard()

    def discard(self):
        shutil.rmtree(self.root, ignore_errors=True)


def batch_rows(row_bytes: float) -> int:
    """Rows a fetch: BATCH_ROWS, fewer for wide rows (about BATCH_BYTES of values)."""
    if row_bytes <= 0:
        return BATCH_ROWS
    return int(min(BATCH_ROWS, max(MIN_BATCH_ROWS, BATCH_BYTES // row_bytes)))


def _array(c: Column, values) -> pa.Array:
    if c.kind == "timestamp":  # milliseconds since 1970, from SQLite
        return pa.array(values, type=pa.int64()).cast(c.arrow)
    if c.kind == "date":  # days since 1970
        return pa.array(values, type=pa.int32()).cast(c.arrow)
    return pa.array(values, type=c.arrow)


def to_table(rows: list, schema: pa.Schema, columns: list[Column], skip: int = 0) -> pa.Table:
    """A batch of rows (tuples) as an Arrow table; the first `skip` values of each row are not columns."""
    values = list(zip(*rows))
    return pa.Table.from_arrays([_array(c, values[skip + i]) for i, c in enumerate(columns)], schema=schema)


class FileWriter:
    """One Parquet file, row group by row group."""

    def __init__(self, path: str, schema: pa.Schema):
        self.path, self.schema = path, schema
        self.writer = pq.ParquetWriter(path, schema, compression=COMPRESSION, write_statistics=True)
        self.pending: list[pa.Table] = []
        self.pending_rows = self.pending_bytes = self.rows = 0

    def add(self, table: pa.Table):
        if not table.num_rows:
            return
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.pending_bytes += table.nbytes
        if self.pending_rows >= ROW_GROUP_ROWS or self.pending_bytes >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self):
        if self.pending:
            t = pa.concat_tables(self.pending) if len(self.pending) > 1 else self.pending[0]
            self.pending, self.pending_rows, self.pending_bytes = [], 0, 0
            self.writer.write_table(t, row_group_size=t.num_rows)
            self.rows += t.num_rows

    def close(self) -> tuple[int, int]:
        """(rows, bytes) of the finished file."""
        self.flush()
        self.writer.close()
        return self.rows, os.path.getsize(self.path)


def write_file(cur, path: str, schema: pa.Schema, columns: list[Column], rows_per_batch: int) -> tuple[int, int]:
    """Every row of the cursor into one file."""
    w = FileWriter(path, schema)
    try:
        while rows := cur.fetchmany(rows_per_batch):
            table = to_table(rows, schema, columns)
            del rows
            w.add(table)
    except BaseException:
        w.writer.close()
        raise
    return w.close()


def write_partitions(cur, path_of_day, schema: pa.Schema, columns: list[Column], rows_per_batch: int, done):
    """Rows ordered by day, each row (day, *columns): one file per day, at `path_of_day(day)`;
    `done(day, rows, bytes)` as each file is finished. One file is open at a time."""
    w, day = None, None
    try:
        while rows := cur.fetchmany(rows_per_batch):
            days = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            table = to_table(rows, schema, columns, skip=1)
            del rows
            starts = np.concatenate(([0], np.flatnonzero(np.diff(days)) + 1))
            ends = np.concatenate((starts[1:], [len(days)]))
            for s, e in zip(starts.tolist(), ends.tolist()):
                d = int(days[s])
                if d != day:
                    if w is not None:
                        done(day, *w.close())
                    day, w = d, FileWriter(path_of_day(d), schema)
                w.add(table.slice(s, e - s))
        if w is not None:
            done(day, *w.close())
            w = None
    finally:
        if w is not None:
            w.writer.close()
