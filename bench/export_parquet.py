"""How fast `hubdex export` writes a crawled catalogue as Parquet, what it costs in memory, and how
many bytes a row takes in Parquet against SQLite; each figure beside a baseline measured in the same
run, on the same database.

The database, in a temporary work directory:

* `--db PATH`: a copy of an existing crawled database (a file copy: the original is never opened by
  SQLite, so never written; e.g. /work/bench1m/hub1m.pristine.db, 1,000,000 models, 2 days of
  metrics). Without it: a replica `synthetic:N` (`--models`, default 1,000,000) as a subprocess and
  `hubdex crawl --full` into a fresh file (as derive_signals.py does; about 5 minutes at 1M).
* `hubdex derive` if the database has no scores yet (so model_scores, the capability rows and a day
  of signals_history exist, as after a real derive), timed as context.
* history SYNTHESIZED IN SQL (said in the report) until `metrics_history` holds `--days` days
  (default 30): each new day after the last crawled one, a deterministic `--moved` share (0.3) of the
  models get a metrics_history row (figures moved by a deterministic amount, as a metrics crawl
  would write them) and metric_days its row; a `--signals-moved` share (0.1) a signals_history row.

Measured:

* baseline read: every SELECT the export runs to read its rows (the same statements:
  hubdex.export.tables.select_sql), fetched with fetchmany(50,000) and dropped, in this process (no
  start-up): seconds and rows/s. The export must at least do this.
* `hubdex export DIR --db DB`, the first export (every table, every day), as its own process under
  `/usr/bin/time -v`: wall time (start-up included), rows/s, CPU, peak RSS (the process tree sampled
  from /proc and /usr/bin/time's figure; target under 500 MB at 1,000,000 models).
* the same command again, nothing changed: wall time, files written (its runs row), and whether any
  file in DIR changed (inode, mtime, size of every file).
* one more day (synthesized as a metrics crawl writes it: history rows, the models' figures,
  metric_days), then the command again: wall time, what it wrote.
* bytes: per table, SQLite's pages (dbstat: the table's b-tree, and with its indexes) against the
  Parquet files, and bytes per row of each.
* two analyst queries, SQLite against DuckDB over the Parquet files (if duckdb is installed, as in
  the test extra): downloads per day over the whole history, and the 10 authors with the most
  downloads over the last 7 days (a join of the history with models); best of 2.

Run:  .venv/bin/python bench/export_parquet.py [--db PATH] [--models 1000000] [--days 30] [--moved 0.3]
                                               [--signals-moved 0.1] [--json bench/results/export_parquet.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crawl_full import db_bytes, hubdex_crawl, measured, startup_s
from procs import hubdex_exe, load_line, replica, report, table

TARGET_PEAK_MB = 500
DAY0 = dt.date(2026, 11, 30)
RESULTS = Path(__file__).resolve().parent / "results" / "export_parquet.json"
BYTES_PER_MODEL_NEEDED = 9_000  # the database (~3.5 KB a model), its history and derive rows, the export, WAL


def say(msg: str):
    print(msg, flush=True)


def mb(b: float) -> str:
    return f"{b / 1e6:,.1f}"


def epoch_day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


# -- the database ---------------------------------------------------------------------------------
def build_db(n: int, db: Path, workdir: Path) -> dict:
    rep = replica(n, workdir / f"replica-{n}.stderr")
    try:
        say(f"  replica synthetic:{n:,} up in {rep.startup_s:.2f} s; full crawl (day 0, {DAY0}) ...")
        r = hubdex_crawl("full", rep.url, db, workdir, f"full-{n}", DAY0, n, rep, progress_label=f"full crawl {n:,}")
    finally:
        rep.stop()
    return {"built": f"replica synthetic:{n}, hubdex crawl --full", "crawl_s": r["wall_s"]}


def ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def ensure_derived(db: Path, workdir: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'model_scores'").fetchone() and \
            conn.execute("SELECT 1 FROM model_scores LIMIT 1").fetchone()
        last = conn.execute("SELECT max(day) FROM metrics_history").fetchone()[0]
    finally:
        conn.close()
    if has:
        return {"derive": "already derived"}
    day = dt.date(1970, 1, 1) + dt.timedelta(days=last)
    say(f"  no scores yet: hubdex derive (HUBDEX_DAY={day}) ...")
    r = measured(hubdex_exe() + ["derive", "--db", str(db)], workdir, "derive", env={"HUBDEX_DAY": day.isoformat()})
    say(f"    {r['wall_s']:.1f} s: {r['stdout'].splitlines()[0][:160]}")
    return {"derive": "hubdex derive", "derive_s": r["wall_s"]}


def synth_day(conn, day: int, moved: float, signals_moved: float, update_models: bool = False) -> dict:
    """One day of history as a metrics crawl and a derive would leave it, written in SQL: a
    deterministic share of the models moved."""
    per_mille = int(moved * 1000)
    pick = f"((key * 2654435761 + {day} * 40503) % 1000) < {per_mille}"
    conn.execute("BEGIN")
    conn.execute(f"""INSERT OR REPLACE INTO metrics_history (model_key, day, downloads, downloads_all_time, likes,
        trending_score)
        SELECT key, {day}, coalesce(downloads, 0) + ((key * 7 + {day}) % 50), coalesce(downloads_all_time, 0)
               + ({day} % 1000) * ((key % 97) + 1), coalesce(likes, 0) + ((key + {day}) % 3), trending_score
        FROM models WHERE removed_at IS NULL AND {pick} ORDER BY key""")
    if update_models:  # the models' current figures too, as the metrics crawl updates them
        conn.execute(f"""UPDATE models SET downloads = coalesce(downloads, 0) + ((key * 7 + {day}) % 50)
                         WHERE removed_at IS NULL AND {pick}""")
    n = conn.execute("SELECT count(*) FROM metrics_history WHERE day = ?", (day,)).fetchone()[0]
    conn.execute("INSERT OR REPLACE INTO metric_days (day, date, models_moved) VALUES (?, date(? * 86400, "
                 "'unixepoch'), ?)", (day, day, n))
    sp = f"((model_key * 2654435761 + {day} * 9973) % 1000) < {int(signals_moved * 1000)}"
    conn.execute(f"""INSERT OR REPLACE INTO signals_history (model_key, day, adoption, quality, ecosystem, pricing,
        match, rank)
        SELECT model_key, {day}, min(100.0, adoption + ((model_key + {day}) % 5) * 0.5), quality, ecosystem, pricing,
               match, min(100.0, rank + ((model_key + {day}) % 3) * 0.25)
        FROM model_scores WHERE {sp} ORDER BY model_key""")
    s = conn.execute("SELECT count(*) FROM signals_history WHERE day = ?", (day,)).fetchone()[0]
    conn.execute("COMMIT")
    return {"day": day, "metrics_rows": n, "signals_rows": s}


def synth_history(db: Path, days: int, moved: float, signals_moved: float) -> dict:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        have = [d for (d,) in conn.execute("SELECT DISTINCT day FROM metrics_history ORDER BY day")]
        t = time.perf_counter()
        added = []
        day = have[-1]
        while len(have) + len(added) < days:
            day += 1
            added.append(synth_day(conn, day, moved, signals_moved))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"crawled_days": len(have), "synthesized_days": len(added), "synth_s": round(time.perf_counter() - t, 1),
                "metrics_rows_per_day": added[0]["metrics_rows"] if added else 0,
                "signals_rows_per_day": added[0]["signals_rows"] if added else 0, "last_day": day}
    finally:
        conn.close()


def counts(db: Path) -> dict:
    conn = ro(db)
    try:
        from hubdex.export.tables import exportable
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in exportable()}
    finally:
        conn.close()


# -- baselines ------------------------------------------------------------------------------------
def read_baseline(db: Path) -> dict:
    """Every row the export reads, with the export's own statements, fetched and dropped."""
    from hubdex.export.tables import HISTORY_TABLES, columns_of, exportable, select_sql

    conn = ro(db)
    try:
        per, rows_total = {}, 0
        t0 = time.perf_counter()
        for table in exportable():
            cols = columns_of(conn, table)
            days = [d for (d,) in conn.execute(f"SELECT DISTINCT day FROM {table}")] if table in HISTORY_TABLES \
                else None
            t = time.perf_counter()
            cur, n = conn.execute(select_sql(table, cols, days)), 0
            while rows := cur.fetchmany(50_000):
                n += len(rows)
            per[table] = {"rows": n, "s": round(time.perf_counter() - t, 2)}
            rows_total += n
        s = time.perf_counter() - t0
    finally:
        conn.close()
    return {"rows": rows_total, "s": round(s, 2), "rows_per_s": round(rows_total / s), "tables": per}


def files(out: Path) -> dict:
    found = {}
    for root, _dirs, names in os.walk(out):
        for n in names:
            st = os.stat(os.path.join(root, n))
            found[os.path.relpath(os.path.join(root, n), out)] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def last_export(db: Path) -> dict:
    conn = ro(db)
    try:
        r = conn.execute("SELECT status, files_written, rows_written, reason FROM runs WHERE mode = 'export' "
                         "ORDER BY id DESC LIMIT 1").fetchone()
        return dict(zip(("status", "files_written", "rows_written", "reason"), r))
    finally:
        conn.close()


def export_run(db: Path, out: Path, workdir: Path, name: str) -> dict:
    def progress(seconds, tree_kb, _n):
        say(f"    {name}: {seconds:6.0f} s, RSS {tree_kb / 1024:.0f} MB")

    r = measured(hubdex_exe() + ["export", str(out), "--db", str(db)], workdir, name, progress=progress, every=30)
    r["run"] = last_export(db)
    r["rows_per_s"] = round(r["run"]["rows_written"] / r["wall_s"]) if r["run"]["rows_written"] else 0
    return r


def sizes(db: Path, out: Path) -> dict:
    """SQLite bytes (the table's b-tree; with its indexes) and Parquet bytes, per exported table."""
    from hubdex.export.tables import HISTORY_TABLES, exportable

    conn = ro(db)
    try:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        own, idx = {}, {}
        for name, b in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            t = owner.get(name, name)
            (own if name == t else idx)[t] = (own if name == t else idx).get(t, 0) + int(b)
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in exportable()}
    finally:
        conn.close()
    manifest = json.loads((out / "_manifest.json").read_text())
    res = {}
    for t in exportable():
        m = manifest["tables"][t]
        pq = sum(p["bytes"] for p in m["partitions"].values()) if t in HISTORY_TABLES else m["bytes"]
        res[t] = {"rows": rows[t], "sqlite_table": own.get(t, 0), "sqlite_indexes": idx.get(t, 0), "parquet": pq}
    return res


def analyst_queries(db: Path, out: Path, last_day: int) -> dict:
    try:
        import duckdb
    except ImportError:
        return {"skipped": "duckdb is not installed (pip install -e '.[test]')"}
    since = last_day - 6
    queries = {
        "downloads per day, whole history": (
            "SELECT day, count(*), sum(downloads) FROM metrics_history GROUP BY day ORDER BY day",
            f"SELECT day, count(*), sum(downloads) FROM read_parquet('{out}/metrics_history/*/*.parquet', "
            "hive_partitioning=true) GROUP BY day ORDER BY day"),
        "top 10 authors by downloads, last 7 days": (
            f"SELECT m.author, sum(h.downloads) s FROM metrics_history h JOIN models m ON m.key = h.model_key "
            f"WHERE h.day >= {since} GROUP BY m.author ORDER BY s DESC, m.author LIMIT 10",
            f"SELECT m.author, sum(h.downloads) s FROM read_parquet('{out}/metrics_history/*/*.parquet', "
            f"hive_partitioning=true) h JOIN read_parquet('{out}/models/*.parquet') m ON m.key = h.model_key "
            f"WHERE h.day >= DATE '{dt.date(1970, 1, 1) + dt.timedelta(days=since)}' GROUP BY m.author "
            "ORDER BY s DESC, m.author LIMIT 10"),
    }
    res = {}
    for name, (lite, duck) in queries.items():
        def best(fn):
            times, got = [], None
            for _ in range(2):
                t = time.perf_counter()
                got = fn()
                times.append(time.perf_counter() - t)
            return round(min(times), 3), got
        conn = ro(db)
        s_lite, a = best(lambda: conn.execute(lite).fetchall())
        conn.close()
        con = duckdb.connect()
        s_duck, b = best(lambda: con.execute(duck).fetchall())
        con.close()
        same = [tuple(r[1:]) for r in a] == [tuple(r[1:]) for r in b] and len(a) == len(b)
        res[name] = {"sqlite_s": s_lite, "duckdb_s": s_duck, "same_answer": same}
    return res


# -- the run --------------------------------------------------------------------------------------
def run(args, workdir: Path) -> dict:
    out = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
                       "platform": platform.platform(), "loadavg_start": os.getloadavg()},
           "config": {"db": args.db, "models": None if args.db else args.models, "days": args.days,
                      "moved": args.moved, "signals_moved": args.signals_moved},
           "startup_s": startup_s([sys.executable, "-c", "import hubdex.cli, hubdex.export, pyarrow"])}
    db, exp = workdir / "hub.db", workdir / "parquet"
    free = shutil.disk_usage(workdir).free
    need = (os.path.getsize(args.db) * 2.5) if args.db else args.models * BYTES_PER_MODEL_NEEDED
    say(f"{workdir}: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed")
    if free < need:
        raise SystemExit(f"not enough disk in {workdir}")
    if args.db:
        t = time.perf_counter()
        shutil.copyfile(args.db, db)  # a file copy: SQLite never opens the original
        if os.path.getsize(f"{args.db}-wal") if os.path.exists(f"{args.db}-wal") else 0:
            shutil.copyfile(f"{args.db}-wal", f"{db}-wal")
        out["db"] = {"built": f"copy of {args.db}", "copy_s": round(time.perf_counter() - t, 1)}
        say(f"  copied {args.db} ({mb(os.path.getsize(db))} MB) in {out['db']['copy_s']} s")
    else:
        out["db"] = build_db(args.models, db, workdir)
    # migrations (the copy may be older than this code), then the derive if it has no scores
    subprocess.run([sys.executable, "-c", f"from hubdex.store.db import open_db; open_db({str(db)!r})"], check=True)
    out["db"].update(ensure_derived(db, workdir))
    say(f"  history: synthesizing days in SQL until metrics_history holds {args.days} ...")
    out["history"] = h = synth_history(db, args.days, args.moved, args.signals_moved)
    say(f"    {h['crawled_days']} crawled days + {h['synthesized_days']} synthesized in {h['synth_s']} s "
        f"({h['metrics_rows_per_day']:,} metrics rows and {h['signals_rows_per_day']:,} signals rows a day)")
    out["counts"] = c = counts(db)
    out["db_bytes"] = db_bytes(db)
    say(f"  DB {mb(out['db_bytes'])} MB; {sum(c.values()):,} rows in the exported tables "
        f"(models {c['models']:,}, metrics_history {c['metrics_history']:,}, signals_history {c['signals_history']:,})")

    say("  baseline: the export's SELECTs, fetched and dropped ...")
    out["read"] = r = read_baseline(db)
    say(f"    {r['rows']:,} rows in {r['s']} s ({r['rows_per_s']:,} rows/s)")
    say("  hubdex export (first: everything) ...")
    out["first"] = f = export_run(db, exp, workdir, "export-first")
    say(f"    {f['wall_s']:.1f} s, {f['rows_per_s']:,} rows/s, peak RSS {f['peak_rss_mb']} MB, cpu {f['cpu_s']} s; "
        f"{f['stdout'].splitlines()[0]}")
    before = files(exp)
    say("  hubdex export again, nothing changed ...")
    out["rerun"] = n = export_run(db, exp, workdir, "export-rerun")
    n["files_changed"] = sum(1 for k, v in files(exp).items() if before.get(k) != v) + sum(
        1 for k in before if k not in files(exp))
    say(f"    {n['wall_s']:.1f} s, peak RSS {n['peak_rss_mb']} MB, {n['run']['files_written']} files written, "
        f"{n['files_changed']} files in DIR changed")
    conn = sqlite3.connect(db, isolation_level=None)
    one = synth_day(conn, h["last_day"] + 1, args.moved, args.signals_moved, update_models=True)
    conn.close()
    say(f"  one day more (synthesized: {one['metrics_rows']:,} history rows, the models' figures), hubdex export ...")
    out["next_day"] = d = export_run(db, exp, workdir, "export-next-day")
    d["synthesized"] = one
    say(f"    {d['wall_s']:.1f} s, peak RSS {d['peak_rss_mb']} MB; {d['stdout'].splitlines()[0]}")
    out["sizes"] = sizes(db, exp)
    say("  analyst queries, SQLite against DuckDB over the export ...")
    out["queries"] = analyst_queries(db, exp, h["last_day"] + 1)
    out["machine"]["loadavg_end"] = os.getloadavg()
    return out


def summary(out: dict) -> str:
    m, h, f, n, d, r = out["machine"], out["history"], out["first"], out["rerun"], out["next_day"], out["read"]
    c = out["counts"]
    lines = ["", f"hubdex export, {m['cpus']} cpus, Python {m['python']}, SQLite {m['sqlite']}; wall times include "
                 f"process start-up (~{out['startup_s']} s)",
             f"database: {out['db']['built']}; {out['db'].get('derive')}; {c['models']:,} models; history: "
             f"{h['crawled_days']} crawled days + {h['synthesized_days']} days SYNTHESIZED IN SQL "
             f"({h['metrics_rows_per_day']:,} metrics_history and {h['signals_rows_per_day']:,} signals_history rows a "
             f"day); {sum(c.values()):,} rows in the exported tables; DB {mb(out['db_bytes'])} MB", ""]
    rows = [("run", "wall s", "rows written", "rows/s", "peak RSS MB", "cpu s", "files written")]
    for label, x in (("first export (everything)", f), ("rerun, nothing changed", n), ("one day more", d)):
        rows.append((label, f"{x['wall_s']:.1f}", f"{x['run']['rows_written']:,}", f"{x['rows_per_s']:,}",
                     x["peak_rss_mb"], x["cpu_s"], x["run"]["files_written"]))
    rows.append(("baseline: the same SELECTs, fetched only", f"{r['s']:.1f}", f"{r['rows']:,}",
                 f"{r['rows_per_s']:,}", "", "", ""))
    lines += table(rows)
    lines.append(f"  first export / read baseline: {f['wall_s'] / r['s']:.2f}x; rerun with nothing new changed "
                 f"{n['files_changed']} files in DIR; one day more printed: {d['stdout'].splitlines()[0]}")
    lines.append("")
    srows = [("table", "rows", "SQLite MB", "+ indexes MB", "Parquet MB", "SQLite B/row", "Parquet B/row", "ratio")]
    tot = {"rows": 0, "sqlite_table": 0, "sqlite_indexes": 0, "parquet": 0}
    for t, s in sorted(out["sizes"].items(), key=lambda kv: -kv[1]["sqlite_table"]):
        for k in tot:
            tot[k] += s[k]
        if not s["rows"]:
            continue
        srows.append((t, f"{s['rows']:,}", mb(s["sqlite_table"]), mb(s["sqlite_indexes"]), mb(s["parquet"]),
                      f"{s['sqlite_table'] / s['rows']:.1f}", f"{s['parquet'] / s['rows']:.1f}",
                      f"{s['sqlite_table'] / max(s['parquet'], 1):.1f}x"))
    srows.append(("all exported", f"{tot['rows']:,}", mb(tot["sqlite_table"]), mb(tot["sqlite_indexes"]),
                  mb(tot["parquet"]), f"{tot['sqlite_table'] / tot['rows']:.1f}", f"{tot['parquet'] / tot['rows']:.1f}",
                  f"{tot['sqlite_table'] / max(tot['parquet'], 1):.1f}x"))
    lines += ["bytes (SQLite: the pages of the table's b-tree, dbstat; its indexes apart; Parquet: zstd files):"]
    lines += ["  " + x for x in table(srows)]
    q = out["queries"]
    lines.append("")
    if "skipped" in q:
        lines.append(f"analyst queries: skipped ({q['skipped']})")
    else:
        lines.append("analyst queries (best of 2), SQLite on the database against DuckDB over the Parquet files:")
        for name, x in q.items():
            lines.append(f"  {name}: SQLite {x['sqlite_s']} s, DuckDB {x['duckdb_s']} s "
                         f"({x['sqlite_s'] / max(x['duckdb_s'], 1e-6):.1f}x){'' if x['same_answer'] else '  DIFFERENT ANSWERS'}")
    lines.append("")
    if c["models"] >= 1_000_000:
        lines.append(f"target: peak RSS under {TARGET_PEAK_MB} MB at {c['models']:,} models: first export "
                     f"{f['peak_rss_mb']} MB -> {'MET' if f['peak_rss_mb'] < TARGET_PEAK_MB else 'MISSED'}")
    lines.append(load_line(m["loadavg_start"][0], m["loadavg_end"][0]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default=None, help="copy this crawled database (never written) instead of crawling one")
    ap.add_argument("--models", type=int, default=1_000_000, help="without --db: the synthetic catalogue's size")
    ap.add_argument("--days", type=int, default=30, help="days of history the export finds (synthesized up to it)")
    ap.add_argument("--moved", type=float, default=0.3, help="share of models with a history row each synthesized day")
    ap.add_argument("--signals-moved", type=float, default=0.1, help="the same for signals_history")
    ap.add_argument("--workdir", default=None, help="where the database and the export go (default: a temp dir)")
    ap.add_argument("--json", metavar="OUT", default=str(RESULTS), help="write every figure here (default %(default)s)")
    args = ap.parse_args()
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        out = run(args, Path(args.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="hubdex-export-bench-") as d:
            out = run(args, Path(d))
    report(summary(out), out, args.json)


if __name__ == "__main__":
    main()
