"""Comparison entries at scale: build all of them for a catalogue, then rebuild after 1% of models changed.

The database, in a temporary work directory: a fresh crawl of `synthetic:N` (`--models`, default
100,000) over HTTP from a replica subprocess (`hubdex crawl --full`, `--cards --limit C`, `--search`),
then `hubdex derive` (its comparisons step builds every entry: the first figure), then 1% of the
models changed in the replica (half metadata updates, half metrics moves), `hubdex crawl` and
`hubdex crawl --metrics`, and `hubdex derive` again (its comparisons step: the second figure, with
how many entries it rebuilt against how many touch the changed models), then one more derive with
nothing changed (nothing should be rebuilt).
Targets (issue 12): all entries under 60 s at 100,000 models; the rebuild after 1% under 10 s.
Then the site (issue 23): `hubdex site DIR` for every model at 100,000 models under 60 s, and again after
the 1% change under 10 s, each with its peak RSS and its ratio to a baseline from the same run (reading
the site's inputs once and writing its bytes once).

Run:  .venv/bin/python bench/compare_entries.py [--models 100000] [--cards 5000] [--json FILE] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs  # noqa: E402


def run(argv) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{argv} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return time.perf_counter() - t, p.stdout + p.stderr


def step(db: Path) -> dict:
    conn = sqlite3.connect(db)
    cur = conn.execute("SELECT * FROM comparison_runs ORDER BY run_id DESC LIMIT 1")
    row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    conn.close()
    return row


def entries(db: Path) -> dict:
    conn = sqlite3.connect(db)
    out = {(a, b): json.loads(e) for a, b, e in conn.execute("SELECT model_a, model_b, entry FROM comparisons")}
    conn.close()
    return out


def what_moved(before: dict, after: dict) -> dict:
    """For the entries that changed: which of their rows or sections moved (how many entries each)."""
    moved: dict = {}
    for p, e in after.items():
        o = before.get(p)
        if o is None or o == e or "sections" not in o:
            continue
        rows = set()
        for x, y in zip(e["sections"], o["sections"]):
            if x == y:
                continue
            if x["kind"] == "table":
                for rx, ry in zip(x["rows"], y["rows"]):
                    if rx["a"]["shown"] != ry["a"]["shown"] or rx["b"]["shown"] != ry["b"]["shown"]:
                        rows.add(rx["label"])
            else:
                rows.add(x["id"])
        for r in rows:
            moved[r] = moved.get(r, 0) + 1
    return dict(sorted(moved.items(), key=lambda kv: -kv[1]))


CPU: dict = {}  # command's last run -> its CPU seconds (user + system, its worker processes included)


def run_peak(argv) -> tuple[float, float, str]:
    """Run a command: (seconds, peak RSS in MB, output). The peak is the largest of the process's VmHWM
    and the sampled sum of the RSS of it and the processes it started (the site's page workers; pages
    they share with it, forked, are counted twice); its CPU seconds go to CPU["last"]."""
    t = time.perf_counter()
    out_file = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdout=out_file, stderr=subprocess.STDOUT)
    peak = 0
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        tree = 0
        for q in [p.pid] + procs.children(p.pid):
            try:
                tree += procs.status_kb(q, "VmRSS")
                peak = max(peak, procs.status_kb(q, "VmHWM"))
            except (FileNotFoundError, KeyError, ProcessLookupError):
                pass
        peak = max(peak, tree)
        time.sleep(0.05)
    seconds = time.perf_counter() - t
    CPU["last"] = usage.ru_utime + usage.ru_stime
    out_file.seek(0)
    out = out_file.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{argv} failed ({code}):\n{out[-2000:]}")
    return seconds, peak / 1024, out


def site_baseline(db: Path, site: Path) -> float:
    """Reading the site's inputs once and writing its bytes once: one pass over the models and scores
    rows, then every file the site holds written as it is (no templating, no comparison with what is
    there): what any site builder must at least spend."""
    t = time.perf_counter()
    conn = sqlite3.connect(db)
    for _row in conn.execute("SELECT m.*, s.* FROM models m LEFT JOIN model_scores s ON s.model_key = m.key "
                             "WHERE m.removed_at IS NULL"):
        pass
    conn.close()
    files = [p for p in site.rglob("*") if p.is_file()]
    sizes = [p.stat().st_size for p in files]
    out = Path(tempfile.mkdtemp(prefix="hubdex-site-baseline-"))
    for i, n in enumerate(sizes):
        (out / f"{i}.html").write_bytes(b"x" * n)
    seconds = time.perf_counter() - t
    subprocess.run(["rm", "-rf", str(out)], check=False)
    return seconds


def site_written(text: str) -> dict:
    import re
    m = re.search(r"([\d,]+) files, ([\d,]+) written, ([\d,]+) unchanged, ([\d,]+) removed", text)
    return dict(zip(("files", "written", "unchanged", "removed"), (int(x.replace(",", "")) for x in m.groups())))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=100_000)
    ap.add_argument("--cards", type=int, default=5_000)
    ap.add_argument("--json")
    ap.add_argument("--workdir")
    ap.add_argument("--keep-before", action="store_true",
                    help="keep a copy of the database before the 1%% change (WORKDIR/hub-before.db) and the "
                         "site it built (WORKDIR/site-before), to time site builds against them again")
    a = ap.parse_args()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="hubdex-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "hub.db"
    load0 = os.getloadavg()[0]
    out: dict = {"models": a.models}
    server = procs.replica(a.models, work / "replica.stderr")
    hub = procs.hubdex_exe()
    try:
        ep = ["--endpoint", server.url, "--db", str(db), "--no-progress"]
        out["full_crawl_s"], _ = run(hub + ["crawl", "--full"] + ep)
        out["cards_s"], _ = run(hub + ["crawl", "--cards", "--limit", str(a.cards)] + ep)
        out["search_s"], _ = run(hub + ["crawl", "--search"] + ep)
        out["derive_s"], _ = run(hub + ["derive", "--db", str(db)])
        out["build"] = step(db)
        site = work / "site"
        out["site_s"], out["site_peak_mb"], text = run_peak(hub + ["site", str(site), "--db", str(db)])
        out["site_cpu_s"] = CPU["last"]
        out["site"] = site_written(text)
        out["site_rerun_s"], _, text = run_peak(hub + ["site", str(site), "--db", str(db)])
        out["site_rerun_cpu_s"] = CPU["last"]
        out["site_rerun"] = site_written(text)
        out["site_baseline_s"] = site_baseline(db, site)
        if a.keep_before:
            c = sqlite3.connect(db)
            c.execute(f"VACUUM INTO '{work / 'hub-before.db'}'")
            c.close()
            subprocess.run(["cp", "-a", str(site), str(work / "site-before")], check=True)
        before = entries(db)
        n = max(2, a.models // 100)
        changed = server.scenario(update=n // 2, metrics=n - n // 2, seed=7)
        out["incremental_crawl_s"], _ = run(hub + ["crawl"] + ep)
        out["metrics_crawl_s"], _ = run(hub + ["crawl", "--metrics"] + ep)
        out["rederive_s"], _ = run(hub + ["derive", "--db", str(db)])
        out["rebuild"] = step(db)
        out["site_again_s"], out["site_again_peak_mb"], text = run_peak(hub + ["site", str(site), "--db", str(db)])
        out["site_again_cpu_s"] = CPU["last"]
        out["site_again"] = site_written(text)
        out["what_moved"] = what_moved(before, entries(db))
        del before
        ids = set(changed["updated"]) | set(changed["metrics_changed"])
        conn = sqlite3.connect(db)
        conn.execute("CREATE TEMP TABLE changed (id TEXT PRIMARY KEY)")
        conn.executemany("INSERT OR IGNORE INTO changed VALUES (?)", ((i,) for i in ids))
        out["changed_models"] = len(ids)
        out["entries"] = conn.execute("SELECT count(*) FROM comparisons WHERE stale = 0").fetchone()[0]
        out["entries_touching_changed"] = conn.execute(
            "SELECT count(*) FROM comparisons WHERE stale = 0 AND (model_a IN (SELECT id FROM changed) "
            "OR model_b IN (SELECT id FROM changed))").fetchone()[0]
        conn.close()
        out["again_s"], _ = run(hub + ["derive", "--db", str(db)])
        out["again"] = step(db)
    finally:
        server.stop()
    load1 = os.getloadavg()[0]
    b, r, g = out["build"], out["rebuild"], out["again"]
    lines = [
        f"comparison entries at {a.models:,} models ({procs.load_line(load0, load1)})",
        f"crawl: full {out['full_crawl_s']:.1f} s, cards {out['cards_s']:.1f} s, search {out['search_s']:.1f} s",
        f"all entries: {b['pairs']:,} pairs, {b['built']:,} built, {b['sides_read']:,} sides read in "
        f"{b['seconds']:.1f} s, {b['cpu_seconds']:.1f} s CPU (derive {out['derive_s']:.1f} s in all)  [target < 60 s]",
        f"after 1% changed ({out['changed_models']:,} models): {r['rebuilt']:,} rebuilt, {r['built']:,} new, "
        f"{r['stale']:,} stale, {r['unchanged']:,} left alone; {out['entries_touching_changed']:,} of "
        f"{out['entries']:,} entries touch a changed model; {r['sides_read']:,} sides read; {r['seconds']:.1f} s, "
        f"{r['cpu_seconds']:.1f} s CPU "
        f"(derive {out['rederive_s']:.1f} s in all)  [target < 10 s]",
        f"  rows that moved in the rebuilt entries (entries each): {out['what_moved']}",
        f"nothing changed: {g['rebuilt'] + g['built']:,} rebuilt, {g['sides_read']:,} sides read, {g['seconds']:.1f} s",
        f"site: {out['site']['files']:,} files in {out['site_s']:.1f} s ({out['site_cpu_s']:.1f} s CPU), peak RSS "
        f"{out['site_peak_mb']:.0f} MB; "
        f"baseline (read the inputs once, write the bytes once) {out['site_baseline_s']:.1f} s, ratio "
        f"{out['site_s'] / max(out['site_baseline_s'], 1e-9):.1f}x  [target < 60 s]",
        f"site again, nothing changed: {out['site_rerun']['written']:,} files written in {out['site_rerun_s']:.1f} s "
        f"({out['site_rerun_cpu_s']:.1f} s CPU)",
        f"site after 1% changed: {out['site_again']['written']:,} files written of {out['site_again']['files']:,} in "
        f"{out['site_again_s']:.1f} s ({out['site_again_cpu_s']:.1f} s CPU), peak RSS {out['site_again_peak_mb']:.0f} MB, ratio to the baseline "
        f"{out['site_again_s'] / max(out['site_baseline_s'], 1e-9):.1f}x  [target < 10 s]",
    ]
    procs.report("\n".join(lines), out, a.json)


if __name__ == "__main__":
    main()
