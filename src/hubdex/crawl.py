"""`hubdex crawl`: full, incremental, metrics and scoped crawls of the Hub into SQLite.

Every listing is a loop this module owns (huggingface_hub keeps its cursor to itself): a page and
its next-URL checkpoint are committed in one transaction, the checkpoint last, so a crawl killed at
any instant resumes from the last committed page. A prefetch thread fetches the next page while
the current one is written (SQLite releases the GIL while it works, so the two overlap).

Modes:
* full: every model, sorted by `createdAt` (which never moves, so the keyset cursor neither repeats
  nor skips); at the end, models that were not seen get a `removed_at` tombstone.
* incremental (the default once a full pass completed): sorted by `lastModified`, down to the stored
  watermark less an overlap; new, changed and renamed models are then fetched in detail.
* metrics: downloads (30 days), all-time downloads, likes and trending score for every model, with
  the cheapest listing; a history row only for models whose figures moved.
* scoped: `--author`, `--search`, `--filter`, `--pipeline-tag`, `--limit`, or explicit model ids.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from .cardcrawl import crawl_cards
from .hub.client import GaveUp, HubClient, HubError, NotFound, next_link
from .hub.expand import CRAWL_EXPAND
from .hub.router import router_for
from .progress import Progress
from .records import BadItem, metrics_of, normalise
from .store.save import Counts, Writer, get_state
from .store.schema import drop_analyst_indexes, drop_search_triggers, ensure_analyst_indexes, ensure_search_index

PAGE_LIMIT = 1000
INCREMENTAL_OVERLAP_SECONDS = 600  # re-read 10 minutes below the watermark: clocks and commits race
METRICS_EXPAND = ["downloads", "downloadsAllTime", "likes", "trendingScore"]


class Stopped(Exception):
    """The crawl stopped cleanly (upstream failing, bad page): committed work stays, the next run resumes."""


@dataclass
class Scope:
    author: str | None = None
    search: str | None = None
    filters: list = field(default_factory=list)
    pipeline_tag: str | None = None
    limit: int | None = None
    model_ids: list = field(default_factory=list)

    def params(self) -> list[tuple[str, str]]:
        out = [("filter", f) for f in self.filters]
        for key, value in (("author", self.author), ("search", self.search), ("pipeline_tag", self.pipeline_tag)):
            if value:
                out.append((key, value))
        return out

    def is_set(self) -> bool:
        return bool(self.params() or self.limit or self.model_ids)

    def key(self) -> str:
        text = json.dumps([self.params(), self.limit, sorted(self.model_ids)])
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run_day() -> int:
    """Today as days since 1970-01-01 UTC; HUBDEX_DAY=YYYY-MM-DD replays a run (crawl or derive) as
    of another day, for benchmarks and tests of history."""
    override = os.environ.get("HUBDEX_DAY")
    return int((calendar.timegm(time.strptime(override, "%Y-%m-%d")) if override else time.time()) // 86400)


def epoch_of(iso: str) -> int:
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S"))


def listing_url(client: HubClient, sort: str, expand: list, extra=(), limit: int = PAGE_LIMIT) -> str:
    params = [("sort", sort), ("limit", str(limit))] + list(extra) + [("expand", e) for e in expand]
    return f"{client.endpoint}/api/models?{urlencode(params)}"


def pages(client: HubClient, url: str, depth: int = 2, last_page=None):
    """Yield (url, items, next_url) page by page; the next page is fetched while this one is used.
    `last_page(items)` true: that page is the last (the fetcher doesn't ask for one more)."""
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
            msg = q.get()
            if msg[0] == "end":
                return
            if msg[0] == "error":
                raise msg[1]
            yield msg[1:]
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


@dataclass
class RunLog:
    """One row of `runs` per run: opened at the start, closed with its figures at the end."""

    db: object
    mode: str
    scope: str
    endpoint: str
    args: dict
    id: int = 0
    pages: int = 0
    counts: Counts = field(default_factory=Counts)
    removed: int = 0
    details: int = 0
    cards: int = 0
    prices: int | None = None   # router offers saved; None when the catalogue was not fetched
    notes: list = field(default_factory=list)  # trouble that did not stop the run
    quarantined: int = 0

    def open(self):
        conn = self.db.conn
        # A run still marked running was killed: the lock we hold proves nobody else is writing.
        conn.execute("UPDATE runs SET status = 'killed', ended_at = coalesce(ended_at, ?) WHERE status = 'running'",
                     (now_iso(),))
        cur = conn.execute("INSERT INTO runs (mode, scope, endpoint, started_at, status, args) VALUES (?, ?, ?, ?, ?, ?)",
                           (self.mode, self.scope, self.endpoint, now_iso(), "running", json.dumps(self.args)))
        self.id = cur.lastrowid

    def close(self, status: str, reason: str | None, stats):
        c = self.counts
        self.db.conn.execute(
            "UPDATE runs SET ended_at = ?, status = ?, reason = ?, pages = ?, models_seen = ?, models_new = ?, "
            "models_changed = ?, models_renamed = ?, models_removed = ?, models_revived = ?, metrics_moved = ?, "
            "details = ?, cards = ?, prices = ?, requests = ?, retries = ?, throttled = ?, errors = ?, quarantined = ?, "
            "waited_seconds = ? WHERE id = ?",
            (now_iso(), status, "; ".join(filter(None, [reason] + self.notes)) or None, self.pages, c.seen, c.new,
             c.changed, c.renamed, self.removed, c.revived, c.metrics_moved, self.details, self.cards, self.prices,
             stats.requests, stats.retries, stats.throttled, stats.errors, self.quarantined, round(stats.waited, 3),
             self.id))


class Crawler:
    def __init__(self, db, client: HubClient, *, progress: bool | None = None, details: bool = True):
        self.db = db
        self.conn = db.conn
        self.client = client
        self.progress_enabled = progress
        self.fetch_details = details
        self.day = run_day()
        self.writer = Writer(self.conn, self.day, now_iso())
        self.log: RunLog | None = None

    # -- shared page handling ----------------------------------------------------------------------
    def _records(self, url: str, items) -> tuple[list, list]:
        if not isinstance(items, list):
            self._quarantine(url, None, f"page is {type(items).__name__}, not a list", json.dumps(items).encode())
            raise Stopped(f"a page that is not a list at {url.split('?')[0]}")
        good, oids = [], []
        for item in items:
            try:
                rec = normalise(item)
            except BadItem as e:
                model_id = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
                self._quarantine(url, model_id, str(e), json.dumps(item, default=str).encode())
                if isinstance(item, dict) and isinstance(item.get("_id"), str):
                    oids.append(item["_id"])  # seen, though unreadable: not a deletion
                continue
            good.append(rec)
            oids.append(rec.oid)
        return good, oids

    def _quarantine(self, url, model_id, reason, raw):
        self.writer.quarantine(self.log.id, url.split("?")[0] + ("?…" if "?" in url else ""), model_id, reason, raw)
        self.log.quarantined += 1

    def _walk(self, state_key: str, state: dict, save_page, label: str, total: int | None = None, last_page=None):
        """Page from `state["next_url"]`; each page and its checkpoint commit together, checkpoint last."""
        bar = Progress(label, total, self.progress_enabled)
        models = 0
        try:
            for url, items, nxt in pages(self.client, state["next_url"], last_page=last_page):
                with self.db.atomic():
                    n, stop_here = save_page(url, items)
                    state["page"] = state.get("page", 0) + 1
                    state["next_url"] = None if stop_here else nxt
                    self.writer.set_state(state_key, state)
                self.log.pages += 1
                models += n
                bar.update(self.log.pages, models)
                if stop_here or nxt is None:
                    break
        finally:
            bar.update(self.log.pages, models, force=True)
            bar.close()

    # -- modes ---------------------------------------------------------------------------------------
    def full(self):
        state = json.loads(get_state(self.conn, "full.pass") or "null")
        listed = bool(state) and state.get("next_url") is None  # killed after its last page, before the end
        if not state:
            # The incremental watermark a full pass leaves is the Hub's newest lastModified *before*
            # it began: models changed while the pass runs are then re-read by the next incremental.
            newest, _ = self.client.get(listing_url(self.client, "lastModified", ["lastModified"], limit=1))
            first = self.conn.execute("SELECT count(*) FROM models").fetchone()[0] == 0
            state = {"pass_id": now_iso(), "page": 0, "next_url": listing_url(self.client, "createdAt", CRAWL_EXPAND),
                     "watermark": newest[0].get("lastModified") if newest else None, "bulk": first}
            with self.db.atomic():
                self.writer.set_state("full.pass", state)
                if first:
                    drop_analyst_indexes(self.conn)
                    drop_search_triggers(self.conn)

        def save_page(url, items):
            records, oids = self._records(url, items)
            self.log.counts.add(self.writer.save_models(records))
            self.writer.record_pass_page(state["pass_id"], state["page"], oids)
            return len(items), False

        if not listed:
            self._walk("full.pass", state, save_page, "full crawl")
        with self.db.atomic():
            if state.get("bulk"):
                ensure_analyst_indexes(self.conn)
                ensure_search_index(self.db, rebuild=True)
            self.log.removed = self.writer.finish_pass(state["pass_id"])
            self.writer.set_state("full.pass", None)
            self.writer.set_state("full.completed_at", now_iso())
            if state.get("watermark"):
                self.writer.set_state("incremental.watermark", state["watermark"])
            self._mark_metric_day()

    def incremental(self):
        watermark = get_state(self.conn, "incremental.watermark")
        if watermark is None:
            raise Stopped("no full pass has completed yet: run `hubdex crawl --full` first")
        state = json.loads(get_state(self.conn, "incremental.pass") or "null")
        if not state or not (state.get("next_url") or state.get("details_since")):
            state = {"page": 0, "next_url": listing_url(self.client, "lastModified", CRAWL_EXPAND),
                     "cutoff": epoch_of(watermark) - INCREMENTAL_OVERLAP_SECONDS, "newest": None,
                     "since": self.writer.now}
        cutoff = state["cutoff"]

        def save_page(url, items):
            records, _oids = self._records(url, items)
            stamps = [epoch_of(r.row["last_modified"]) for r in records if r.row["last_modified"]]
            if state["newest"] is None and records:
                state["newest"] = max((r.row["last_modified"] for r in records if r.row["last_modified"]),
                                      default=None)
            # Items older than the cutoff were seen by an earlier run; the listing stops here.
            fresh = [r for r in records if not r.row["last_modified"] or epoch_of(r.row["last_modified"]) >= cutoff]
            self.log.counts.add(self.writer.save_models(fresh))
            done = bool(stamps) and min(stamps) < cutoff
            if done:
                state["details_since"] = state["since"]
            return len(items), done

        def older_than_cutoff(items) -> bool:
            stamps = [i.get("lastModified") for i in items if isinstance(i, dict)] if isinstance(items, list) else []
            stamps = [epoch_of(s) for s in stamps if isinstance(s, str)]
            return bool(stamps) and min(stamps) < cutoff

        if state.get("next_url"):
            self._walk("incremental.pass", state, save_page, "incremental crawl", last_page=older_than_cutoff)
            state.setdefault("details_since", state["since"])
            with self.db.atomic():
                self.writer.set_state("incremental.pass", state)
        if self.fetch_details:
            self._details(state["details_since"])
            crawl_cards(self, since=state["details_since"])  # new and changed models' cards
        with self.db.atomic():
            if state.get("newest"):
                self.writer.set_state("incremental.watermark", max(state["newest"], watermark))
            self.writer.set_state("incremental.pass", None)
            self._mark_metric_day()

    def _details(self, since: str):
        """model_info of each model this run added, changed or renamed: file sizes, model-index, widgets."""
        todo = [r[0] for r in self.conn.execute(
            "SELECT id FROM models WHERE removed_at IS NULL AND updated_at >= ? AND "
            "(detail_at IS NULL OR detail_at < updated_at) ORDER BY downloads DESC", (since,))]
        for model_id in todo:
            try:
                body, _ = self.client.get(f"/api/models/{model_id}", params={"blobs": "true"})
                rec = normalise(body)
            except NotFound:
                continue  # gone since the listing: the next full pass tombstones it
            except BadItem as e:
                with self.db.atomic():
                    self._quarantine(f"/api/models/{model_id}", model_id, str(e), b"")
                continue
            with self.db.atomic():
                self.writer.save_details(rec)
            self.log.details += 1

    def cards(self, limit: int | None = None):
        """Work the card backlog (missing or older than the model's sha), most downloaded first."""
        crawl_cards(self, limit=limit)

    def metrics(self):
        state = json.loads(get_state(self.conn, "metrics.pass") or "null")
        if not state or not state.get("next_url") or state.get("day") != self.day:
            state = {"page": 0, "day": self.day, "next_url": listing_url(self.client, "createdAt", METRICS_EXPAND)}

        def save_page(url, items):
            triples = []
            for item in items if isinstance(items, list) else []:
                try:
                    triples.append(metrics_of(item))
                except BadItem as e:
                    self._quarantine(url, None, str(e), json.dumps(item, default=str).encode())
            moved, _unknown = self.writer.save_metrics(triples)
            self.log.counts.seen += len(triples)
            self.log.counts.metrics_moved += moved
            return len(triples), False

        if not isinstance(state.get("next_url"), str):
            return
        self._walk("metrics.pass", state, save_page, "metrics")
        with self.db.atomic():
            self.writer.set_state("metrics.pass", None)
            self._mark_metric_day()

    def scoped(self, scope: Scope) -> list[str]:
        """A one-off crawl of a scope; returns the ids that were asked for and don't exist."""
        missing = []
        for model_id in scope.model_ids:
            try:
                body, _ = self.client.get(f"/api/models/{model_id}", params=[("expand", e) for e in CRAWL_EXPAND])
                rec = normalise(body)
                detail, _ = self.client.get(f"/api/models/{rec.id}", params={"blobs": "true"})
            except NotFound:
                missing.append(model_id)
                continue
            with self.db.atomic():
                self.log.counts.add(self.writer.save_models([rec]))
                self.writer.save_details(normalise(detail))
            self.log.details += 1
        if scope.params() or (scope.limit and not scope.model_ids):
            key = f"scope.{scope.key()}"
            state = json.loads(get_state(self.conn, key) or "null") or {
                "page": 0, "seen": 0,
                "next_url": listing_url(self.client, "createdAt", CRAWL_EXPAND, scope.params(),
                                        limit=min(PAGE_LIMIT, scope.limit or PAGE_LIMIT))}

            def save_page(url, items):
                records, _ = self._records(url, items)
                if scope.limit:
                    records = records[: max(scope.limit - state["seen"], 0)]
                self.log.counts.add(self.writer.save_models(records))
                state["seen"] += len(records)
                return len(records), bool(scope.limit) and state["seen"] >= scope.limit

            self._walk(key, state, save_page, "scoped crawl", total=scope.limit)
            with self.db.atomic():
                self.writer.set_state(key, None)
        return missing

    def prices(self, router: str, token, timeout: float):
        """The router's catalogue of providers and prices, saved as seen today. A router that can't be
        reached leaves the prices last seen in place and the crawl's result alone: it is noted in the run."""
        from .hub import router as router_api

        try:
            offers, skipped = router_api.fetch(router, token, timeout=timeout, retries=self.client.max_retries // 2,
                                               backoff=self.client.base_wait)
        except router_api.RouterError as e:
            self.log.notes.append(f"prices not refreshed: {e}")
            return
        with self.db.atomic():
            self.log.prices = router_api.save(self.conn, offers, self.day,
                                              time.strftime("%Y-%m-%d", time.gmtime(self.day * 86400)))
            for reason in skipped:
                self._quarantine(f"{router.rstrip('/')}/v1/models", None, reason, b"")

    def _mark_metric_day(self):
        self.conn.execute("INSERT INTO metric_days (day, date, models_moved) VALUES (?, date(? * 86400, 'unixepoch'), 0) "
                          "ON CONFLICT (day) DO NOTHING", (self.day, self.day))
        self.conn.execute("UPDATE metric_days SET models_moved = (SELECT count(*) FROM metrics_history WHERE day = ?) "
                          "WHERE day = ?", (self.day, self.day))


__all__ = ["Crawler", "Scope", "Stopped", "GaveUp", "HubError", "NotFound"]


# -- one run, as the CLI and the daemon start it ---------------------------------------------------
EXIT_OK, EXIT_USAGE, EXIT_BUSY, EXIT_STOPPED, EXIT_STORAGE, EXIT_INTERRUPTED = 0, 1, 3, 4, 5, 130


@dataclass
class Outcome:
    code: int
    summary: str
    run_id: int | None = None


def run(db_path: str, endpoint: str, token, *, mode: str = "auto", scope: Scope | None = None,
        timeout: float = 30.0, max_retries: int = 8, backoff: float = 1.0, progress: bool | None = None,
        details: bool = True, max_db_pages: int | None = None, router: str | None = None) -> Outcome:
    """Take the writer lock, open the database, crawl, and log the run; never raises for expected trouble."""
    import sqlite3

    from .lock import Busy, WriterLock
    from .store.db import open_db

    scope = scope or Scope()
    try:
        lock = WriterLock(db_path).__enter__()
    except Busy as e:
        return Outcome(EXIT_BUSY, f"a crawl is already running on {db_path} ({e}); not starting another")
    try:
        try:
            db = open_db(db_path)
        except sqlite3.DatabaseError as e:
            return Outcome(EXIT_STORAGE, f"cannot open {db_path}: {e}")
        if max_db_pages:  # a quota on the file: past it, writes fail as on a full disk
            db.conn.execute(f"PRAGMA max_page_count={int(max_db_pages)}")
        client = HubClient(endpoint, token, timeout=timeout, max_retries=max_retries, base_wait=backoff)
        crawler = Crawler(db, client, progress=progress, details=details)
        if mode == "auto":
            mode = "scoped" if scope.is_set() else (
                "incremental" if get_state(db.conn, "incremental.watermark") else "full")
        if mode == "cards":
            scope = Scope(limit=scope.limit)  # --limit bounds the backlog; nothing else applies
        args = {"mode": mode, "scope": scope.params(), "limit": scope.limit, "ids": scope.model_ids,
                "details": details}  # never the token
        crawler.log = RunLog(db, mode, json.dumps(scope.params()) if scope.is_set() else "", endpoint, args)
        crawler.log.open()
        status, reason, code, missing = "completed", None, EXIT_OK, []
        try:
            if mode == "full":
                crawler.full()
                crawler.prices(router or router_for(endpoint), token, timeout)
            elif mode == "incremental":
                crawler.incremental()
                crawler.prices(router or router_for(endpoint), token, timeout)
            elif mode == "prices":
                crawler.prices(router or router_for(endpoint), token, timeout)
                if crawler.log.prices is None:
                    raise Stopped(crawler.log.notes.pop())
            elif mode == "metrics":
                crawler.metrics()
            elif mode == "cards":
                crawler.cards(scope.limit)
            else:
                missing = crawler.scoped(scope)
                if missing:
                    status, code = "completed", EXIT_USAGE
                    reason = "unknown model" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing)
        except (GaveUp, Stopped, HubError) as e:
            status, reason, code = "stopped", str(e), EXIT_STOPPED
        except sqlite3.DatabaseError as e:
            status, reason, code = "failed", f"database error: {e}", EXIT_STORAGE
        except KeyboardInterrupt:
            status, reason, code = "interrupted", "interrupted", EXIT_INTERRUPTED
        try:
            crawler.log.close(status, reason, client.stats)
            if code in (EXIT_OK, EXIT_USAGE):
                db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError:
            pass  # the disk may still be full: the committed work and checkpoint are intact regardless
        return Outcome(code, summarise(crawler.log, client.stats, status, reason), crawler.log.id)
    finally:
        lock.__exit__()


def summarise(log: RunLog, stats, status: str, reason: str | None) -> str:
    c = log.counts
    line = (f"{log.mode} crawl {status}: {log.pages:,} pages, {c.seen:,} models seen, {c.new:,} new, "
            f"{c.changed:,} changed, {c.renamed:,} renamed, {log.removed:,} removed, {c.revived:,} revived, "
            f"{c.metrics_moved:,} metrics moved, {log.details:,} details, {log.cards:,} cards, "
            f"{'no' if log.prices is None else format(log.prices, ',')} prices; "
            f"{stats.requests:,} requests, "
            f"{stats.retries:,} retries, {stats.throttled:,} throttled (429), {log.quarantined:,} quarantined")
    line += "".join(f"\nnote: {n}" for n in log.notes)
    return line + (f"\nreason: {reason}" if reason else "")
