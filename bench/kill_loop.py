"""Kill loop (issue 26): SIGKILL the daemon and its jobs at random while the replica serves hostile cards
and faults, then compare the database with a clean crawl's.

    .venv/bin/python bench/kill_loop.py [--models 1500] [--kills 12] [--seed 7]

A replica (synthetic catalogue) serves, for a few of its most downloaded models, the cards of issue
26 (front matter nested 600 deep; a YAML alias bomb; a card nested deeper than a JSON encoder goes),
and request faults on every route (503s, 429s, resets, truncated card bodies). First a clean run:
`crawl --full`, `crawl` (incremental), `crawl --cards`, no kills. Then the daemon, on a schedule that
runs the same three (the full pass first), is sent SIGKILL at random moments, alternately itself
(then restarted: it resumes the killed run) and its running job (the daemon reports it killed and
runs it again at its next slot), at least `--kills` times; then it runs undisturbed until the card
backlog is empty and the full pass is done, and is stopped with SIGTERM.

Equal means: the same rows in every table the crawl fills (models, tags, files, relations, cards,
sections, evaluations, capabilities) with the columns that record *when* left out, the same
quarantined cards with the same reasons, no run left `running`, and `PRAGMA integrity_check` ok.
Prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HUBDEX = [sys.executable, "-m", "hubdex"]
FAULTS = "503:p=0.04;429:p=0.02,retry=1;reset:p=0.02;truncate:on=card,p=0.03"
DEEP = ("---\ndeep: " + "[" * 600 + "]" * 600 + "\n---\n# deep\n").encode()
BOMB = ("---\n" + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    + "---\n# bomb\n").encode()
TOO_DEEP_FOR_JSON = ("---\nx: " + "{a: " * 60 + "1" + "}" * 60 + "\n---\n# fine, 60 deep\n").encode()
HOSTILE = [DEEP, BOMB, DEEP, BOMB, TOO_DEEP_FOR_JSON]

# (table, columns compared, order): the columns that say when something happened are left out.
TABLES = {
    "models": "id, oid, author, sha, pipeline_tag, library_name, license, params, downloads, likes, raw",
    "model_tags": "(SELECT id FROM models WHERE key = model_key), tag",
    "model_files": "(SELECT id FROM models WHERE key = model_key), path, size, blob_id",
    "model_relations": "(SELECT id FROM models WHERE key = model_key), parent, relation",
    "cards": "(SELECT id FROM models WHERE key = model_key), sha, source, bytes, truncated, problems, front_matter, "
             "sections_count, evaluations_count, capabilities_count, blob_id",
    "card_sections": "(SELECT id FROM models WHERE key = model_key), seq, level, title, path, text",
    "evaluations": "(SELECT id FROM models WHERE key = model_key), seq, metric, value, dataset, source, location",
    "capabilities": "(SELECT id FROM models WHERE key = model_key), seq, capability, detail, evidence_kind",
}


def columns(conn, table):
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def digest(db: str) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = {}
    for table, cols in TABLES.items():
        have = set(columns(conn, table))
        wanted = [c for c in cols.split(", ") if c.startswith("(") or c in have]
        rows = sorted(map(repr, conn.execute(f"SELECT {', '.join(wanted)} FROM {table}")))
        out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16])
    hostile = sorted(set((r[0].split(" at ")[0], r[1]) for r in conn.execute(
        "SELECT url, reason FROM quarantine WHERE url LIKE 'README.md%' AND reason LIKE 'front matter refused%'")))
    out["hostile cards quarantined"] = [len(hostile), hashlib.sha256(repr(hostile).encode()).hexdigest()[:16]]
    out["runs left running"] = conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
    out["integrity"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return out


def run(args, **kw):
    return subprocess.run(HUBDEX + args, capture_output=True, text=True, **kw)


def children(pid: int) -> list[int]:
    """The daemon's child processes (its jobs are started by its runner thread: every task is read)."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return out


def running_row(db: str) -> int:
    """The id of the newest run row still `running` (0: none)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT coalesce(max(id), 0) FROM runs WHERE status = 'running'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def backlog_and_pass(db: str) -> tuple[int, bool]:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        from hubdex.crawl.backlog import backlog_size

        n = backlog_size(conn)
        done = conn.execute("SELECT value FROM crawl_state WHERE key = 'incremental.watermark'").fetchone()
        conn.close()
        return n, bool(done)
    except sqlite3.Error:
        return -1, False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=1500)
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    from hubdex.replica.server import start_replica

    server = start_replica(f"synthetic:{a.models}", seed=a.seed, faults=FAULTS,
                           quotas={"api": 10**9, "resolvers": 10**9})
    store = server.app.store
    work = tempfile.mkdtemp(prefix="hubdex-killloop-")
    clean, killed = os.path.join(work, "clean.db"), os.path.join(work, "killed.db")
    t0 = time.monotonic()
    # hostile cards on models spread over the backlog's order
    alive, downloads = store.col("alive"), store.col("downloads")
    rows = sorted((r for r in range(store.n) if alive[r]), key=lambda r: -int(downloads[r]))
    hostile_rows = [rows[i] for i in (0, 7, len(rows) // 3, len(rows) // 2, len(rows) - 1)]
    for row, card in zip(hostile_rows, HOSTILE):
        store.cards[row] = card
    for args in (["crawl", "--full"], ["crawl"], ["crawl", "--cards"]):
        for _ in range(20):  # faults may stop a run (exit 4): it resumes, as a cron would rerun it
            r = run(args + ["--endpoint", server.url, "--db", clean, "--backoff", "0.05"])
            if r.returncode == 0:
                break
            assert r.returncode == 4, r.stderr
    clean_s = time.monotonic() - t0

    sched = os.path.join(work, "schedules")
    os.mkdir(sched)
    with open(os.path.join(sched, "jobs.toml"), "w") as f:
        f.write('[jobs.crawl]\nargs = ["crawl", "--backoff", "0.05"]\nevery = "3s"\n'
                '[jobs.cards]\nargs = ["crawl", "--cards", "--backoff", "0.05"]\nevery = "4s"\n')
    log = open(os.path.join(work, "daemon.log"), "a")

    def start():
        return subprocess.Popen(HUBDEX + ["daemon", "--schedules", sched, "--db", killed, "--endpoint", server.url],
                                stderr=log)

    daemon = start()
    kills = {"daemon": 0, "job": 0}
    last_row = 0
    t1 = time.monotonic()
    while kills['daemon'] + kills['job'] < a.kills:
        waited = time.monotonic() + 60
        while time.monotonic() < waited and not (children(daemon.pid) and running_row(killed) > last_row):
            time.sleep(0.05)  # a job that has begun its run (a new `runs` row open): killed mid-work
        time.sleep(rng.uniform(0.0, 1.5))
        jobs = children(daemon.pid)
        last_row = running_row(killed)
        if rng.random() < 0.5 and jobs:
            os.kill(jobs[0], signal.SIGKILL)
            kills["job"] += 1
        else:
            daemon.send_signal(signal.SIGKILL)  # its job is sent SIGTERM by the kernel (PDEATHSIG)
            daemon.wait()
            kills["daemon"] += 1
            if jobs:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(jobs[0], signal.SIGKILL)  # and SIGKILLed before it can roll back
                kills["daemon and its job"] = kills.get("daemon and its job", 0) + 1
            daemon = start()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # undisturbed until everything is done
        time.sleep(2)
        left, passed = backlog_and_pass(killed)
        if left == 0 and passed:
            break
    time.sleep(4)  # a run in flight finishes
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(60)
    log.close()
    a_, b_ = digest(clean), digest(killed)
    outcomes = {}
    conn = sqlite3.connect(f"file:{killed}.daemon-state?mode=ro", uri=True)
    for o, n in conn.execute("SELECT outcome, count(*) FROM runs GROUP BY outcome"):
        outcomes[o] = n
    figures = {"models": a.models, "faults": FAULTS, "hostile_cards": len(HOSTILE), "kills": kills,
               "daemon_exit_after_sigterm": code, "daemon_run_outcomes": outcomes,
               "killed_db_runs": dict(sqlite3.connect(killed).execute(
                   "SELECT status, count(*) FROM runs GROUP BY status").fetchall()),
               "clean_seconds": round(clean_s, 1), "kill_loop_seconds": round(time.monotonic() - t1, 1),
               "equal": a_ == b_, "clean": a_, "killed": b_, "load_average": os.getloadavg(), "work": work}
    print(json.dumps(figures, indent=1))
    server.stop()
    sys.exit(0 if a_ == b_ and code == 0 else 1)


if __name__ == "__main__":
    main()
