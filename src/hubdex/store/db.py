"""Open hubdex's database, the one place that does: WAL (analysts read while the crawler writes), a
busy timeout, migrations for tables, then the derived shape (views, indexes, full-text search)."""

from __future__ import annotations

import json
import os
import sqlite3

import sqlite_utils

from .schema import migrations
from .shape import ensure_shape

BUSY_TIMEOUT_MS = 10_000
PAGE_CACHE_KB = 65_536  # 64 MB of page cache per connection
SCAN_CACHE_KB = 8_192  # for connections that only scan (a large cache does not speed a scan up)


class NoDatabase(Exception):
    """A command that reads a crawl's results was pointed at a file that isn't there."""


def connect(path: str, *, read_only: bool = False, cache_kb: int = PAGE_CACHE_KB) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if read_only:
        conn.execute("PRAGMA query_only=1")
        conn.execute(f"PRAGMA cache_size=-{int(cache_kb)}")
        return conn
    # 16 KB pages for a new file (a no-op on an existing one): a model's raw JSON (1-2 KB, some much
    # more) then fits its page instead of spilling into overflow pages.
    conn.execute("PRAGMA page_size=16384")
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable in WAL mode up to the last checkpointed commit; a crash loses at most the
    # last page, whose checkpoint is in the same transaction, so the next run refetches it.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    # Temporary b-trees (the sorts that build an index at the end of a first pass) go to a file:
    # in memory, indexing 10 million tags peaked at 685 MB; on file, 165 MB and twice as fast.
    conn.execute("PRAGMA temp_store=FILE")
    # Checkpoint the WAL every ~80 MB instead of every 4 MB: an index page touched by many pages of
    # models is then copied back once, not once per commit burst (this doubled ingest speed).
    conn.execute("PRAGMA wal_autocheckpoint=20000")
    # After page_size: a cache size set before it is kept as a page count, so on a new file 64 MB of
    # 4 KB pages became 16,384 pages of 16 KB, 256 MB (a first crawl peaked at 432 MB instead of 234).
    conn.execute(f"PRAGMA cache_size=-{int(cache_kb)}")
    return conn


def open_db(path: str, *, must_exist: bool = False) -> sqlite_utils.Database:
    """The database at `path`, created if needed (unless `must_exist`), migrated and in shape.
    Raises NoDatabase, or sqlite3.DatabaseError for a file that is not a database."""
    if must_exist:
        require_file(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    db = sqlite_utils.Database(connect(path))
    migrations.apply(db)
    # A first pass bulk-loads without the analyst indexes and builds them at its end; if it was
    # killed and is not being resumed (no pass in progress), they are built now.
    in_progress = db.conn.execute("SELECT value FROM crawl_state WHERE key = 'full.pass'").fetchone()
    state = json.loads(in_progress[0]) if in_progress and in_progress[0] else None
    bulk = bool(state and state.get("bulk"))
    ensure_shape(db, bulk_load_in_progress=bulk)
    return db


def require_file(path: str):
    """NoDatabase unless `path` exists: checked before anything is created (no directory, no lock)."""
    if not os.path.exists(path):
        raise NoDatabase(f"no database at {path}: run `hubdex crawl` first (or pass --db)")


def open_reader(db: sqlite_utils.Database, cache_kb: int = SCAN_CACHE_KB) -> sqlite3.Connection:
    """A second, read-only connection to the same file, for work beside the writer (its own
    snapshot: the writer's uncommitted rows are invisible to it). Its reads are scans."""
    path = path_of(db)
    if not path:
        raise ValueError("an in-memory database has no second connection")
    return connect(path, read_only=True, cache_kb=cache_kb)


def path_of(db: sqlite_utils.Database) -> str | None:
    return db.conn.execute("PRAGMA database_list").fetchone()[2] or None
