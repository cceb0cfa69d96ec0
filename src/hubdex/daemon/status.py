"""How the daemon is doing, read from outside it: `hubdex status`, `/healthz` and `/metrics` all
read the same things (the schedule files, the state file, the daemon's lock, the served database
read-only, the rate-limit budget file), so they cannot disagree.

While a daemon runs, its jobs are shown as it loaded them (it writes them to its state at start):
a schedule file edited since does nothing until the daemon restarts, so what the files now say is
shown apart (`schedule_files`), with the jobs that differ."""

from __future__ import annotations

import json
import os
import sqlite3
import time

from ..crawl.backlog import backlog_size
from ..hub import budget as budget_mod
from ..store.lockfile import Busy, DaemonLock
from . import state as state_mod
from .schedules import JobSpec, redact_text


def iso(seconds):
    return None if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def daemon_running(db_path: str) -> tuple[bool, str | None]:
    """Whether a daemon holds this database's daemon lock (and who, as the lock file says)."""
    path = state_mod.lock_path_for(db_path)
    if not os.path.exists(path):
        return False, None
    try:
        with DaemonLock(db_path, record_holder=False):
            return False, None
    except Busy as e:
        return True, str(e)
    except OSError:
        return False, None


def card_backlog(db_path: str) -> int | None:
    if not os.path.exists(db_path):
        return None
    try:
        conn = sqlite3.connect(f"file:{os.path.abspath(db_path)}?mode=ro", uri=True, timeout=5)
        try:
            return backlog_size(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def file_size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def gather(db_path: str, specs: list[JobSpec], schedule_error: str | None = None, now: float | None = None,
           backlog: bool = True) -> dict:
    now = time.time() if now is None else now
    db_path = os.path.abspath(db_path)
    st = state_mod.State.read(db_path)
    try:
        jobs_state, meta = (st.jobs(), st.meta()) if st else ({}, {})
    except sqlite3.Error:
        jobs_state, meta = {}, {}
    finally:
        if st:
            st.close()
    running, holder = daemon_running(db_path)
    in_files = [spec.shown() for spec in specs]
    loaded = None
    if running and meta.get("loaded"):
        try:
            loaded = json.loads(meta["loaded"])
        except ValueError:
            loaded = None
    by_id = {spec.id: spec for spec in specs}
    jobs = []
    for d in (loaded if loaded is not None else in_files):
        spec = by_id.get(d["id"])
        s = jobs_state.get(d["id"], {})
        last = None
        if s.get("last_outcome"):
            last = {"outcome": s["last_outcome"], "code": s["last_code"], "started": iso(s["last_start"]),
                    "ended": iso(s["last_end"]),
                    "duration_s": round(s["last_end"] - s["last_start"], 3) if s["last_end"] and s["last_start"] else None,
                    "counts": json.loads(s["last_counts"] or "{}"), "run_id": s["last_run_id"],
                    "summary": redact_text(s["last_summary"] or "")}
        if running:
            next_run = s.get("next_run")
        elif spec is not None and spec.enabled and spec.timed:
            slot = spec.trigger.at_or_after(_dt(now))
            next_run = slot.timestamp() if slot else None
        else:
            next_run = None
        jobs.append({**{k: d[k] for k in ("id", "file", "args", "trigger", "enabled", "disabled_reason")},
                     "last_run": last, "last_success": iso(s.get("last_success")),
                     "last_success_ts": s.get("last_success"), "next_run": iso(next_run), "next_run_ts": next_run,
                     "running": bool(running and s.get("running_pid")), "pending": bool(s.get("pending")),
                     # killed with the daemon, or stopped by it: the next start runs it first, from its checkpoint
                     "resumes_at_start": bool(not running and (s.get("running_pid") or s.get("resume"))),
                     "pending_since": iso(s.get("pending")), "runs": s.get("runs", 0),
                     "period_s": d["period_s"]})
    declared = {j["id"] for j in jobs}
    changed = sorted({j["id"] for j in in_files} ^ {j["id"] for j in loaded or []} | {
        j["id"] for j in in_files for k in (loaded or []) if k["id"] == j["id"] and k != j}) if loaded is not None else []
    orphans = sorted(set(jobs_state) - declared)
    budget_path = db_path + ".ratelimit"
    return {
        "daemon": {"running": running, "holder": holder, "pid": meta.get("pid") if running else None,
                   "started_at": iso(float(meta["started_at"])) if running and meta.get("started_at") else None,
                   "started_ts": float(meta["started_at"]) if running and meta.get("started_at") else None,
                   "stopped_at": iso(float(meta["stopped_at"])) if meta.get("stopped_at") else None,
                   "state_file": state_mod.path_for(db_path)},
        "database": {"path": db_path, "bytes": file_size(db_path), "wal_bytes": file_size(db_path + "-wal")},
        "card_backlog": card_backlog(db_path) if backlog else None,
        "budget": budget_mod.left(budget_path, now=now),
        "schedule_error": schedule_error,
        "jobs": jobs,
        "jobs_from": "the running daemon (as it loaded them)" if loaded is not None else "the schedule files",
        # what the files say now, when it is not what the running daemon does (applied at its restart)
        "schedule_files": {"differs": bool(changed), "changed_jobs": changed, "jobs": in_files} if loaded is not None
        else None,
        "unscheduled_jobs_in_state": orphans,
        "now": iso(now),
    }


def _dt(seconds: float):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, timezone.utc)


def health(doc: dict, now: float | None = None) -> tuple[bool, dict]:
    """Healthy: the daemon runs and every enabled job succeeded recently enough: a timed job within
    two of its periods (counted from the daemon's start if it has not succeeded since), an `after`
    job not pending for more than an hour."""
    now = time.time() if now is None else now
    started = doc["daemon"].get("started_ts") or now
    out, ok = {}, bool(doc["daemon"]["running"])
    for job in doc["jobs"]:
        if not job["enabled"]:
            continue
        since = max(job["last_success_ts"] or 0, started)
        if job["period_s"]:
            stale = now - since > 2 * job["period_s"]
        else:
            pending = job["pending_since"]
            stale = bool(pending) and now - _epoch(pending) > 3600
        out[job["id"]] = {"last_success": job["last_success"], "stale": stale,
                          "last_outcome": (job["last_run"] or {}).get("outcome")}
        ok = ok and not stale
    return ok, {"status": "ok" if ok else "unhealthy", "daemon_running": doc["daemon"]["running"], "jobs": out}


def _epoch(text: str) -> float:
    import calendar

    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def render(doc: dict) -> str:
    d = doc["daemon"]
    lines = [f"daemon: {'running (' + (d['holder'] or '') + ', since ' + (d['started_at'] or '?') + ')' if d['running'] else 'not running'}"
             + (f"; last stopped {d['stopped_at']}" if not d["running"] and d["stopped_at"] else "")]
    db = doc["database"]
    size = "missing" if db["bytes"] is None else f"{db['bytes'] / 1e6:,.1f} MB" + (
        f" (+ {db['wal_bytes'] / 1e6:,.1f} MB WAL)" if db["wal_bytes"] else "")
    lines.append(f"database: {db['path']}, {size}")
    lines.append(f"card backlog: {'unknown' if doc['card_backlog'] is None else format(doc['card_backlog'], ',') + ' models'}")
    budget = []
    for origin, buckets in doc["budget"].items():
        parts = [f"{b} {'full (window reset)' if w['remaining'] is None else format(w['remaining'], ',') + ' left until ' + iso(w['reset_at'])}"
                 for b, w in sorted(buckets.items())]
        budget.append(f"{origin}: {'; '.join(parts)}")
    lines.append("rate-limit budget: " + (" | ".join(budget) if budget else "not seen yet"))
    if doc["schedule_error"]:
        lines.append(f"schedule error: {doc['schedule_error']}")
    lines.append("jobs:")
    for j in doc["jobs"]:
        last = j["last_run"]
        last_text = "never ran" if not last else (
            f"last {last['outcome']} {last['ended']}"
            + (f" in {last['duration_s']:.1f} s" if last["duration_s"] is not None else "")
            + (f" ({_counts(last['counts'])})" if _counts(last["counts"]) else ""))
        state = "disabled" + (f": {j['disabled_reason']}" if j["disabled_reason"] else "") if not j["enabled"] else (
            "running" if j["running"] else "resumes at start" if j["resumes_at_start"] else
            ("pending" if j["pending"] else ""))
        lines.append(f"  {j['id']:<12} {j['trigger']:<34} {last_text}; last success {j['last_success'] or 'never'}; "
                     f"next {j['next_run'] or '-'}" + (f"  [{state}]" if state else ""))
    for job_id in doc["unscheduled_jobs_in_state"]:
        lines.append(f"  {job_id:<12} in the state file but in no schedule file: not run")
    files = doc.get("schedule_files")
    if files and files["differs"]:
        lines.append("schedule files now (edited since the daemon started; applied when it restarts):")
        now_by_id = {j["id"]: j for j in files["jobs"]}
        for job_id in files["changed_jobs"]:
            j = now_by_id.get(job_id)
            lines.append(f"  {job_id:<12} " + (f"{j['trigger']}, args {' '.join(j['args'])}"
                                                + ("" if j["enabled"] else " (disabled)") if j else "removed"))
    return "\n".join(lines)


def _counts(counts: dict) -> str:
    keys = ("pages", "models_seen", "models_new", "models_changed", "models_removed", "metrics_moved", "cards",
            "details", "throttled")
    return ", ".join(f"{counts[k]:,} {k.replace('models_', '').replace('_', ' ')}" for k in keys if counts.get(k))
