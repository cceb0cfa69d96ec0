"""Advisory file locks: one writer per database (`WriterLock`, held for a whole job) and one export
per directory (the export stage's). `flock` is released by the kernel when the process dies,
however it dies (SIGKILL included), so a crashed job never leaves a stale lock behind; the next
run simply takes it.
"""

from __future__ import annotations

import fcntl
import os


class Busy(Exception):
    """Another process holds the lock."""


class LockFile:
    """An exclusive flock on `path`; Busy (naming the holder written into the file) when taken."""

    def __init__(self, path: str, holder: str = "", *, record_holder: bool = True):
        self.path = path
        self.holder = holder  # written into the lock file, so a refused job can say who holds it
        self.record_holder = record_holder  # False: the file is never written (its mtime stays put)
        self.fd = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise Busy(holder) from None
        if self.record_holder:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}{': ' + self.holder if self.holder else ''}".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class WriterLock(LockFile):
    """The database's writer lock: `<db>.lock` beside the file, shared by every job."""

    def __init__(self, db_path: str, holder: str = ""):
        super().__init__(os.path.abspath(db_path) + ".lock", holder)
