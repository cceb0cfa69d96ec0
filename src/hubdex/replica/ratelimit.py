"""The Hub's rate limits: fixed windows per bucket and caller, announced on every response.

Buckets are `api` (`/api/*`) and `resolvers` (any `/resolve/` URL). A caller is its token, or its
address when anonymous; anonymous callers get the anonymous quota (Hub: 500 / 3,000 per 5 minutes),
token holders the free-account quota (1,000 / 5,000). Headers follow the IETF draft the Hub uses:
`RateLimit: "api";r=<remaining>;t=<seconds to reset>` and
`RateLimit-Policy: "fixed window";"api";q=<quota>;w=<window>`.
"""

from __future__ import annotations

import math
import threading
import time

DEFAULT_QUOTAS = {"api": (500, 1000), "resolvers": (3000, 5000)}  # (anonymous, with a token)
DEFAULT_WINDOW = 300.0


class RateLimiter:
    def __init__(self, quotas: dict | None = None, window: float = DEFAULT_WINDOW, clock=time.monotonic):
        self.quotas = dict(DEFAULT_QUOTAS)
        for bucket, q in (quotas or {}).items():
            self.quotas[bucket] = q if isinstance(q, tuple) else (int(q), int(q))
        self.window = float(window)
        self.clock = clock
        self.lock = threading.Lock()
        self.windows: dict = {}  # (bucket, caller) -> [window start, used]

    def configure(self, quotas: dict | None = None, window: float | None = None):
        with self.lock:
            for bucket, q in (quotas or {}).items():
                self.quotas[bucket] = q if isinstance(q, tuple) else (int(q), int(q))
            if window is not None:
                self.window = float(window)
            self.windows.clear()

    def take(self, bucket: str, caller: str, authenticated: bool) -> tuple[bool, dict]:
        """Spend one request; returns (allowed, headers to send)."""
        quota = self.quotas[bucket][1 if authenticated else 0]
        now = self.clock()
        with self.lock:
            state = self.windows.get((bucket, caller))
            if state is None or now - state[0] >= self.window:
                state = self.windows[(bucket, caller)] = [now, 0]
            allowed = state[1] < quota
            if allowed:
                state[1] += 1
            remaining = quota - state[1]
            reset = max(0, math.ceil(state[0] + self.window - now))
        return allowed, self.headers(bucket, remaining, reset, quota)

    def headers(self, bucket: str, remaining: int, reset: int, quota: int | None = None) -> dict:
        q = self.quotas[bucket][0] if quota is None else quota
        w = int(self.window) if self.window == int(self.window) else self.window
        return {"RateLimit": f'"{bucket}";r={remaining};t={reset}',
                "RateLimit-Policy": f'"fixed window";"{bucket}";q={q};w={w}'}
