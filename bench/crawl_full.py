"""How fast `hubdex crawl --full` indexes a whole catalogue, what it costs in requests, memory and disk,
and how big the metrics history grows; each figure beside a baseline measured in the same run.

Measures, against local replicas started as subprocesses (one process each: their own core):

* hubdex full crawl of `synthetic:N` (`--models`, default 100,000) into a fresh database, as its own
  process under `/usr/bin/time -v`: wall time, models/s, listing requests (the `runs` row's listing
  pages: not the lastModified probe nor the router's catalogue) against ceil(N/1000), peak RSS, CPU time, final database
  size and bytes/model. Peak RSS is the whole process tree's (the crawler may spawn a fetching
  process): the sum of each process's own peak (VmHWM, sampled from /proc every 0.2 s), an upper
  bound; `/usr/bin/time -v` alone reports only the largest single process, shown beside it. Then a second full run over the same database (it writes no model): time, models/s.
* baselines against the same replica:
  - naive: huggingface_hub's `HfApi(token=False).list_models(sort="created_at", expand=CRAWL_EXPAND)`
    over every model, each model's `vars()` (nested objects as JSON) inserted with sqlite-utils'
    `insert_all(batch_size=1000, alter=True)` into `models`, its tags into `model_tags`, in batches of
    1,000 models; a separate process under `/usr/bin/time -v`, like the crawler;
  - the serving ceiling: one keep-alive http.client connection paging the crawler's own listing URL,
    reading every body, parsing none. Pass 1 runs first (cold replica caches; it also warms them for
    the crawls), pass 2 after the crawls; pass 2 is the ceiling the crawls are compared with.
* big catalogue (`--big`, default 1,000,000): a warm-up HTTP pass, then the hubdex full crawl into a
  fresh database: peak RSS, models/s, database size (progress lines while it runs).
* history: on the first database, `--days` days (default 7); each day a replica scenario step moves
  the downloads/likes/trending of 30% of the models (`{"seed": d, "metrics": 0.3}`), then
  `HUBDEX_DAY=<day> hubdex crawl --metrics` (the full crawls ran as day 0). The size of
  `metrics_history` (dbstat: sum(pgsize), the pages it occupies) and its rows, against the naive layout
  (one row per model per day, figures carried forward) built day by day in a scratch database with the
  same table definition and page size, measured the same way; both extrapolated to 2,000,000 models
  over 365 days.

Targets: 10,000 models/s (3,500 at the least); 5x the naive baseline; at most ceil(N/1000) listing
requests per full pass; crawler peak RSS (all its processes) under 400 MB at 1,000,000 models.
hubdex's source is fingerprinted (SHA-256 of src/hubdex/**/*.py) at the start and the end of the run;
the summary says if it changed while the benchmark ran.

Run:  .venv/bin/python bench/crawl_full.py [--models 100000] [--big 1000000] [--days 7]
                                           [--skip-big] [--json OUT]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from hubdex.hub.expand import CRAWL_EXPAND
from procs import Server, hubdex_exe, load_line, replica, report

TARGET_MODELS_PER_S = 10_000
FLOOR_MODELS_PER_S = 3_500
TARGET_VS_NAIVE = 5.0
TARGET_PEAK_MB_1M = 400
PAGE = 1000  # items per listing page (the Hub's maximum)
METRICS_MOVED = 0.3  # share of models whose figures move each simulated day
DAY0 = dt.date(2026, 11, 30)  # the full crawls' day; simulated day d is DAY0 + d (2026-12-01, ...)
YEAR_MODELS, YEAR_DAYS = 2_000_000, 365
NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="next"')
TIME = "/usr/bin/time"


def say(msg: str):
    print(msg, flush=True)


# -- the replica: bench/procs.py -------------------------------------------------------------------
def start_replica(models: int, workdir: Path) -> Server:
    return replica(models, workdir / f"replica-{models}.stderr")


def descendants(root: int) -> list[int]:
    """Every live process below `root`, from one scan of /proc (~2 ms)."""
    parent = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                parent[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        kids = [c for c, pp in parent.items() if pp == pid]
        found += kids
        todo += kids
    return found


def rss_hwm_kb(pid: int) -> tuple[int, int]:
    rss = hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return rss, hwm


# -- one measured process ------------------------------------------------------------------------
def measured(argv: list[str], workdir: Path, name: str, env: dict | None = None, progress=None,
             every: float = 15.0, sample_s: float = 0.2) -> dict:
    """Run argv to completion as its own process: wall time (from here, interpreter start included),
    CPU time and the largest single process's peak RSS from `/usr/bin/time -v`, and stdout.

    The crawler may start helper processes (a spawned fetcher, multiprocessing's resource tracker);
    `/usr/bin/time` reports only the largest *one* of them, so the whole process tree is also sampled
    every `sample_s` from /proc: `tree_peak_rss_mb` is the largest sampled sum of VmRSS, and
    `tree_hwm_sum_mb` the sum of each process's own peak (VmHWM): an upper bound on the tree's peak.
    `progress(seconds, tree_rss_kb, processes)` is called every `every` seconds while it runs."""
    tfile, out, err = workdir / f"{name}.time", workdir / f"{name}.stdout", workdir / f"{name}.stderr"
    use_time = os.access(TIME, os.X_OK)
    full_env = {**os.environ, **(env or {})}
    with open(out, "w") as fo, open(err, "w") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(([TIME, "-v", "-o", str(tfile)] if use_time else []) + argv,
                                stdout=fo, stderr=fe, env=full_env)
        hwm, peak_sum, nprocs, last = {}, 0, 0, t0
        try:
            while proc.poll() is None:
                try:
                    proc.wait(sample_s)
                except subprocess.TimeoutExpired:
                    pass
                pids = descendants(proc.pid) if use_time else [proc.pid] + descendants(proc.pid)
                total = 0
                for pid in pids:
                    try:
                        rss, h = rss_hwm_kb(pid)
                    except OSError:
                        continue
                    total += rss
                    hwm[pid] = max(hwm.get(pid, 0), h)
                peak_sum, nprocs = max(peak_sum, total), max(nprocs, len(pids))
                if progress and time.perf_counter() - last >= every and proc.poll() is None:
                    last = time.perf_counter()
                    progress(last - t0, total, len(pids))
            wall = time.perf_counter() - t0
        except BaseException:
            for pid in descendants(proc.pid):
                try:
                    os.kill(pid, 15)
                except OSError:
                    pass
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
            raise
    res = {"wall_s": round(wall, 3), "stdout": out.read_text().strip(), "exit": proc.returncode,
           "tree_peak_rss_mb": round(peak_sum / 1024, 1), "tree_hwm_sum_mb": round(sum(hwm.values()) / 1024, 1),
           "max_processes": nprocs}
    if use_time:
        t = tfile.read_text()

        def field(label):
            m = re.search(rf"{re.escape(label)}: (\S+)", t)
            return m.group(1) if m else None

        res["max_single_rss_mb"] = round(int(field("Maximum resident set size (kbytes)")) / 1024, 1)
        res["cpu_s"] = round(float(field("User time (seconds)")) + float(field("System time (seconds)")), 2)
        res["exit"] = int(field("Exit status") or proc.returncode)
    else:
        res["max_single_rss_mb"] = round(max(hwm.values(), default=0) / 1024, 1)
        res["cpu_s"] = None
    # the figure reported as the run's peak RSS: the whole tree's, an upper bound, never below the
    # exact single-process figure
    res["peak_rss_mb"] = max(res["tree_hwm_sum_mb"], res["max_single_rss_mb"])
    if res["exit"] != 0:
        raise RuntimeError(f"{name} exited {res['exit']}:\n{res['stdout'][-2000:]}\n{err.read_text()[-3000:]}")
    return res


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def last_run(path: Path) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT requests, pages, models_seen, models_new, models_changed, metrics_moved, "
                                 "retries, errors, status FROM runs ORDER BY id DESC LIMIT 1").fetchone())
    finally:
        conn.close()


def crawl_progress(label: str, db: Path, total_pages: int, replica: Server | None = None):
    """Progress line: the page the crawl's checkpoint has reached (a read of one row, WAL lets it run
    beside the writer), the crawler's RSS now (all its processes)."""
    def show(seconds, tree_kb, nprocs):
        page = "?"
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            try:
                row = conn.execute("SELECT value FROM crawl_state WHERE key = 'full.pass'").fetchone()
            finally:
                conn.close()
            if row and row[0] not in (None, "null"):
                page = json.loads(row[0]).get("page", "?")
        except sqlite3.Error:
            pass
        mem = f", crawler RSS {tree_kb / 1024:.0f} MB ({nprocs} processes)"
        srv = f", replica RSS {replica.rss_mb():.0f} MB" if replica else ""
        say(f"    {label}: {seconds:6.0f} s, page {page}/{total_pages}{mem}{srv}")
    return show


def hubdex_crawl(mode: str, url: str, db: Path, workdir: Path, name: str, day: dt.date, models: int,
                 replica: Server | None = None, progress_label: str | None = None) -> dict:
    cpu0 = replica.cpu_s() if replica else None
    prog = crawl_progress(progress_label, db, math.ceil(models / PAGE), replica) if progress_label else None
    r = measured(hubdex_exe() + ["crawl", f"--{mode}", "--endpoint", url, "--db", str(db), "--no-progress"],
                 workdir, name, env={"HUBDEX_DAY": day.isoformat()}, progress=prog)
    if replica:
        r["replica_cpu_share"] = round((replica.cpu_s() - cpu0) / r["wall_s"], 2)
    r["run"] = last_run(db)
    seen = r["run"]["models_seen"]
    r["models_per_s"] = round(seen / r["wall_s"])
    r["db_bytes"] = db_bytes(db)
    if r["run"]["status"] != "completed" or seen != models:
        raise RuntimeError(f"{name}: {r['run']} (expected {models:,} models)\n{r['stdout']}")
    return r


# -- the serving ceiling -------------------------------------------------------------------------
def listing_path(expand: list) -> str:
    """The crawler's own full-pass URL (same parameters, same order)."""
    q = [("sort", "createdAt"), ("limit", str(PAGE))] + [("expand", e) for e in expand]
    return "/api/models?" + urlencode(q)


def http_pass(replica: Server) -> dict:
    """One full pass over one keep-alive connection, following Link until there is none; no parsing."""
    parts = urlsplit(replica.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    path, pages, nbytes, items = listing_path(CRAWL_EXPAND), 0, 0, 0
    cpu0, t0 = replica.cpu_s(), time.perf_counter()
    while path:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status} on page {pages + 1}: {body[:300]!r}")
        pages += 1
        nbytes += len(body)
        # top-level items: `},{"_id":` only ever separates two of them (see bench/replica_serving.py)
        items += body.count(b'},{"_id":') + 1 if body.startswith(b"[{") else 0
        m = NEXT_LINK.search(resp.getheader("Link") or "")
        path = None
        if m:
            nxt = urlsplit(m.group(1))
            path = f"{nxt.path}?{nxt.query}"
    wall = time.perf_counter() - t0
    conn.close()
    return {"wall_s": round(wall, 3), "pages": pages, "items": items, "models_per_s": round(items / wall),
            "bytes_per_model": round(nbytes / max(items, 1)),
            "replica_cpu_share": round((replica.cpu_s() - cpu0) / wall, 2)}


# -- the naive baseline (runs as its own process: `crawl_full.py --_naive URL DB`) -----------------
def naive_main(url: str, db_path: str):
    t_import = time.perf_counter()
    import dataclasses

    import sqlite_utils
    from huggingface_hub import HfApi
    t0 = time.perf_counter()

    def plain(v):
        if isinstance(v, (dt.datetime, dt.date)):
            return v.isoformat()
        if hasattr(v, "to_dict"):  # ModelCardData
            return v.to_dict()
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return dataclasses.asdict(v)
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    db = sqlite_utils.Database(db_path)
    api = HfApi(endpoint=url, token=False)
    rows, tags = [], []
    n = n_tags = 0
    insert_s = 0.0

    def flush():
        nonlocal insert_s
        t = time.perf_counter()
        db["models"].insert_all(rows, pk="id", alter=True, batch_size=1000)
        db["model_tags"].insert_all(tags, pk=("model_id", "tag"), batch_size=1000, ignore=True)
        insert_s += time.perf_counter() - t
        rows.clear()
        tags.clear()

    for m in api.list_models(sort="created_at", expand=CRAWL_EXPAND):
        row = {k: plain(v) for k, v in vars(m).items() if k != "tags"}
        rows.append(row)
        tags.extend({"model_id": m.id, "tag": t} for t in m.tags or ())
        n += 1
        n_tags += len(m.tags or ())
        if len(rows) == 1000:
            flush()
    if rows:
        flush()
    total = time.perf_counter() - t0
    db.close()
    print(json.dumps({"models": n, "tags": n_tags, "import_s": round(t0 - t_import, 3), "loop_s": round(total, 3),
                      "insert_s": round(insert_s, 3), "list_and_parse_s": round(total - insert_s, 3)}))


def naive(url: str, db: Path, workdir: Path, models: int, replica: Server) -> dict:
    cpu0 = replica.cpu_s()
    r = measured([sys.executable, str(Path(__file__).resolve()), "--_naive", url, str(db)], workdir, "naive",
                 env={"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "0"},
                 progress=lambda s, _kb, _n: say(f"    naive baseline: {s:6.0f} s"), every=30)
    r["replica_cpu_share"] = round((replica.cpu_s() - cpu0) / r["wall_s"], 2)
    r["inner"] = json.loads(r["stdout"].splitlines()[-1])
    if r["inner"]["models"] != models:
        raise RuntimeError(f"naive baseline saw {r['inner']['models']:,} models, expected {models:,}")
    r["models_per_s"] = round(models / r["wall_s"])
    r["db_bytes"] = db_bytes(db)
    return r


# -- history size --------------------------------------------------------------------------------
def table_bytes(db: Path, table: str) -> tuple[int, str]:
    """Bytes of the pages a table (with its indexes) occupies: dbstat's sum(pgsize); without dbstat,
    the difference a VACUUM INTO copy shows with and without the table (then a compacted figure)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [table] + [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))]
        q = f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({', '.join('?' * len(names))})"
        return int(conn.execute(q, names).fetchone()[0] or 0), "dbstat sum(pgsize)"
    except sqlite3.OperationalError:  # no dbstat in this SQLite build
        pass
    finally:
        conn.close()
    with tempfile.TemporaryDirectory(dir=db.parent) as d:
        copy = Path(d) / "copy.db"
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        src.execute("VACUUM INTO ?", (str(copy),))
        src.close()
        c = sqlite3.connect(copy, isolation_level=None)

        def size():
            return c.execute("PRAGMA page_count").fetchone()[0] * c.execute("PRAGMA page_size").fetchone()[0]

        before = size()
        c.execute(f'DROP TABLE "{table}"')
        c.execute("VACUUM")
        after = size()
        c.close()
        return before - after, "VACUUM INTO copy, page-count difference (compacted)"


def naive_history(db: Path, scratch: Path) -> dict:
    """One row per model per metric day, figures carried forward, in a scratch database with the same
    table definition and page size, appended day by day as a daily snapshot would grow."""
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    ddl = src.execute("SELECT sql FROM sqlite_master WHERE name = 'metrics_history'").fetchone()[0]
    page_size = src.execute("PRAGMA page_size").fetchone()[0]
    src.close()
    conn = sqlite3.connect(scratch, isolation_level=None)
    conn.execute(f"PRAGMA page_size={page_size}")
    conn.execute(ddl)
    conn.execute("ATTACH ? AS hub", (f"file:{db}?mode=ro",))
    days = [r[0] for r in conn.execute("SELECT day FROM hub.metric_days ORDER BY day")]
    t0 = time.perf_counter()
    for d in days:
        conn.execute("BEGIN")
        conn.execute("""INSERT INTO main.metrics_history
            SELECT h.model_key, :d, h.downloads, h.downloads_all_time, h.likes, h.trending_score
            FROM hub.metrics_history h
            WHERE h.day = (SELECT max(h2.day) FROM hub.metrics_history h2
                           WHERE h2.model_key = h.model_key AND h2.day <= :d)""", {"d": d})
        conn.execute("COMMIT")
    rows = conn.execute("SELECT count(*) FROM main.metrics_history").fetchone()[0]
    conn.close()
    nbytes, method = table_bytes(scratch, "metrics_history")
    return {"rows": rows, "bytes": nbytes, "method": method, "days": len(days), "build_s": round(time.perf_counter() - t0, 2)}


def history(replica: Server, db: Path, workdir: Path, models: int, days: int) -> dict:
    steps = []
    for d in range(1, days + 1):
        day = DAY0 + dt.timedelta(days=d)
        t = time.perf_counter()
        changed = replica.scenario(seed=d, metrics=METRICS_MOVED)
        step_s = time.perf_counter() - t
        r = hubdex_crawl("metrics", replica.url, db, workdir, f"metrics-{d}", day, models, replica)
        steps.append({"day": day.isoformat(), "replica_moved": len(changed["metrics_changed"]),
                      "scenario_s": round(step_s, 2), "wall_s": r["wall_s"], "models_per_s": r["models_per_s"],
                      "metrics_moved": r["run"]["metrics_moved"], "requests": r["run"]["requests"],
                      "peak_rss_mb": r["peak_rss_mb"]})
        say(f"  day {d} ({day}): replica moved {steps[-1]['replica_moved']:,}, hubdex --metrics recorded "
            f"{r['run']['metrics_moved']:,} in {r['wall_s']:.2f} s ({r['models_per_s']:,} models/s), "
            f"peak RSS {r['peak_rss_mb']} MB ({r['max_processes']} processes)")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute("SELECT count(*) FROM metrics_history").fetchone()[0]
    metric_days = conn.execute("SELECT count(*) FROM metric_days").fetchone()[0]
    conn.close()
    nbytes, method = table_bytes(db, "metrics_history")
    h = {"days": days, "metric_days": metric_days, "steps": steps, "rows": rows, "bytes": nbytes, "method": method}
    h["naive"] = naive_history(db, workdir / "naive-history.db")
    model_days = models * (days + 1)
    for layout in (h, h["naive"]):
        layout["bytes_per_row"] = round(layout["bytes"] / layout["rows"], 2)
        layout["bytes_per_model_day"] = round(layout["bytes"] / model_days, 2)
    # Per year: the naive layout stores every model-day. hubdex stores a first sighting per model, then
    # a row per model-day that moved, at the movement rate measured here.
    moved_rate = (rows - models) / (models * days) if days else 0.0
    year_rows_hubdex = YEAR_MODELS * (1 + moved_rate * (YEAR_DAYS - 1))
    h["moved_rate_per_day"] = round(moved_rate, 4)
    h["per_year"] = {
        "models": YEAR_MODELS, "days": YEAR_DAYS,
        "hubdex_gb": round(h["bytes_per_row"] * year_rows_hubdex / 1e9, 2),
        "hubdex_gb_linear": round(h["bytes_per_model_day"] * YEAR_MODELS * YEAR_DAYS / 1e9, 2),
        "naive_gb": round(h["naive"]["bytes_per_row"] * YEAR_MODELS * YEAR_DAYS / 1e9, 2),
    }
    h["ratio_naive_over_hubdex"] = round(h["naive"]["bytes"] / h["bytes"], 2)
    h["per_year"]["ratio_naive_over_hubdex"] = round(h["per_year"]["naive_gb"] / h["per_year"]["hubdex_gb"], 2)
    return h


def table_sizes(db: Path) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {name: int(b) for name, b in conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")}
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def source_fingerprint() -> str:
    import hashlib

    import hubdex
    h = hashlib.sha256()
    root = Path(hubdex.__file__).parent
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def startup_s(argv: list[str]) -> float:
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
    return round(best, 3)


# -- the benchmark -------------------------------------------------------------------------------
def run(args, workdir: Path) -> dict:
    n = args.models
    out = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
                       "platform": platform.platform(), "loadavg_start": os.getloadavg()},
           "config": {"models": n, "big": None if args.skip_big else args.big, "days": args.days,
                      "metrics_moved_per_day": METRICS_MOVED, "expand": CRAWL_EXPAND,
                      "peak_rss_via": "process tree VmHWM sum from /proc (+ /usr/bin/time -v for the largest process)"},
           "hubdex_source": {"fingerprint_start": source_fingerprint()}}
    # process start-up, included in every wall time below (interpreter plus the imports a crawl needs)
    out["startup_s"] = {
        "hubdex": startup_s([sys.executable, "-c", "import hubdex.cli, hubdex.crawl, hubdex.store.db"]),
        "naive": startup_s([sys.executable, "-c", "import sqlite_utils, huggingface_hub; from huggingface_hub import HfApi"]),
    }
    db = workdir / "hub.db"
    rep = start_replica(n, workdir)
    try:
        say(f"replica synthetic:{n:,} up in {rep.startup_s:.2f} s at {rep.url}")
        out["ceiling"] = [http_pass(rep)]
        c = out["ceiling"][0]
        say(f"  HTTP pass 1 (cold): {c['models_per_s']:>8,} models/s  {c['wall_s']:7.2f} s  {c['pages']} pages  "
            f"replica cpu {c['replica_cpu_share']:.2f}")

        for i, name in enumerate(("full-1", "full-2")):
            r = hubdex_crawl("full", rep.url, db, workdir, name, DAY0, n, rep,
                             progress_label=f"hubdex full run {i + 1}")
            r["db_bytes_per_model"] = round(r["db_bytes"] / n)
            out[name.replace("-", "_")] = r
            say(f"  hubdex full run {i + 1}: {r['models_per_s']:>8,} models/s  {r['wall_s']:7.2f} s  "
                f"peak RSS {r['peak_rss_mb']} MB (largest process {r['max_single_rss_mb']})  cpu {r['cpu_s']} s  "
                f"requests {r['run']['requests']}  "
                f"DB {r['db_bytes'] / 1e6:.1f} MB  replica cpu {r['replica_cpu_share']:.2f}")
            say(f"    {r['stdout']}")
        out["full_1"]["table_bytes"] = table_sizes(db)

        out["naive"] = naive(rep.url, workdir / "naive.db", workdir, n, rep)
        b = out["naive"]
        say(f"  naive baseline:    {b['models_per_s']:>8,} models/s  {b['wall_s']:7.2f} s  peak RSS {b['peak_rss_mb']} MB  "
            f"cpu {b['cpu_s']} s  (listing+parsing {b['inner']['list_and_parse_s']} s, inserts {b['inner']['insert_s']} s)  "
            f"DB {b['db_bytes'] / 1e6:.1f} MB  replica cpu {b['replica_cpu_share']:.2f}")

        out["ceiling"].append(http_pass(rep))
        c = out["ceiling"][1]
        say(f"  HTTP pass 2 (warm): {c['models_per_s']:>8,} models/s  {c['wall_s']:7.2f} s  {c['pages']} pages  "
            f"replica cpu {c['replica_cpu_share']:.2f}")

        if args.days:
            say(f"history: {args.days} days, {METRICS_MOVED:.0%} of the models move each day")
            out["history"] = history(rep, db, workdir, n, args.days)
    finally:
        rep.stop()
    for name in ("naive.db", "hub.db"):  # free the disk before the big run
        for p in workdir.glob(name + "*"):
            p.unlink()
    for p in workdir.glob("naive-history.db*"):
        p.unlink()

    if not args.skip_big:
        big_db = workdir / "big.db"
        rep = start_replica(args.big, workdir)
        try:
            say(f"replica synthetic:{args.big:,} up in {rep.startup_s:.2f} s, RSS {rep.rss_mb():.0f} MB; "
                f"warm-up HTTP pass ...")
            warm = http_pass(rep)
            say(f"  HTTP pass (cold): {warm['models_per_s']:>8,} models/s  {warm['wall_s']:7.2f} s")
            say(f"  hubdex full crawl of {args.big:,} models (progress every 15 s) ...")
            r = hubdex_crawl("full", rep.url, big_db, workdir, "full-big", DAY0, args.big, rep,
                             progress_label=f"hubdex full {args.big:,}")
            r["db_bytes_per_model"] = round(r["db_bytes"] / args.big)
            out["big"] = {"models": args.big, "replica_startup_s": round(rep.startup_s, 2), "http_pass": warm, "crawl": r}
            say(f"  hubdex full {args.big:,}: {r['models_per_s']:>8,} models/s  {r['wall_s']:7.2f} s  "
                f"peak RSS {r['peak_rss_mb']} MB (largest process {r['max_single_rss_mb']}, sampled tree sum "
                f"{r['tree_peak_rss_mb']})  requests {r['run']['requests']}  DB {r['db_bytes'] / 1e6:.1f} MB")
            say(f"    {r['stdout']}")
        finally:
            rep.stop()
            for p in workdir.glob("big.db*"):
                p.unlink()
    out["machine"]["loadavg_end"] = os.getloadavg()
    out["hubdex_source"]["fingerprint_end"] = source_fingerprint()
    return out


def verdicts(out: dict) -> dict:
    n = out["config"]["models"]
    f1, nv, ceil2 = out["full_1"], out["naive"], out["ceiling"][-1]
    # the listing pages alone: the run's requests also count the lastModified probe and the router's
    # catalogue, which are not listing pages (counting them made the check report a miss)
    listing = f1["run"]["pages"]
    v = {"models_per_s": f1["models_per_s"], "target_models_per_s": TARGET_MODELS_PER_S,
         "floor_models_per_s": FLOOR_MODELS_PER_S,
         "throughput": ("MET" if f1["models_per_s"] >= TARGET_MODELS_PER_S else
                        "MISSED (floor met)" if f1["models_per_s"] >= FLOOR_MODELS_PER_S else "MISSED"),
         "vs_naive": round(f1["models_per_s"] / nv["models_per_s"], 2),
         "vs_ceiling": round(f1["models_per_s"] / ceil2["models_per_s"], 3),
         "second_run_vs_first": round(out["full_2"]["models_per_s"] / f1["models_per_s"], 2),
         "listing_requests": listing, "pages": f1["run"]["pages"], "ceil_n_over_1000": math.ceil(n / PAGE),
         "requests_per_model": round(listing / n, 5)}
    v["vs_naive_verdict"] = "MET" if v["vs_naive"] >= TARGET_VS_NAIVE else "MISSED"
    v["requests_verdict"] = "MET" if listing <= v["ceil_n_over_1000"] else "MISSED"
    if "big" in out:
        b = out["big"]["crawl"]
        v["big_peak_rss_mb"] = b["peak_rss_mb"]
        v["big_rss_verdict"] = "MET" if b["peak_rss_mb"] < TARGET_PEAK_MB_1M else "MISSED"
        v["big_listing_requests"] = b["run"]["pages"]
        v["big_requests_verdict"] = "MET" if v["big_listing_requests"] <= math.ceil(out["big"]["models"] / PAGE) else "MISSED"
    return v


def summary(out: dict) -> str:
    n, v = out["config"]["models"], out["verdicts"]
    rows = [("run", "models", "wall s", "models/s", "x naive", "peak RSS MB", "largest proc", "procs", "cpu s",
             "models/cpu s", "requests", "DB MB", "B/model", "srv cpu")]

    def row(name, models, r, requests="", dbb=None):
        cpu = r.get("cpu_s")
        return (name, f"{models:,}", f"{r['wall_s']:.2f}", f"{r['models_per_s']:,}",
                f"{r['models_per_s'] / out['naive']['models_per_s']:.2f}", r.get("peak_rss_mb", ""),
                r.get("max_single_rss_mb", ""), r.get("max_processes", ""), r.get("cpu_s", ""),
                f"{models / cpu:,.0f}" if cpu else "", requests, "" if dbb is None else f"{dbb / 1e6:.1f}",
                "" if dbb is None else f"{dbb / models:,.0f}", r.get("replica_cpu_share", ""))

    f1, f2, nv = out["full_1"], out["full_2"], out["naive"]
    rows.append(row("hubdex full, 1st run", n, f1, f1["run"]["requests"], f1["db_bytes"]))
    rows.append(row("hubdex full, 2nd run", n, f2, f2["run"]["requests"], f2["db_bytes"]))
    rows.append(row("naive hf_hub+sqlite-utils", n, nv, "", nv["db_bytes"]))
    for i, c in enumerate(out["ceiling"]):
        rows.append(row(f"HTTP pass {i + 1} ({'cold' if i == 0 else 'warm'}), no parse", n, c, c["pages"]))
    if "big" in out:
        b, m = out["big"]["crawl"], out["big"]["models"]
        rows.append(row(f"HTTP pass (cold) {m:,}", m, out["big"]["http_pass"], out["big"]["http_pass"]["pages"]))
        rows.append(row(f"hubdex full {m:,}", m, b, b["run"]["requests"], b["db_bytes"]))
    widths = [max(len(str(r[c])) for r in rows) for c in range(len(rows[0]))]
    lines = ["", f"hubdex full crawl, synthetic:{n:,}, {out['machine']['cpus']} cpus, Python {out['machine']['python']}, "
                 f"SQLite {out['machine']['sqlite']}; wall times include process start-up "
                 f"(hubdex {out['startup_s']['hubdex']} s, naive {out['startup_s']['naive']} s)"]
    lines += ["  ".join(str(val).ljust(w) if c == 0 else str(val).rjust(w) for c, (val, w) in enumerate(zip(r, widths)))
              for r in rows]
    lines.append("  (peak RSS: sum of the peaks of all the run's processes, an upper bound; largest proc: /usr/bin/time -v;")
    lines.append("   cpu s: user+sys of all its processes; models/cpu s: models per second of that CPU, the steadier figure on a loaded machine;")
    lines.append("   requests: HTTP requests the run made, the lastModified probe")
    lines.append("   included, for HTTP passes pages; srv cpu: replica CPU time / wall time)")
    lines.append("")
    lines.append(f"throughput: {v['models_per_s']:,} models/s (target {TARGET_MODELS_PER_S:,}, floor "
                 f"{FLOOR_MODELS_PER_S:,}) -> {v['throughput']}; {v['vs_ceiling']:.0%} of the warm HTTP pass "
                 f"({out['ceiling'][-1]['models_per_s']:,} models/s, the replica alone)")
    lines.append(f"vs naive: {v['vs_naive']:.2f}x huggingface_hub + sqlite-utils ({nv['models_per_s']:,} models/s; "
                 f"its listing+parsing {nv['inner']['list_and_parse_s']} s, inserts {nv['inner']['insert_s']} s) "
                 f"(target >= {TARGET_VS_NAIVE:.0f}x) -> {v['vs_naive_verdict']}")
    lines.append(f"listing requests: {v['listing_requests']} for {n:,} models ({v['pages']} pages, "
                 f"ceil(N/1000) = {v['ceil_n_over_1000']}; plus 1 probe) = {v['requests_per_model']} per model "
                 f"-> {v['requests_verdict']}")
    lines.append(f"second full run (writes no model): {f2['models_per_s']:,} models/s, {v['second_run_vs_first']:.2f}x "
                 f"the first; new {f2['run']['models_new']}, changed {f2['run']['models_changed']}, "
                 f"metrics moved {f2['run']['metrics_moved']}")
    tb = f1.get("table_bytes") or {}
    if tb:
        total = sum(tb.values())
        top = sorted(tb.items(), key=lambda kv: -kv[1])[:5]
        lines.append(f"DB after the first run: {f1['db_bytes'] / 1e6:.1f} MB = {f1['db_bytes_per_model']:,} B/model; "
                     "by table: " + ", ".join(f"{k} {b / total:.0%}" for k, b in top))
    if "big" in out:
        b, m = out["big"]["crawl"], out["big"]["models"]
        lines.append(f"{m:,} models: peak RSS {b['peak_rss_mb']} MB (target < {TARGET_PEAK_MB_1M}) -> {v['big_rss_verdict']}; "
                     f"{b['models_per_s']:,} models/s -> "
                     f"{'MET' if b['models_per_s'] >= TARGET_MODELS_PER_S else 'MISSED (floor met)' if b['models_per_s'] >= FLOOR_MODELS_PER_S else 'MISSED'}; "
                     f"{v['big_listing_requests']} listing requests -> {v['big_requests_verdict']}; "
                     f"DB {b['db_bytes'] / 1e9:.2f} GB = {b['db_bytes_per_model']:,} B/model")
    if "history" in out:
        h, nh, y = out["history"], out["history"]["naive"], out["history"]["per_year"]
        md = n * (h["days"] + 1)
        lines.append("")
        lines.append(f"metrics history: {n:,} models x {h['days'] + 1} days (full crawl + {h['days']} --metrics days, "
                     f"{METRICS_MOVED:.0%} moved per day; measured movement {h['moved_rate_per_day']:.1%}/day); "
                     f"bytes = {h['method']}")
        hrows = [("layout", "rows", "rows/model-day", "bytes", "B/row", "B/model/day", f"GB/yr @ {YEAR_MODELS / 1e6:.0f}M"),
                 ("hubdex (rows on moves)", f"{h['rows']:,}", f"{h['rows'] / md:.3f}", f"{h['bytes']:,}",
                  h["bytes_per_row"], h["bytes_per_model_day"], y["hubdex_gb"]),
                 ("naive (row per model-day)", f"{nh['rows']:,}", f"{nh['rows'] / md:.3f}", f"{nh['bytes']:,}",
                  nh["bytes_per_row"], nh["bytes_per_model_day"], y["naive_gb"])]
        w = [max(len(str(r[c])) for r in hrows) for c in range(len(hrows[0]))]
        lines += ["  ".join(str(val).ljust(x) if c == 0 else str(val).rjust(x) for c, (val, x) in enumerate(zip(r, w)))
                  for r in hrows]
        lines.append(f"naive / hubdex: {h['ratio_naive_over_hubdex']:.2f}x over these {h['days'] + 1} days, "
                     f"{y['ratio_naive_over_hubdex']:.2f}x over a year ({YEAR_MODELS:,} models x {YEAR_DAYS} days: "
                     f"hubdex {y['hubdex_gb']} GB at the measured movement rate, {y['hubdex_gb_linear']} GB if every "
                     f"model-day cost what these {h['days'] + 1} did; naive {y['naive_gb']} GB)")
        st = h["steps"]
        lines.append(f"--metrics passes: {min(s['models_per_s'] for s in st):,}-{max(s['models_per_s'] for s in st):,} "
                     f"models/s, {st[0]['requests']} requests each, peak RSS up to {max(s['peak_rss_mb'] for s in st)} MB")
    src = out["hubdex_source"]
    if src["fingerprint_start"] != src["fingerprint_end"]:
        lines.append(f"WARNING: hubdex's source changed while the benchmark ran ({src['fingerprint_start']} -> "
                     f"{src['fingerprint_end']}): the runs above may have measured different code")
    else:
        lines.append(f"hubdex source fingerprint {src['fingerprint_start']} (unchanged during the run)")
    lines.append(load_line(out["machine"]["loadavg_start"][0], out["machine"]["loadavg_end"][0]))
    return "\n".join(lines)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--_naive":  # the baseline's own process
        naive_main(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=100_000, help="synthetic catalogue for the throughput runs")
    ap.add_argument("--big", type=int, default=1_000_000, help="synthetic catalogue for the memory run")
    ap.add_argument("--days", type=int, default=7, help="simulated --metrics days for the history size")
    ap.add_argument("--skip-big", action="store_true", help="skip the big-catalogue memory run")
    ap.add_argument("--json", metavar="OUT", help="also write every figure to this JSON file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hubdex-bench-") as d:
        out = run(args, Path(d))
    out["verdicts"] = verdicts(out)
    report(summary(out), out, args.json)


if __name__ == "__main__":
    main()
