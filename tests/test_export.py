"""`hubdex export`: a crawled database with several days of history, exported and read back with
DuckDB (the same rows as SQLite, a partition a day), incremental reruns (nothing new: no file
written; a new day: only its partition and the tables that changed), a kill midway (the previous
export still reads whole), and --prune-history-before (refused unless the files hold the rows)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import duckdb
import pyarrow.parquet as pq
import pytest

from hubdex import jobs
from hubdex.clock import Clock, parse_day
from hubdex.crawl.scope import Scope
from hubdex.export import tables
from hubdex.jobs.export import ExportJob

from .conftest import control, crawl, derive

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
HUBDEX = [sys.executable, "-m", "hubdex"]


def with_history(crawled, monkeypatch, catalog="synthetic:1000", cards=0):
    """A full crawl on DAYS[0], then a metrics move + metrics crawl + derive on each later day."""
    monkeypatch.setenv("HUBDEX_DAY", DAYS[0])
    server, db = crawled(catalog, seed=3)
    if cards:
        assert crawl(db, server.url, mode="cards", scope=Scope(limit=cards)).ok
    derive(db)
    for i, day in enumerate(DAYS[1:]):
        new_day(server, db, monkeypatch, day, seed=10 + i)
    return server, db


def new_day(server, db, monkeypatch, day, seed, run_derive=True):
    control(server, "POST", "scenario", json.dumps({"seed": seed, "metrics": 0.3}).encode())
    monkeypatch.setenv("HUBDEX_DAY", day)
    assert crawl(db, server.url, mode="metrics").ok
    if run_derive:
        derive(db)


def export(db, out, **kw):
    job = ExportJob(str(out), **kw)
    outcome = jobs.run(job, str(db))
    return outcome, job


def files(out) -> dict:
    """Every file under the export directory: (inode, mtime, size)."""
    found = {}
    for root, _dirs, names in os.walk(out):
        for n in names:
            st = os.stat(os.path.join(root, n))
            found[os.path.relpath(os.path.join(root, n), out)] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def ddb(sql: str) -> list:
    """DuckDB's answer (a fresh in-memory connection; fetchall, in every version's API)."""
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def sqlite_conn(db):
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


# -- the same rows in DuckDB as in SQLite ---------------------------------------------------------
def _ms(text):
    return None if text is None else round(dt.datetime.fromisoformat(text).timestamp() * 1000)


def _norm(v):
    if isinstance(v, dt.datetime):
        return round(v.timestamp() * 1000)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def sqlite_rows(conn, table):
    """Every row as SQLite holds it, with timestamps and dates read by Python (not by the export's SQL)."""
    cols = tables.columns_of(conn, table)
    history = table in tables.HISTORY_TABLES
    names = ", ".join(tables.quote(c.name) for c in cols) + (", day" if history else "")
    out = []
    for r in conn.execute(f"SELECT {names} FROM {table}"):
        r = [(_ms(v) if c.kind == "timestamp" else v) for c, v in zip(cols, r)] + (
            [Clock.date_of(r[-1])] if history else [])
        out.append(tuple(r))
    return sorted(out, key=repr)


def duckdb_rows(out, table, conn):
    cols = tables.columns_of(conn, table)
    names = ", ".join(f'"{c.name}"' for c in cols)
    if table in tables.HISTORY_TABLES:
        sql = f"SELECT {names}, day FROM read_parquet('{out}/{table}/*/*.parquet', hive_partitioning=true)"
    else:
        sql = f"SELECT {names} FROM read_parquet('{out}/{table}/*.parquet')"
    return sorted((tuple(_norm(v) for v in r) for r in ddb(sql)), key=repr)


def assert_same_as_sqlite(db, out):
    conn = sqlite_conn(db)
    manifest = json.loads((out / "_manifest.json").read_text())
    for table in tables.exportable():
        want, got = sqlite_rows(conn, table), duckdb_rows(out, table, conn)
        assert len(got) == len(want) == manifest["tables"][table]["rows"], table
        assert got == want, table
    # checksums the analyst would run, per table and per day
    q = ("SELECT count(*), count(DISTINCT model_key), sum(downloads), sum(likes) FROM {}")
    assert ddb(q.format(f"read_parquet('{out}/models/*.parquet')").replace("model_key", "key")) == \
        conn.execute(q.format("models").replace("model_key", "key")).fetchall()
    by_day = ("SELECT day, count(*), count(DISTINCT model_key), sum(downloads), sum(downloads_all_time) FROM {} "
              "GROUP BY day ORDER BY day")
    got = ddb(by_day.format(f"read_parquet('{out}/metrics_history/*/*.parquet', hive_partitioning=true)"))
    want = conn.execute(by_day.format("metrics_history")).fetchall()
    assert [(r[0].isoformat(),) + tuple(r[1:]) for r in got] == [(Clock.date_of(r[0]),) + r[1:]
                                                                            for r in want]
    # one partition directory a day, one file in each, as the manifest lists them
    for table in tables.HISTORY_TABLES:
        days = [Clock.date_of(d) for (d,) in conn.execute(f"SELECT DISTINCT day FROM {table} ORDER BY day")]
        assert sorted(os.listdir(out / table)) == [f"day={d}" for d in days], table
        assert all(os.listdir(out / table / f"day={d}") == ["part-0.parquet"] for d in days)
        parts = manifest["tables"][table]["partitions"]
        assert sorted(parts) == [f"day={d}" for d in days]
        for d in days:
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE day = ?", (parse_day(d),)).fetchone()[0]
            assert parts[f"day={d}"]["rows"] == n == pq.ParquetFile(out / table / f"day={d}" / "part-0.parquet"
                                                                    ).metadata.num_rows
    conn.close()


def test_an_export_reads_back_in_duckdb_as_sqlite_holds_it_and_a_rerun_writes_nothing(crawled, monkeypatch, tmp_path):
    server, db = with_history(crawled, monkeypatch, "synthetic:3000", cards=150)
    out = tmp_path / "parquet"
    conn = sqlite_conn(db)
    assert conn.execute("SELECT count(DISTINCT day) FROM metrics_history").fetchone()[0] == len(DAYS)
    assert conn.execute("SELECT count(DISTINCT day) FROM signals_history").fetchone()[0] >= 2
    for t in ("cards", "card_sections", "evaluations", "capabilities", "model_scores", "model_capability_rows"):
        assert conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] > 0, t
    conn.close()
    first = subprocess.run(HUBDEX + ["export", str(out), "--db", str(db)], capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    assert "files written" in first.stdout and first.stderr == ""
    assert_same_as_sqlite(db, out)
    # types carried over: integers, timestamps (UTC), JSON as text, days as dates
    types = {r[0]: r[1] for r in ddb(f"DESCRIBE SELECT * FROM read_parquet('{out}/models/*.parquet')")}
    assert types["downloads"] == "BIGINT" and types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["raw"] == "VARCHAR" and types["params"] == "BIGINT"
    assert ddb(f"SELECT typeof(day) FROM read_parquet('{out}/metrics_history/*/*.parquet', "
               "hive_partitioning=true) LIMIT 1") == [("DATE",)]
    assert ddb(f"SELECT count(*) FROM read_parquet('{out}/models/*.parquet') "
               "WHERE json_extract_string(raw, '$.id') = id") == [(3000,)]
    # the run is a job like the others: a runs row, and the database's copy of the manifest
    c = sqlite_conn(db)
    run = c.execute("SELECT mode, status, files_written, rows_written FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    manifest = json.loads((out / "_manifest.json").read_text())
    n_parts = sum(len(manifest["tables"][t]["partitions"]) for t in tables.HISTORY_TABLES)
    assert run[:3] == ("export", "completed", len(tables.DATA_TABLES) + n_parts)
    assert run[3] == sum(t["rows"] for t in manifest["tables"].values())
    state_rows = c.execute("SELECT table_name, part, rows FROM export_state WHERE dir = ?", (str(out),)).fetchall()
    assert len(state_rows) == len(tables.DATA_TABLES) + n_parts
    assert dict(((t, p), n) for t, p, n in state_rows)[("models", "")] == 3000
    c.close()

    # nothing new: no file written, not even the manifest
    before = files(out)
    outcome, job = export(db, out)
    assert outcome.ok and job.result.files_written == 0 and outcome.summary.startswith(f"exported to {out}: 0 files")
    assert files(out) == before
    c = sqlite_conn(db)
    assert c.execute("SELECT files_written, rows_written FROM runs ORDER BY id DESC LIMIT 1").fetchone() == (0, 0)
    c.close()


def test_a_new_day_rewrites_its_partition_and_the_tables_that_changed_only(crawled, monkeypatch, tmp_path):
    server, db = with_history(crawled, monkeypatch)
    out = tmp_path / "parquet"
    assert export(db, out)[0].ok
    before = files(out)
    new_day(server, db, monkeypatch, "2026-11-05", seed=40, run_derive=False)
    outcome, job = export(db, out)
    assert outcome.ok, outcome.summary
    r = job.result
    assert r.partitions_written == {"metrics_history": ["2026-11-05"]}
    assert set(r.tables_written) == {"models", "metric_days"}  # the figures moved; a day was recorded
    after = files(out)
    changed = {f for f in after if before.get(f) != after[f]}
    assert changed == {"_manifest.json", "models/part-0.parquet", "metric_days/part-0.parquet",
                       "metrics_history/day=2026-11-05/part-0.parquet"}
    assert_same_as_sqlite(db, out)

    # the derive of that day: its signals partition and the derive's tables; the crawl's stay
    derive(db)
    r = export(db, out)[1].result
    assert r.partitions_written.get("signals_history") == ["2026-11-05"] and "metrics_history" not in r.partitions_written
    assert "model_scores" in r.tables_written and not {"models", "metric_days", "model_tags"} & set(r.tables_written)

    # a day changed in SQLite is replaced whole (never appended to); a file gone is written again
    c = sqlite3.connect(db)
    c.execute("UPDATE metrics_history SET likes = likes + 1 WHERE day = ? AND model_key = "
              "(SELECT min(model_key) FROM metrics_history WHERE day = ?)", (parse_day(DAYS[1]),) * 2)
    c.commit()
    c.close()
    os.remove(out / "signals_history" / f"day={DAYS[0]}" / "part-0.parquet")
    r = export(db, out)[1].result
    assert r.partitions_written == {"metrics_history": [DAYS[1]], "signals_history": [DAYS[0]]} and not r.tables_written
    assert_same_as_sqlite(db, out)
    assert export(db, out)[1].result.files_written == 0


# -- a kill midway ---------------------------------------------------------------------------------
SLOW_EXPORT = """
import sys, time
import pyarrow.parquet as pq
write = pq.ParquetWriter.write_table
def slow(self, *a, **kw):
    time.sleep(0.15)  # the test's doing: every row group takes a while, so the kill lands midway
    return write(self, *a, **kw)
pq.ParquetWriter.write_table = slow
from hubdex.cli import main
main(sys.argv[1:])
"""


def test_an_export_killed_midway_leaves_the_previous_one_whole(crawled, monkeypatch, tmp_path):
    server, db = with_history(crawled, monkeypatch)
    out = tmp_path / "parquet"
    assert export(db, out)[0].ok
    manifest = json.loads((out / "_manifest.json").read_text())
    before = files(out)
    new_day(server, db, monkeypatch, "2026-11-05", seed=41)  # a day more: most tables change

    proc = subprocess.Popen([sys.executable, "-c", SLOW_EXPORT, "export", str(out), "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    staged, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        staged = [os.path.join(r, n) for r, _d, ns in os.walk(out) for n in ns if ".tmp-" in r]
        if len(staged) >= 4:  # three files finished aside, a fourth being written
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    proc.stderr.close()
    # the kill landed midway: files were staged, none installed, the manifest is the previous one
    assert len(staged) >= 4, "the export finished or never started before the kill"
    leftover = [n for n in os.listdir(out) if n.startswith(".tmp-")]
    assert len(leftover) == 1
    assert files(out) == {**before, **{f: v for f, v in files(out).items() if f.startswith(".tmp-")}}
    assert json.loads((out / "_manifest.json").read_text()) == manifest
    # ... and DuckDB reads the previous export whole, with the previous manifest's counts
    for table, t in manifest["tables"].items():
        path = f"{out}/{table}/*/*.parquet" if t["kind"] == "history" else f"{out}/{table}/*.parquet"
        assert ddb(f"SELECT count(*) FROM read_parquet('{path}', hive_partitioning=true)") == [(t["rows"],)], table
    assert "day=2026-11-05" not in os.listdir(out / "metrics_history")

    # the next export removes what the killed one left and completes
    outcome, job = export(db, out)
    assert outcome.ok, outcome.summary
    assert job.result.leftovers_removed == leftover and "removed what a killed export left" in outcome.summary
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]
    assert_same_as_sqlite(db, out)
    c = sqlite_conn(db)
    assert c.execute("SELECT status FROM runs WHERE mode = 'export' ORDER BY id").fetchall() == [
        ("completed",), ("killed",), ("completed",)]
    c.close()


# -- pruning history out of SQLite -----------------------------------------------------------------
def _rewrite(path, fn):
    t = pq.read_table(path)
    pq.write_table(fn(t), path, compression="zstd")


def history_counts(db):
    c = sqlite_conn(db)
    try:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables.HISTORY_TABLES}
    finally:
        c.close()


def test_prune_history_refuses_unless_the_files_hold_the_rows_then_keeps_the_series(crawled, monkeypatch, tmp_path):
    server, db = with_history(crawled, monkeypatch)
    out = tmp_path / "parquet"
    assert export(db, out)[0].ok
    before = parse_day(DAYS[2])  # prune 11-01 and 11-02
    kept = history_counts(db)
    monkeypatch.setenv("HUBDEX_DAY", "2026-12-31")  # the job's day: 30 days of history stay

    # too recent: the derive reads 30 days back
    outcome, _ = export(db, out, prune_before=parse_day("2026-12-15"))
    assert outcome.code == jobs.EXIT_REFUSED and "before 2026-12-01 at the latest" in outcome.summary

    # a partition with a row fewer than SQLite's day, which this export (--since) does not look at again
    day1 = out / "metrics_history" / f"day={DAYS[1]}" / "part-0.parquet"
    _rewrite(day1, lambda t: t.slice(1))
    n1 = sqlite_conn(db).execute("SELECT count(*) FROM metrics_history WHERE day = ?",
                                 (parse_day(DAYS[1]),)).fetchone()[0]
    outcome, job = export(db, out, since=parse_day(DAYS[3]), prune_before=before)
    assert outcome.code == jobs.EXIT_REFUSED, outcome.summary
    assert f"metrics_history {DAYS[1]}: {n1 - 1:,} rows in metrics_history/day={DAYS[1]}/part-0.parquet, " \
           f"{n1:,} in SQLite" in outcome.summary and "Nothing was deleted" in outcome.summary
    assert history_counts(db) == kept

    # a full export puts that day right (its file no longer holds the manifest's rows) ...
    r = export(db, out)[1].result
    assert r.partitions_written == {"metrics_history": [DAYS[1]]}
    # ... and the same rows with another value are found by reading the file itself
    import pyarrow as pa
    import pyarrow.compute as pc
    _rewrite(day1, lambda t: t.set_column(t.schema.get_field_index("likes"), "likes",
                                          pc.add(t.column("likes").fill_null(0), pa.scalar(1, pa.int64()))))
    outcome, _ = export(db, out, prune_before=before)
    assert outcome.code == jobs.EXIT_REFUSED and "same" in outcome.summary and "other values" in outcome.summary
    assert history_counts(db) == kept

    # the file put back (gone: the export writes it again), the prune goes through
    os.remove(day1)
    c = sqlite_conn(db)
    series = lambda: c.execute("SELECT * FROM model_daily_metrics WHERE date >= ? ORDER BY model_id, date",  # noqa: E731
                               (DAYS[2],)).fetchall()
    series_before = series()
    expect = {t: c.execute(f"SELECT count(*) FROM {t} h WHERE day < ? AND day < (SELECT max(day) FROM {t} "
                           "WHERE model_key = h.model_key AND day < ?)", (before, before)).fetchone()[0]
              for t in tables.HISTORY_TABLES}
    assert all(expect.values())
    outcome, job = export(db, out, prune_before=before)
    assert outcome.ok, outcome.summary
    assert job.pruned == expect and "pruned history before 2026-11-03" in outcome.summary
    assert history_counts(db) == {t: kept[t] - expect[t] for t in kept}
    # each model's latest row before the day stays: its daily series from that day on is unchanged
    assert series() == series_before
    assert c.execute("SELECT table_name, before_day, dir, rows_deleted FROM history_prunes ORDER BY table_name"
                     ).fetchall() == [(t, before, str(out), expect[t]) for t in sorted(tables.HISTORY_TABLES)]
    assert c.execute("SELECT rows_pruned FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0] == sum(expect.values())
    c.close()
    # the export keeps the whole days; a rerun writes nothing; DuckDB still reads every day whole
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["tables"]["metrics_history"]["pruned_before"] == DAYS[2]
    assert export(db, out)[1].result.files_written == 0
    got = ddb(f"SELECT count(*) FROM read_parquet('{out}/metrics_history/*/*.parquet', hive_partitioning=true)")
    assert got[0][0] == kept["metrics_history"] == manifest["tables"]["metrics_history"]["rows"]
    # pruning again is checked against what the directory holds, and finds nothing more to delete
    outcome, job = export(db, out, prune_before=before)
    assert outcome.ok and job.pruned == {t: 0 for t in tables.HISTORY_TABLES}


# -- the command line ------------------------------------------------------------------------------
@pytest.mark.parametrize("args,code,message", [
    (["--db", "{tmp}/none.db"], 1, "no database at"),
    (["--since", "2026-13-01"], 2, "'2026-13-01' is not a day like 2026-12-01"),
    (["--prune-history-before", "soon"], 2, "'soon' is not a day"),
    (["--tables", "models,runs"], 2, "'runs' (the job log: not exported)"),
    (["--tables", "models", "--prune-history-before", "2026-01-01"], 2, "--tables names neither"),
])
def test_export_mistakes_get_one_clear_line(tmp_path, args, code, message):
    argv = HUBDEX + ["export", str(tmp_path / "out")] + [a.format(tmp=tmp_path) for a in args]
    if "--db" not in args:
        argv += ["--db", str(tmp_path / "none.db")]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == code, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr
    assert len([ln for ln in p.stderr.splitlines() if ln.startswith("Error")]) == 1
    assert not (tmp_path / "none.db").exists()
