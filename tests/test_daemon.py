"""`hubdex daemon` and `hubdex status`.

First with an injected clock and a fake launcher (no sleeps, no processes): the schedule fires as
declared, a missed window runs once after a restart, a clock jump runs each job once, `derive`
runs once however many crawls changed something, a killed run resumes, a busy lock is waited for.
Then with real processes against the replica: SIGKILL mid-crawl and a restart complete the crawl
with nothing lost or doubled; SIGTERM mid-crawl exits 0 within the bound with the page committed;
`hubdex crawl` beside a daemon job exits 3; a malformed schedule is refused at start naming the
file and the job; `hubdex status --json` reports every job.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from hubdex.cli import main
from hubdex.daemon import state as state_mod
from hubdex.daemon.schedules import load
from hubdex.daemon.service import STOP_BOUND, Daemon, Result

from .conftest import replica_oids

UTC = timezone.utc
HUBDEX = [sys.executable, "-m", "hubdex"]
NO_PID = 2 ** 22 + 7  # above Linux's largest pid_max: never a live process


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Clock:
    def __init__(self, start: str):
        self.now = at(start)

    def __call__(self):
        return self.now

    def set(self, text: str):
        self.now = at(text)

    def advance(self, **kw):
        self.now += timedelta(**kw)


class FakeLauncher:
    """Records each run (argv, at the clock's time) and answers from `results` (by command) or 0."""

    def __init__(self, clock, results=None):
        self.clock, self.results = clock, results or {}
        self.calls: list[tuple[str, list]] = []
        self.during = None  # called while a run "runs": the scheduler's own thread looks meanwhile

    def launch(self, argv, on_start):
        on_start(NO_PID)
        self.calls.append((self.clock().strftime("%Y-%m-%dT%H:%M"), argv))
        if self.during:
            self.during()
        answer = self.results.get(" ".join(a for a in argv if not a.startswith("/") and a != "--db"), 0)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        code, counts = (answer, {}) if isinstance(answer, int) else answer
        return Result(code, f"exit {code}", "", None, counts)

    def stop(self):
        pass

    def kill(self):
        pass

    def ran(self):
        return [(t, " ".join(a for a in argv if not a.startswith("/") and a != "--db")) for t, argv in self.calls]


SCHEDULE = """
[jobs.incremental]
args = ["crawl"]
every = "15m"

[jobs.metrics]
args = ["crawl", "--metrics"]
cron = "30 1 * * *"

[jobs.derive]
args = ["derive"]
after = ["crawl"]
"""


def make(tmp_path, clock, results=None, schedule=SCHEDULE, **kwargs):
    sched = tmp_path / "schedules"
    sched.mkdir(exist_ok=True)
    (sched / "jobs.toml").write_text(schedule)
    launcher = kwargs.pop("launcher", None) or FakeLauncher(clock, results)
    d = Daemon(load(str(sched), main), str(tmp_path / "hub.db"), clock=clock, launcher=launcher, threaded=False,
               **kwargs)
    d.start()
    d.tick()
    return d, launcher


def run_until(d, clock, until: str, step=timedelta(minutes=1)):
    """Move the clock a minute at a time (a look each minute, as the real loop's MAX_WAIT)."""
    end = at(until)
    while clock.now < end:
        clock.now = min(clock.now + step, end)
        d.tick()


def stop(d):
    d.scheduler.shutdown()
    d.state.close()


def test_the_schedule_fires_as_declared(tmp_path):
    clock = Clock("2026-12-01T10:07:00")
    d, fake = make(tmp_path, clock)
    assert fake.ran() == []  # nothing is due at start: no slot passed since the daemon first knew the jobs
    run_until(d, clock, "2026-12-02T02:00:00")
    ran = fake.ran()
    incremental = [t for t, cmd in ran if cmd == "crawl"]
    assert incremental[:3] == ["2026-12-01T10:15", "2026-12-01T10:30", "2026-12-01T10:45"]
    assert len(incremental) == 64 and all(t[-2:] in ("00", "15", "30", "45") for t in incremental)
    assert [t for t, cmd in ran if cmd == "crawl --metrics"] == ["2026-12-02T01:30"]
    assert [cmd for _, cmd in ran if cmd == "derive"] == []  # no crawl changed anything
    job = d.state.job("incremental")
    assert job["last_outcome"] == "ok" and job["runs"] == 64 and job["running_pid"] is None
    assert datetime.fromtimestamp(job["next_run"], UTC) == at("2026-12-02T02:15:00")
    stop(d)


def test_a_missed_window_runs_once_after_a_restart_and_intervals_keep_their_anchor(tmp_path):
    clock = Clock("2026-12-01T10:07:00")
    d, fake = make(tmp_path, clock)
    run_until(d, clock, "2026-12-01T10:20:00")
    assert fake.ran() == [("2026-12-01T10:15", "crawl")]
    stop(d)  # down from 10:20 to 15:52: 22 incremental slots missed, and no metrics slot
    clock.set("2026-12-01T15:52:00")
    d, fake = make(tmp_path, clock)
    assert fake.ran() == [("2026-12-01T15:52", "crawl")]  # once, at start (coalesced)
    run_until(d, clock, "2026-12-01T16:31:00")
    assert [t for t, _ in fake.ran()] == ["2026-12-01T15:52", "2026-12-01T16:00", "2026-12-01T16:15",
                                         "2026-12-01T16:30"]  # the grid did not move
    stop(d)
    clock.set("2026-12-03T09:00:00")  # two metrics slots and 160 incremental ones missed: each runs once
    d, fake = make(tmp_path, clock)
    assert sorted(cmd for _, cmd in fake.ran()) == ["crawl", "crawl --metrics"]
    stop(d)


def test_a_clock_jump_runs_each_job_once_and_a_jump_back_runs_nothing(tmp_path):
    clock = Clock("2026-12-01T10:07:00")
    d, fake = make(tmp_path, clock)
    run_until(d, clock, "2026-12-01T10:16:00")
    assert len(fake.calls) == 1
    clock.advance(days=3)  # a suspended machine, or NTP after a bad clock
    d.tick()
    d.tick()
    assert sorted(cmd for _, cmd in fake.ran()[1:]) == ["crawl", "crawl --metrics"]
    clock.advance(days=-3, hours=-2)  # back to 2026-12-01T08:16, before the last run
    n = len(fake.calls)
    for _ in range(100):
        clock.advance(seconds=30)
        d.tick()
    # Not a burst, nor a stall until the clock reaches 12-04 again: the slots from the new now, once each.
    assert [t for t, _ in fake.ran()[n:]] == ["2026-12-01T08:30", "2026-12-01T08:45", "2026-12-01T09:00"]
    stop(d)


def test_derive_runs_once_however_many_crawls_changed_something(tmp_path):
    clock = Clock("2026-12-02T01:20:00")
    changed = (0, {"models_changed": 3, "status": "completed"})
    d, fake = make(tmp_path, clock, {"crawl": changed, "crawl --metrics": (0, {"metrics_moved": 9})})
    fake.during = d.scheduler.look  # as the scheduler thread does while a job runs
    run_until(d, clock, "2026-12-02T01:31:00")
    # 01:30: the incremental and metrics crawls both fall due; both changed things; derive runs once,
    # after them (queued when the first ended, it was still waiting when the second ended).
    assert [cmd for _, cmd in fake.ran()] == ["crawl", "crawl --metrics", "derive"]
    assert d.state.job("derive")["pending"] is None
    fake.results["crawl"] = (0, {"models_changed": 0, "pages": 1})
    run_until(d, clock, "2026-12-02T01:46:00")
    assert [cmd for _, cmd in fake.ran()][3:] == ["crawl"]  # nothing changed: no derive
    stop(d)


def test_a_pending_derive_and_a_killed_run_resume_at_start(tmp_path):
    clock = Clock("2026-12-01T10:07:00")
    d, fake = make(tmp_path, clock)
    stop(d)
    st = state_mod.State(state_mod.path_for(str(tmp_path / "hub.db")))
    st.started("incremental", at("2026-12-01T10:00:00").timestamp(), NO_PID, clock().timestamp())  # then SIGKILL
    st.mark_pending("derive", clock().timestamp())
    st.close()
    clock.advance(minutes=2)  # 10:09: no slot missed, but the run was killed, and a derive was owed
    d, fake = make(tmp_path, clock)
    assert sorted(cmd for _, cmd in fake.ran()) == ["crawl", "derive"]
    assert d.state.job("incremental")["running_pid"] is None and d.state.job("derive")["pending"] is None
    stop(d)


def test_a_busy_writer_lock_is_waited_for_until_the_next_slot(tmp_path):
    clock = Clock("2026-12-01T10:14:00")
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        clock.advance(seconds=seconds)
        return False

    d, fake = make(tmp_path, clock, {"crawl": [3, 3, 0]}, sleep=sleep, busy_retry=30)
    run_until(d, clock, "2026-12-01T10:15:00")
    assert [t for t, _ in fake.ran()] == ["2026-12-01T10:15", "2026-12-01T10:15", "2026-12-01T10:16"]
    assert waits == [30, 30] and d.state.job("incremental")["last_outcome"] == "ok"
    fake.results["crawl"] = [3]  # held all along: given up before the next slot, which tries again
    waits.clear()
    run_until(d, clock, "2026-12-01T10:31:00")
    assert d.state.job("incremental")["last_outcome"] == "busy" and sum(waits) < 15 * 60
    stop(d)


# -- real processes against the replica -----------------------------------------------------------------

def schedule_dir(tmp_path, body: str):
    d = tmp_path / "schedules"
    d.mkdir(exist_ok=True)
    (d / "test.toml").write_text(body)
    return d


def soon(seconds=3.0) -> str:
    """An anchor a moment from now: an interval job whose first slot is then."""
    t = datetime.now(UTC) + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def start_daemon(sched, db, endpoint, *extra):
    return subprocess.Popen(HUBDEX + ["daemon", "--schedules", str(sched), "--db", str(db), "--endpoint", endpoint,
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ro(db):
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)


def full_pass_page(db) -> int:
    """Pages the running full pass has committed (0 before the first, or when no pass is running)."""
    if not os.path.exists(db):
        return 0
    try:
        conn = ro(db)
        try:
            row = conn.execute("SELECT value FROM crawl_state WHERE key = 'full.pass'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
    return (json.loads(row[0]) or {}).get("page", 0) if row and row[0] else 0


def job_state(db, job_id) -> dict:
    st = state_mod.State.read(str(db))
    if st is None:
        return {}
    try:
        return st.job(job_id)
    except sqlite3.Error:
        return {}
    finally:
        st.close()


def run_started(db) -> bool:
    """The job's child has opened its `runs` row (it is past its start-up)."""
    try:
        conn = ro(db)
        try:
            return conn.execute("SELECT 1 FROM runs WHERE status = 'running'").fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def log_lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


SLOW = "slow:on=list,delay=0.5"  # every listing page half a second: a 12-page pass takes 6 s and more
FULL = '[jobs.full]\nargs = ["crawl", "--full", "--no-progress"]\nevery = "1d"\nanchor = "{anchor}"\n'


def test_sigkill_mid_crawl_then_a_restart_completes_it_with_nothing_lost_or_doubled(replica_factory, tmp_path):
    server = replica_factory("synthetic:12000", seed=5, faults=SLOW)
    db = tmp_path / "hub.db"
    sched = schedule_dir(tmp_path, FULL.format(anchor=soon()))
    daemon = start_daemon(sched, db, server.url)
    try:
        wait_for(lambda: full_pass_page(db) >= 3, what="three pages committed")
        child = job_state(db, "full")["running_pid"]
        daemon.kill()
        daemon.wait(10)
        wait_for(lambda: not os.path.exists(f"/proc/{child}") or _zombie(child), 10, "the job to die with the daemon")
        committed = full_pass_page(db)
        assert 3 <= committed < 12
        daemon = start_daemon(sched, db, server.url)  # the same slot: only the state says it must run
        wait_for(lambda: job_state(db, "full").get("last_outcome"), 90, "the resumed crawl to end")
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    lines = log_lines(err)
    assert any(e["event"] == "run due at start" and "killed" in e["why"] for e in lines), err
    finished = [e for e in lines if e["event"] == "run finished"]
    assert [e["outcome"] for e in finished] == ["ok"], finished
    conn = ro(db)
    runs = conn.execute("SELECT status, pages FROM runs ORDER BY id").fetchall()
    # The killed run is closed as interrupted (the child was sent SIGTERM as its daemon died) or, if
    # it died first, marked killed by the next; the resumed run read only the pages not yet committed.
    assert runs[0][0] in ("interrupted", "killed") and runs[1][0] == "completed", runs
    assert runs[1][1] == 12 - committed, (runs, committed)
    stored = {r[0] for r in conn.execute("SELECT oid FROM models")}
    assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == len(stored) == 12000
    assert stored == replica_oids(server)
    assert conn.execute("SELECT count(*) FROM models WHERE removed_at IS NOT NULL").fetchone()[0] == 0


def _zombie(pid) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_sigterm_mid_crawl_exits_0_within_the_bound_with_the_page_committed(replica_factory, tmp_path):
    server = replica_factory("synthetic:12000", seed=6, faults=SLOW)
    db = tmp_path / "hub.db"
    sched = schedule_dir(tmp_path, FULL.format(anchor=soon()))
    daemon = start_daemon(sched, db, server.url)
    try:
        wait_for(lambda: full_pass_page(db) >= 2, what="two pages committed")
        # One writer: a crawl typed by hand while the daemon's job writes is refused, naming the holder.
        manual = subprocess.run(HUBDEX + ["crawl", "--db", str(db), "--endpoint", server.url, "--no-progress"],
                                capture_output=True, text=True, timeout=60)
        assert manual.returncode == 3, manual.stderr
        child = job_state(db, "full")["running_pid"]
        assert f"pid {child}: crawl" in manual.stderr, manual.stderr
        status = json.loads(subprocess.run(HUBDEX + ["status", "--schedules", str(sched), "--db", str(db), "--json"],
                                           capture_output=True, text=True, timeout=60, check=True).stdout)
        assert status["daemon"]["running"] and status["jobs"][0]["running"]
        t0 = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=STOP_BOUND + 10)
        took = time.monotonic() - t0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, err
    assert took < STOP_BOUND, took
    print(f"\nSIGTERM to exit with a crawl in progress: {took:.2f} s")
    conn = ro(db)
    (status_, reason, pages), = conn.execute("SELECT status, reason, pages FROM runs").fetchall()
    assert status_ == "stopped" and "stop requested" in reason, reason
    # The page in hand was committed with its checkpoint: the run's page count is the checkpoint's.
    assert pages == full_pass_page(db) and pages >= 2
    assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == pages * 1000
    assert job_state(db, "full")["resume"] == 1  # the next start resumes it
    lines = log_lines(err)
    assert [e["event"] for e in lines if e["event"] in ("stopping", "daemon stopped")] == ["stopping", "daemon stopped"]
    assert all({"ts", "level", "event"} <= set(e) for e in lines)


def test_a_malformed_schedule_is_refused_at_start_naming_the_file_and_the_job(tmp_path):
    sched = schedule_dir(tmp_path, '[jobs.nightly]\nargs = ["crawl", "--ful"]\ncron = "0 3 * * *"\n')
    db = tmp_path / "hub.db"
    out = subprocess.run(HUBDEX + ["daemon", "--schedules", str(sched), "--db", str(db)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert f"{sched / 'test.toml'}, job 'nightly'" in out.stderr and "--ful" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not os.path.exists(state_mod.path_for(str(db)))  # nothing started, nothing written
    (sched / "test.toml").write_text('[jobs.nightly]\nargs = ["crawl"]\ncron = "0 3 * *"\n')
    out = subprocess.run(HUBDEX + ["daemon", "--schedules", str(sched), "--db", str(db)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "job 'nightly'" in out.stderr and "five fields" in out.stderr


def test_status_json_reports_every_job(replica_factory, tmp_path):
    server = replica_factory("synthetic:1500", seed=7)
    db = tmp_path / "hub.db"
    sched = schedule_dir(tmp_path, FULL.format(anchor=soon()) + """
[jobs.incremental]
args = ["crawl", "--no-progress"]
every = "15m"

[jobs.derive]
args = ["derive"]
after = ["crawl"]

[jobs.later]
args = ["crawl", "--not-yet"]
cron = "0 5 * * *"
enabled = false
""")
    daemon = start_daemon(sched, db, server.url, "--http", "127.0.0.1:0")
    try:
        wait_for(lambda: job_state(db, "derive").get("last_outcome"), 90, "the full crawl, then derive")
        doc = json.loads(subprocess.run(HUBDEX + ["status", "--schedules", str(sched), "--db", str(db), "--json"],
                                        capture_output=True, text=True, timeout=60, check=True).stdout)
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    jobs = {j["id"]: j for j in doc["jobs"]}
    assert list(jobs) == ["full", "incremental", "derive", "later"]
    assert jobs["full"]["last_run"]["outcome"] == "ok" and jobs["full"]["last_run"]["counts"]["models_new"] == 1500
    assert jobs["full"]["last_run"]["duration_s"] > 0 and jobs["full"]["last_success"]
    assert jobs["derive"]["last_run"]["outcome"] == "ok" and jobs["derive"]["trigger"] == "after crawl changed something"
    assert jobs["incremental"]["last_run"] is None and jobs["incremental"]["next_run"].endswith((":00:00Z", ":15:00Z",
                                                                                                 ":30:00Z", ":45:00Z"))
    assert not jobs["later"]["enabled"] and "do not resolve yet" in jobs["later"]["disabled_reason"]
    assert doc["daemon"]["running"] and doc["database"]["bytes"] > 0 and doc["card_backlog"] == 1500
    assert doc["budget"][server.url.rstrip("/")]["api"]["remaining"] > 0
    text = subprocess.run(HUBDEX + ["status", "--schedules", str(sched), "--db", str(db)], capture_output=True,
                          text=True, timeout=60, check=True).stdout
    assert "daemon: not running" in text and all(name in text for name in jobs)


def test_a_window_spent_by_an_earlier_run_is_waited_for_and_sigterm_ends_the_wait(replica_factory, tmp_path):
    """The shared budget: a run that starts while the window an earlier run spent is still open
    waits for it (in the budget file beside the database) instead of collecting 429s; a stop ends
    the wait at once."""
    server = replica_factory("synthetic:2000", seed=8)
    db = tmp_path / "hub.db"
    origin = server.url.rstrip("/")
    (tmp_path / "hub.db.ratelimit").write_text(json.dumps(
        {origin: {"api": {"remaining": 0, "reset_at": time.time() + 300, "seen_at": time.time()}}}))
    sched = schedule_dir(tmp_path, FULL.format(anchor=soon()))
    daemon = start_daemon(sched, db, server.url)
    try:
        wait_for(lambda: run_started(db), what="the job to start")
        time.sleep(0.5)  # the crawl is now waiting for the window, before its first request
        t0 = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=STOP_BOUND + 10)
        took = time.monotonic() - t0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0 and took < 5, (took, err)
    print(f"\nSIGTERM to exit with a crawl waiting for its rate-limit window: {took:.2f} s")
    (status_, reason, requests, waited), = ro(db).execute("SELECT status, reason, requests, waited_seconds FROM runs")
    assert status_ == "stopped" and "while waiting" in reason, (status_, reason)
    assert requests == 0 and waited > 0  # not one request sent into the spent window


STUCK = "slow:on=list,nth=1,delay=25"  # the pass's first request (the watermark) hangs in the main thread


def stuck_daemon(replica_factory, tmp_path, seed):
    """A daemon whose crawl is stuck in a request that SIGUSR1 cannot cut short."""
    server = replica_factory("synthetic:2000", seed=seed, faults=STUCK)
    db = tmp_path / "hub.db"
    daemon = start_daemon(schedule_dir(tmp_path, FULL.format(anchor=soon())), db, server.url)
    wait_for(lambda: run_started(db), what="the job to start")
    time.sleep(0.5)  # in the hanging request now
    return daemon, db


def test_a_job_that_does_not_stop_is_made_to_within_the_bound(replica_factory, tmp_path):
    daemon, db = stuck_daemon(replica_factory, tmp_path, 9)
    try:
        t0 = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=STOP_BOUND + 10)
        took = time.monotonic() - t0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    # SIGUSR1 is not answered (the request still hangs), SIGTERM after the grace is: exit 0, in bound.
    assert daemon.returncode == 0 and 9 < took < STOP_BOUND, (took, err)
    print(f"\nSIGTERM to exit with the job stuck in a request: {took:.2f} s")
    sent = [e["signal"] for e in log_lines(err) if e["event"] == "stop signal sent to job"]
    assert sent == ["SIGUSR1", "SIGTERM"], err
    assert ro(db).execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    assert job_state(db, "full")["resume"] == 1


def test_a_second_signal_exits_at_once_without_corrupting_anything(replica_factory, tmp_path):
    daemon, db = stuck_daemon(replica_factory, tmp_path, 10)
    try:
        child = job_state(db, "full")["running_pid"]
        t0 = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the first stop is under way (the job has been sent SIGUSR1 and does not answer)
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=STOP_BOUND + 10)
        took = time.monotonic() - t0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 130 and took < 3, (took, err)
    assert [e["event"] for e in log_lines(err) if e["event"].startswith("stopping")] == ["stopping", "stopping at once"]
    wait_for(lambda: _zombie(child), 10, "the job killed with the daemon")
    conn = ro(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT status FROM runs").fetchall() == [("running",)]  # the next run marks it killed
    assert job_state(db, "full")["running_pid"] == child  # so the next start resumes it


def test_a_stop_asked_while_the_job_starts_up_is_not_fatal_to_it(replica_factory, tmp_path):
    """SIGUSR1 is blocked in the child until the CLI has its handler: sent during the child's start-up,
    it stops the job cleanly (run row `stopped`) instead of killing it before it has a run row."""
    server = replica_factory("synthetic:2000", seed=11)
    db = tmp_path / "hub.db"
    daemon = start_daemon(schedule_dir(tmp_path, FULL.format(anchor=soon())), db, server.url)
    try:
        wait_for(lambda: job_state(db, "full").get("running_pid"), what="the job's process")
        daemon.send_signal(signal.SIGTERM)  # at once: the child is still importing
        out, err = daemon.communicate(timeout=STOP_BOUND + 10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, err
    finished, = [e for e in log_lines(err) if e["event"] == "run finished"]
    assert finished["outcome"] in ("stopped", "ok") and finished["code"] in (4, 0), finished
