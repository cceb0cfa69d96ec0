"""hubdex's HTTP client for the Hub: huggingface_hub's session, with our own politeness.

huggingface_hub 2.4 gives the HTTP session (httpx2) and the headers; it does not give a listing
cursor that survives a crash, nor timeouts or retries on `model_info`, so this module adds them:

* a budget per rate-limit bucket, read from every response's `RateLimit` header: when a bucket is
  spent, the next request waits for its window to reset instead of collecting a 429;
* an explicit timeout on every request;
* retries with exponential backoff on 408 / 429 / 5xx, timeouts, resets and broken bodies (the
  first page included); a 429 waits `t + 1` seconds when the header says so, else `Retry-After`,
  else the backoff;
* errors as our own exceptions, whose messages never carry the token;
* the token only to the endpoint's own origin: a request to another host (the inference router,
  a URL a user typed for another purpose) goes without it, and httpx drops it on a redirect away.
"""

from __future__ import annotations

import random
import re
import threading
import time
from urllib.parse import urlsplit
from dataclasses import dataclass, field

import httpx2
import orjson
from huggingface_hub.utils import build_hf_headers, get_session

from .. import __version__

RETRY_STATUS = {408, 429, 500, 502, 503, 504}
RATELIMIT = re.compile(r'"(?P<bucket>\w+)"\s*;\s*r\s*=\s*(?P<r>\d+)\s*;\s*t\s*=\s*(?P<t>\d+)')


class HubError(Exception):
    """The Hub answered something we can't use (and retrying won't help)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code


class NotFound(HubError):
    pass


class GaveUp(HubError):
    """Retries ran out: the crawl stops cleanly and the next run resumes."""


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0   # 429s received
    waited: float = 0.0  # seconds spent waiting for a window or a backoff
    errors: int = 0      # failed attempts (retried or not)
    by_bucket: dict = field(default_factory=dict)


def bucket_of(url: str) -> str:
    return "resolvers" if "/resolve/" in url or "/api/resolve-cache/" in url else "api"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class HubClient:
    def __init__(self, endpoint: str, token: str | bool | None = None, *, timeout: float = 30.0,
                 max_retries: int = 8, base_wait: float = 1.0, max_wait: float = 60.0, sleep=time.sleep,
                 clock=time.monotonic, budget=None):
        self.endpoint = endpoint.rstrip("/")
        # build_hf_headers puts the token in Authorization only; it never reaches our logs or rows.
        self.headers = build_hf_headers(token=token or False, library_name="hubdex", library_version=__version__)
        self.anonymous_headers = build_hf_headers(token=False, library_name="hubdex", library_version=__version__)
        self.origin = origin_of(self.endpoint)
        self.session = get_session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.base_wait, self.max_wait = base_wait, max_wait
        self.sleep, self.clock = sleep, clock
        self.stats = Stats()
        self.lock = threading.Lock()
        self.windows: dict[str, tuple[int, float]] = {}  # bucket -> (remaining, reset at)
        # The budget shared with the runs before and after this one (hub/budget.py): a window another
        # run spent is waited for here too, instead of being rediscovered through 429s.
        self.budget = budget
        if budget is not None:
            self.windows.update({b: (r, self.clock() + reset_in) for b, (r, reset_in) in budget.load().items()})

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.endpoint}{path}"

    # -- politeness -------------------------------------------------------------------------------
    def _wait_for_budget(self, bucket: str):
        with self.lock:
            remaining, reset_at = self.windows.get(bucket, (1, 0.0))
        if remaining <= 0:
            delay = reset_at - self.clock()
            if delay > 0:
                self._sleep(delay + 0.5)
            with self.lock:
                self.windows.pop(bucket, None)

    def _note_limits(self, response, own: bool = True):
        header = response.headers.get("ratelimit")
        m = RATELIMIT.search(header) if header else None
        if m:
            key = m["bucket"] if own else origin_of(str(response.url))
            with self.lock:
                self.windows[key] = (int(m["r"]), self.clock() + int(m["t"]))
                if own and self.budget is not None:
                    now = self.clock()
                    self.budget.save({b: (r, at - now) for b, (r, at) in self.windows.items() if "://" not in b},
                                     force=int(m["r"]) == 0)
        return m

    def _sleep(self, seconds: float):
        with self.lock:
            self.stats.waited += seconds
        self.sleep(seconds)

    def _backoff(self, attempt: int, response=None, own: bool = True) -> float:
        if response is not None and response.status_code == 429:
            m = self._note_limits(response, own)
            if m and int(m["r"]) == 0:
                return int(m["t"]) + 1
            retry_after = response.headers.get("retry-after", "")
            if retry_after.isdigit():
                return int(retry_after)
        wait = min(self.max_wait, self.base_wait * 2 ** attempt)
        return wait * (0.75 + random.random() / 2)  # jitter: many crawlers must not retry in step

    # -- requests ---------------------------------------------------------------------------------
    def get(self, path: str, params=None, *, parse_json: bool = True, max_retries: int | None = None):
        """GET with budget, timeout and retries (`max_retries` for this call only: the same policy,
        fewer tries); returns (parsed body or bytes, response)."""
        url = self.url(path)
        own = origin_of(url) == self.origin
        # Another origin has its own limits: its budget is kept apart from the Hub's buckets.
        bucket = bucket_of(url) if own else origin_of(url)
        headers = self.headers if own else self.anonymous_headers
        tries = self.max_retries if max_retries is None else max_retries
        last = "no attempt"
        for attempt in range(tries + 1):
            self._wait_for_budget(bucket)
            response = None
            try:
                with self.lock:
                    self.stats.requests += 1
                    self.stats.by_bucket[bucket] = self.stats.by_bucket.get(bucket, 0) + 1
                response = self.session.get(url, params=params, headers=headers, timeout=self.timeout,
                                            follow_redirects=True)
                self._note_limits(response, own)
                if response.status_code in RETRY_STATUS:
                    last = f"HTTP {response.status_code}"
                    if response.status_code == 429:
                        with self.lock:
                            self.stats.throttled += 1
                    raise _Retry()
                if response.status_code >= 400:
                    code = response.headers.get("x-error-code")
                    kind = NotFound if code in ("RepoNotFound", "EntryNotFound", "RevisionNotFound") or \
                        response.status_code == 404 else HubError
                    raise kind(f"{code or 'HTTP ' + str(response.status_code)} for {_safe(url)}",
                               response.status_code, code)
                body = response.content
                return (orjson.loads(body) if parse_json else body), response
            except _Retry:
                pass
            except orjson.JSONDecodeError:
                last = "a body that is not valid JSON (truncated?)"
            except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as e:
                last = type(e).__name__
            with self.lock:
                self.stats.errors += 1
                if attempt < tries:
                    self.stats.retries += 1
            if attempt < tries:
                self._sleep(self._backoff(attempt, response, own))
        raise GaveUp(f"gave up on {_safe(url)} after {tries + 1} attempts: {last}")


class _Retry(Exception):
    pass


def _safe(url: str) -> str:
    """A URL for messages: the query can be long (cursors); the path says enough."""
    return url.split("?", 1)[0]


def next_link(response) -> str | None:
    """The `rel="next"` URL of a Link header (other links, as on the Hub's HTML pages, are ignored)."""
    return response.links.get("next", {}).get("url")
