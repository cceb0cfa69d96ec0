"""hubdex's HTTP client for the Hub: huggingface_hub's session, with our own politeness.

huggingface_hub 2.4 gives the HTTP session (httpx2) and the headers; it does not give a listing
cursor that survives a crash, nor timeouts or retries on `model_info`, so this module adds them:

* a budget per rate-limit bucket, read from every response's `RateLimit` header: when a bucket is
  spent, the next request waits for its window to reset instead of collecting a 429;
* an explicit timeout on every request;
* retries with exponential backoff on 408 / 429 / 5xx, timeouts, resets and broken bodies (the
  first page included); a 429 waits `t + 1` seconds when the header says so, else `Retry-After`,
  else the backoff;
* a file's body checked against the response's `Content-Length` and `ETag` (`check=whole_file`):
  a short body is retried like any broken one, and `Incomplete` if it stays short;
* every wait of a second or more told to `on_wait` ("waiting 194 s for the api rate-limit window",
  "retry 3 of 8 in 8 s: connection refused"), so a long wait is never silent;
* errors as our own exceptions, whose messages never carry the token;
* the token only to the endpoint's own origin: a request to another host (the inference router,
  a URL a user typed for another purpose) goes without it, and httpx drops it on a redirect away.
"""

from __future__ import annotations

import hashlib
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


class Incomplete(GaveUp):
    """Retries ran out on a body that stayed shorter than (or other than) its headers say; `body` is
    the last one received."""

    def __init__(self, message: str, body: bytes):
        super().__init__(message)
        self.body = body


class BadToken(ValueError):
    """A token no HTTP header can carry; the message never holds the token."""


def clean_token(token):
    """The token stripped of surrounding whitespace (a token file's trailing newline, a pasted space),
    or None when empty; BadToken when what is left holds anything but visible ASCII (a control
    character, a non-ASCII letter: httpx would raise with the header, token and all, in its message).
    `True`/`False` (huggingface_hub's "use the stored token" / "none") pass through."""
    if token is None or isinstance(token, bool):
        return token
    token = str(token).strip()
    if not token:
        return None
    bad = next((i for i, ch in enumerate(token) if not 0x21 <= ord(ch) <= 0x7E), None)
    if bad is not None:
        kind = "a non-ASCII character" if ord(token[bad]) > 0x7E else "a space or control character"
        raise BadToken(f"the Hub token (--token, HF_TOKEN or the token file) has {kind} at position {bad + 1} "
                       f"of {len(token)}; a header can't carry it (the token is not shown)")
    return token


ANNOUNCE_WAITS = 1.0  # seconds: a wait this long or longer is told to on_wait


def git_blob_id(body: bytes) -> str:
    """A file's git blob id, which the Hub's resolve endpoint sends as the `ETag` of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


def whole_file(body: bytes, response) -> str | None:
    """Why `body` is not the whole file `response` announced, or None. `Content-Length` is compared
    when the body was not encoded in transit; the `ETag` when it is a digest of the file: 40 hex
    digits, the git blob id (a regular file), or 64, the sha256 (an LFS file)."""
    headers = response.headers
    length = headers.get("content-length", "")
    if length.isdigit() and headers.get("content-encoding", "identity") == "identity" and int(length) != len(body):
        return f"a body of {len(body):,} bytes where Content-Length says {int(length):,}"
    etag = (headers.get("x-linked-etag") or headers.get("etag") or "").removeprefix("W/").strip('"').lower()
    if re.fullmatch(r"[0-9a-f]{40}", etag) and git_blob_id(body) != etag:
        return f"a body of {len(body):,} bytes whose git blob id is not the ETag {etag} (truncated?)"
    if re.fullmatch(r"[0-9a-f]{64}", etag) and hashlib.sha256(body).hexdigest() != etag:
        return f"a body of {len(body):,} bytes whose sha256 is not the ETag {etag} (truncated?)"
    return None


def describe(error: Exception) -> str:
    """A network failure as a person reads it, with its type for the log."""
    text = str(error).lower()
    kind = type(error).__name__
    if "refused" in text:
        return f"connection refused ({kind})"
    if "reset" in text:
        return f"connection reset ({kind})"
    if isinstance(error, httpx2.TimeoutException):
        return f"timed out ({kind})"
    if isinstance(error, httpx2.RemoteProtocolError):
        return f"connection closed mid-response ({kind})"
    return kind


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
    """scheme://host[:port], lower-cased, without a URL's `user:password@` (an origin names a server;
    it is also a key of the budget file and of `hubdex status`, which must never show a password)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}".lower()


class HubClient:
    def __init__(self, endpoint: str, token: str | bool | None = None, *, timeout: float = 30.0,
                 max_retries: int = 8, base_wait: float = 1.0, max_wait: float = 60.0, sleep=time.sleep,
                 clock=time.monotonic, on_wait=None, budget=None):
        self.endpoint = endpoint.rstrip("/")
        token = clean_token(token)  # before any request: BadToken says what is wrong, never the token
        # build_hf_headers puts the token in Authorization only; it never reaches our logs or rows.
        self.headers = build_hf_headers(token=token or False, library_name="hubdex", library_version=__version__)
        self.anonymous_headers = build_hf_headers(token=False, library_name="hubdex", library_version=__version__)
        self.origin = origin_of(self.endpoint)
        self.session = get_session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.base_wait, self.max_wait = base_wait, max_wait
        self.sleep, self.clock = sleep, clock
        self.on_wait = on_wait  # told of every wait of ANNOUNCE_WAITS seconds or more (a line of text)
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
                self._sleep(delay + 0.5, f"waiting {delay + 0.5:,.0f} s for the {bucket} rate-limit window")
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

    def _sleep(self, seconds: float, why: str = ""):
        with self.lock:
            self.stats.waited += seconds
        if self.on_wait is not None and why and seconds >= ANNOUNCE_WAITS:
            self.on_wait(why)
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
    def get(self, path: str, params=None, *, parse_json: bool = True, max_retries: int | None = None,
            check=None):
        """GET with budget, timeout and retries (`max_retries` for this call only: the same policy,
        fewer tries); returns (parsed body or bytes, response). `check(body, response)` says why a
        body can't be used (None if it can): such a body is retried, and Incomplete if it stays so."""
        url = self.url(path)
        own = origin_of(url) == self.origin
        # Another origin has its own limits: its budget is kept apart from the Hub's buckets.
        bucket = bucket_of(url) if own else origin_of(url)
        headers = self.headers if own else self.anonymous_headers
        tries = self.max_retries if max_retries is None else max_retries
        last, short = "no attempt", None
        for attempt in range(tries + 1):
            self._wait_for_budget(bucket)
            response, short = None, None
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
                        last += f", waiting for the {bucket} rate-limit window"
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
                if check is not None and (problem := check(body, response)):
                    last, short = problem, body
                    raise _Retry()
                return (orjson.loads(body) if parse_json else body), response
            except _Retry:
                pass
            except orjson.JSONDecodeError:
                last = "a body that is not valid JSON (truncated?)"
            except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as e:
                last = describe(e)
            with self.lock:
                self.stats.errors += 1
                if attempt < tries:
                    self.stats.retries += 1
            if attempt < tries:
                wait = self._backoff(attempt, response, own)
                self._sleep(wait, f"retry {attempt + 1} of {tries} in {wait:,.0f} s: {last} at {_safe(url)}")
        message = f"gave up on {_safe(url)} after {tries + 1} attempts: {last}"
        if short is not None:
            raise Incomplete(message, short)
        raise GaveUp(message)


class _Retry(Exception):
    pass


def _safe(url: str) -> str:
    """A URL for messages: the query can be long (cursors); the path says enough."""
    return url.split("?", 1)[0]


def next_link(response) -> str | None:
    """The `rel="next"` URL of a Link header (other links, as on the Hub's HTML pages, are ignored)."""
    return response.links.get("next", {}).get("url")
