"""Open hubdex's database, the one place that does: WAL (analysts read while the crawler writes), a
busy timeout, migrations for tables, then the derived shape (views, indexes, full-text search)."""

from __future__ import annotations

import json
import os
import sqlite3
from urllib.parse import quote

import sqlite_utils

from .schema import migrations
from .shape import ensure_shape

BUSY_TIMEOUT_MS = 10_000
PAGE_CACHE_KB = 65_536  # 64 MB of page cache per connection
SCAN_CACHE_KB = 8_192  # for connections that only scan (a large cache does not speed a scan up)


class NoDatabase(Exception):
    """A command that reads a crawl's results was pointed at a file that isn't there."""


class ForeignDatabase(sqlite3.DatabaseError):
    """An SQLite file with tables that hubdex did not create: left as it is, never migrated."""


class NewerDatabase(sqlite3.DatabaseError):
    """A database written by a newer hubdex (migrations this version does not know): never opened
    for writing, never read (its tables may mean something else now)."""


class OlderDatabase(sqlite3.DatabaseError):
    """A database a read-only command can't read as it is: it needs migrations, and readers never
    write (a job migrates it)."""


class ReadOnly(sqlite3.DatabaseError):
    """The database, or the directory it is in, can't be written (a job writes its lock file, -wal
    and -shm beside it)."""


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


def open_db(path: str, *, must_exist: bool = False, read_only: bool = False) -> sqlite_utils.Database:
    """The database at `path`, created if needed (unless `must_exist`), migrated and in shape.
    `read_only`: a connection that writes nothing, and nothing else is written either: no file or
    directory created, no migration (a reader must not write beside a writer that holds the lock),
    so an empty file is no database yet (NoDatabase) and an older one OlderDatabase. Raises
    NoDatabase, or sqlite3.DatabaseError for a file that is not a database, not hubdex's
    (ForeignDatabase) or a newer hubdex's (NewerDatabase)."""
    if must_exist or read_only:
        require_file(path)
    if read_only and os.path.isfile(path) and os.path.getsize(path) == 0:
        raise NoDatabase(f"{path} is empty, not a database yet: run `hubdex crawl` first (or pass --db)")
    check_file(path)
    if read_only:
        conn = connect_read_only(path)
        db = sqlite_utils.Database(conn)
        if not migrations.pending(db):
            return db
        conn.close()
        raise OlderDatabase(f"{path} was written by an older hubdex and needs upgrading, which a read-only command "
                            "never does: run `hubdex derive --db ...` (any job upgrades it)")
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


def _uri(path: str, **params) -> str:
    return f"file:{quote(os.path.abspath(path))}?" + "&".join(f"{k}={v}" for k, v in params.items())


def connect_read_only(path: str, cache_kb: int = SCAN_CACHE_KB) -> sqlite3.Connection:
    """A connection that can't write, to an existing file. In a directory that can't be written, a
    WAL database's -shm can't be created either: with no -wal there is no writer (it would need
    one), so the file is read as immutable."""
    def open_(**params):
        conn = sqlite3.connect(_uri(path, **params), uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file (and its WAL)
        return conn

    try:
        conn = open_(mode="ro")
    except sqlite3.OperationalError:
        if os.path.exists(path + "-wal") or os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
            raise
        conn = open_(mode="ro", immutable=1)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA cache_size=-{int(cache_kb)}")
    return conn


def check_file(path: str):
    """Refuse, before anything is written, a file that exists but is not hubdex's database: not a
    database at all (sqlite3.DatabaseError), or an SQLite database with tables of its own and none
    of hubdex's migrations (ForeignDatabase; migrating it would add hubdex's tables to it). A
    missing or empty file is a new database. Nothing is created or changed here."""
    if not path or path == ":memory:" or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return
    try:
        conn = connect_read_only(path)
    except sqlite3.OperationalError:
        return  # can't be opened to look (permissions, a held lock): the writer's open says why
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                            "'sqlite_%' ORDER BY name")]
        ours, applied = False, set()
        if "_sqlite_migrations" in names:
            applied = {r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                                                  (migrations.name,))}
            ours = bool(applied)
    finally:
        conn.close()
    unknown = sorted(applied - known_migrations())
    if unknown:
        raise NewerDatabase(f"{path} was written by a newer hubdex (it has {len(unknown)} change"
                            f"{'s' if len(unknown) > 1 else ''} this version does not know: {', '.join(unknown[:3])}"
                            f"{', ...' if len(unknown) > 3 else ''}); not touching it: upgrade hubdex")
    if set(names) - {"_sqlite_migrations"} and not ours:  # (only that table: a first open killed mid-way)
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise ForeignDatabase(f"{path} is an SQLite database that hubdex did not create (tables: {shown}); "
                              "not touching it")


_KNOWN: set | None = None


def known_migrations() -> set:
    """The names of every migration this hubdex has (what an empty database would get)."""
    global _KNOWN
    if _KNOWN is None:
        _KNOWN = {m.name for m in migrations.pending(sqlite_utils.Database(memory=True))}
    return _KNOWN


def check_writable(path: str):
    """ReadOnly unless the file (if it exists) and its directory can be written. Nothing is created."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path):
        try:
            os.close(os.open(path, os.O_RDWR))
        except OSError as e:
            raise ReadOnly(f"{path} can't be written ({e.strerror})") from None
    while not os.path.isdir(directory):  # created by the job: its first existing parent must be writable
        directory = os.path.dirname(directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ReadOnly(f"the directory {directory} can't be written (a job writes its lock file, -wal and -shm "
                       "beside the database)")


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
