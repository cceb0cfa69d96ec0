"""`hubdex serve`: Datasette on the live database, with hubdex's metadata, canned queries,
dashboards and plugin.

The database is opened mutable (never immutable: `-i` on a file the crawler is writing gives
"database disk image is malformed"), in WAL mode (the crawl's own `open_db` sets it), and served
under the name `hubdex` whatever the file is called. Datasette reads through `mode=ro` connections,
so SQL typed into it can't write; no canned query writes either.

What is shipped (`metadata.yml`, `queries.yml`, `dashboards.yml` beside this file) is plain data;
`metadata()` puts it together into the one dict Datasette 0.65 takes.
"""

from __future__ import annotations

import pathlib
from functools import lru_cache

import yaml

from . import plugin

HERE = pathlib.Path(__file__).resolve().parent
DB_NAME = plugin.DB_NAME

# Datasette's settings for hubdex. suggest_facets is off: on a million-row table each suggestion is a
# GROUP BY over an unindexed column (Datasette 0.65 has no large-table fix for it). Facets are
# configured per table on indexed columns only (metadata.yml).
SETTINGS = {
    "sql_time_limit_ms": 3000,
    "facet_time_limit_ms": 500,
    "suggest_facets": False,
    "max_returned_rows": 1000,
    "default_page_size": 50,
    "truncate_cells_html": 300,
    "allow_download": False,
    "default_cache_ttl": 0,
    "num_sql_threads": 3,
}


def _load(name: str):
    with open(HERE / name, encoding="utf-8") as f:
        return yaml.safe_load(f)


@lru_cache(maxsize=1)
def _shipped() -> tuple[dict, dict, dict]:
    return _load("metadata.yml"), _load("queries.yml"), _load("dashboards.yml")


def metadata() -> dict:
    """The whole of Datasette's metadata: the descriptions, sorts and facets, the canned queries,
    the dashboards and the plugins' configuration (a fresh copy each call)."""
    import copy

    meta, queries, dashboards = copy.deepcopy(_shipped())
    meta["databases"][DB_NAME]["queries"] = queries
    meta.setdefault("plugins", {})["datasette-dashboards"] = dashboards
    return meta


def canned_queries() -> dict:
    return metadata()["databases"][DB_NAME]["queries"]


def dashboards() -> dict:
    return metadata()["plugins"]["datasette-dashboards"]


def _database_class():
    import os

    from datasette.database import Database

    class HubdexDatabase(Database):
        """Datasette's database, its table counts (the index and database pages list every table's)
        kept while the file is unchanged. Datasette counts each table with a 10 ms limit, but SQLite
        counts a table in one VM instruction that no time limit interrupts: at a million models the
        50 counts took 1.3-2.5 s a page (model_tags alone, 10 million rows, 380 ms). The counts are
        exact: they are taken again as soon as the database or its WAL file changes (a crawl or a
        derive committed), so the first page after a write pays for them once."""

        _counts_key = None
        _counts = None

        def _file_state(self):
            state = []
            for suffix in ("", "-wal"):
                try:
                    st = os.stat(str(self.path) + suffix)
                    state.append((st.st_mtime_ns, st.st_size))
                except FileNotFoundError:
                    state.append(None)
            return tuple(state)

        async def table_counts(self, limit=10):
            key = self._file_state()
            if self._counts is None or key != self._counts_key:
                self._counts = await super().table_counts(limit)
                self._counts_key = key
            return dict(self._counts)

    return HubdexDatabase


def make_datasette(db_path: str, settings: dict | None = None):
    """A Datasette instance serving `db_path` as the mutable database `hubdex`."""
    from datasette.app import Datasette
    from datasette.plugins import pm

    Database = _database_class()

    if not pm.is_registered(plugin):
        pm.register(plugin, name="hubdex")
    ds = Datasette([], metadata=metadata(), settings={**SETTINGS, **(settings or {})}, cors=False,
                   template_dir=str(HERE / "templates"))
    ds.add_database(Database(ds, path=str(db_path), is_mutable=True), name=DB_NAME)
    # Given no files, Datasette adds an empty in-memory database: nothing to show beside hubdex's.
    if "_memory" in ds.databases:
        ds.remove_database("_memory")
    return ds


def prepare(db_path: str) -> str | None:
    """Bring an existing database up to date before serving it (migrations, views, the indexes the
    metadata's sorts, facets and queries need): no-ops on a database already in shape. Done under the
    database's writer lock, as a job would; when a crawl, derive or export holds it, nothing is done
    here (an index built on a million rows would hold up its writes) and the note returned says so:
    every job brings the shape up to date when it opens the file. NoDatabase when there is no file
    (nothing is created)."""
    from ..store import overview
    from ..store.db import open_db, require_file
    from ..store.lockfile import Busy, WriterLock

    require_file(str(db_path))
    try:
        with WriterLock(str(db_path), "serve (bringing views and indexes up to date)"):
            db = open_db(str(db_path), must_exist=True)
            lacking = overview.needs_filling(db.conn)  # derived before these tables existed
            if lacking == "overview":
                last = db.conn.execute("SELECT day FROM derive_runs ORDER BY run_id DESC LIMIT 1").fetchone()
                with db.atomic():
                    overview.refresh(db.conn, rebuild_all=True, day=last[0] if last else None)
            elif lacking == "cube":
                with db.atomic():
                    overview.refresh_cube(db.conn)
                    overview.refresh_breakdowns(db.conn)
            db.conn.close()
    except Busy as e:
        return (f"{e.args[0]} holds {db_path}: serving it as it is (its views and indexes are brought up "
                "to date by the next job that opens it)")
    return None


def serve(db_path: str, host: str, port: int, settings: dict | None = None, announce=print):
    """Serve until interrupted (uvicorn, as `datasette serve` does). The socket is bound first, so
    `announce` gets the real URL (port 0 picks a free port)."""
    import asyncio
    import socket

    import uvicorn

    ds = make_datasette(db_path, settings)
    asyncio.run(ds.invoke_startup())
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, or asyncio does not set TCP_NODELAY on the connections it accepts (it checks
    # the proto): then every keep-alive response waited ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(ds.app(), log_level="warning", lifespan="on", workers=1)
    server = uvicorn.Server(config)
    announce(f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{bound}/")
    server.run(sockets=[sock])
