"""The rate-limit budget shared by every run against one database: a small JSON file beside it.

A `HubClient` learns each bucket's window (requests left, seconds to reset) from the Hub's
`RateLimit` headers. Kept only in memory, a run that starts after another spent the window would
begin by collecting 429s; so the client loads the windows from this file when it starts and writes
them back as it goes (at most once a second, and at once when a bucket is spent). Crawls of one
database never overlap (the writer lock), so the file has one writer at a time; readers (`hubdex
status`, the daemon's /metrics) read it whole. Times in the file are wall-clock seconds (UTC epoch).

    {"https://huggingface.co": {"api": {"remaining": 412, "reset_at": 1764590000.0, "seen_at": ...}}}
"""

from __future__ import annotations

import json
import os
import time

SAVE_EVERY = 1.0  # seconds between writes while requests flow


def read(path: str) -> dict:
    """The file's windows ({} when missing or unreadable: a budget is advice, never a reason to fail)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def left(path: str, origin: str | None = None, now: float | None = None) -> dict:
    """{origin: {bucket: {"remaining": n or None (window reset: full), "reset_at": t}}} as of `now`."""
    now = time.time() if now is None else now
    out = {}
    for org, buckets in read(path).items():
        if origin and org != origin or not isinstance(buckets, dict):
            continue
        out[org] = {b: {"remaining": w.get("remaining") if w.get("reset_at", 0) > now else None,
                        "reset_at": w.get("reset_at"), "seen_at": w.get("seen_at")}
                    for b, w in buckets.items() if isinstance(w, dict)}
    return out


class SharedBudget:
    """The file as a client sees it: load the windows of one origin, save them back."""

    def __init__(self, path: str, origin: str, wall=time.time):
        self.path, self.origin, self.wall = path, origin, wall
        self.last_save = 0.0

    def load(self) -> dict:
        """{bucket: (remaining, seconds until reset)} for windows that have not reset yet."""
        now = self.wall()
        buckets = read(self.path).get(self.origin, {})
        return {b: (int(w["remaining"]), float(w["reset_at"]) - now) for b, w in buckets.items()
                if isinstance(w, dict) and float(w.get("reset_at", 0)) > now and "remaining" in w}

    def save(self, windows: dict, *, force: bool = False):
        """`windows`: {bucket: (remaining, seconds until reset)}. Written aside, then renamed."""
        now = self.wall()
        if not force and now - self.last_save < SAVE_EVERY:
            return
        self.last_save = now
        data = read(self.path)
        mine = data.get(self.origin) if isinstance(data.get(self.origin), dict) else {}
        for bucket, (remaining, reset_in) in windows.items():
            mine[bucket] = {"remaining": remaining, "reset_at": round(now + reset_in, 3), "seen_at": round(now, 3)}
        data[self.origin] = mine
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a budget that can't be saved costs 429s later, never the crawl
