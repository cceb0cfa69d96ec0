"""`hubdex daemon`: the schedule files' jobs, run on time, one at a time, each as a `hubdex` child
process, with state beside the database that survives restarts and crashes.

Why child processes, not threads: each run is exactly the command the schedule names, parsed by
the same CLI, taking the same writer lock as a `hubdex crawl` typed by hand and leaving the same
exit code and `runs` row; its memory (a crawl's page buffers, a derive's arrays) goes back to the
OS when it exits, so the daemon stays small however long it runs; and a run that hangs can be
stopped by a signal, which a thread cannot. A child dies with the daemon (PR_SET_PDEATHSIG: it is
sent SIGTERM and rolls its page back), so a killed daemon never leaves a writer behind.

Stopping (SIGTERM or SIGINT): no new run starts; the running child is sent SIGUSR1, on which a
crawl stops after the unit of work in hand commits (a page, a model's details, a batch of cards)
and ends any wait at once; a child still running `STOP_GRACE` seconds later is sent SIGTERM (its
open transaction rolls back; committed pages stay), and `STOP_TERM` seconds after that SIGKILL.
The daemon then exits 0: within `STOP_BOUND` seconds of the signal. A second signal kills the
child at once and exits 130; SQLite's transactions and the checkpoint-last page make that safe too.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import state as state_mod
from .loop import Loop, wall_clock
from .schedules import After, JobSpec, redact, redact_text

UTC = timezone.utc
STOP_GRACE = 10.0   # seconds a child has to commit its unit of work after SIGUSR1
STOP_TERM = 8.0     # then after SIGTERM, before SIGKILL
STOP_BOUND = 25     # the daemon is gone within this many seconds of SIGTERM (systemd waits 40)
BUSY_RETRY = 30.0   # a run that finds the writer lock taken tries again this often, until its next slot
KILLED_WAIT = 30.0  # at start, how long to wait for the child of a killed daemon to be gone
# Figures of a run's `runs` row that mean it changed something a derive reads.
CHANGE_FIGURES = ("models_new", "models_changed", "models_renamed", "models_removed", "models_revived",
                  "metrics_moved", "details", "cards", "searches")
OUTCOMES = {0: "ok", 1: "refused", 2: "usage", 3: "busy", 4: "stopped", 5: "storage", 130: "interrupted"}

log = logging.getLogger("hubdex.daemon")


def event(name: str, level: int = logging.INFO, **fields):
    """One structured log line (JSON on stderr, see `JsonLines`)."""
    log.log(level, name, extra={"fields": fields})


class JsonLines(logging.Formatter):
    def format(self, record):
        doc = {"ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
               "level": record.levelname.lower(), "event": record.getMessage()}
        if record.name != "hubdex.daemon":
            doc = {**doc, "event": "scheduler", "logger": record.name, "message": record.getMessage()}
        doc.update(getattr(record, "fields", {}))
        if record.exc_info:
            doc["traceback"] = self.formatException(record.exc_info)
        # Whatever a field holds (a job's args, its error line, an endpoint), no token or URL password
        # reaches the log.
        return redact_text(json.dumps(doc, default=str, ensure_ascii=False))


def setup_logging(stream=None):
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines())
    for name, level in (("hubdex.daemon", logging.INFO), ("apscheduler", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt else None


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def grace_for(spec: JobSpec) -> int | None:
    """misfire_grace_time: a run is still worth making late as long as its next slot has not come
    (then that slot's run stands for it). APScheduler's default, 1 s, would drop every run that
    waited behind another for the writer; None (always run) would let a run queued behind a weekly
    full pass start just before its own next slot. `after` jobs always run."""
    period = getattr(spec.trigger, "period", None)
    return None if period is None else max(int(period), 60)


@dataclass
class Result:
    code: int | None           # the child's exit code (negative: killed by that signal)
    summary: str = ""
    error: str = ""
    run_id: int | None = None
    counts: dict = field(default_factory=dict)


class SubprocessLauncher:
    """Runs `python -m hubdex ARGV` and reports its exit code and its `runs` row."""

    def __init__(self, db_path: str):
        self.db_path = db_path
        self.proc: subprocess.Popen | None = None
        self.done = threading.Event()
        self.done.set()
        self._setup = _child_setup()

    def launch(self, argv: list[str], on_start) -> Result:
        before = last_run_id(self.db_path)
        self.done.clear()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hubdex", *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, errors="replace", process_group=0, preexec_fn=self._setup)
            on_start(self.proc.pid)
            out, err = self.proc.communicate()
            code = self.proc.returncode
        finally:
            self.done.set()
        result = Result(code, out.strip().splitlines()[0] if out.strip() else "", err.strip()[-2000:])
        if code not in (2, 3):  # a usage error or a busy lock wrote no row of its own
            result.run_id, result.counts = read_run(self.db_path, before)
        return result

    def stop(self, grace: float = STOP_GRACE, term: float = STOP_TERM):
        """Ask the running child to stop after its unit of work; insist as the bound demands."""
        proc = self.proc
        for sig, wait in ((signal.SIGUSR1, grace), (signal.SIGTERM, term), (signal.SIGKILL, 5.0)):
            if proc is None or self.done.is_set():
                return
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                return
            event("stop signal sent to job", pid=proc.pid, signal=signal.Signals(sig).name)
            if self.done.wait(wait):
                return

    def kill(self):
        if self.proc is not None and not self.done.is_set():
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass


def _child_setup():
    """preexec_fn (bound in the parent: nothing is imported between fork and exec): the child is
    sent SIGTERM if the daemon dies (PR_SET_PDEATHSIG), and SIGUSR1 is blocked until the CLI has
    its handler (`cli._run` unblocks it): a stop asked while the child still starts up waits for
    the handler instead of killing it."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        prctl = None
    term, usr1, block = int(signal.SIGTERM), {signal.SIGUSR1}, signal.SIG_BLOCK
    mask = signal.pthread_sigmask

    def setup():
        if prctl is not None:
            prctl(1, term)  # PR_SET_PDEATHSIG
        mask(block, usr1)

    return setup


def _ro(db_path: str):
    return sqlite3.connect(f"file:{os.path.abspath(db_path)}?mode=ro", uri=True, timeout=5)


def last_run_id(db_path: str) -> int:
    try:
        conn = _ro(db_path)
        try:
            return conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def read_run(db_path: str, after_id: int) -> tuple[int | None, dict]:
    """The `runs` row the child wrote (the first after `after_id`: the lock let no one else write)."""
    from ..store.runs import FIGURES

    try:
        conn = _ro(db_path)
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM runs WHERE id > ? ORDER BY id LIMIT 1", (after_id,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None, {}
    if row is None:
        return None, {}
    keys = row.keys()
    counts = {k: row[k] for k in FIGURES if k in keys and row[k] is not None}
    counts.update({"mode": row["mode"], "status": row["status"]})
    return row["id"], counts


class Daemon:
    def __init__(self, specs: list[JobSpec], db_path: str, *, endpoint: str | None = None, clock=wall_clock,
                 launcher=None, threaded: bool = True, sleep=None, busy_retry: float = BUSY_RETRY):
        self.specs = {s.id: s for s in specs}
        self.enabled = {s.id: s for s in specs if s.enabled}
        self.db_path = os.path.abspath(db_path)
        self.endpoint = endpoint
        self.clock = clock
        self.state = state_mod.State(state_mod.path_for(self.db_path))
        self.launcher = launcher or SubprocessLauncher(self.db_path)
        self.stopping = threading.Event()
        self.sleep = sleep or self.stopping.wait  # waits end when the daemon stops
        self.busy_retry = busy_retry
        self.scheduler = Loop(clock, threaded=threaded, listener=self._on_event)
        self.running: str | None = None
        self.db_existed = os.path.exists(self.db_path)  # a database that disappears is not recreated
        self.started_at = None
        self._written_next: dict = {}
        self._last_look = None
        self.signals = 0

    # -- start -------------------------------------------------------------------------------------
    def start(self):
        """Build every job from the schedule files and decide, from the state file, what runs now."""
        now = self.clock()
        self.started_at = now
        self.state.set_meta(pid=os.getpid(), started_at=now.timestamp(), db=self.db_path, endpoint=self.endpoint,
                            stopped_at=None)
        for spec in self.specs.values():
            if not spec.enabled:
                event("job disabled", job=spec.id, file=spec.file, why=spec.why_disabled or "enabled = false")
        for job_id in sorted(set(self.state.jobs()) - set(self.specs)):
            event("job in the state file is in no schedule file: it will not run", logging.WARNING, job=job_id)
        self.scheduler.start()
        for spec in self.enabled.values():
            self._build(spec, now)
        # What this daemon runs, as loaded: `hubdex status` shows it apart from what the files say now.
        self.state.set_meta(loaded=json.dumps([spec.shown() for spec in self.specs.values()]))
        event("daemon started", pid=os.getpid(), db=self.db_path, endpoint=self.endpoint,
              jobs={j.id: iso(ts(j.next_run_time)) for j in self.scheduler.get_jobs()},
              stop_bound_seconds=STOP_BOUND)
        self._note_next_runs()

    def _build(self, spec: JobSpec, now: datetime):
        st = self.state.job(spec.id)
        self.state.seen(spec.id, now.timestamp())
        first, why = None, None
        if st.get("running_pid"):
            self._wait_gone(st["running_pid"], spec.id)
            first, why = now, "its last run was killed with the daemon: it resumes from its checkpoint"
        elif st.get("resume"):
            first, why = now, "its last run was stopped with the daemon: it resumes from its checkpoint"
        elif spec.timed:
            since_ts = max(st.get("last_slot") or 0, st.get("first_seen") or now.timestamp())
            since = datetime.fromtimestamp(since_ts, UTC)
            latest = spec.trigger.latest(now)
            if latest is not None and latest > since:
                first = latest
                why = (f"{spec.trigger.missed(since, now)} run(s) missed since {iso(since_ts)}: "
                       "running once (coalesced)")
        elif st.get("pending"):
            first, why = now, "a crawl changed something before the daemon stopped"
        if why:
            event("run due at start", job=spec.id, why=why)
        if spec.timed:
            self.scheduler.add(spec.id, self._run, trigger=spec.trigger, args=(spec.id,),
                               next_run_time=first or spec.trigger.at_or_after(now), grace=grace_for(spec))
        elif first is not None:
            self._kick(spec.id)

    def _wait_gone(self, pid: int, job_id: str):
        """The killed daemon's child may still be rolling back (it is sent SIGTERM when its parent
        dies): wait for it, at most KILLED_WAIT seconds, saying so. A pid that now belongs to a
        process that is not a hubdex job (reused since the crash) is not waited for."""
        if not _is_hubdex_job(pid):
            return
        event("waiting for the job of the previous daemon to end", job=job_id, pid=pid, at_most_s=KILLED_WAIT)
        deadline = time.monotonic() + KILLED_WAIT
        while time.monotonic() < deadline:
            if not _is_hubdex_job(pid):
                return
            time.sleep(0.2)
        event("the previous daemon's job is still running: starting anyway (its writer lock decides)",
              logging.WARNING, job=job_id, pid=pid)

    def _kick(self, job_id: str):
        """Queue an `after` job once: not again while it waits to start (coalesced)."""
        if job_id in self.scheduler.runner.queued:
            event("run coalesced: already queued", job=job_id)
            return
        self.scheduler.add(job_id, self._run, args=(job_id,), next_run_time=self.clock(), grace=None)

    # -- a run -------------------------------------------------------------------------------------
    def _run(self, job_id: str, scheduled: datetime | None = None):
        spec = self.enabled[job_id]
        if self.stopping.is_set():
            return
        if self.db_existed and not os.path.exists(self.db_path) and self.db_path in spec.argv(self.db_path, None):
            # Deleted while the daemon ran: a crawl would start a new, empty database without a word.
            event("database deleted under the daemon: run not started (restart the daemon to start a new one)",
                  logging.ERROR, job=job_id, db=self.db_path)
            self.state.finished(job_id, slot=ts(scheduled), start=self.clock().timestamp(),
                                end=self.clock().timestamp(), outcome="skipped: database missing", code=None,
                                run_id=None, counts={}, summary=f"{self.db_path} is gone", resume=False)
            return "skipped"
        is_after = isinstance(spec.trigger, After)
        taken = self.state.take_pending(job_id) if is_after else None
        argv = spec.argv(self.db_path, self.endpoint)
        deadline = None
        if spec.timed:
            deadline = spec.trigger.after(scheduled or self.clock())
        start_wall = self.clock()
        start_mono = time.monotonic()
        self.running = job_id
        event("run started", job=job_id, scheduled=iso(ts(scheduled)), args=redact(argv))
        try:
            while True:
                result = self.launcher.launch(argv, lambda pid: self.state.started(
                    job_id, ts(scheduled), pid, self.clock().timestamp()))
                if result.code != 3 or self.stopping.is_set():
                    break
                if deadline is not None and self.clock() + _seconds(self.busy_retry) >= deadline:
                    break
                event("writer lock taken: waiting", job=job_id, retry_seconds=self.busy_retry,
                      until=iso(ts(deadline)), holder=result.error.splitlines()[-1] if result.error else None)
                if self.sleep(self.busy_retry):
                    break
        finally:
            self.running = None
        if os.path.exists(self.db_path):
            self.db_existed = True
        outcome = OUTCOMES.get(result.code, f"killed by signal {-result.code}" if (result.code or 0) < 0 else "failed")
        duration = round(time.monotonic() - start_mono, 3)
        asked_to_stop = self.stopping.is_set() and result.code != 0
        # A run ended by the daemon's own stop resumes at the next start, whatever its slots say.
        resume = asked_to_stop and (outcome in ("stopped", "interrupted") or (result.code or 0) < 0)
        last_error = result.error.splitlines()[-1] if result.error else ""
        self.state.finished(job_id, slot=ts(scheduled), start=start_wall.timestamp(), end=self.clock().timestamp(),
                            outcome=outcome, code=result.code, run_id=result.run_id, counts=result.counts,
                            summary=result.summary or last_error, resume=resume)
        level = logging.INFO if outcome in state_mod.OK_OUTCOMES else logging.WARNING
        fields = {"job": job_id, "outcome": outcome, "code": result.code, "duration_s": duration,
                  "run_id": result.run_id, "counts": result.counts, "summary": result.summary}
        if last_error and outcome not in state_mod.OK_OUTCOMES:
            fields["error"] = last_error
        event("run finished", level, **fields)
        if is_after and outcome not in state_mod.OK_OUTCOMES and taken is not None:
            self.state.mark_pending(job_id, taken)  # not covered: still to do, after the next change
        if any(result.counts.get(k) for k in CHANGE_FIGURES):
            for other in self.enabled.values():
                if isinstance(other.trigger, After) and other is not spec and \
                        any(s in (spec.id, spec.command) for s in other.trigger.sources):
                    self.state.mark_pending(other.id, self.clock().timestamp())
                    if not self.stopping.is_set():
                        self._kick(other.id)
        return outcome

    def _on_event(self, kind, job_id, run_time, error=None, tb=None):
        if kind == "missed":
            event("run skipped: its next slot came while it waited", logging.WARNING, job=job_id,
                  scheduled=iso(ts(run_time)))
        elif kind == "busy":
            event("run skipped: the job is still queued or running", job=job_id, scheduled=iso(ts(run_time)))
        elif kind == "error":
            event("run crashed in the daemon", logging.ERROR, job=job_id, error=repr(error), traceback=tb)

    # -- the loop ----------------------------------------------------------------------------------
    def _note_next_runs(self):
        self.state.flush()  # state kept in memory while the disk was full: written once it can be
        now_mono, now_wall = time.monotonic(), self.clock().timestamp()
        if self._last_look is not None:
            jump = (now_wall - self._last_look[1]) - (now_mono - self._last_look[0])
            if abs(jump) > 30:
                event("clock jumped", logging.WARNING, seconds=round(jump, 1),
                      note="missed slots run once (coalesced); nothing bursts")
        self._last_look = (now_mono, now_wall)
        now = self.clock()
        for job in self.scheduler.get_jobs():
            spec = self.enabled.get(job.id)
            if spec is not None and spec.timed and job.next_run_time is not None and \
                    (job.next_run_time - now).total_seconds() > spec.trigger.period + 1:
                # Further off than one period: the clock went back. The next slot from now, not the
                # one computed before the jump (which could be days away).
                nxt = spec.trigger.at_or_after(now)
                event("clock went back: next run recomputed", logging.WARNING, job=job.id,
                      was=iso(ts(job.next_run_time)), now=iso(ts(nxt)))
                self.scheduler.reschedule(job.id, nxt)
            when = ts(job.next_run_time)
            if self._written_next.get(job.id) != when:
                self.state.next_run(job.id, when)
                self._written_next[job.id] = when

    def tick(self):
        """One look (tests, with threaded=False): submit what is due, run it, note the next runs."""
        self.scheduler.tick()
        self._note_next_runs()

    def serve(self, install_signals: bool = True) -> int:
        if install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        self.start()
        self.scheduler.run_until(self.stopping, on_loop=self._note_next_runs)
        return self._shutdown()

    def _on_signal(self, signum, _frame):
        self.signals += 1
        if self.signals == 1:
            event("stopping", signal=signal.Signals(signum).name, running=self.running, bound_seconds=STOP_BOUND)
            self.request_stop()
        else:
            event("stopping at once", logging.WARNING, signal=signal.Signals(signum).name, running=self.running)
            self.launcher.kill()
            logging.shutdown()
            os._exit(130)

    def request_stop(self):
        self.stopping.set()
        self.scheduler.runner.stopping = True
        threading.Thread(target=self.launcher.stop, name="hubdex-stop", daemon=True).start()
        self.scheduler.wakeup()

    def _shutdown(self) -> int:
        t0 = time.monotonic()
        self.scheduler.shutdown()
        runner_thread = self.scheduler.runner.thread
        if runner_thread is not None:
            runner_thread.join(STOP_BOUND - 1)
        self.state.set_meta(pid=None, stopped_at=self.clock().timestamp())
        self.state.flush(force=True)
        event("daemon stopped", seconds=round(time.monotonic() - t0, 3))
        return 0


def _is_hubdex_job(pid: int) -> bool:
    """Whether `pid` is alive and runs `python -m hubdex` (not a process that reused the number)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True  # no /proc: alive is all we can tell
    return b"hubdex" in argv[:4] or any(a.endswith(b"/hubdex") for a in argv[:2])


def _seconds(s: float):
    from datetime import timedelta

    return timedelta(seconds=s)
