"""Advisory file locks: one writer per database (`WriterLock`, held for a whole job), one daemon per
database (`DaemonLock`) and one export per directory (the export stage's). They are released by the
kernel when the process dies, however it dies (SIGKILL included), so a crashed job never leaves a
stale lock behind; the next run simply takes it.

A database's locks are keyed by the file itself, not by the path it was named by: a symlink, a hard
link or a second spelling of the path (`./db/../db/hub.db`) is the same database. Two locks make
that so:

- an `flock` on `<resolved path>.lock` (symlinks resolved), which also records who holds it, so a
  refused job can name the holder; it works before the database file exists;
- an open-file-description lock (`F_OFD_SETLK`) on one byte of the database file itself, far past
  anything SQLite locks (its locks live at 1 GiB): keyed by the inode, so a hard link in another
  directory meets it too. Unlike classic POSIX locks, closing another descriptor of the file (SQLite
  does) never releases it, and it never conflicts with SQLite's own byte ranges. Each kind of lock
  has its own byte, so the daemon's lock and a job's writer lock do not exclude each other.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

_OFD_BASE = 1 << 40  # bytes from here on are never locked by SQLite
WRITER_BYTE, DAEMON_BYTE = 0, 1
_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", None)  # Linux 3.15+


class Busy(Exception):
    """Another process holds the lock."""


def resolved(path: str) -> str:
    """The database's own path: symlinks resolved, `..` and `.` gone."""
    return os.path.realpath(path)


class LockFile:
    """An exclusive flock on `path`; Busy (naming the holder written into the file) when taken.
    `key_file` (and `key_byte`): also lock that file's inode, see the module's docstring."""

    def __init__(self, path: str, holder: str = "", *, record_holder: bool = True, key_file: str | None = None,
                 key_byte: int = WRITER_BYTE, create_key_file: bool = False):
        self.path = path
        self.holder = holder  # written into the lock file, so a refused job can say who holds it
        self.record_holder = record_holder  # False: the file is never written (its mtime stays put)
        self.key_file, self.key_byte, self.create_key_file = key_file, key_byte, create_key_file
        self.fd = None
        self.key_fd = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise Busy(holder) from None
        try:
            self.key_fd = self._lock_key()
        except Busy:
            os.close(fd)
            raise
        if self.record_holder:
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"pid {os.getpid()}{': ' + self.holder if self.holder else ''}".encode())
            except OSError:
                pass  # a full disk: the lock holds all the same; only the holder's name is not recorded
        self.fd = fd
        return self

    def _lock_key(self):
        if not self.key_file or _OFD_SETLK is None:  # (not Linux: the path's flock is the lock)
            return None
        flags = os.O_RDWR | (os.O_CREAT if self.create_key_file else 0)
        try:
            kfd = os.open(self.key_file, flags, 0o644)
        except FileNotFoundError:
            return None  # no file yet: the flock above is the lock (a hard link needs a file)
        except OSError:
            try:
                kfd = os.open(self.key_file, os.O_RDONLY)
            except OSError:
                return None
        kind = fcntl.F_WRLCK if _writable(kfd) else fcntl.F_RDLCK
        try:
            fcntl.fcntl(kfd, _OFD_SETLK, struct.pack("hhqqi4x", kind, os.SEEK_SET,
                                                            _OFD_BASE + self.key_byte, 1, 0))
        except OSError as e:
            os.close(kfd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise Busy("another process, through another name of the same database file") from None
            return None  # a file system without OFD locks: the path's flock still stands
        return kfd

    def pin(self):
        """Lock the key file's inode now if it did not exist when the lock was taken (a new database,
        created since under the path's flock); Busy if another name of it is held meanwhile."""
        if self.key_fd is None and self.fd is not None:
            self.key_fd = self._lock_key()

    def __exit__(self, *exc):
        if self.key_fd is not None:
            os.close(self.key_fd)
            self.key_fd = None
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _writable(fd: int) -> bool:
    return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE in (os.O_RDWR, os.O_WRONLY)


class WriterLock(LockFile):
    """The database's writer lock, shared by every job: `<db>.lock` beside the resolved file, and the
    database file's writer byte (for a new database, once the job has created it: `pin()`)."""

    def __init__(self, db_path: str, holder: str = ""):
        real = resolved(db_path)
        super().__init__(real + ".lock", holder, key_file=real, key_byte=WRITER_BYTE)


class DaemonLock(LockFile):
    """One daemon per database: `<db>.daemon.lock` beside the resolved file, and the file's daemon byte
    (when the database exists)."""

    def __init__(self, db_path: str, holder: str = "daemon", *, record_holder: bool = True):
        real = resolved(db_path)
        super().__init__(real + ".daemon.lock", holder, record_holder=record_holder, key_file=real,
                         key_byte=DAEMON_BYTE)
