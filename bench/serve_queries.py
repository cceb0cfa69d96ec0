"""p95 latency of every canned query of `hubdex serve`, over HTTP through Datasette, on a database of
100,000 models by default or 1,000,000 (`--models 1000000`; target, issue 24: under 500 ms each at a
million), and of the pages an analyst opens first: `model_overview` with its five facets, unfiltered,
searched, and filtered by the largest value of each facet; the other tables with their facets; every
chart query of every dashboard.

The database (unless `--db` names one: it is copied, never written): against a local replica
(`hubdex replica serve --catalog synthetic:N`, bench/procs.py), `hubdex crawl --full` as day 0
(HUBDEX_DAY=2026-10-30), `hubdex crawl --cards --limit 3000`, then three seeded scenario steps
(`--metrics 0.3`: 30% of the models' figures move) each followed by `hubdex crawl --metrics` on days
1, 8 and 31, so growth over 7 and 30 days exists; then `hubdex derive`. The replica is stopped before
anything is timed.

Then `hubdex serve --db COPY --port 0` as its own process, and for each query (with its parameters
empty, and with parameters an analyst would give: a common task, a rare one, a model, a model with
many derivatives, a search) 3 warm-up requests and `--repeats` (40) timed ones, one at a time over
one keep-alive connection: wall time of each GET of `/hubdex/<query>.json`, the response fully read.
Reported: p50, p95 and max in ms, Datasette's own query time (its `query_ms`, median), rows; every
miss of the target with its query plan, which says why.

Run:  .venv/bin/python bench/serve_queries.py [--models 100000] [--db PATH] [--repeats 40]
                                              [--json bench/results/serve_queries.json]
      (or: make bench-serve [DB=path])
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import Server, hubdex_exe, load_line, replica, report, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TARGET_MS = 500.0
DAY0 = dt.date(2026, 10, 30)
METRIC_DAYS = [DAY0 + dt.timedelta(days=d) for d in (1, 8, 31)]
RESULTS = ROOT / "bench" / "results" / "serve_queries.json"


def say(msg: str):
    print(msg, file=sys.stderr, flush=True)


def run(argv: list[str], day: dt.date, what: str) -> float:
    t = time.perf_counter()
    p = subprocess.run(hubdex_exe() + argv, capture_output=True, text=True, timeout=3600,
                       env={**os.environ, "HUBDEX_DAY": day.isoformat()})
    if p.returncode:
        raise RuntimeError(f"{what} exited {p.returncode}: {p.stderr[-2000:]}")
    s = time.perf_counter() - t
    say(f"  {what}: {s:.1f} s  {p.stdout.strip().splitlines()[-1][:150] if p.stdout.strip() else ''}")
    return s


def build_db(n: int, db: Path, workdir: Path) -> dict:
    rep = replica(n, workdir / "replica.stderr")
    out = {}
    try:
        say(f"replica synthetic:{n:,} at {rep.url}")
        out["full_s"] = run(["crawl", "--full", "--endpoint", rep.url, "--db", str(db), "--no-progress"], DAY0,
                            "full crawl")
        out["cards_s"] = run(["crawl", "--cards", "--limit", "3000", "--endpoint", rep.url, "--db", str(db),
                              "--no-progress"], DAY0, "cards crawl (3,000)")
        for i, day in enumerate(METRIC_DAYS):
            subprocess.run(hubdex_exe() + ["replica", "scenario", "--url", rep.url, "--seed", str(i + 1),
                                           "--metrics", "0.3", "--advance", "86400", "--summary"],
                           check=True, capture_output=True, timeout=600)
            out[f"metrics_{day}_s"] = run(["crawl", "--metrics", "--endpoint", rep.url, "--db", str(db),
                                           "--no-progress"], day, f"metrics crawl {day}")
    finally:
        rep.stop()
    out["derive_s"] = run(["derive", "--db", str(db)], METRIC_DAYS[-1], "derive")
    return out


def cases(db: Path) -> list[tuple[str, str, dict]]:
    """(label, path, params): each canned query with empty parameters and with an analyst's."""
    from hubdex import serve

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    q = conn.execute
    common = q("SELECT pipeline_tag FROM models WHERE pipeline_tag IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC "
               "LIMIT 1").fetchone()[0]
    rare = q("SELECT pipeline_tag FROM models WHERE pipeline_tag IS NOT NULL GROUP BY 1 ORDER BY count(*) LIMIT 1"
             ).fetchone()[0]
    top = q("SELECT m.id FROM model_scores s JOIN models m ON m.key = s.model_key ORDER BY s.rank DESC LIMIT 1"
            ).fetchone()[0]
    parent, kids = q("SELECT parent, count(*) FROM model_relations GROUP BY parent ORDER BY 2 DESC LIMIT 1").fetchone()
    word = q("SELECT author FROM models GROUP BY author ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    conn.close()
    out = []
    for name, query in serve.canned_queries().items():
        out.append((name, f"hubdex/{name}.json", {}))
        params = set(re.findall(r":(\w+)", query["sql"]))
        if "task" in params:
            out.append((f"{name} task={common}", f"hubdex/{name}.json", {"task": common}))
            out.append((f"{name} task={rare} (rare)", f"hubdex/{name}.json", {"task": rare}))
        if "model" in params:
            model = parent if name == "derivative_tree" else top
            label = f"{name} model={model}" + (f" ({kids} children)" if name == "derivative_tree" else "")
            out.append((label, f"hubdex/{name}.json", {"model": model}))
        if "q" in params:
            out.append((f"{name} q={word}", f"hubdex/{name}.json", {"q": word}))
    for name, dashboard in serve.dashboards().items():
        for slug, chart in dashboard["charts"].items():
            params = {p: "" for p in set(re.findall(r":(\w+)", chart["query"]))}
            out.append((f"dashboard {name} chart {slug}", "hubdex.json", {"sql": chart["query"], **params}))
            if "task" in params:
                out.append((f"dashboard {name} chart {slug} task={common}", "hubdex.json",
                            {"sql": chart["query"], **params, "task": common}))
        for slug, f in (dashboard.get("filters") or {}).items():
            if f.get("query"):
                out.append((f"dashboard {name} filter {slug}", "hubdex.json", {"sql": f["query"]}))
    # the start page: model_overview with its five facets, unfiltered, searched, and filtered by the
    # largest value of each facet (the other four counted within it)
    out.append(("overview (rank, 5 facets)", "hubdex/model_overview.json", {}))
    out.append((f"overview ?_search={word}", "hubdex/model_overview.json", {"_search": word}))
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    for column in ("pipeline_tag", "library_name", "licence_family", "gated", "size_band"):
        top_value = conn.execute(f"SELECT {column} FROM model_overview WHERE {column} IS NOT NULL GROUP BY 1 "
                                 "ORDER BY count(*) DESC LIMIT 1").fetchone()
        if top_value:
            out.append((f"overview ?{column}={top_value[0]}", "hubdex/model_overview.json", {column: top_value[0]}))
    conn.close()
    out.append(("database page (start)", "hubdex.json", {}))
    for page in ("models", "model_scores", "runs", "router_prices", "card_sections"):
        out.append((f"table page {page} (sort, facets)", f"hubdex/{page}.json", {}))
    out.append((f"table page models ?_search={word}", "hubdex/models.json", {"_search": word}))
    out.append((f"table page models ?pipeline_tag={common}", "hubdex/models.json", {"pipeline_tag": common}))
    return out


def time_case(session, base: str, path: str, params: dict, repeats: int) -> dict:
    params = {**params, "_shape": "objects"}
    for _ in range(3):
        r = session.get(base + path, params=params, timeout=120)
    if r.status_code != 200:
        return {"status": r.status_code, "error": r.text[:300]}
    walls, sql_ms = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        r = session.get(base + path, params=params, timeout=120)
        body = r.content
        walls.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            return {"status": r.status_code, "error": body[:300].decode(errors="replace")}
    data = json.loads(body)
    if data.get("query_ms") is not None:
        sql_ms.append(data["query_ms"])
    walls.sort()
    p95 = walls[min(len(walls) - 1, int(round(0.95 * len(walls))) - 1)]
    return {"status": 200, "p50_ms": round(statistics.median(walls), 1), "p95_ms": round(p95, 1),
            "max_ms": round(walls[-1], 1), "query_ms": round(statistics.median(sql_ms), 1) if sql_ms else None,
            "rows": len(data.get("rows", [])), "truncated": data.get("truncated")}


def plan_of(db: Path, path: str, params: dict) -> list[str]:
    from hubdex import serve

    name = path.removeprefix("hubdex/").removesuffix(".json")
    sql = params.get("sql") or (serve.canned_queries().get(name) or {}).get("sql")
    if not sql:
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        bound = {p: params.get(p, "") for p in re.findall(r":(\w+)", sql)}
        return [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, bound)]
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=100_000)
    ap.add_argument("--db", help="a crawled and derived database to time (copied first; never written)")
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--json", default=str(RESULTS))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (the database)")
    ap.add_argument("--only", help="time only the cases whose label matches this regular expression")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="hubdex-bench-serve-"))
    out = {"target_ms": TARGET_MS, "repeats": args.repeats, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                        time.gmtime())}
    try:
        db = workdir / "hub.db"
        if args.db:
            src = Path(args.db)
            for suffix in ("", "-wal"):
                if Path(str(src) + suffix).exists():
                    shutil.copy(str(src) + suffix, str(db) + suffix)
            out["db"] = {"copied_from": str(src)}
        else:
            out["db"] = build_db(args.models, db, workdir)
        conn = sqlite3.connect(str(db))
        out["models"] = conn.execute("SELECT count(*) FROM models").fetchone()[0]
        out["db_bytes"] = db.stat().st_size
        conn.close()
        say(f"database: {out['models']:,} models, {out['db_bytes'] / 1e6:.0f} MB; serving it")
        server = Server(hubdex_exe() + ["serve", "--db", str(db), "--port", "0"], workdir / "serve.stderr")
        try:
            session = requests.Session()
            results = {}
            for label, path, params in cases(db):
                if args.only and not re.search(args.only, label):
                    continue
                r = time_case(session, server.url, path, params, args.repeats)
                if r.get("status") == 200 and r["p95_ms"] >= TARGET_MS:
                    r["plan"] = plan_of(db, path, params)
                results[label] = r
                say(f"  {label}: {r}")
            out["server_rss_mb"] = round(server.rss_mb(), 1)
        finally:
            server.stop()
        out["results"] = results
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"kept {workdir}")
    out["load"] = load_line(load0, os.getloadavg()[0])
    rows = [("query", "p50 ms", "p95 ms", "max ms", "SQL ms", "rows", "")]
    for label, r in out["results"].items():
        if r.get("status") != 200:
            rows.append((label, "-", "-", "-", "-", "-", f"HTTP {r.get('status')}: {r.get('error', '')[:60]}"))
            continue
        rows.append((label, r["p50_ms"], r["p95_ms"], r["max_ms"], r["query_ms"] if r["query_ms"] is not None else "-",
                     r["rows"], "MISS" if r["p95_ms"] >= TARGET_MS else "ok"))
    misses = {k: v for k, v in out["results"].items() if v.get("status") != 200 or v["p95_ms"] >= TARGET_MS}
    lines = [f"hubdex serve: {out['models']:,} models, {args.repeats} timed requests each, target p95 < "
             f"{TARGET_MS:.0f} ms", *table(rows), out["load"]]
    for label, r in misses.items():
        lines.append(f"miss: {label}: plan {r.get('plan') or r.get('error')}")
    lines.append(f"{len(misses)} of {len(out['results'])} missed the target")
    report("\n".join(lines), out, args.json)


if __name__ == "__main__":
    main()
