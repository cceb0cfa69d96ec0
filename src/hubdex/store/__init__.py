"""SQLite storage: open the database, its migrations, and the writers of each unit of work."""

from .db import open_db  # noqa: F401
