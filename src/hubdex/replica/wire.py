"""What the Hub puts on the wire besides bodies: ETags, request ids, standard headers, error shapes."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate

# The value real 2025 responses carry (huggingface_hub cassettes).
EXPOSE_HEADERS = ("X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,"
                  "Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash")
JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


@dataclass
class Stream:
    """A body produced while sending (a large file is never held in memory): `length` bytes, and
    `source(start, stop)` yields them in chunks."""
    length: int
    source: Callable[[int, int], Iterator[bytes]]


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    action: str | None = None  # "reset", "drop" or "truncate": a fault applied while sending
    delay: float = 0.0
    stream: Stream | None = None  # when set, the body (`body` is then empty)


def weak_etag(body: bytes) -> str:
    """The Hub's API ETag: express's weak form, W/"<length hex>-<base64 sha1, 27 chars>"."""
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return f'W/"{len(body):x}-{digest}"'


def git_blob_sha(content: bytes) -> str:
    """A regular file's ETag on /resolve/: its git blob id."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def request_id(trace: str | None) -> str:
    root = f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return f"{root};{trace}" if trace else root


def http_date() -> str:
    return formatdate(usegmt=True)


def json_response(status: int, body: bytes, **headers) -> Response:
    return Response(status, body, {"Content-Type": JSON, "ETag": weak_etag(body), **headers})


def error(status: int, message: str, code: str | None = None, text: bool = False) -> Response:
    """An error as huggingface_hub reads it: X-Error-Code picks the exception, X-Error-Message the text."""
    headers = {"X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    if text:
        return Response(status, message.encode(), {"Content-Type": TEXT, **headers})
    import json as _json
    return Response(status, _json.dumps({"error": message}).encode(), {"Content-Type": JSON, **headers})


def redirect(location: str) -> Response:
    """A 307 as the Hub sends for renamed repos: relative Location, text body (recorded verbatim)."""
    return Response(307, f"Temporary Redirect. Redirecting to {location}".encode(),
                    {"Content-Type": TEXT, "Location": location, "Vary": "Origin, Accept"})
