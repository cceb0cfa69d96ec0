"""A progress line on a terminal (pages, models, rate, ETA when the total is known); silent otherwise.
`announce` says what a crawl is waiting for, on stderr whether or not it is a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int | None = None, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label, self.total = label, total
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, pages: int, models: int, force: bool = False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        rate = models / elapsed
        text = f"{self.label}: {pages:,} pages, {models:,} models, {rate:,.0f} models/s"
        if self.total:
            done = min(models / self.total, 1.0)
            bar = "#" * int(done * 20)
            eta = (self.total - models) / rate if rate > 0 else 0
            text += f" [{bar:<20}] {done:.0%} ETA {eta:,.0f}s"
        self.stream.write("\r" + text + " " * 4)
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def announce(message: str, stream=None):
    """One line on stderr ("waiting 194 s for the api rate-limit window"): on a terminal it replaces
    the progress line, which the next update draws again below it."""
    stream = stream or sys.stderr
    tty = stream.isatty()
    stream.write(("\r" if tty else "") + message + ("\x1b[K" if tty else "") + "\n")
    stream.flush()
