"""The daemon's own state, in a small SQLite file beside the database it keeps fresh (never inside
the database Datasette serves): `<db>.daemon-state`.

Per job: when the daemon first knew it, the slot (scheduled time) of its last run, the run in
progress (pid, slot, start: still set after a crash, which is how a killed run is found and
resumed), whether a stopped run must resume at the next start, a pending `after` trigger, the next
run, and the last run's outcome, duration, counts and the last success. `runs` keeps the recent
history (what /metrics counts). Times are UTC epoch seconds.

A full disk (or a state file that can't be written for any other reason) never stops the daemon:
each write is queued in memory, in order, and the queue is written in one transaction as soon as it
can be, retried with a growing pause (`RETRY_FIRST` to `RETRY_MAX` seconds) on every write and on
every look of the loop. One log line when writing stops, one when it resumes. The schedule itself
never depended on this file while the daemon runs (it is in memory), so nothing is missed.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, first_seen REAL, last_slot REAL,
    running_pid INTEGER, running_slot REAL, running_start REAL, resume INTEGER NOT NULL DEFAULT 0,
    pending REAL, next_run REAL,
    last_start REAL, last_end REAL, last_outcome TEXT, last_code INTEGER, last_run_id INTEGER,
    last_counts TEXT, last_summary TEXT, last_success REAL, runs INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, job TEXT NOT NULL, slot REAL, started REAL, ended REAL, outcome TEXT,
    code INTEGER, run_id INTEGER, counts TEXT, summary TEXT
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
"""
KEEP_RUNS = 5000
RETRY_FIRST, RETRY_MAX = 5.0, 300.0
log = logging.getLogger("hubdex.daemon")
OK_OUTCOMES = ("ok", "refused")  # exit 0, or 1 (done, but some of what was asked does not exist)


def path_for(db_path: str) -> str:
    return os.path.realpath(db_path) + ".daemon-state"  # beside the file itself, whatever its name


def lock_path_for(db_path: str) -> str:
    return os.path.realpath(db_path) + ".daemon.lock"


class State:
    def __init__(self, path: str, *, readonly: bool = False, monotonic=time.monotonic):
        self.path = path
        self.lock = threading.RLock()
        self.conn = None
        self.pending: list[tuple[str, tuple]] = []  # writes not yet on disk, in order
        self.failing: str | None = None  # why writing stopped (None: it works)
        self.retry_at = 0.0
        self.pause = RETRY_FIRST
        self.monotonic = monotonic
        if readonly:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
        else:
            self._open()

    def _open(self) -> bool:
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(SCHEMA)
            except sqlite3.Error:
                conn.close()
                raise
        except (sqlite3.Error, OSError) as e:
            self._trouble(e)
            return False
        conn.row_factory = sqlite3.Row
        self.conn = conn
        return True

    @classmethod
    def read(cls, db_path: str) -> "State | None":
        path = path_for(db_path)
        if not os.path.exists(path):
            return None
        try:
            return cls(path, readonly=True)
        except sqlite3.Error:
            return None

    def close(self):
        if self.conn is not None:
            self.conn.close()

    # -- writing, whatever the disk says ------------------------------------------------------------
    def _trouble(self, error: Exception):
        why = f"{type(error).__name__}: {error}"
        if self.failing is None:
            log.warning("daemon state can't be written: kept in memory, written when it can be", extra={"fields": {
                "state_file": self.path, "error": why, "retry_seconds": self.pause}})
            self.failing = why
        self.retry_at = self.monotonic() + self.pause
        self.pause = min(self.pause * 2, RETRY_MAX)

    def _write(self, statements: list[tuple[str, tuple]]):
        with self.lock:
            self.pending.extend(statements)
            self.flush()

    def flush(self, force: bool = False) -> bool:
        """Write what is queued (at once after the first failure's pause; `force`: now). True when
        nothing is left in memory."""
        with self.lock:
            if not self.pending:
                return True
            if self.failing and not force and self.monotonic() < self.retry_at:
                return False
            if self.conn is None and not self._open():
                return False
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                for sql, params in self.pending:
                    self.conn.execute(sql, params)
                self.conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as e:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                self._trouble(e)
                return False
            written = len(self.pending)
            self.pending.clear()
            if self.failing:
                log.warning("daemon state written again", extra={"fields": {"state_file": self.path,
                                                                               "writes_caught_up": written}})
                self.failing, self.pause = None, RETRY_FIRST
            return True

    # -- reading ----------------------------------------------------------------------------------
    def _rows(self, sql: str, params: tuple = ()) -> list:
        """Rows, or none when the file can't be read (the daemon goes on from what it has in memory)."""
        with self.lock:
            if self.conn is None:
                return []
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error:
                return []

    def job(self, job_id: str) -> dict:
        rows = self._rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return dict(rows[0]) if rows else {}

    def jobs(self) -> dict[str, dict]:
        return {r["id"]: dict(r) for r in self._rows("SELECT * FROM jobs")}

    def meta(self) -> dict:
        return {r["k"]: r["v"] for r in self._rows("SELECT k, v FROM meta")}

    def outcome_counts(self) -> dict[tuple[str, str], int]:
        return {(r[0], r[1]): r[2] for r in self._rows("SELECT job, outcome, count(*) FROM runs GROUP BY job, outcome")}

    # -- the writes -------------------------------------------------------------------------------
    def _set(self, job_id: str, **values):
        cols = ", ".join(f"{k} = ?" for k in values)
        self._write([("INSERT INTO jobs (id) VALUES (?) ON CONFLICT (id) DO NOTHING", (job_id,)),
                     (f"UPDATE jobs SET {cols} WHERE id = ?", (*values.values(), job_id))])

    def set_meta(self, **values):
        self._write([("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                      (k, None if v is None else str(v))) for k, v in values.items()])

    def seen(self, job_id: str, now: float):
        self._write([("INSERT INTO jobs (id, first_seen) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET "
                      "first_seen = coalesce(first_seen, excluded.first_seen)", (job_id, now))])

    def next_run(self, job_id: str, when: float | None):
        self._set(job_id, next_run=when)

    def started(self, job_id: str, slot: float | None, pid: int, now: float):
        """Written before the run can do anything: after a crash it says which run to resume."""
        self._write([("INSERT INTO jobs (id) VALUES (?) ON CONFLICT (id) DO NOTHING", (job_id,)),
                     ("UPDATE jobs SET running_pid = ?, running_slot = ?, running_start = ?, resume = 0, "
                      "last_slot = coalesce(?, last_slot) WHERE id = ?", (pid, slot, now, slot, job_id))])

    def finished(self, job_id: str, *, slot, start: float, end: float, outcome: str, code: int | None,
                 run_id: int | None, counts: dict, summary: str, resume: bool):
        ok = outcome in OK_OUTCOMES
        self._write([
            ("INSERT INTO jobs (id) VALUES (?) ON CONFLICT (id) DO NOTHING", (job_id,)),
            ("UPDATE jobs SET running_pid = NULL, running_slot = NULL, running_start = NULL, resume = ?, "
             "last_start = ?, last_end = ?, last_outcome = ?, last_code = ?, last_run_id = ?, last_counts = ?, "
             "last_summary = ?, last_success = CASE WHEN ? THEN ? ELSE last_success END, runs = runs + 1 "
             "WHERE id = ?", (int(resume), start, end, outcome, code, run_id, json.dumps(counts), summary, ok, end,
                              job_id)),
            ("INSERT INTO runs (job, slot, started, ended, outcome, code, run_id, counts, summary) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
             (job_id, slot, start, end, outcome, code, run_id, json.dumps(counts), summary)),
            ("DELETE FROM runs WHERE id <= (SELECT max(id) FROM runs) - ?", (KEEP_RUNS,))])

    def mark_pending(self, job_id: str, now: float):
        self._write([("INSERT INTO jobs (id, pending) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET "
                      "pending = coalesce(pending, excluded.pending)", (job_id, now))])

    def take_pending(self, job_id: str):
        """A run of an `after` job starts: the changes seen so far are its to cover (changes seen while
        it runs mark the job pending again, so it runs once more)."""
        with self.lock:
            rows = self._rows("SELECT pending FROM jobs WHERE id = ?", (job_id,))
            self._write([("UPDATE jobs SET pending = NULL WHERE id = ?", (job_id,))])
        return rows[0][0] if rows else None
