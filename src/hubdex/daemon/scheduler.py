"""APScheduler 3.11 with an injected clock, and an executor that runs one job at a time.

`Scheduler` is APScheduler's `BaseScheduler` (its memory job store, `Job` objects, triggers,
coalescing, `max_instances`, events) with the one thing its own loop cannot be given: a clock.
`_process_jobs` below is APScheduler 3.11's, reading `self.clock()` instead of `datetime.now()`, so
tests drive the schedule by moving a clock (APScheduler's own tests freeze `datetime` instead).
The loop waits at most `MAX_WAIT` seconds between looks, so a clock that jumps is noticed within
a minute, and its triggers (`schedules.Slots`) never list more than two run times for any gap.

`SerialExecutor` runs submitted jobs one after another on one thread: every hubdex job takes the
database's writer lock, so two at once could only refuse each other. A job queued behind another
starts when that one ends, unless its misfire grace ran out (see `service.grace_for`).
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from datetime import datetime, timedelta, timezone

from apscheduler.events import (EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED,
                                EVENT_JOB_SUBMITTED, JobExecutionEvent, JobSubmissionEvent)
from apscheduler.executors.base import BaseExecutor, MaxInstancesReachedError
from apscheduler.schedulers.base import STATE_PAUSED, STATE_STOPPED, BaseScheduler

UTC = timezone.utc
MAX_WAIT = 60.0
log = logging.getLogger("hubdex.daemon")


def wall_clock() -> datetime:
    return datetime.now(UTC)


class SerialExecutor(BaseExecutor):
    """One worker thread, a FIFO of submitted runs. `threaded=False`: nothing runs until `drain()`
    (tests run the queue on their own thread, at the clock they set)."""

    def __init__(self, clock=wall_clock, threaded: bool = True):
        super().__init__()
        self.clock, self.threaded = clock, threaded
        self.queue: queue.Queue = queue.Queue()
        self.thread = None
        self.queued: list[str] = []  # job ids submitted and not started yet
        self.stopping = False  # the daemon is stopping: what is queued does not start

    def start(self, scheduler, alias):
        super().start(scheduler, alias)
        if self.threaded and self.thread is None:
            self.thread = threading.Thread(target=self._work, name="hubdex-jobs", daemon=True)
            self.thread.start()

    def shutdown(self, wait=True):
        self.stopping = True
        self.queue.put(None)
        if wait and self.thread is not None:
            self.thread.join()

    def _do_submit_job(self, job, run_times):
        self.queued.append(job.id)
        self.queue.put((job, run_times))

    def _work(self):
        while (item := self.queue.get()) is not None:
            self._execute(*item)

    def drain(self):
        """Run what is queued, here and now (threaded=False)."""
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._execute(*item)

    def _execute(self, job, run_times):
        """APScheduler's `run_job`, with the grace measured by the injected clock and the scheduled
        time handed to the job (`scheduled=`)."""
        if job.id in self.queued:
            self.queued.remove(job.id)
        if self.stopping:
            self._run_job_success(job.id, [])
            return
        events = []
        for run_time in run_times:
            if job.misfire_grace_time is not None:
                late = self.clock() - run_time
                if late > timedelta(seconds=job.misfire_grace_time):
                    events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, "default", run_time))
                    continue
            try:
                retval = job.func(*job.args, scheduled=run_time, **job.kwargs)
            except BaseException as e:  # noqa: BLE001 - a job's crash is an event, never the daemon's end
                events.append(JobExecutionEvent(EVENT_JOB_ERROR, job.id, "default", run_time, exception=e,
                                                traceback="".join(traceback.format_tb(e.__traceback__))))
            else:
                events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, "default", run_time, retval=retval))
        self._run_job_success(job.id, events)


class Scheduler(BaseScheduler):
    def __init__(self, clock=wall_clock, threaded: bool = True, **options):
        self.clock = clock
        self.threaded = threaded
        self._wake = threading.Event()
        super().__init__(timezone=UTC, **options)

    def _create_default_executor(self):
        return SerialExecutor(self.clock, threaded=self.threaded)

    def _create_lock(self):
        return threading.RLock()

    def wakeup(self):
        self._wake.set()

    def shutdown(self, wait=False):
        super().shutdown(wait)
        self._wake.set()

    def run_until(self, stop: threading.Event, on_loop=None):
        """The main loop: look, wait until the next run is due (at most MAX_WAIT), until `stop`."""
        while not stop.is_set() and self.state != STATE_STOPPED:
            wait = self._process_jobs()
            if on_loop is not None:
                on_loop()
            self._wake.wait(MAX_WAIT if wait is None else min(wait, MAX_WAIT))
            self._wake.clear()

    def tick(self):
        """One look at the clock (tests): submit what is due, then run the queue if not threaded."""
        wait = self._process_jobs()
        if not self.threaded:
            self._lookup_executor("default").drain()
        return wait

    def _process_jobs(self):
        if self.state == STATE_PAUSED:
            return None
        now = self.clock()
        next_wakeup_time = None
        events = []
        with self._jobstores_lock:
            for jobstore_alias, jobstore in self._jobstores.items():
                for job in jobstore.get_due_jobs(now):
                    executor = self._lookup_executor(job.executor)
                    run_times = job._get_run_times(now)
                    run_times = run_times[-1:] if run_times and job.coalesce else run_times
                    if run_times:
                        try:
                            executor.submit_job(job, run_times)
                        except MaxInstancesReachedError:
                            log.debug("job %s not submitted: it is already queued or running", job.id)
                            events.append(JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, job.id, jobstore_alias,
                                                             run_times))
                        else:
                            events.append(JobSubmissionEvent(EVENT_JOB_SUBMITTED, job.id, jobstore_alias, run_times))
                        job_next_run = job.trigger.get_next_fire_time(run_times[-1], now)
                        if job_next_run:
                            job._modify(next_run_time=job_next_run)
                            jobstore.update_job(job)
                        else:
                            self.remove_job(job.id, jobstore_alias)
                store_next = jobstore.get_next_run_time()
                if store_next and (next_wakeup_time is None or store_next < next_wakeup_time):
                    next_wakeup_time = store_next
        for event in events:
            self._dispatch_event(event)
        if self.state == STATE_PAUSED or next_wakeup_time is None:
            return None
        return max((next_wakeup_time - self.clock()).total_seconds(), 0)
