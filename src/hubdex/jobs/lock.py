"""One writer per database: an advisory lock held for the whole job (crawl or derive).

`flock` is released by the kernel when the process dies, however it dies (SIGKILL included), so a
crashed crawl never leaves a stale lock behind; the next run simply takes it.
"""

from __future__ import annotations

import fcntl
import os


class Busy(Exception):
    """Another process holds the lock."""


class WriterLock:
    def __init__(self, db_path: str, holder: str = ""):
        self.path = os.path.abspath(db_path) + ".lock"
        self.holder = holder  # written into the lock file, so a refused job can say who holds it
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
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}{': ' + self.holder if self.holder else ''}".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
