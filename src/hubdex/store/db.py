"""Open hubdex's database: WAL (analysts read while the crawler writes), a busy timeout, migrations."""

from __future__ import annotations

import os
import sqlite3

import sqlite_utils

from .schema import migrations

BUSY_TIMEOUT_MS = 10_000


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable in WAL mode up to the last checkpointed commit; a crash loses at most the
    # last page, whose checkpoint is in the same transaction, so the next run refetches it.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MB of page cache
    # Checkpoint the WAL every ~80 MB instead of every 4 MB: an index page touched by many pages of
    # models is then copied back once, not once per commit burst (this doubled ingest speed).
    conn.execute("PRAGMA wal_autocheckpoint=20000")
    return conn


def open_db(path: str) -> sqlite_utils.Database:
    """The database at `path`, created if needed, migrated to the current schema."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    db = sqlite_utils.Database(connect(path))
    migrations.apply(db)
    return db
