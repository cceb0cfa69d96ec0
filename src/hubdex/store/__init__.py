"""Stage 3, store: SQLite. Opening it (db), its tables (schema), its derived shape (shape), the
writers of each unit of work (save) and the run log (runs)."""

from .db import open_db  # noqa: F401
