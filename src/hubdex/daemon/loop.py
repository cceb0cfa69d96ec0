"""The daemon's scheduling loop, owned outright: a few jobs, an injected clock, one run at a time.

APScheduler 3's schedulers read `datetime.now()` inside a private method (`_process_jobs`) and offer
no clock to inject; copying that method to change one line means carrying a fork of private code
that drops its error guards as upstream adds them. What hubdex needs is small, so it is written here:

- a job is an id, a function, a trigger (`schedules.Slots`: APScheduler's public trigger interface,
  `get_next_fire_time(previous, now)`; None for a one-off run) and its next run time;
- `look()` reads the injected clock once, hands every due job to the runner, coalescing the slots it
  missed into one run at the latest (the triggers never list more than two for any gap), and
  returns the seconds until the next one is due; a job already queued or running is not queued
  again (`on_busy`), one that waited past its grace is dropped (`on_missed`);
- `Runner` runs queued jobs one after another on one thread (every hubdex job takes the database's
  writer lock, so two at once could only refuse each other); a job that raises is reported
  (`on_error`) and the loop goes on: nothing a job does ends the daemon;
- `run_until(stop)` looks at least every `MAX_WAIT` seconds, so a clock that jumps is noticed
  within a minute; `wakeup()` makes it look at once.

`threaded=False` runs nothing until `drain()`, so tests drive the schedule by moving the clock.
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
MAX_WAIT = 60.0
MAX_COALESCED = 1000  # a trigger that keeps answering past times: stop looking after this many
log = logging.getLogger("hubdex.daemon")


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Job:
    id: str
    func: object
    trigger: object = None           # get_next_fire_time(previous, now); None: run once
    next_run_time: datetime | None = None
    grace: float | None = None       # seconds a queued run may start late; None: always
    args: tuple = field(default_factory=tuple)


class Runner:
    """A FIFO of (job, scheduled time), run on one thread (or by `drain()`)."""

    def __init__(self, loop: "Loop", threaded: bool):
        self.loop, self.threaded = loop, threaded
        self.queue: queue.Queue = queue.Queue()
        self.queued: list[str] = []      # job ids submitted and not started yet
        self.running: str | None = None
        self.stopping = False            # the daemon is stopping: what is queued does not start
        self.thread = None

    def start(self):
        if self.threaded and self.thread is None:
            self.thread = threading.Thread(target=self._work, name="hubdex-jobs", daemon=True)
            self.thread.start()

    def submit(self, job: Job, run_time: datetime):
        self.queued.append(job.id)
        self.queue.put((job, run_time))

    def busy(self, job_id: str) -> bool:
        return job_id in self.queued or self.running == job_id

    def shutdown(self):
        self.stopping = True
        self.queue.put(None)

    def _work(self):
        while (item := self.queue.get()) is not None:
            self._execute(*item)

    def drain(self):
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._execute(*item)

    def _execute(self, job: Job, run_time: datetime):
        if job.id in self.queued:
            self.queued.remove(job.id)
        if self.stopping:
            return
        if job.grace is not None and self.loop.clock() - run_time > timedelta(seconds=job.grace):
            self.loop.report("missed", job.id, run_time)
            return
        self.running = job.id
        try:
            job.func(*job.args, scheduled=run_time)
        except BaseException as e:  # noqa: BLE001 - a job's crash is reported, never the daemon's end
            self.loop.report("error", job.id, run_time, e, "".join(traceback.format_tb(e.__traceback__)))
        finally:
            self.running = None


class Loop:
    def __init__(self, clock=wall_clock, threaded: bool = True, listener=None):
        self.clock = clock
        self.threaded = threaded
        self.listener = listener  # listener(kind, job_id, run_time, error=None, tb=None): missed, busy, error
        self.lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._wake = threading.Event()
        self.runner = Runner(self, threaded)
        self.stopped = False

    # -- jobs ------------------------------------------------------------------------------------
    def add(self, job_id: str, func, *, trigger=None, next_run_time: datetime | None, grace: float | None = None,
            args: tuple = ()):
        """Add or replace a job."""
        with self.lock:
            self._jobs[job_id] = Job(job_id, func, trigger, next_run_time, grace, args)
        self.wakeup()

    def reschedule(self, job_id: str, next_run_time: datetime | None):
        with self.lock:
            if job_id in self._jobs:
                self._jobs[job_id].next_run_time = next_run_time

    def get_jobs(self) -> list[Job]:
        with self.lock:
            return sorted(self._jobs.values(), key=lambda j: (j.next_run_time is None, j.next_run_time or 0, j.id))

    def report(self, kind: str, job_id: str, run_time, error=None, tb=None):
        if self.listener is not None:
            try:
                self.listener(kind, job_id, run_time, error, tb)
            except Exception:  # noqa: BLE001 - a failing listener must not stop the loop
                log.exception("listener failed")

    # -- the loop ----------------------------------------------------------------------------------
    def start(self):
        self.runner.start()

    def look(self) -> float | None:
        """Queue what is due now; the seconds until the next job is due (None: nothing scheduled)."""
        now = self.clock()
        with self.lock:
            for job in list(self._jobs.values()):
                if job.next_run_time is None or job.next_run_time > now:
                    continue
                run_time = job.next_run_time
                nxt = None
                if job.trigger is not None:
                    for _ in range(MAX_COALESCED):  # the missed slots coalesce into one run, the latest
                        nxt = job.trigger.get_next_fire_time(run_time, now)
                        if nxt is None or nxt > now:
                            break
                        run_time = nxt
                if self.runner.busy(job.id):
                    self.report("busy", job.id, run_time)
                else:
                    self.runner.submit(job, run_time)
                if nxt is not None and nxt > now:
                    job.next_run_time = nxt
                else:
                    del self._jobs[job.id]  # a one-off run, or a trigger with no more slots
            times = [j.next_run_time for j in self._jobs.values() if j.next_run_time is not None]
        if not times:
            return None
        return max((min(times) - self.clock()).total_seconds(), 0.0)

    def tick(self) -> float | None:
        """One look (tests): queue what is due, then run the queue if not threaded."""
        wait = self.look()
        if not self.threaded:
            self.runner.drain()
        return wait

    def run_until(self, stop: threading.Event, on_loop=None):
        while not stop.is_set() and not self.stopped:
            try:
                wait = self.look()
                if on_loop is not None:
                    on_loop()
            except Exception:  # noqa: BLE001 - one bad look is logged; the next one comes within a minute
                log.exception("the scheduling loop failed once; it goes on")
                wait = MAX_WAIT
            self._wake.wait(MAX_WAIT if wait is None else min(wait, MAX_WAIT))
            self._wake.clear()

    def wakeup(self):
        self._wake.set()

    def shutdown(self):
        self.stopped = True
        self.runner.shutdown()
        self._wake.set()
