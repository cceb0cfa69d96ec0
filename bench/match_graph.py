"""The match graph at scale: the search crawl's requests per day, the graph build's time and peak
memory, and the rebuild after 1% of models changed; each beside a baseline measured in the same run.

The database, in a temporary work directory: a copy of `--db PATH` (a crawled catalogue of the same
replica, e.g. /work/bench1m/hub1m.pristine.db, 1,000,000 models; the original is never opened), or
without it a fresh `hubdex crawl --full` of `synthetic:N` (`--models`, default 1,000,000).

Steps (each a real `hubdex` process against a replica subprocess, over HTTP):
1. `hubdex crawl --cards --limit C` (default 20,000: the most downloaded models' cards, where the
   benchmarks and comparison tables are);
2. `hubdex crawl --search`: every query is due on the first day; requests, seconds; and the steady
   requests per day (the sum over queries of 1 / refresh period);
3. the graph build alone, in a process of its own (`match.build` in a transaction rolled back):
   seconds and peak RSS, against the baseline of reading the same inputs (the SELECTs it runs,
   fetched and dropped) in a process of its own;
4. `hubdex derive` (the real path: the graph is one step), its match step's seconds;
5. 1% of models updated in the replica, `hubdex crawl` (incremental: it reads the changed models'
   cards too), then the graph build again: seconds.
Targets (issue 11): build under 60 s and 1 GB at 1,000,000 models; rebuild after 1% under 10 s.

`--update-on PATH` (issue 22: the graph's update after 1% changed, under 5 s at 1,000,000 models)
measures `match.update` on a crawled database in place (e.g. the one `bench/pipeline.py --keep
--save-changed` leaves): the graph built whole and stored; then 1% of current models changed in SQL
as the replica's scenario changes them (each model-index result of an updated model takes a new
value, its metadata hash moves) plus, among them, a few removed, a few renamed and one in ten with
its downloads moved; then `match.update` for those models, in a transaction, its seconds, peak RSS
and rows written, against a full build of the same changed tables (seconds) and the baseline of
reading the graph's inputs once; and whether the two agree row for row (they must).

Run:  .venv/bin/python bench/match_graph.py [--db PATH] [--models 1000000] [--cards 20000] [--json FILE]
      .venv/bin/python bench/match_graph.py --update-on PATH [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs  # noqa: E402

BUILD = r"""
import json, resource, sys, time
from hubdex.store.db import open_db
from hubdex.derive import match, signals
db = open_db(sys.argv[1], must_exist=True)
weights = signals.load_weights(None)["match"]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
db.conn.execute("BEGIN")
r = match.build(db.conn, weights)
s = time.perf_counter() - t
db.conn.execute("ROLLBACK")
print(json.dumps({"seconds": s, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_before_mb": base / 1024, "summary": r.summary()}))
"""

READ = r"""
import json, resource, sys, time
from hubdex.store.db import open_db
db = open_db(sys.argv[1], must_exist=True)
t = time.perf_counter()
n = 0
for sql in [
    "SELECT key, pipeline_tag, coalesce(params, 0), coalesce(downloads, 0) FROM models WHERE removed_at IS NULL",
    "SELECT r.model_key, p.key FROM model_relations r JOIN models p ON p.id = r.parent",
    "SELECT q.id, r.position, m.key FROM search_queries q JOIN search_results r ON r.query_id = q.id "
    "AND r.day = q.fetched_day JOIN models m ON m.id = r.model_id",
    "SELECT * FROM evaluations",
]:
    cur = db.conn.execute(sql)
    while True:
        rows = cur.fetchmany(50000)
        if not rows:
            break
        n += len(rows)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": n,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


UPDATE = r"""
import json, random, resource, sys, time
from hubdex.store.db import open_db
from hubdex.derive import match, signals
db = open_db(sys.argv[1], must_exist=True)
c = db.conn
weights = signals.load_weights(None)["match"]
out = {}
t = time.perf_counter()
c.execute("BEGIN")
r = match.build(c, weights)
c.execute("COMMIT")
out["first_build_s"] = time.perf_counter() - t
out["first_build"] = r.summary()
rng = random.Random(22)
current = [k for (k,) in c.execute("SELECT key FROM models WHERE removed_at IS NULL")]
changed = sorted(rng.sample(current, len(current) // 100))
c.execute("BEGIN")
for k in changed:  # an update, as the replica's scenario makes one: new results, new metadata
    c.execute("UPDATE evaluations SET value = round(value * 0.9 + 0.05, 4) WHERE model_key = ? AND subject IS NULL", (k,))
    c.execute("UPDATE models SET meta_hash = meta_hash || 'x' WHERE key = ?", (k,))
for k in changed[::10]:
    c.execute("UPDATE models SET downloads = coalesce(downloads, 0) * 2 + 100 WHERE key = ?", (k,))
for k in changed[1::200]:
    c.execute("UPDATE models SET removed_at = '2026-12-01T00:00:00.000Z' WHERE key = ?", (k,))
for k in changed[2::200]:
    c.execute("UPDATE models SET id = 'renamed-' || id WHERE key = ?", (k,))
c.execute("COMMIT")
TABLES = ("match_scores", "match_edges", "match_edge_evidence", "match_evidence", "match_copies")
def dump():
    return {t: c.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
c.execute("BEGIN")
t = time.perf_counter()
why = {k: {"metadata"} for k in changed}  # (the reasons model_changes would give, as the derive passes them)
for k in changed[::10]:
    why[k].add("metrics")
for k in changed[1::200]:
    why[k].add("removed")
for k in changed[2::200]:
    why[k].add("renamed")
u = match.update(c, weights, why)
out["update_s"] = time.perf_counter() - t
out["update_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["rss_before_mb"] = base / 1024
out["update"] = u.summary()
out["update_phases"] = u.phases
out["update_written"] = u.written
after_update = dump()
c.execute("ROLLBACK")
c.execute("BEGIN")
t = time.perf_counter()
f = match.build(c, weights)
out["full_build_s"] = time.perf_counter() - t
out["full_written"] = f.written
out["equal"] = dump() == after_update
c.execute("ROLLBACK")
out["changed"] = len(changed)
print(json.dumps(out))
"""


def update_on(db: str, json_path):
    """--update-on: see the module's docstring."""
    load0 = os.getloadavg()[0]
    read = python(READ, Path(db))
    out = python(UPDATE, Path(db))
    out["read_baseline"] = read
    load1 = os.getloadavg()[0]
    lines = [f"match graph update on {db} ({procs.load_line(load0, load1)})",
             f"first build (whole, stored): {out['first_build_s']:.1f} s",
             f"1% of models changed ({out['changed']:,}): update {out['update_s']:.1f} s, peak RSS "
             f"{out['update_peak_rss_mb']:.0f} MB (process before {out['rss_before_mb']:.0f} MB) [target < 5 s]; "
             f"a full build of the same tables {out['full_build_s']:.1f} s; reading the graph's inputs once "
             f"{read['seconds']:.1f} s; update equals the full build: {out['equal']}",
             f"  {out['update']}", f"  phases {out['update_phases']}",
             f"  written by the update {out['update_written']}, by the full build {out['full_written']}"]
    procs.report("\n".join(lines), out, json_path)


def run(argv, **kw) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(argv)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return time.perf_counter() - t, p.stdout


def say(text: str):
    print(text, file=sys.stderr, flush=True)


def python(code: str, db: Path) -> dict:
    _s, out = run([sys.executable, "-c", code, str(db)])
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db")
    ap.add_argument("--models", type=int, default=1_000_000)
    ap.add_argument("--cards", type=int, default=20_000)
    ap.add_argument("--json")
    ap.add_argument("--workdir")
    ap.add_argument("--update-on", help="measure match.update on this crawled database, in place (see above)")
    a = ap.parse_args()
    if a.update_on:
        return update_on(a.update_on, a.json)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="hubdex-match-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "hub.db"
    load0 = os.getloadavg()[0]
    out: dict = {"models": a.models}
    server = procs.replica(a.models, work / "replica.stderr")
    hub = procs.hubdex_exe()
    try:
        ep = ["--endpoint", server.url, "--db", str(db), "--no-progress"]
        if a.db:
            shutil.copyfile(a.db, db)
        else:
            out["full_crawl_s"], _ = run(hub + ["crawl", "--full"] + ep)
        out["cards_s"], _ = run(hub + ["crawl", "--cards", "--limit", str(a.cards)] + ep)
        s, text = run(hub + ["crawl", "--search"] + ep)
        conn = sqlite3.connect(db)
        req, searches = conn.execute("SELECT requests, searches FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        per_day = conn.execute("SELECT sum(1.0 / refresh_days), count(*) FROM search_queries").fetchone()
        by_origin = dict(conn.execute("SELECT origin, count(*) FROM search_queries GROUP BY 1"))
        conn.close()
        out["search"] = {"seconds": s, "requests_first_day": req, "queries": searches,
                         "steady_requests_per_day": round(per_day[0], 1), "queries_by_origin": by_origin}
        say(f"cards {out['cards_s']:.1f} s; search {out['search']}")
        out["read_baseline"] = python(READ, db)
        out["build"] = python(BUILD, db)
        say(f"read {out['read_baseline']}; build {out['build']}")
        s, text = run(hub + ["derive", "--db", str(db)])
        m = re.search(r"match graph: .*\(([\d.]+) s\)", text)
        out["derive"] = {"seconds": s, "match_step_s": float(m.group(1)) if m else None,
                         "match_line": m.group(0) if m else text[-500:]}
        say(f"derive {out['derive']}")
        server.scenario(update=int(a.models * 0.01), seed=7)
        # the incremental crawl reads the changed models' details and cards itself
        out["incremental_crawl_s"], _ = run(hub + ["crawl"] + ep)
        out["rebuild_read_baseline"] = python(READ, db)
        out["rebuild"] = python(BUILD, db)
    finally:
        server.stop()
    load1 = os.getloadavg()[0]
    b, r = out["build"], out["read_baseline"]
    rb = out["rebuild"]
    lines = [
        f"match graph at {a.models:,} models ({procs.load_line(load0, load1)})",
        f"search crawl, first day (all due): {out['search']['requests_first_day']:,} requests, "
        f"{out['search']['queries']:,} queries in {out['search']['seconds']:.1f} s; "
        f"steady state {out['search']['steady_requests_per_day']:,} requests/day ({out['search']['queries_by_origin']})",
        f"graph build: {b['seconds']:.1f} s, peak RSS {b['peak_rss_mb']:.0f} MB (process before build "
        f"{b['rss_before_mb']:.0f} MB); baseline read of its inputs {r['seconds']:.1f} s ({r['rows']:,} rows): "
        f"ratio {b['seconds'] / r['seconds']:.2f}  [targets < 60 s, < 1 GB]",
        f"  {b['summary']}",
        f"derive (the real path) {out['derive']['seconds']:.1f} s: {out['derive']['match_line']}",
        f"after 1% updated: incremental crawl {out['incremental_crawl_s']:.1f} s; "
        f"graph rebuild {rb['seconds']:.1f} s, peak {rb['peak_rss_mb']:.0f} MB; baseline read "
        f"{out['rebuild_read_baseline']['seconds']:.1f} s: ratio {rb['seconds'] / out['rebuild_read_baseline']['seconds']:.2f}"
        f"  [target < 10 s]",
    ]
    procs.report("\n".join(lines), out, a.json)


if __name__ == "__main__":
    main()
