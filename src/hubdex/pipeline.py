"""Fetch, parse and normalise listing pages in a child process; the parent only writes.

Parsing a page of JSON and normalising its models costs as much CPU as writing them to SQLite, and
one Python process does both on one core. A forked child follows the listing's `Link` chain with its
own HTTP client, turns each page into records (tuples, cheap to pickle) and sends them down a pipe,
one page ahead of the writer: the pipe's blocking send is the back-pressure. The child never writes
to the database; the parent commits each page with its checkpoint, so nothing about resumability
changes. If the parent dies, the child's next send fails and it exits; if the child dies, the parent
sees the pipe close and stops cleanly.

The child is spawned, not forked: a forked child would inherit the writer lock's descriptor (an
`flock` belongs to the open file, so a SIGKILLed crawl's child kept the database locked), the
pipe's read end (so it never noticed its parent's death) and the parent's pooled HTTP connections.
A spawned interpreter inherits none of them, at the price of ~0.5 s of imports per listing.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import asdict

from .hub.client import GaveUp, HubClient, HubError, next_link
from .records import BadItem, metrics_of, normalise


def _convert(kind: str, items: list):
    """(records, bad items as (model_id, reason, item), _ids seen) of one page."""
    records, bad, oids = [], [], []
    convert = normalise if kind == "models" else metrics_of
    for item in items:
        try:
            rec = convert(item)
        except BadItem as e:
            model_id = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
            bad.append((model_id, str(e), item))
            if isinstance(item, dict) and isinstance(item.get("_id"), str):
                oids.append(item["_id"])  # seen, though unreadable: not a deletion
            continue
        records.append(rec)
        oids.append(rec.oid if kind == "models" else rec[1])
    return records, bad, oids


def _last_page(items: list, cutoff: int | None) -> bool:
    """Incremental listings stop at the first page reaching below the watermark's cutoff."""
    if cutoff is None:
        return False
    from .crawl import epoch_of

    stamps = [epoch_of(i["lastModified"]) for i in items if isinstance(i, dict) and isinstance(i.get("lastModified"), str)]
    return bool(stamps) and min(stamps) < cutoff


def _child(conn, url: str, kind: str, cutoff, endpoint: str, token, client_opts: dict):
    client = HubClient(endpoint, token, **client_opts)
    try:
        while url:
            items, response = client.get(url)
            if not isinstance(items, list):
                conn.send(("bad_page", url, f"page is {type(items).__name__}, not a list", items, asdict(client.stats)))
                return
            last = _last_page(items, cutoff)
            nxt = None if last else next_link(response)
            records, bad, oids = _convert(kind, items)
            conn.send(("page", url, nxt, len(items), records, bad, oids, asdict(client.stats)))
            url = nxt
        conn.send(("end", asdict(client.stats)))
    except (GaveUp, HubError) as e:
        conn.send(("error", type(e).__name__, str(e), asdict(client.stats)))
    except (BrokenPipeError, EOFError, KeyboardInterrupt):
        pass  # the parent is gone or stopping
    finally:
        conn.close()


class PagePipeline:
    """Iterate ("page", url, next_url, n_items, records, bad, oids) from a child process."""

    def __init__(self, client: HubClient, url: str, kind: str = "models", cutoff: int | None = None):
        self.client = client
        ctx = mp.get_context("spawn")
        self.reader, writer = ctx.Pipe(duplex=False)
        opts = {"timeout": client.timeout, "max_retries": client.max_retries, "base_wait": client.base_wait,
                "max_wait": client.max_wait}
        self.proc = ctx.Process(target=_child, args=(writer, url, kind, cutoff, client.endpoint, client.token, opts),
                                name="hubdex-fetch", daemon=True)
        self.proc.start()
        writer.close()
        self.child_stats = {}

    def __iter__(self):
        try:
            while True:
                try:
                    msg = self.reader.recv()
                except EOFError:
                    raise GaveUp(f"the fetching process died (exit code {self.proc.exitcode})") from None
                self.child_stats = msg[-1]
                if msg[0] == "page":
                    yield msg[1:-1]
                elif msg[0] == "end":
                    return
                elif msg[0] == "bad_page":
                    raise BadPage(msg[1], msg[2], msg[3])
                else:
                    raise (GaveUp if msg[1] == "GaveUp" else HubError)(msg[2])
        finally:
            self.close()

    def close(self):
        self.reader.close()
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(5)


class BadPage(Exception):
    def __init__(self, url, reason, body):
        super().__init__(reason)
        self.url, self.reason, self.body = url, reason, body
