"""Stage 3, store: SQLite. Opening it (db), its tables (schema), its derived shape (shape), the
writers of each unit of work (save) and the run log (runs).

`open_db` is loaded on first use, so that the light modules (lockfile, runs) can be imported
without sqlite_utils (and the numpy it loads): the daemon reads them and stays small."""


def __getattr__(name):
    if name == "open_db":
        from .db import open_db

        return open_db
    raise AttributeError(name)
