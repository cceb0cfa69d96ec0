"""How fast `hubdex derive` turns a crawled catalogue into capabilities, licences, signals and rank,
what it costs in memory and disk; each figure beside baselines measured in the same run, on the same
database.

For each size N (`--sizes`, default 100,000 and 1,000,000), against a local replica started as a
subprocess (`hubdex replica serve --catalog synthetic:N`, bench/procs.py):

* the database: `hubdex crawl --full` into a fresh file in a temporary directory (timed, as context),
  as day 0 (HUBDEX_DAY=2026-11-30), the cards of the min(20,000, N/50) most downloaded models
  (`hubdex crawl --cards --limit`) and the search crawl (`hubdex crawl --search`), as users run it; then, unless `--no-history`, one replica scenario step
  (`hubdex replica scenario --metrics 0.3 --summary`: the downloads/likes/trending of 30% of the
  models move) and `hubdex crawl --metrics` as day 8 (HUBDEX_DAY=2026-12-08), so `metrics_history`
  holds two days and growth_7d (all-time downloads now minus on day <= 1) has data. The replica is
  stopped before anything below is measured (the derive has both cores to itself).
* `hubdex derive --all --db PATH` (HUBDEX_DAY = day 8), as its own process under `/usr/bin/time -v`:
  wall time (interpreter start-up and imports included), models/s, peak RSS (bench/crawl_full.py's
  `measured`: the process tree sampled from /proc every 0.2 s, and /usr/bin/time's figure), and the
  summary line it prints. Then `hubdex derive --db PATH` again with nothing changed (incremental:
  capabilities rebuilt for 0 models, signals and rank for all).
* baselines on the same database, in this process (no start-up cost):
  - read: the signals' inputs read once, `SELECT key, downloads, downloads_all_time, likes,
    trending_score, pipeline_tag, children_finetune, children_adapter, children_quantized,
    children_merge, spaces_count FROM models WHERE removed_at IS NULL` fully fetched with sqlite3
    (best of 3, warm OS cache); derive's time is reported as a multiple of it (the floor: derive
    must at least read this);
  - naive: a per-model Python loop computing ONE adoption percentile per model — the model's
    downloads (`SELECT downloads FROM models WHERE key = ?`), then `SELECT count(*) FROM models
    WHERE downloads < ?` (idx_models_downloads; the query plan is checked and shown) — timed on a
    uniform random sample of `--sample` (2,000) models and EXTRAPOLATED to N (the cost of a count
    depends on the model's rank, so a uniform sample estimates the mean).
* database size (file + WAL) before and after each derive, bytes per model the derive added, and the
  pages each table grew by (dbstat, indexes included).
* per-phase breakdown, twice (after the two derives above): `derive(everything=True)`, then an
  incremental `derive()`, each in its own process (this script, `--_phases DB all|inc`) that calls
  hubdex.derive.derive() itself with its steps wrapped from outside: each function of hubdex.derive
  it calls at the top level, and its steps (licences.classify_stored, changes.find, scores.write_scores, ...),
  capabilities.rebuild (each SQL statement: seconds, rows), signals.compute (each query, run and
  fetched: the SQL share, and the numpy/Python rest), COMMIT (around db.atomic()); RSS and peak RSS
  after each step. Both commit, as the CLI's would.

Target: `hubdex derive --all` of 1,000,000 models in under 60 s on this machine (wall, start-up
included). hubdex's package is copied to the work directory at the start and put first on PYTHONPATH
for every process the run starts, so the whole run measures one version even while src/ is edited;
the summary gives its fingerprint and git HEAD, and says if src/ changed meanwhile. The databases
(and the snapshot) are deleted at the end.

Run:  .venv/bin/python bench/derive_signals.py [--sizes 100000,1000000] [--sample 2000] [--no-history]
                                               [--no-phases] [--timeout 1800]
                                               [--json bench/results/derive_signals.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crawl_full import db_bytes, hubdex_crawl, measured, startup_s
from procs import Server, hubdex_exe, load_line, replica, report, table

TARGET_S_1M = 60.0
TARGET_MODELS = 1_000_000
DAY0 = dt.date(2026, 11, 30)  # the full crawl's day (as in crawl_full.py)
DERIVE_DAY = DAY0 + dt.timedelta(days=8)  # the metrics crawl's and the derives' day: growth_7d reaches day 0
METRICS_MOVED = 0.3
BYTES_PER_MODEL_NEEDED = 7_000  # crawled DB (~3.4 KB/model at 1M) + what derive adds (~1.6 KB) + WAL and temp files
RESULTS = Path(__file__).resolve().parent / "results" / "derive_signals.json"
READ_SQL = ("SELECT key, downloads, downloads_all_time, likes, trending_score, pipeline_tag, children_finetune, "
            "children_adapter, children_quantized, children_merge, spaces_count FROM models WHERE removed_at IS NULL")


def say(msg: str):
    print(msg, flush=True)


def mb(b: float) -> str:
    return f"{b / 1e6:,.1f}"


# -- the per-phase breakdown (runs as its own process: `derive_signals.py --_phases DB all|inc`) ---
class TimedCursor:
    """A cursor whose execute and every fetch are timed into its log entry [sql, seconds, rows]; rows
    are fetched only as the caller asks (a caller reading slices keeps its bounded memory)."""

    def __init__(self, cur, entry: list):
        self.cur, self.entry = cur, entry

    def __getattr__(self, name):
        return getattr(self.cur, name)

    def _timed(self, fn, *a):
        t = time.perf_counter()
        rows = fn(*a)
        self.entry[1] += time.perf_counter() - t
        if isinstance(rows, list):
            self.entry[2] += len(rows)
        elif rows is not None:
            self.entry[2] += 1
        return rows

    def fetchall(self):
        return self._timed(self.cur.fetchall)

    def fetchmany(self, size=None):
        return self._timed(self.cur.fetchmany, *(() if size is None else (size,)))

    def fetchone(self):
        return self._timed(self.cur.fetchone)

    def __iter__(self):
        while rows := self.fetchmany(10_000):
            yield from rows


class TimedConn:
    """A connection proxy: every `execute` is timed, and with `fetch` so is reading its rows (through
    TimedCursor); with `fetch` off, rows are the changes the statement made. Anything else goes to the
    real connection."""

    def __init__(self, conn, fetch: bool):
        self.conn, self.fetch, self.log = conn, fetch, []

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def execute(self, sql, params=()):
        before, t = self.conn.total_changes, time.perf_counter()
        cur = self.conn.execute(sql, params)
        entry = [sql, time.perf_counter() - t, 0]
        self.log.append(entry)
        if self.fetch:
            return TimedCursor(cur, entry)
        entry[2] = self.conn.total_changes - before
        return cur


def _mem_mb() -> dict:
    st = Path("/proc/self/status").read_text()
    get = {ln.split(":")[0]: int(ln.split()[1]) for ln in st.splitlines() if ln.startswith(("VmRSS", "VmHWM"))}
    return {"rss_mb": round(get.get("VmRSS", 0) / 1024), "hwm_mb": round(get.get("VmHWM", 0) / 1024)}


def phases_main(db_path: str, mode: str):
    """hubdex.derive.derive() itself, its steps timed from outside: every function of hubdex.derive it
    calls (at the top level), its steps, capabilities.rebuild (each statement) and signals.compute (each query)
    are wrapped; COMMIT is timed around db.atomic(). Whatever derive() calls, in whatever order."""
    import contextlib
    import functools
    import inspect

    def note(msg):  # stderr: how far a killed run got
        print(msg, file=sys.stderr, flush=True)

    T = time.perf_counter
    t_imp = T()
    import hubdex
    from hubdex import derive as d
    from hubdex.clock import Clock
    from hubdex.derive import capabilities, changes, licences, scores, signals
    from hubdex.store.db import open_db
    from hubdex.store.runs import open_run
    res = {"mode": mode, "import_s": round(T() - t_imp, 3), "phases": {}, "mem": {}, "hubdex_file": hubdex.__file__}
    import threading

    local = threading.local()  # nesting depth per thread: _gather runs beside capabilities.rebuild
    logs = {}

    def wrap(owner, name, label, proxy=None):
        orig = getattr(owner, name)

        @functools.wraps(orig)
        def timed(*a, **kw):
            if getattr(local, "depth", 0):  # nested (e.g. code_version inside another step): counted in its caller
                return orig(*a, **kw)
            note(f"start {label}")
            local.depth = 1
            t = T()
            try:
                if proxy:
                    tc = TimedConn(a[0], fetch=(proxy == "fetch"))
                    logs[label] = tc.log
                    a = (tc,) + a[1:]
                return orig(*a, **kw)
            finally:
                local.depth = 0
                res["phases"][label] = round(res["phases"].get(label, 0) + T() - t, 3)
                res["mem"][label] = _mem_mb()
                note(f"done {label} {res['phases'][label]} s {res['mem'][label]}")
        setattr(owner, name, timed)

    for name, fn in inspect.getmembers(d, inspect.isfunction):
        if fn.__module__ == d.__name__ and name != "derive":
            wrap(d, name, name)
    # the steps, in the order hubdex.derive declares them
    wrap(licences, "classify_stored", "licences.classify_stored")
    wrap(changes, "find", "changes.find")
    wrap(capabilities, "rebuild", "capabilities.rebuild", proxy="exec")
    wrap(signals, "compute", "signals.compute", proxy="fetch")
    wrap(scores, "write_scores", "scores.write_scores")
    wrap(scores, "write_history", "scores.write_history")
    wrap(changes, "record_inputs", "changes.record_inputs")
    wrap(signals, "load_weights", "signals.load_weights")

    t = T()
    db = open_db(db_path)
    res["open_db_s"] = round(T() - t, 3)
    orig_atomic, marks = db.atomic, {}

    @contextlib.contextmanager
    def atomic():
        with orig_atomic() as x:
            yield x
            marks["body_end"] = T()
        marks["commit_end"] = T()

    db.atomic = atomic
    note(f"derive(everything={mode == 'all'})")
    clock = Clock.from_environment()
    run_id = open_run(db.conn, "derive", "", "", {"bench": mode}, clock.now())
    t = T()
    r = d.derive(db, day=clock.day, now=clock.now(), run_id=run_id, everything=(mode == "all"))
    res["derive_s"] = round(T() - t, 3)
    res["phases"]["COMMIT"] = round(marks["commit_end"] - marks["body_end"], 3)
    # _gather runs on its own thread beside capabilities.rebuild: not part of the serial sum
    res["phases"]["other (unwrapped)"] = round(res["derive_s"] - sum(v for k, v in res["phases"].items()
                                                                      if k != "_gather"), 3)
    res["mem"]["end"] = _mem_mb()
    res["summary"] = r.summary().splitlines()[0]
    res["models"], res["rebuilt"], res["capability_rows"] = r.models, r.rebuilt, r.capability_rows

    try:  # label each executed statement by the capabilities.STATEMENTS entry whose SQL it runs
        entries = []
        for e in capabilities.STATEMENTS:
            strs = [x for x in (e if isinstance(e, (tuple, list)) else [e]) if isinstance(x, str)]
            entries.append((strs[0], max(strs, key=len)))
    except Exception as e:  # noqa: BLE001 - the breakdown must survive a reshaped STATEMENTS
        entries, res["statements_error"] = [], repr(e)
    stmts = []
    for sql, s, n in logs.get("capabilities.rebuild", []):
        hit = next((i for i, (_w, x) in enumerate(entries) if x in sql), None)
        if hit is not None:
            stmts.append({"what": f"{hit:2d} {entries[hit][0]}", "s": round(s, 3), "rows": n})
        elif s >= 0.01 or "capabilit" in sql.split("(")[0]:
            stmts.append({"what": " ".join(sql.split())[:70], "s": round(s, 3), "rows": n})
    res["statements"] = stmts
    q = logs.get("signals.compute", [])
    sql_s = sum(s for _, s, _ in q)
    res["signals_sql"] = {"queries": len(q), "fetch_s": round(sql_s, 3),
                          "numpy_python_s": round(res["phases"].get("signals.compute", 0) - sql_s, 3),
                          "slowest": [{"sql": " ".join(x.split())[:110], "s": round(s, 3), "rows": n}
                                      for x, s, n in sorted(q, key=lambda x: -x[1])[:6]]}
    db.conn.close()
    print(json.dumps(res))


# -- baselines, in this process -------------------------------------------------------------------
def read_baseline(db: Path, repeats: int = 3) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        times, n = [], 0
        for _ in range(repeats):
            t = time.perf_counter()
            rows = conn.execute(READ_SQL).fetchall()
            times.append(time.perf_counter() - t)
            n = len(rows)
            del rows
    finally:
        conn.close()
    return {"rows": n, "best_s": round(min(times), 3), "runs_s": [round(x, 3) for x in times]}


def naive_baseline(db: Path, sample: int) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        plan = " / ".join(r[-1] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM models WHERE downloads < ?", (1,)))
        keys = [r[0] for r in conn.execute("SELECT key FROM models WHERE removed_at IS NULL")]
        n = len(keys)
        picked = random.Random(0).sample(keys, min(sample, n))
        del keys
        t = time.perf_counter()
        total = conn.execute("SELECT count(*) FROM models WHERE removed_at IS NULL").fetchone()[0]
        pct = {}
        for k in picked:  # the naive per-model loop: one adoption percentile (30-day downloads) per model
            (dl,) = conn.execute("SELECT downloads FROM models WHERE key = ?", (k,)).fetchone()
            below = conn.execute("SELECT count(*) FROM models WHERE downloads < ?", (dl,)).fetchone()[0]
            pct[k] = 100.0 * below / total
        s = time.perf_counter() - t
    finally:
        conn.close()
    return {"sample": len(picked), "sample_s": round(s, 4), "per_model_ms": round(1000 * s / len(picked), 3),
            "extrapolated_s": round(s * n / len(picked), 1), "models": n, "plan": plan,
            "uses_index": "idx_models_downloads" in plan}


# -- the database ---------------------------------------------------------------------------------
def scenario_cli(url: str) -> dict:
    t = time.perf_counter()
    p = subprocess.run(hubdex_exe() + ["replica", "scenario", "--url", url, "--seed", "1",
                                       "--metrics", str(METRICS_MOVED), "--summary"],
                       capture_output=True, text=True, timeout=600)
    if p.returncode:
        raise RuntimeError(f"replica scenario exited {p.returncode}: {p.stderr[-2000:]}")
    return {"s": round(time.perf_counter() - t, 2), "changed": json.loads(p.stdout)}


def build_db(n: int, db: Path, workdir: Path, history: bool) -> dict:
    rep: Server = replica(n, workdir / f"replica-{n}.stderr")
    out = {"replica_startup_s": round(rep.startup_s, 2)}
    try:
        say(f"  replica synthetic:{n:,} up in {rep.startup_s:.2f} s; full crawl (day 0, {DAY0}) ...")
        r = hubdex_crawl("full", rep.url, db, workdir, f"full-{n}", DAY0, n, rep,
                         progress_label=f"full crawl {n:,}")
        out["full"] = {k: r[k] for k in ("wall_s", "models_per_s", "peak_rss_mb", "db_bytes", "run")}
        say(f"  full crawl: {r['wall_s']:.1f} s ({r['models_per_s']:,} models/s), DB {mb(r['db_bytes'])} MB")
        # as users run it: the cards of the most downloaded and the search crawl's evidence, which
        # the capabilities, the match graph and the comparisons read (without them the derive measured
        # was lighter than the product's)
        cards = min(20_000, max(n // 50, 100))
        for name, argv in (("cards", ["--cards", "--limit", str(cards)]), ("search", ["--search"])):
            t = time.perf_counter()
            subprocess.run(hubdex_exe() + ["crawl", *argv, "--endpoint", rep.url, "--db", str(db), "--no-progress"],
                           env={**os.environ, "HUBDEX_DAY": DAY0.isoformat()}, check=True, capture_output=True)
            out[name] = {"wall_s": round(time.perf_counter() - t, 2)}
            say(f"  {name} crawl: {out[name]['wall_s']:.1f} s")
        if history:
            sc = scenario_cli(rep.url)
            out["scenario"] = sc
            r = hubdex_crawl("metrics", rep.url, db, workdir, f"metrics-{n}", DERIVE_DAY, n, rep)
            out["metrics"] = {k: r[k] for k in ("wall_s", "models_per_s", "peak_rss_mb", "db_bytes", "run")}
            say(f"  scenario step ({sc['s']} s): {sc['changed']}; --metrics crawl (day 8, {DERIVE_DAY}): "
                f"{r['wall_s']:.1f} s, {r['run']['metrics_moved']:,} moved")
    finally:
        rep.stop()
    return out


def table_pages(db: Path) -> dict:
    """Bytes of the pages each table occupies, its indexes included (dbstat), and the free pages."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        out = {}
        try:
            for name, b in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                t = owner.get(name, name)
                out[t] = out.get(t, 0) + int(b)
        except sqlite3.OperationalError:  # no dbstat in this build
            return {}
        out["(free pages)"] = conn.execute("PRAGMA freelist_count").fetchone()[0] * conn.execute(
            "PRAGMA page_size").fetchone()[0]
        return out
    finally:
        conn.close()


def grown(before: dict, after: dict) -> dict:
    """The tables derive grew (or created): bytes added."""
    return {t: after[t] - before.get(t, 0) for t in sorted(after, key=lambda t: before.get(t, 0) - after[t])
            if after[t] - before.get(t, 0) > 0}


def db_counts(db: Path) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        q = {"model_capabilities": "SELECT count(*) FROM model_capabilities",  # a table or a view
             "model_scores": "SELECT count(*) FROM model_scores",
             "signals_history": "SELECT count(*) FROM signals_history",
             "growth_7d_known": "SELECT count(growth_7d) FROM model_scores",
             "growth_7d_positive": "SELECT count(*) FROM model_scores WHERE growth_7d > 0",
             "growth_30d_known": "SELECT count(growth_30d) FROM model_scores",
             "metric_days": "SELECT count(*) FROM metric_days",
             "metrics_history": "SELECT count(*) FROM metrics_history"}
        out = {}
        for k, v in q.items():
            try:
                out[k] = conn.execute(v).fetchone()[0]
            except sqlite3.Error as e:
                out[k] = f"? ({e})"
        return out
    finally:
        conn.close()


# -- one size -------------------------------------------------------------------------------------
def derive_run(args, db: Path, workdir: Path, name: str, argv_tail: list[str]) -> dict:
    t_limit = args.timeout

    def progress(seconds, tree_kb, _n):
        say(f"    {name}: {seconds:6.0f} s, RSS {tree_kb / 1024:.0f} MB")
        if seconds > t_limit:
            raise TimeoutError(f"{name} still running after {seconds:.0f} s (--timeout {t_limit}): killed")

    try:
        r = measured(hubdex_exe() + ["derive"] + argv_tail + ["--db", str(db)], workdir, name,
                     env={"HUBDEX_DAY": DERIVE_DAY.isoformat()}, progress=progress, every=30)
    except (RuntimeError, TimeoutError) as e:
        say(f"  {name} FAILED: {e}")
        return {"error": str(e)}
    r["db_bytes"] = db_bytes(db)
    return r


def phases_run(args, db: Path, workdir: Path, n: int, mode: str) -> dict:
    name = f"phases-{mode}-{n}"

    def progress(seconds, tree_kb, _n):
        last = (workdir / f"{name}.stderr").read_text().strip().splitlines()[-1:] or ["?"]
        say(f"    phases ({mode}): {seconds:6.0f} s, RSS {tree_kb / 1024:.0f} MB, at: {last[0]}")
        if seconds > args.timeout:
            raise TimeoutError(f"phases still running after {seconds:.0f} s at {last[0]!r}: killed")

    try:
        r = measured([sys.executable, str(Path(__file__).resolve()), "--_phases", str(db), mode], workdir, name,
                     env={"HUBDEX_DAY": DERIVE_DAY.isoformat()}, progress=progress, every=30)
    except (RuntimeError, TimeoutError) as e:
        err = (workdir / f"{name}.stderr").read_text()
        say(f"  phases ({mode}) FAILED: {e}")
        return {"mode": mode, "error": str(e), "stderr_tail": err[-3000:]}
    res = json.loads(r["stdout"].splitlines()[-1])
    res.update({k: r[k] for k in ("wall_s", "peak_rss_mb", "max_single_rss_mb", "cpu_s")})
    return res


def one_size(args, n: int, workdir: Path) -> dict:
    db = workdir / f"derive-{n}.db"
    out = {"models": n}
    out["build"] = build_db(n, db, workdir, not args.no_history)
    out["db_before"] = db_bytes(db)
    pages_before = table_pages(db)
    say("  baseline read (best of 3) ...")
    out["read"] = read_baseline(db)
    say(f"    {out['read']['rows']:,} rows in {out['read']['best_s']} s (runs {out['read']['runs_s']})")
    say(f"  naive baseline ({args.sample:,} sampled models) ...")
    out["naive"] = naive_baseline(db, args.sample)
    nv = out["naive"]
    say(f"    {nv['per_model_ms']} ms/model -> {nv['extrapolated_s']:,} s extrapolated to {nv['models']:,}; "
        f"plan: {nv['plan']}")

    say("  hubdex derive --all ...")
    out["derive_all"] = a = derive_run(args, db, workdir, f"derive-all-{n}", ["--all"])
    if "error" not in a:
        say(f"    {a['wall_s']:.2f} s, peak RSS {a['peak_rss_mb']} MB, cpu {a['cpu_s']} s, DB {mb(a['db_bytes'])} MB")
        say(f"    {a['stdout']}")
    out["grown_by_all"] = grown(pages_before, table_pages(db)) if "error" not in a else {}
    say("  hubdex derive (incremental, nothing changed) ...")
    out["derive_inc"] = i = derive_run(args, db, workdir, f"derive-inc-{n}", [])
    if "error" not in i:
        say(f"    {i['wall_s']:.2f} s, peak RSS {i['peak_rss_mb']} MB, cpu {i['cpu_s']} s, DB {mb(i['db_bytes'])} MB")
        say(f"    {i['stdout']}")
    out["counts"] = db_counts(db) if "error" not in a else {}
    out["phases"] = []
    for mode in ([] if args.no_phases else ["all", "inc"]):
        say(f"  per-phase breakdown, derive({'everything=True' if mode == 'all' else 'incremental'}) in a separate "
            "process, its steps timed ...")
        p = phases_run(args, db, workdir, n, mode)
        out["phases"].append(p)
        if "error" not in p:
            say(f"    derive() {p['derive_s']} s ({p['wall_s']} s wall), peak RSS {p['peak_rss_mb']} MB: "
                + ", ".join(f"{k} {v}" for k, v in p["phases"].items()))
    for f in workdir.glob(f"derive-{n}.db*"):
        f.unlink()
    return out


def fingerprint(root: Path) -> str:
    """SHA-256 of a hubdex package directory's *.py (bench/crawl_full.py's source_fingerprint, any root)."""
    import hashlib
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def snapshot_source(workdir: Path) -> dict:
    """Copy the hubdex package to the work directory and put it first on PYTHONPATH for every process
    started from here on (replica, crawls, derives): the whole run measures one version of the code,
    even while src/ is being edited (the editable install's path entry comes after PYTHONPATH)."""
    import hubdex
    live = Path(hubdex.__file__).resolve().parent
    dst = workdir / "src-snapshot"
    shutil.copytree(live, dst / "hubdex", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(dst) + (os.pathsep + old if old else "")
    seen = subprocess.run([sys.executable, "-c", "import hubdex; print(hubdex.__file__)"],
                          capture_output=True, text=True, timeout=60).stdout.strip()
    if not seen.startswith(str(dst)):
        raise SystemExit(f"the source snapshot is not what subprocesses import ({seen}); PYTHONPATH={os.environ['PYTHONPATH']}")
    return {"live": str(live), "snapshot": str(dst / "hubdex"), "fingerprint": fingerprint(dst / "hubdex"),
            "live_fingerprint_start": fingerprint(live)}


def git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def git_dirty() -> bool | None:
    try:
        return bool(subprocess.run(["git", "status", "--porcelain", "--", "src"], capture_output=True, text=True,
                                   cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None


def run(args, workdir: Path) -> dict:
    out = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
                       "platform": platform.platform(), "loadavg_start": os.getloadavg()},
           "config": {"sizes": args.sizes, "sample": args.sample, "history": not args.no_history,
                      "day0": DAY0.isoformat(), "derive_day": DERIVE_DAY.isoformat(),
                      "metrics_moved": METRICS_MOVED, "read_sql": READ_SQL},
           "hubdex_source": {**snapshot_source(workdir), "git_head": git_head(), "git_dirty_src": git_dirty()},
           "startup_s": startup_s([sys.executable, "-c", "import hubdex.cli, hubdex.derive, numpy"]),
           "sizes": []}
    free = shutil.disk_usage(workdir).free
    need = max(args.sizes) * BYTES_PER_MODEL_NEEDED
    out["machine"]["disk_free"] = free
    say(f"{workdir}: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed for {max(args.sizes):,} models")
    if free < need:
        raise SystemExit(f"not enough disk in {workdir}: {free / 1e9:.1f} GB free, ~{need / 1e9:.1f} GB needed")
    for n in args.sizes:
        say(f"synthetic:{n:,}")
        out["sizes"].append(one_size(args, n, workdir))
    out["machine"]["loadavg_end"] = os.getloadavg()
    out["hubdex_source"]["live_fingerprint_end"] = fingerprint(Path(out["hubdex_source"]["live"]))
    out["hubdex_source"]["git_head_end"] = git_head()
    return out


# -- the report -----------------------------------------------------------------------------------
def summary(out: dict) -> str:
    m = out["machine"]
    lines = ["", f"hubdex derive, synthetic catalogue, {m['cpus']} cpus, Python {m['python']}, SQLite {m['sqlite']}; "
                 f"derive wall times include process start-up (~{out['startup_s']} s: interpreter, hubdex, numpy)"]
    rows = [("models", "crawl s", "derive --all s", "models/s", "peak RSS MB", "incr. s", "incr. RSS MB",
             "read s", "all/read", "naive s (extrap.)", "naive/all", "DB before MB", "after MB", "B/model added")]
    for s in out["sizes"]:
        n, a, i, rd, nv = s["models"], s["derive_all"], s["derive_inc"], s["read"], s["naive"]
        ok_a, ok_i = "error" not in a, "error" not in i
        rows.append((f"{n:,}", f"{s['build']['full']['wall_s']:.1f}",
                     f"{a['wall_s']:.2f}" if ok_a else "FAILED", f"{n / a['wall_s']:,.0f}" if ok_a else "",
                     a.get("peak_rss_mb", ""), f"{i['wall_s']:.2f}" if ok_i else "FAILED", i.get("peak_rss_mb", ""),
                     f"{rd['best_s']:.2f}", f"{a['wall_s'] / rd['best_s']:.1f}x" if ok_a else "",
                     f"{nv['extrapolated_s']:,.0f}", f"{nv['extrapolated_s'] / a['wall_s']:,.1f}x" if ok_a else "",
                     mb(s["db_before"]), mb(a["db_bytes"]) if ok_a else "",
                     f"{(a['db_bytes'] - s['db_before']) / n:,.0f}" if ok_a else ""))
    lines += table(rows)
    lines.append("  (crawl s: the full crawl that built the DB, context; read: the signals' inputs fetched once in "
                 "Python, best of 3;")
    lines.append("   naive: per-model loop, one downloads percentile via count(*) WHERE downloads < ?, timed on a "
                 "sample and EXTRAPOLATED to N;")
    lines.append("   peak RSS: the derive process, sampled from /proc and /usr/bin/time -v; DB: file + WAL)")
    for s in out["sizes"]:
        n, a, i, nv, b = s["models"], s["derive_all"], s["derive_inc"], s["naive"], s["build"]
        lines.append("")
        lines.append(f"{n:,} models:")
        hist = ""
        if "metrics" in b:
            hist = (f"; scenario step moved {b['scenario']['changed'].get('metrics_changed', '?'):,} models, "
                    f"--metrics crawl {b['metrics']['wall_s']:.1f} s recorded {b['metrics']['run']['metrics_moved']:,}")
        lines.append(f"  DB: full crawl {b['full']['wall_s']:.1f} s ({b['full']['models_per_s']:,} models/s){hist}")
        for label, r in (("derive --all", a), ("derive (incremental)", i)):
            if "error" in r:
                lines.append(f"  {label}: FAILED: {r['error'][:1500]}")
            else:
                lines.append(f"  {label}: {r['wall_s']:.2f} s wall, cpu {r['cpu_s']} s, peak RSS {r['peak_rss_mb']} MB; "
                             f"it printed: {r['stdout']}")
        c = {k: (f"{v:,}" if isinstance(v, int) else v) for k, v in (s.get("counts") or {}).items()}
        if c:
            lines.append(f"  rows: model_capabilities {c['model_capabilities']}, model_scores {c['model_scores']}, "
                         f"signals_history {c['signals_history']}; growth_7d known for {c['growth_7d_known']} "
                         f"(> 0 for {c['growth_7d_positive']}), growth_30d for {c['growth_30d_known']}; "
                         f"metrics_history {c['metrics_history']} rows over {c['metric_days']} days")
        pg = s.get("grown_by_all") or {}
        if pg:
            lines.append("  pages derive --all added, by table with its indexes (dbstat): "
                         + ", ".join(f"{k} {mb(v)} MB" for k, v in pg.items())
                         + f"; DB after the incremental derive {mb(i['db_bytes']) if 'error' not in i else '?'} MB")
        lines.append(f"  naive: {nv['sample']:,} sampled models in {nv['sample_s']} s = {nv['per_model_ms']} ms/model, "
                     f"x {nv['models']:,} = {nv['extrapolated_s']:,} s EXTRAPOLATED; plan: {nv['plan']}")
        for p in s.get("phases") or []:
            kind = "derive(everything=True)" if p["mode"] == "all" else "derive() incremental"
            if "error" in p:
                lines.append(f"  phases of {kind}: FAILED: {p['error'][:800]}\n    stderr: {p['stderr_tail'][-800:]}")
                continue
            lines.append(f"  phases of {kind} (hubdex.derive.derive() in its own process, its steps wrapped and "
                         f"timed; derive() {p['derive_s']} s, process wall {p['wall_s']} s, peak RSS "
                         f"{p['peak_rss_mb']} MB; it printed: {p['summary']}):")
            prow = [("phase", "s", "share", "RSS after MB", "peak so far MB")]
            for k, v in p["phases"].items():
                mem = p["mem"].get(k, {})
                prow.append((k, f"{v:.2f}", f"{v / p['derive_s']:.0%}", mem.get("rss_mb", ""), mem.get("hwm_mb", "")))
            lines += ["    " + x for x in table(prow)]
            sq = p["signals_sql"]
            lines.append(f"    signals.compute: {sq['queries']} queries, run and fetched in {sq['fetch_s']} s; "
                         f"numpy/Python {sq['numpy_python_s']} s; slowest queries:")
            for q in sq["slowest"]:
                lines.append(f"      {q['s']:7.2f} s  {q['rows']:>9,} rows  {q['sql']}")
            lines.append("    capabilities.rebuild, statement by statement (STATEMENTS index; others >= 0.01 s):")
            srow = [("statement", "s", "rows")]
            for st in p["statements"]:
                srow.append((st["what"], f"{st['s']:.2f}", f"{st['rows']:,}"))
            lines += ["      " + x for x in table(srow)]
    lines.append("")
    big = [s for s in out["sizes"] if s["models"] == TARGET_MODELS]
    if big:
        a = big[0]["derive_all"]
        if "error" in a:
            lines.append(f"target: derive --all of {TARGET_MODELS:,} models under {TARGET_S_1M:.0f} s -> NOT MET (failed)")
        else:
            lines.append(f"target: derive --all of {TARGET_MODELS:,} models under {TARGET_S_1M:.0f} s: "
                         f"{a['wall_s']:.1f} s -> {'MET' if a['wall_s'] < TARGET_S_1M else 'MISSED'}")
    else:
        lines.append(f"target ({TARGET_MODELS:,} models under {TARGET_S_1M:.0f} s): not measured (size not run)")
    src = out["hubdex_source"]
    lines.append(f"measured code: a snapshot of {src['live']} taken at the start (fingerprint {src['fingerprint']}; "
                 f"git HEAD {src['git_head']}{', src/ with uncommitted changes' if src['git_dirty_src'] else ''}), "
                 "first on PYTHONPATH for every process")
    if src["live_fingerprint_end"] != src["fingerprint"]:
        lines.append(f"note: src/ changed while the benchmark ran (now {src['live_fingerprint_end']}, git HEAD "
                     f"{src['git_head_end']}); the figures above are the snapshot's, not the current code's")
    lines.append(load_line(m["loadavg_start"][0], m["loadavg_end"][0]))
    return "\n".join(lines)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--_phases":  # the breakdown's own process
        phases_main(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="catalogue sizes, comma-separated")
    ap.add_argument("--sample", type=int, default=2000, help="models timed in the naive baseline")
    ap.add_argument("--no-history", action="store_true", help="skip the scenario step and --metrics crawl")
    ap.add_argument("--no-phases", action="store_true", help="skip the per-phase breakdown")
    ap.add_argument("--timeout", type=float, default=1800, help="kill a derive still running after this many s")
    ap.add_argument("--json", metavar="OUT", default=str(RESULTS), help="write every figure here (default %(default)s)")
    args = ap.parse_args()
    args.sizes = [int(x.replace("_", "")) for x in args.sizes.split(",") if x.strip()]
    with tempfile.TemporaryDirectory(prefix="hubdex-derive-bench-") as d:
        out = run(args, Path(d))
    report(summary(out), out, args.json)


if __name__ == "__main__":
    main()
