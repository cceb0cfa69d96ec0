"""Paging through a Hub listing: the URL of its first page, and its pages one by one with the next
fetched while the current one is written (SQLite releases the GIL while it works, so the two overlap).

huggingface_hub keeps its listing cursor to itself; a crawl must resume from the last committed
page after a crash, so it follows the `Link` header itself.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlencode

from ..hub.client import HubClient, next_link

PAGE_LIMIT = 1000


def listing_url(client: HubClient, sort: str, expand: list, extra=(), limit: int = PAGE_LIMIT) -> str:
    params = [("sort", sort), ("limit", str(limit))] + list(extra) + [("expand", e) for e in expand]
    return f"{client.endpoint}/api/models?{urlencode(params)}"


# A page of a thousand models parses into some 100,000 dicts and lists that live until the page is
# written. At the collector's default threshold (700 allocations) the cyclic GC runs about 150 times
# a page, for no garbage (parsed JSON holds no reference cycle): measured at 100,000 models, 5% of a
# full crawl's CPU (121 against 115 us a model with the collector off). While a listing is walked,
# the young generation is collected once per 100,000 allocations instead (118 us): about once a page.
YOUNG_GC_THRESHOLD = 100_000


@contextmanager
def fewer_collections(threshold: int = YOUNG_GC_THRESHOLD):
    """The cyclic collector's young-generation threshold raised to `threshold` inside, restored after."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], threshold), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def pages(client: HubClient, url: str, depth: int = 2, last_page=None, should_stop=None, prepare=None):
    """Yield (url, items, next_url) page by page; the next page is fetched while this one is used.
    `last_page(items)` true: that page is the last (the fetcher doesn't ask for one more).
    `should_stop()` true while waiting for a page: the listing ends there (the caller decides why).
    `prepare(url, items)`, if given, runs in the fetching thread and what it returns is yielded in
    place of the items: work that writes nothing (reading items into records) then overlaps the
    writing of the page before, whose SQLite work runs without the GIL."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def fetch():
        u = url
        try:
            while u and not stop.is_set():
                items, response = client.get(u)
                nxt = None if last_page is not None and last_page(items) else next_link(response)
                q.put(("page", u, items if prepare is None else prepare(u, items), nxt))
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
