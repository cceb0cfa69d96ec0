"""Paging through a Hub listing: the URL of its first page, and its pages one by one with the next
fetched while the current one is written (SQLite releases the GIL while it works, so the two overlap).

huggingface_hub keeps its listing cursor to itself; a crawl must resume from the last committed
page after a crash, so it follows the `Link` header itself.
"""

from __future__ import annotations

import queue
import threading
import time
from urllib.parse import urlencode

from ..hub.client import HubClient, next_link

PAGE_LIMIT = 1000


def listing_url(client: HubClient, sort: str, expand: list, extra=(), limit: int = PAGE_LIMIT) -> str:
    params = [("sort", sort), ("limit", str(limit))] + list(extra) + [("expand", e) for e in expand]
    return f"{client.endpoint}/api/models?{urlencode(params)}"


def pages(client: HubClient, url: str, depth: int = 2, last_page=None, should_stop=None):
    """Yield (url, items, next_url) page by page; the next page is fetched while this one is used.
    `last_page(items)` true: that page is the last (the fetcher doesn't ask for one more).
    `should_stop()` true while waiting for a page: the listing ends there (the caller decides why)."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def fetch():
        u = url
        try:
            while u and not stop.is_set():
                items, response = client.get(u)
                nxt = None if last_page is not None and last_page(items) else next_link(response)
                q.put(("page", u, items, nxt))
                u = nxt
            q.put(("end",))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which decides
            q.put(("error", e))

    thread = threading.Thread(target=fetch, name="hubdex-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            if should_stop is None:
                msg = q.get()
            else:
                try:
                    msg = q.get(timeout=0.2)
                except queue.Empty:
                    if should_stop():
                        return
                    continue
            if msg[0] == "end":
                return
            if msg[0] == "error":
                raise msg[1]
            yield msg[1:]
    finally:
        stop.set()
        # Unblock a producer waiting on a full queue; one stuck in a slow request is a daemon thread
        # that writes nothing, so an interrupted crawl does not wait out its timeout.
        deadline = time.monotonic() + 1.0
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
