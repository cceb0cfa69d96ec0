"""The daemon's own state, in a small SQLite file beside the database it keeps fresh (never inside
the database Datasette serves): `<db>.daemon-state`.

Per job: when the daemon first knew it, the slot (scheduled time) of its last run, the run in
progress (pid, slot, start: still set after a crash, which is how a killed run is found and
resumed), whether a stopped run must resume at the next start, a pending `after` trigger, the next
run, and the last run's outcome, duration, counts and the last success. `runs` keeps the recent
history (what /metrics counts). Times are UTC epoch seconds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading

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
OK_OUTCOMES = ("ok", "refused")  # exit 0, or 1 (done, but some of what was asked does not exist)


def path_for(db_path: str) -> str:
    return os.path.abspath(db_path) + ".daemon-state"


def lock_path_for(db_path: str) -> str:
    return os.path.abspath(db_path) + ".daemon.lock"


class State:
    def __init__(self, path: str, *, readonly: bool = False):
        self.path = path
        if readonly:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
        else:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.Lock()

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
        self.conn.close()

    # -- reading ----------------------------------------------------------------------------------
    def job(self, job_id: str) -> dict:
        with self.lock:
            row = self.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row else {}

    def jobs(self) -> dict[str, dict]:
        with self.lock:
            return {r["id"]: dict(r) for r in self.conn.execute("SELECT * FROM jobs")}

    def meta(self) -> dict:
        with self.lock:
            return {r["k"]: r["v"] for r in self.conn.execute("SELECT k, v FROM meta")}

    def outcome_counts(self) -> dict[tuple[str, str], int]:
        with self.lock:
            return {(r[0], r[1]): r[2] for r in self.conn.execute(
                "SELECT job, outcome, count(*) FROM runs GROUP BY job, outcome")}

    # -- writing ----------------------------------------------------------------------------------
    def _set(self, job_id: str, **values):
        cols = ", ".join(f"{k} = ?" for k in values)
        with self.lock:
            self.conn.execute("INSERT INTO jobs (id) VALUES (?) ON CONFLICT (id) DO NOTHING", (job_id,))
            self.conn.execute(f"UPDATE jobs SET {cols} WHERE id = ?", (*values.values(), job_id))

    def set_meta(self, **values):
        with self.lock:
            for k, v in values.items():
                self.conn.execute("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                                  (k, None if v is None else str(v)))

    def seen(self, job_id: str, now: float):
        with self.lock:
            self.conn.execute("INSERT INTO jobs (id, first_seen) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET "
                              "first_seen = coalesce(first_seen, excluded.first_seen)", (job_id, now))

    def next_run(self, job_id: str, when: float | None):
        self._set(job_id, next_run=when)

    def started(self, job_id: str, slot: float | None, pid: int, now: float):
        """Written before the run can do anything: after a crash it says which run to resume."""
        self._set(job_id, running_pid=pid, running_slot=slot, running_start=now, resume=0,
                  last_slot=slot if slot is not None else self.job(job_id).get("last_slot"))

    def finished(self, job_id: str, *, slot, start: float, end: float, outcome: str, code: int | None,
                 run_id: int | None, counts: dict, summary: str, resume: bool):
        ok = outcome in OK_OUTCOMES
        with self.lock:
            self.conn.execute(
                "UPDATE jobs SET running_pid = NULL, running_slot = NULL, running_start = NULL, resume = ?, "
                "last_start = ?, last_end = ?, last_outcome = ?, last_code = ?, last_run_id = ?, last_counts = ?, "
                "last_summary = ?, last_success = CASE WHEN ? THEN ? ELSE last_success END, runs = runs + 1 "
                "WHERE id = ?", (int(resume), start, end, outcome, code, run_id, json.dumps(counts), summary, ok, end,
                                 job_id))
            self.conn.execute("INSERT INTO runs (job, slot, started, ended, outcome, code, run_id, counts, summary) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              (job_id, slot, start, end, outcome, code, run_id, json.dumps(counts), summary))
            self.conn.execute("DELETE FROM runs WHERE id <= (SELECT max(id) FROM runs) - ?", (KEEP_RUNS,))

    def mark_pending(self, job_id: str, now: float):
        with self.lock:
            self.conn.execute("INSERT INTO jobs (id, pending) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET "
                              "pending = coalesce(pending, excluded.pending)", (job_id, now))

    def take_pending(self, job_id: str):
        """A run of an `after` job starts: the changes seen so far are its to cover (changes seen while
        it runs mark the job pending again, so it runs once more)."""
        with self.lock:
            row = self.conn.execute("SELECT pending FROM jobs WHERE id = ?", (job_id,)).fetchone()
            self.conn.execute("UPDATE jobs SET pending = NULL WHERE id = ?", (job_id,))
        return row[0] if row else None
