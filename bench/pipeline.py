"""The product as users run it, end to end, at N models (`make bench-pipeline`, N=1,000,000 by default):
every step a real `hubdex` process against a replica subprocess over HTTP, each beside a baseline
measured in the same run, with its peak RSS, its CPU time, what it wrote and the load average.

Steps (HUBDEX_DAY day 0 for the first four, day 1 after the change):
  1. raw HTTP pass   one keep-alive connection paging the crawler's own listing URL, reading every
                     body and parsing none (bench/crawl_full.py's `http_pass`): the full crawl's baseline
  2. full crawl      `hubdex crawl --full`                        baseline: 1
  3. cards           `hubdex crawl --cards --limit C` (C = min(20,000, N/50): the most downloaded models)
  4. search          `hubdex crawl --search`
  5. derive          `hubdex derive` (the derive job as the CLI runs it: comparisons included)
                     baseline: reading derive's inputs once (every table it reads, fully fetched)
  6. change          `hubdex replica scenario --update 0.01` (1% of the models change in the replica)
  7. incr. crawl     `hubdex crawl` (incremental)                 baseline: a raw HTTP pass over the
                     same number of listing pages
  8. derive (1%)     `hubdex derive`                              baseline: reading its inputs once
  9. derive (none)   `hubdex derive` again, nothing changed       baseline: the same
For each: wall seconds, CPU seconds, peak RSS of the process tree (crawl_full.measured), load average
(1 min) at start and end, the database's bytes and bytes/model after it, and what it wrote (the
`runs` / `derive_runs` / `comparison_runs` figures; rows written per table through the database's
own counter, `total_changes`, is not visible across processes, so the derive's summary says it).

Run:  .venv/bin/python bench/pipeline.py [--models 1000000] [--cards C] [--workdir DIR] [--keep [--save-changed]]
                                          [--json bench/results/pipeline.json]
The database (~5-7 KB/model) lives in the work directory (a fresh temporary one unless --workdir),
deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
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
from crawl_full import PAGE, db_bytes, http_pass, last_run, measured  # noqa: E402
from derive_signals import git_head, snapshot_source  # noqa: E402
from procs import hubdex_exe, load_line, replica, report, table  # noqa: E402

DAY0 = dt.date(2026, 11, 30)
DAY1 = DAY0 + dt.timedelta(days=1)
RESULTS = Path(__file__).resolve().parent / "results" / "pipeline.json"
QUERIES = Path(__file__).resolve().parent.parent / "schedules" / "queries.toml"

# Every table `hubdex derive` reads, each read once and fully fetched: the floor a derive can't beat.
READ_INPUTS = r"""
import json, resource, sqlite3, sys, time
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
queries = [
    "SELECT key, id, meta_hash, detail_at, pipeline_tag, library_name, params, context_length, children_finetune, "
    "children_adapter, children_quantized, children_merge, spaces_count, inference, gated, license, license_name, "
    "license_link, downloads, downloads_all_time, likes, trending_score, json_extract(raw, '$.config'), "
    "json_extract(raw, '$.safetensors.parameters') FROM models WHERE removed_at IS NULL",
    "SELECT * FROM model_tags", "SELECT * FROM model_files", "SELECT * FROM model_relations",
    "SELECT * FROM model_providers", "SELECT * FROM metrics_history", "SELECT * FROM cards",
    "SELECT * FROM evaluations", "SELECT * FROM search_results", "SELECT * FROM router_prices",
    "SELECT * FROM model_scores", "SELECT * FROM derive_inputs", "SELECT * FROM signals_history",
]
t, n, per = time.perf_counter(), 0, {}
for sql in queries:
    s = time.perf_counter()
    try:
        cur = conn.execute(sql)
    except sqlite3.OperationalError:
        continue
    rows = 0
    while batch := cur.fetchmany(50000):
        rows += len(batch)
    per[sql.split(" FROM ")[1].split()[0]] = [round(time.perf_counter() - s, 2), rows]
    n += rows
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "rows": n, "tables": per,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def say(msg: str):
    print(msg, file=sys.stderr, flush=True)


def counts(db: Path) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {}
        for t in ("models", "model_scores", "signals_history", "comparisons", "comparison_sides", "cards",
                  "search_results", "model_capability_rows", "metrics_history"):
            try:
                out[t] = conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            except sqlite3.OperationalError:
                pass
        return out
    finally:
        conn.close()


def table_bytes(db: Path) -> dict:
    """Bytes each table and index occupies (dbstat), largest first; the main file without its WAL."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
        return {"file_bytes": Path(db).stat().st_size, **{n: b for n, b in rows}}
    finally:
        conn.close()


def derive_figures(db: Path) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        d = dict(conn.execute("SELECT * FROM derive_runs ORDER BY run_id DESC LIMIT 1").fetchone())
        try:
            c = conn.execute("SELECT * FROM comparison_runs ORDER BY run_id DESC LIMIT 1").fetchone()
            d["comparisons"] = dict(c) if c else None
        except sqlite3.OperationalError:
            d["comparisons"] = None
        return d
    finally:
        conn.close()


def read_inputs(db: Path) -> dict:
    p = subprocess.run([sys.executable, "-c", READ_INPUTS, str(db)], capture_output=True, text=True, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


class Pipeline:
    def __init__(self, n: int, workdir: Path):
        self.n, self.work = n, workdir
        self.db = workdir / "hub.db"
        self.steps: list[dict] = []

    def step(self, name: str, argv: list[str], day: dt.date, baseline: dict | None = None, what=None) -> dict:
        load0 = os.getloadavg()[0]
        say(f"{name}: {' '.join(argv[1:4])} ... (load {load0:.2f})")
        r = measured(argv, self.work, name.replace(" ", "_").replace("(", "").replace(")", "").replace("%", "pc"),
                     env={"HUBDEX_DAY": day.isoformat()})
        r["load_start"], r["load_end"] = round(load0, 2), round(os.getloadavg()[0], 2)
        r["db_bytes"] = db_bytes(self.db)
        r["bytes_per_model"] = round(r["db_bytes"] / self.n)
        r["baseline"] = baseline
        r["wrote"] = what() if what else None
        m = re.search(r"([\d,]+) history rows moved since|([\d,]+) history rows \(moved\)", r["stdout"])
        if m and r["wrote"] is not None:
            r["wrote"]["history_written"] = int((m.group(1) or m.group(2)).replace(",", ""))
        r["name"] = name
        self.steps.append(r)
        say(f"  {r['wall_s']:.1f} s, CPU {r['cpu_s']} s, peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"{r['bytes_per_model']:,} B/model, load {r['load_start']}->{r['load_end']}; wrote {r['wrote']}")
        return r


def run(args, work: Path) -> dict:
    n = args.models
    cards = args.cards if args.cards is not None else min(20_000, max(n // 50, 100))
    hub = hubdex_exe()
    p = Pipeline(n, work)
    ep = lambda server: ["--endpoint", server.url, "--db", str(p.db), "--no-progress"]  # noqa: E731
    started, load_start = time.time(), os.getloadavg()[0]
    # the snapshot first: every process below runs one version of the code, even while src/ is edited
    resuming = args.resume and p.db.exists()
    if resuming:  # the work directory of a run stopped after its crawls: its snapshot and database
        snap = work / "src-snapshot"
        os.environ["PYTHONPATH"] = str(snap) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
        source = {"snapshot": str(snap / "hubdex"), "resumed": True}
    else:
        source = snapshot_source(work)
    out: dict = {"models": n, "cards": cards, "started": dt.datetime.now().isoformat(timespec="seconds"),
                 "source": {**source, "git_head": git_head(), "fingerprint": source.get("fingerprint", "resumed")}}
    server = replica(n, work / "replica.stderr")
    try:
        if not resuming:
            http_pass(server)  # warms the replica's caches: the crawl and its baseline see the same server
            l0 = os.getloadavg()[0]
            raw = http_pass(server)
            raw.update(load_start=round(l0, 2), load_end=round(os.getloadavg()[0], 2))
            out["raw_http_pass"] = raw
            say(f"raw HTTP pass: {raw}")
            full = p.step("full crawl", hub + ["crawl", "--full"] + ep(server), DAY0, raw, lambda: last_run(p.db))
            full["models_per_s"] = round(n / full["wall_s"])
            full["models_per_cpu_s"] = round(n / full["cpu_s"]) if full["cpu_s"] else None
            p.step("cards", hub + ["crawl", "--cards", "--limit", str(cards)] + ep(server), DAY0, None,
                   lambda: last_run(p.db))
        # (the queries file named, not left to the working directory: `make bench-pipeline` runs from bench/)
        p.step("search crawl", hub + ["crawl", "--search", "--queries", str(QUERIES)] + ep(server), DAY0, None,
               lambda: last_run(p.db))
        out["counts_after_crawls"] = counts(p.db)
        base = read_inputs(p.db)
        say(f"reading derive's inputs once: {base['seconds']} s, {base['rows']:,} rows")
        p.step("derive", hub + ["derive", "--db", str(p.db)], DAY0, base, lambda: derive_figures(p.db))
        t = time.perf_counter()
        changed = subprocess.run(hub + ["replica", "scenario", "--url", server.url, "--seed", "25",
                                        "--update", "0.01", "--summary"], capture_output=True, text=True, check=True)
        out["scenario"] = {"seconds": round(time.perf_counter() - t, 2),
                           "summary": {k: v for k, v in json.loads(changed.stdout).items() if v}}
        say(f"scenario: {changed.stdout.strip()}")
        inc = p.step("incremental crawl", hub + ["crawl"] + ep(server), DAY1, None, lambda: last_run(p.db))
        pages = max(1, math.ceil((inc["wrote"] or {}).get("models_seen", 0) / PAGE))
        raw = out.get("raw_http_pass")  # (none when resumed: the first run's log has it)
        inc["baseline"] = {"pages": pages, "seconds_est": round(raw["wall_s"] * pages / raw["pages"], 2),
                           "note": "the raw HTTP pass's seconds per page times the pages it listed"} if raw else None
    finally:
        server.stop()
    if args.save_changed:  # the database as the 1% derive finds it: to measure that derive again later
        for suffix in ("", "-wal"):
            if Path(f"{p.db}{suffix}").exists():
                shutil.copyfile(f"{p.db}{suffix}", work / f"hub.changed.db{suffix}")
        say(f"saved {work / 'hub.changed.db'} (the database before the 1% derive)")
    base = read_inputs(p.db)
    say(f"reading derive's inputs once: {base['seconds']} s, {base['rows']:,} rows")
    p.step("derive (1% changed)", hub + ["derive", "--db", str(p.db)], DAY1, base, lambda: derive_figures(p.db))
    p.step("derive (nothing changed)", hub + ["derive", "--db", str(p.db)], DAY1, base, lambda: derive_figures(p.db))
    out["counts_at_end"] = counts(p.db)
    out["table_bytes"] = table_bytes(p.db)
    out["steps"] = p.steps
    out["seconds"] = round(time.time() - started, 1)
    out["load"] = load_line(load_start, os.getloadavg()[0])
    return out


def summary(out: dict) -> str:
    rows = [("step", "wall s", "CPU s", "peak RSS MB", "B/model", "load 1m", "baseline", "ratio", "wrote")]
    for s in out["steps"]:
        b, ratio, wrote = s["baseline"], "", ""
        base = ""
        if s["name"] == "full crawl":
            base = f"raw HTTP {b['wall_s']:.1f} s ({b['models_per_s']:,}/s)"
            ratio = (f"{s['wall_s'] / b['wall_s']:.1f}x; {s['models_per_s']:,}/s "
                     f"({s['models_per_cpu_s']:,} per CPU s)")
        elif s["name"] == "incremental crawl" and b:
            base = f"raw HTTP ~{b['seconds_est']:.1f} s ({b['pages']} pages)"
        elif b and "seconds" in b:
            base = f"read inputs {b['seconds']:.1f} s"
            ratio = f"{s['wall_s'] / b['seconds']:.1f}x"
        w = s["wrote"] or {}
        if "scores_written" in w:
            c = w.get("comparisons") or {}
            wrote = (f"{w['scores_written']:,} scores, {w.get('history_written', '?'):,} history, "
                     f"{c.get('built', 0) + c.get('rebuilt', 0):,} entries" if c else
                     f"{w['scores_written']:,} scores, {w.get('history_written', '?'):,} history")
        elif "requests" in w:
            wrote = f"{w['requests']:,} requests, {w['models_new']:,} new, {w['models_changed']:,} changed"
        rows.append((s["name"], f"{s['wall_s']:.1f}", s["cpu_s"], f"{s['peak_rss_mb']:.0f}",
                     f"{s['bytes_per_model']:,}", f"{s['load_start']}->{s['load_end']}", base, ratio, wrote))
    return "\n".join([f"bench-pipeline at {out['models']:,} models ({out['cards']:,} cards), {out['load']}; "
                      f"code {out['source']['git_head']} ({out['source']['fingerprint']})",
                      *table(rows), f"replica scenario: {out['scenario']['summary']}",
                      f"database file (WAL apart) {out['table_bytes']['file_bytes']:,} B = "
                      f"{out['table_bytes']['file_bytes'] / out['models']:,.0f} B/model; largest: " +
                      ", ".join(f"{k} {v / out['models']:,.0f}" for k, v in list(out["table_bytes"].items())[1:13]),
                      f"whole run {out['seconds']:.0f} s"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=1_000_000)
    ap.add_argument("--cards", type=int)
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (and its database)")
    ap.add_argument("--resume", action="store_true",
                    help="with --workdir: continue a run stopped after its cards step, from the search crawl on")
    ap.add_argument("--save-changed", action="store_true",
                    help="with --keep: also keep the database as the 1%% derive finds it (hub.changed.db)")
    ap.add_argument("--json", default=str(RESULTS))
    a = ap.parse_args()
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="hubdex-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        out = run(a, work)
        report(summary(out), out, a.json)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
