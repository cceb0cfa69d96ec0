"""Freshness, measured: `hubdex daemon` on a schedules directory (the shipped schedules/ by default)
against a replica of N models (default 100,000), over HTTP, each a real process.

1. The replica (`hubdex replica serve --catalog synthetic:N`, unthrottled so that the quota is counted,
   never what is measured) and the daemon on an empty database; its first incremental run is a full
   pass, then a derive. The run waits for that derive.
2. Rounds (`--rounds`, default 3): the replica's request counts are reset; `hubdex replica scenario
   --update K --metrics K` changes 2K models (K = `--changed`, default 20) at time T0; then every
   `--poll` seconds, read-only, the database says for each changed model when the crawl stored it
   (models.updated_at or a metrics_history row of the day), when the derive run after that crawl
   ended (its score row is then current), and when an entry naming it was generated
   (comparisons.generated_at); the round ends when all changed models are scored, or after
   `--round-timeout`. The replica's request counts over the round, by bucket (api, resolvers), and
   the runs the daemon started, give requests per hour.
Figures: minutes from change to stored, to scored, to entry rebuilt (median and max), requests per
hour per bucket against a free account's quota (HUB-API.md section 3: 1,000 api and 5,000
resolver requests per 5 minutes), and the schedule's idle cost (requests of a run that found nothing).

Run:  .venv/bin/python bench/freshness.py [--models 100000] [--schedules DIR] [--rounds 3] [--changed 20]
                                           [--json bench/results/freshness.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import hubdex_exe, load_line, replica, report  # noqa: E402

FREE_API_PER_HOUR = 1_000 * 12
FREE_RESOLVERS_PER_HOUR = 5_000 * 12
REPO = Path(__file__).resolve().parent.parent


def say(msg: str):
    print(f"{dt.datetime.now():%H:%M:%S} {msg}", file=sys.stderr, flush=True)


def ro(db: Path):
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)


def epoch(iso_text: str | None) -> float | None:
    if not iso_text:
        return None
    return dt.datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


def first_derive_done(db: Path) -> bool:
    try:
        with ro(db) as c:
            return c.execute("SELECT count(*) FROM runs WHERE mode = 'derive' AND status = 'completed'").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def request_counts(server) -> dict:
    import urllib.request
    with urllib.request.urlopen(f"{server.url}/_replica/requests", timeout=30) as r:
        return json.loads(r.read())["counts"]


def reset_counts(server):
    import urllib.request
    req = urllib.request.Request(f"{server.url}/_replica/requests/reset", data=b"{}", method="POST")
    urllib.request.urlopen(req, timeout=30).read()


def bucket_of(kind: str) -> str:
    return "resolvers" if kind in ("resolve", "readme", "file", "card") or "resolve" in kind else "api"


def figures_now(db: Path, ids: list[str]) -> dict:
    with ro(db) as c:
        return {m: c.execute("SELECT downloads, downloads_all_time, likes, trending_score FROM models WHERE id = ?",
                             (m,)).fetchone() for m in ids}


def observe(db: Path, ids: list[str], t0: float, figures_before: dict | None = None) -> dict:
    """Per changed model: (stored, scored, entry) epoch seconds, None where not yet."""
    out = {}
    with ro(db) as c:
        derives = [(epoch(e), rid) for rid, e in c.execute(
            "SELECT id, ended_at FROM runs WHERE mode = 'derive' AND status = 'completed' AND ended_at IS NOT NULL")]
        crawls = [(epoch(s), epoch(e)) for s, e in c.execute(
            "SELECT started_at, ended_at FROM runs WHERE mode != 'derive' AND ended_at IS NOT NULL")]
        for mid in ids:
            row = c.execute("SELECT key, updated_at FROM models WHERE id = ?", (mid,)).fetchone()
            if row is None:
                out[mid] = (None, None, None)
                continue
            key, updated = row
            stored = epoch(updated) if epoch(updated) and epoch(updated) >= t0 else None
            if stored is None and figures_before is not None:  # its figures alone moved: stored once they differ
                now = c.execute("SELECT downloads, downloads_all_time, likes, trending_score FROM models "
                                "WHERE key = ?", (key,)).fetchone()
                moved = [e for s, e in crawls if e and e >= t0]
                stored = min(moved) if moved and now != figures_before.get(mid) else None
            scored = min((e for e, _r in derives if e and stored and e >= stored), default=None)
            try:
                g = c.execute("SELECT min(generated_at) FROM comparisons WHERE (a_key = ? OR b_key = ?) "
                              "AND generated_at >= ?", (key, key, dt.datetime.fromtimestamp(t0, dt.timezone.utc)
                                                        .strftime("%Y-%m-%dT%H:%M:%S"))).fetchone()[0]
            except sqlite3.Error:
                g = None
            out[mid] = (stored, scored, epoch(g))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=100_000)
    ap.add_argument("--schedules", default=str(REPO / "schedules"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--changed", type=int, default=20)
    ap.add_argument("--poll", type=float, default=10.0)
    ap.add_argument("--round-timeout", type=float, default=40 * 60)
    ap.add_argument("--workdir")
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "freshness.json"))
    a = ap.parse_args()
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="hubdex-fresh-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "hub.db"
    hub = hubdex_exe()
    load0 = os.getloadavg()[0]
    out: dict = {"models": a.models, "schedules": a.schedules, "rounds": []}
    server = replica(a.models, work / "replica.stderr")
    daemon = None
    try:
        t_start = time.time()
        daemon = subprocess.Popen(hub + ["daemon", "--schedules", a.schedules, "--db", str(db), "--endpoint", server.url],
                                  stdout=open(work / "daemon.log", "w"), stderr=subprocess.STDOUT)
        while not first_derive_done(db):
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon exited {daemon.returncode}: {(work / 'daemon.log').read_text()[-2000:]}")
            time.sleep(a.poll)
        out["first_full_pass_and_derive_s"] = round(time.time() - t_start, 1)
        say(f"first full pass and derive: {out['first_full_pass_and_derive_s']} s")
        for i in range(a.rounds):
            reset_counts(server)
            t0 = time.time()
            p = subprocess.run(hub + ["replica", "scenario", "--url", server.url, "--seed", str(100 + i), "--update",
                                      str(a.changed), "--metrics", str(a.changed), "--advance", "60"],
                               capture_output=True, text=True, check=True)
            change = json.loads(p.stdout)
            ids = list(change["updated"])
            # figures alone moved: the Hub's lastModified does not move with them, so only the daily
            # metrics crawl reads them (watched, not waited for)
            figures_only = [m for m in change["metrics_changed"] if m not in set(ids)]
            before = figures_now(db, figures_only)
            say(f"round {i + 1}: {len(ids)} models updated, {len(figures_only)} with only their figures moved")
            seen = {}
            while time.time() - t0 < a.round_timeout:
                time.sleep(a.poll)
                seen = observe(db, ids, t0)
                if all(v[1] for v in seen.values()):
                    break
            figures = observe(db, figures_only, t0, before)
            wall = time.time() - t0
            counts = request_counts(server)
            by_bucket = {}
            for kind, n in counts.items():
                if ":" in kind:  # (the same requests again, by status)
                    continue
                by_bucket[bucket_of(kind)] = by_bucket.get(bucket_of(kind), 0) + n
            lat = {name: sorted(round((v[j] - t0) / 60, 2) for v in seen.values() if v[j]) for j, name in
                   enumerate(("stored", "scored", "entry"))}
            r = {"changed": len(ids), "figures_only": len(figures_only),
                 "figures_only_stored": sum(1 for v in figures.values() if v[0]),
                 "seconds": round(wall, 1), "minutes_to": {
                k: {"n": len(v), "median": v[len(v) // 2] if v else None, "max": v[-1] if v else None}
                for k, v in lat.items()},
                 "requests": counts, "by_bucket": by_bucket,
                 "per_hour": {b: round(n * 3600 / wall) for b, n in by_bucket.items()},
                 "load": round(os.getloadavg()[0], 2)}
            out["rounds"].append(r)
            say(f"  {r}")
    finally:
        if daemon and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
        server.stop()
    with ro(db) as c:
        out["runs"] = [dict(zip(("mode", "started_at", "ended_at", "status", "requests"), r)) for r in c.execute(
            "SELECT mode, started_at, ended_at, status, requests FROM runs ORDER BY id")]
    out["load"] = load_line(load0, os.getloadavg()[0])
    lines = [f"freshness at {a.models:,} models, schedules {a.schedules} ({out['load']})",
             f"first full pass + derive {out['first_full_pass_and_derive_s']} s"]
    for i, r in enumerate(out["rounds"], 1):
        m = r["minutes_to"]
        lines.append(f"round {i}: {r['changed']} updated ({r['figures_only_stored']} of {r['figures_only']} whose "
                     f"figures alone moved seen by then); minutes to stored {m['stored']}, scored {m['scored']}, "
                     f"entry {m['entry']}; requests {r['by_bucket']} in {r['seconds']:.0f} s = {r['per_hour']}/h "
                     f"(free quota: api {FREE_API_PER_HOUR:,}/h, resolvers {FREE_RESOLVERS_PER_HOUR:,}/h)")
    report("\n".join(lines), out, a.json)
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
