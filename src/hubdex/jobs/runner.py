"""One way to run a job: the writer lock, the database, an injected clock, the job's `runs` row and
its outcome, which maps to the exit code. The CLI, the demo and the export start jobs here (the
daemon runs `hubdex` processes that do); nothing else takes the lock or writes a `runs` row.

A job is an object with:
  mode(db)          -> str    what it will do, resolved against the database ('full', 'derive', ...);
                             raises Usage when the request does not fit the database (exit 2)
  describe()        -> (scope, endpoint, args)  for the runs row (args never hold a secret)
  execute(ctx)               does the work; raises Stop, Refused, sqlite3.DatabaseError, KeyboardInterrupt
  report(status, reason) -> (summary, figures)  figures are columns of `runs`
and optionally `needs_database` (True: a missing file is a mistake, not a new database) and
`configure(db)` (per-job pragmas).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field

from ..clock import Clock
from ..store.db import (ForeignDatabase, NewerDatabase, NoDatabase, ReadOnly, check_file, check_writable, open_db,
                        require_file)
from ..store.runs import close_run, open_run
from ..store.lockfile import Busy, WriterLock

# Exit codes, documented in the README: one table for every job.
EXIT_OK = 0           # done
EXIT_REFUSED = 1      # the request named something that isn't there (unknown model ids, no database)
EXIT_USAGE = 2        # a usage error (click's own code)
EXIT_BUSY = 3         # another job holds the database's writer lock; nothing written
EXIT_STOPPED = 4      # stopped cleanly (upstream kept failing, or answered something unusable); resumable
EXIT_STORAGE = 5      # storage error: disk full, a file that is not a database
EXIT_INTERRUPTED = 130

# A stop asked of the running job (the daemon shutting down sends its job SIGUSR1, which sets this):
# a crawl ends after the unit of work in hand commits (a page, a model's details, a batch of cards)
# and its waits (rate-limit windows, backoffs) end at once; it stops as `stopped` (exit 4), resumable.
STOP = threading.Event()


def request_stop():
    STOP.set()

INTERRUPTED_EARLY = "interrupted before its run began; nothing written"


class Stop(Exception):
    """The job stopped cleanly: committed work stays and the next run resumes from it."""


class Refused(Exception):
    """The job did what it could but the request named something that does not exist."""


class Usage(Exception):
    """The request does not fit the database (an incremental crawl before any full pass): said
    before the run starts, so nothing is written."""


@dataclass
class Context:
    """What a running job is given: its database, its clock and the day it took from it, its run id."""

    db: object
    clock: Clock
    day: int
    run_id: int
    notes: list = field(default_factory=list)
    stop: threading.Event = field(default=STOP, repr=False)


@dataclass
class Outcome:
    code: int
    summary: str
    run_id: int | None = None
    status: str | None = None

    @property
    def ok(self) -> bool:
        return self.code == EXIT_OK


def run(job, db_path: str, *, clock: Clock | None = None) -> Outcome:
    """Run `job` on the database at `db_path`; never raises for expected trouble."""
    clock = clock or Clock.from_environment()
    if not db_path or not db_path.strip():
        return Outcome(EXIT_USAGE, "--db: an empty path is not a database file")
    # Before the lock: a mistaken path, a file that isn't hubdex's or one that can't be written must
    # not leave directories, a lock file or a migration table behind.
    if getattr(job, "needs_database", False):
        try:
            require_file(db_path)
        except NoDatabase as e:
            return Outcome(EXIT_REFUSED, str(e))
    try:
        check_file(db_path)
        check_writable(db_path)
    except (ForeignDatabase, NewerDatabase, ReadOnly) as e:
        return Outcome(EXIT_STORAGE, str(e))
    except sqlite3.DatabaseError as e:
        return Outcome(EXIT_STORAGE, f"cannot open {db_path}: {e}")
    try:
        lock = WriterLock(db_path, getattr(job, "holder", "")).__enter__()
    except Busy as e:
        return Outcome(EXIT_BUSY, f"another job is writing to {db_path} ({e}); not starting another")
    except OSError as e:
        return Outcome(EXIT_STORAGE, f"cannot create the lock file beside {db_path}: {e.strerror}")
    try:
        try:
            db = open_db(db_path)
            lock.pin()  # a database created just now: its inode locked too (hard links)
        except Busy as e:
            return Outcome(EXIT_BUSY, f"another job is writing to {db_path} ({e}); not starting another")
        except sqlite3.DatabaseError as e:
            return Outcome(EXIT_STORAGE, f"cannot open {db_path}: {e}")
        except KeyboardInterrupt:  # a migration's transaction rolled back; no run row yet
            return Outcome(EXIT_INTERRUPTED, INTERRUPTED_EARLY)
        try:
            if hasattr(job, "configure"):
                job.configure(db)
            try:
                mode = job.mode(db)
            except Usage as e:
                return Outcome(EXIT_USAGE, str(e))
            scope, endpoint, args = job.describe()
            # A run still `running` belongs to a process that ended without closing it (SIGKILL, power
            # loss): open_run marks it killed, and this run says so.
            left = [r[0] for r in db.conn.execute("SELECT id FROM runs WHERE status = 'running'")]
            run_id = open_run(db.conn, mode, scope, endpoint, args, clock.now())
        except sqlite3.DatabaseError as e:
            return Outcome(EXIT_STORAGE, f"database error: {e}")
        except KeyboardInterrupt:
            # Ctrl-C may land just after open_run's INSERT (it commits at once): that row is closed, so
            # none is left `running` (the lock held proves no other process has one).
            try:
                db.conn.execute("UPDATE runs SET status = 'interrupted', ended_at = ?, reason = 'interrupted' "
                                "WHERE status = 'running'", (clock.now(),))
            except sqlite3.Error:
                pass
            return Outcome(EXIT_INTERRUPTED, INTERRUPTED_EARLY)
        ctx = Context(db, clock, clock.day, run_id)
        status, reason, code = "completed", None, EXIT_OK
        try:
            job.execute(ctx)
        except Stop as e:
            status, reason, code = "stopped", str(e), EXIT_STOPPED
        except Refused as e:
            status, reason, code = "completed", str(e), EXIT_REFUSED
        except sqlite3.DatabaseError as e:
            status, reason, code = "failed", f"database error: {e}", EXIT_STORAGE
        except KeyboardInterrupt:
            status, reason, code = "interrupted", "interrupted", EXIT_INTERRUPTED
        except Exception as e:  # noqa: BLE001 - a bug: the run row is closed and says so, never left running
            status, reason, code = "failed", f"unexpected error: {_where(e)}", EXIT_STOPPED
        if left:  # (after execute: a job may have replaced ctx.notes with its own list)
            ctx.notes.append(f"run{'s' if len(left) > 1 else ''} {', '.join(map(str, left))} ended without closing "
                             "(its process was killed): marked killed")
        try:
            summary, figures = job.report(status, reason)
        except Exception:  # noqa: BLE001 - a report that fails still closes the row
            summary, figures = f"{mode} {status}\nreason: {reason or status}", {}
        notes = "; ".join(filter(None, [reason] + list(ctx.notes))) or None
        try:
            close_run(db.conn, run_id, status, notes, figures, clock.now())
            if code in (EXIT_OK, EXIT_REFUSED):
                db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError:
            pass  # the disk may still be full: the committed work and checkpoint are intact regardless
        return Outcome(code, summary, run_id, status)
    finally:
        STOP.clear()  # a stop asked of this job is not asked of the next one in this process
        if "db" in locals():
            db.conn.close()  # before the lock, whose descriptor on the database file must close last
        lock.__exit__()


def _where(error: BaseException) -> str:
    """`Type: message (at module.py:line)`, the innermost frame: enough to report the bug, one line."""
    import os
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    at = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}{at}"
