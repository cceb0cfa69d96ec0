"""The `runs` table: one row per job run (crawl, derive or export), opened when it starts and closed with
its status, reason and figures when it ends."""

from __future__ import annotations

import json

# Figures a job may report; each is a column of `runs` (crawls fill most, a derive few).
FIGURES = ("pages", "models_seen", "models_new", "models_changed", "models_renamed", "models_removed",
           "models_revived", "metrics_moved", "details", "cards", "prices", "requests", "retries", "throttled",
           "errors", "quarantined", "waited_seconds", "files_written", "rows_written", "rows_pruned", "searches")


def open_run(conn, mode: str, scope: str, endpoint: str, args: dict, now: str) -> int:
    # A run still marked running was killed: the writer lock the caller holds proves nobody else is
    # writing, so it cannot still be going.
    conn.execute("UPDATE runs SET status = 'killed', ended_at = coalesce(ended_at, ?) WHERE status = 'running'", (now,))
    cur = conn.execute("INSERT INTO runs (mode, scope, endpoint, started_at, status, args) VALUES (?, ?, ?, ?, ?, ?)",
                       (mode, scope, endpoint, now, "running", json.dumps(args)))
    return cur.lastrowid


def close_run(conn, run_id: int, status: str, reason: str | None, figures: dict, now: str):
    unknown = set(figures) - set(FIGURES)
    if unknown:
        raise ValueError(f"not a column of runs: {', '.join(sorted(unknown))}")
    names = list(figures)
    conn.execute(f"UPDATE runs SET ended_at = ?, status = ?, reason = ?{''.join(f', {n} = ?' for n in names)} "
                 "WHERE id = ?", (now, status, reason, *(figures[n] for n in names), run_id))
