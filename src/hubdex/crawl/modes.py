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
* search: the match graph's search evidence (search.py): each due query's top results.
* evidence: benchmarks, their leaderboards, Spaces that load models (evidence.py); evaluation
  results themselves come with every listing (`expand=evalResults`).
* scoped: `--author`, `--id-contains`, `--filter`, `--pipeline-tag`, `--limit`, or explicit model ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..clock import Clock, epoch_of
from ..hub import ids, router as router_api
from ..hub.client import HubClient, NotFound
from ..hub.expand import CRAWL_EXPAND
from .items import BadItem, metrics_of, normalise, raw_of
from ..store.save import Counts, Writer, get_state, save_offers
from ..store.shape import begin_bulk_load, ensure_shape
from .cards import crawl_cards
from .listing import PAGE_LIMIT, fewer_collections, listing_url, pages
from .progress import Progress
from .scope import Scope
from .evidence import EvidenceSettings, crawl_evidence
from .search import SearchSettings, crawl_search

INCREMENTAL_OVERLAP_SECONDS = 600  # re-read 10 minutes below the watermark: clocks and commits race
METRICS_EXPAND = ["downloads", "downloadsAllTime", "likes", "trendingScore"]


_LIST = object()


@dataclass
class ReadPage:
    """A listing page read (Crawler._read): its records, the _ids it listed (the readable and the
    unreadable: neither is a deletion), its unreadable items as (id, reason, bytes), and the page
    itself when it was not a list."""

    records: list
    oids: list
    bad: list
    not_a_list: object = _LIST


class Stopped(Exception):
    """The crawl stopped cleanly (upstream failing, bad page): committed work stays, the next run resumes."""


def never() -> bool:
    return False


@dataclass
class Tally:
    """What one crawl run did, for its `runs` row and its summary line."""

    mode: str
    pages: int = 0
    counts: Counts = field(default_factory=Counts)
    removed: int = 0
    details: int = 0
    cards: int = 0
    prices: int | None = None   # router offers saved; None when the catalogue was not fetched
    notes: list = field(default_factory=list)  # trouble that did not stop the run
    quarantined: int = 0
    searches: int = 0

    def figures(self, stats) -> dict:
        c = self.counts
        return {"pages": self.pages, "models_seen": c.seen, "models_new": c.new, "models_changed": c.changed,
                "models_renamed": c.renamed, "models_removed": self.removed, "models_revived": c.revived,
                "metrics_moved": c.metrics_moved, "details": self.details, "cards": self.cards, "prices": self.prices,
                "searches": self.searches,
                "requests": stats.requests, "retries": stats.retries, "throttled": stats.throttled,
                "errors": stats.errors, "quarantined": self.quarantined, "waited_seconds": round(stats.waited, 3)}

    def summary(self, stats, status: str, reason: str | None) -> str:
        c = self.counts
        line = (f"{self.mode} crawl {status}: {self.pages:,} pages, {c.seen:,} models seen, {c.new:,} new, "
                f"{c.changed:,} changed, {c.renamed:,} renamed, {self.removed:,} removed, {c.revived:,} revived, "
                f"{c.metrics_moved:,} metrics moved, {self.details:,} details, {self.cards:,} cards, "
                f"{'no' if self.prices is None else format(self.prices, ',')} prices, {self.searches:,} searches; "
                f"{stats.requests:,} requests, "
                f"{stats.retries:,} retries, {stats.throttled:,} throttled (429), {self.quarantined:,} quarantined")
        line += "".join(f"\nnote: {n}" for n in self.notes)
        return line + (f"\nreason: {reason}" if reason else "")


class Crawler:
    """The crawl's modes over one database and one client, for one run (`run_id`, its quarantine
    rows' owner) on one day (the clock's, taken once)."""

    def __init__(self, db, client: HubClient, clock: Clock, run_id: int, tally: Tally, *,
                 progress: bool | None = None, details: bool = True, should_stop=never):
        self.db = db
        self.conn = db.conn
        self.client = client
        self.clock = clock
        self.run_id = run_id
        self.tally = tally
        self.progress_enabled = progress
        self.fetch_details = details
        self.day = clock.day
        self.writer = Writer(self.conn, self.day, clock.now())
        # Asked between units of work (a page, a model's details, a batch of cards), after the commit:
        # a stop requested (the daemon shutting down, SIGUSR1) ends the run there, resumable.
        self.should_stop = should_stop

    def check_stop(self, where: str):
        if self.should_stop():
            raise Stopped(f"stop requested: {where} committed; the next run resumes there")

    # -- shared page handling ----------------------------------------------------------------------
    @staticmethod
    def _read(url: str, items) -> "ReadPage":
        """A listing page's items read into records, and the unreadable ones with their reasons.
        Writes nothing: it runs in the prefetch thread (listing.pages' `prepare`)."""
        if not isinstance(items, list):
            return ReadPage([], [], [], items)
        good, oids, bad = [], [], []
        for item in items:
            try:
                rec = normalise(item)
            except BadItem as e:
                model_id = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
                bad.append((model_id, str(e), raw_of(item)))
                if isinstance(item, dict) and isinstance(item.get("_id"), str):
                    oids.append(item["_id"])  # seen, though unreadable: not a deletion
                continue
            good.append(rec)
            oids.append(rec.oid)
        return ReadPage(good, oids, bad)

    def _records(self, url: str, page: "ReadPage") -> tuple[list, list]:
        """A read page's records and oids, its unreadable items quarantined (in the page's transaction)."""
        if page.not_a_list is not _LIST:
            items = page.not_a_list
            self.quarantine(url, None, f"page is {type(items).__name__}, not a list", json.dumps(items).encode())
            raise Stopped(f"a page that is not a list at {url.split('?')[0]}")
        for model_id, reason, raw in page.bad:
            self.quarantine(url, model_id, reason, raw)
        return page.records, page.oids

    def quarantine(self, url, model_id, reason, raw):
        """A payload that can't be used: stored with its reason (in the caller's transaction)."""
        self.writer.quarantine(self.run_id, url.split("?")[0] + ("?…" if "?" in url else ""), model_id, reason, raw)
        self.tally.quarantined += 1

    def _walk(self, state_key: str, state: dict, save_page, label: str, total: int | None = None, last_page=None,
              read=True):
        """Page from `state["next_url"]`; each page and its checkpoint commit together, checkpoint last.
        `save_page(url, page)` stores a page and returns True when the listing stops there; `page` is
        the items read into records (`_read`, in the prefetch thread) or, with `read=False`, the
        items as parsed. The progress line counts what the summary counts: the models seen (not the
        items listed)."""
        bar = Progress(label, total, self.progress_enabled)
        before = self.tally.counts.seen
        models = 0
        with fewer_collections():
            try:
                for url, items, nxt in pages(self.client, state["next_url"], last_page=last_page,
                                             should_stop=self.should_stop, prepare=self._read if read else None):
                    with self.db.atomic():
                        stop_here = save_page(url, items)
                        state["page"] = state.get("page", 0) + 1
                        state["next_url"] = None if stop_here else nxt
                        self.writer.set_state(state_key, state)
                    self.tally.pages += 1
                    models = self.tally.counts.seen - before
                    bar.update(self.tally.pages, models)
                    if stop_here or nxt is None:
                        break
                    self.check_stop(f"{label} through page {state['page']}")
                else:  # the listing ended before its last page only because a stop was asked for
                    self.check_stop(f"{label} through page {state.get('page', 0)}")
            finally:
                bar.update(self.tally.pages, models, force=True)
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
            state = {"pass_id": self.clock.now(), "page": 0, "next_url": listing_url(self.client, "createdAt", CRAWL_EXPAND),
                     "watermark": newest[0].get("lastModified") if newest else None, "bulk": first}
            with self.db.atomic():
                self.writer.set_state("full.pass", state)
                if first:
                    begin_bulk_load(self.conn)

        def save_page(url, items):
            records, oids = self._records(url, items)
            self.tally.counts.add(self.writer.save_models(records))
            self.writer.record_pass_page(state["pass_id"], state["page"], oids)
            return False

        if not listed:
            self._walk("full.pass", state, save_page, "full crawl")
        with self.db.atomic():
            if state.get("bulk"):
                ensure_shape(self.db, rebuild_search=True)
            self.tally.removed = self.writer.finish_pass(state["pass_id"])
            self.writer.set_state("full.pass", None)
            self.writer.set_state("full.completed_at", self.clock.now())
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
            self.tally.counts.add(self.writer.save_models(fresh))
            done = bool(stamps) and min(stamps) < cutoff
            if done:
                state["details_since"] = state["since"]
            return done

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
            self.check_stop(f"details of {self.tally.details:,} models")
            try:
                body, _ = self.client.get(f"/api/models/{ids.path(model_id)}", params={"blobs": "true"})
                rec = normalise(body)
            except NotFound:
                continue  # gone since the listing: the next full pass tombstones it
            except BadItem as e:
                with self.db.atomic():
                    self.quarantine(f"/api/models/{model_id}", model_id, str(e), b"")
                continue
            with self.db.atomic():
                self.writer.save_details(rec)
            self.tally.details += 1

    def cards(self, limit: int | None = None):
        """Work the card backlog (missing or older than the model's sha), most downloaded first."""
        crawl_cards(self, limit=limit)

    def search(self, settings: SearchSettings):
        """The due search queries (match-graph evidence), within the day's request budget."""
        crawl_search(self, settings)

    def evidence(self, settings: EvidenceSettings):
        """Benchmarks, their leaderboards, results the listing lacked, Spaces that load models."""
        crawl_evidence(self, settings)

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
                    self.quarantine(url, None, str(e), raw_of(item))
            moved, _unknown = self.writer.save_metrics(triples)
            self.tally.counts.seen += len(triples)
            self.tally.counts.metrics_moved += moved
            return False

        if not isinstance(state.get("next_url"), str):
            return
        self._walk("metrics.pass", state, save_page, "metrics", read=False)
        with self.db.atomic():
            self.writer.set_state("metrics.pass", None)
            self._mark_metric_day()

    def scoped(self, scope: Scope) -> list[str]:
        """A one-off crawl of a scope; returns the ids that were asked for and don't exist."""
        missing = []
        for model_id in scope.model_ids:
            self.check_stop(f"{self.tally.details:,} of the models asked for")
            try:
                body, _ = self.client.get(f"/api/models/{ids.path(model_id)}", params=[("expand", e) for e in CRAWL_EXPAND])
                rec = normalise(body)
                detail, _ = self.client.get(f"/api/models/{ids.path(rec.id)}", params={"blobs": "true"})
                detail = normalise(detail)
            except NotFound:
                missing.append(model_id)
                continue
            except BadItem as e:
                with self.db.atomic():
                    self.quarantine(f"/api/models/{model_id}", model_id, str(e), b"")
                continue
            with self.db.atomic():
                self.tally.counts.add(self.writer.save_models([rec]))
                self.writer.save_details(detail)
            self.tally.details += 1
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
                self.tally.counts.add(self.writer.save_models(records))
                state["seen"] += len(records)
                return bool(scope.limit) and state["seen"] >= scope.limit

            self._walk(key, state, save_page, "scoped crawl", total=scope.limit)
            with self.db.atomic():
                self.writer.set_state(key, None)
        return missing

    def prices(self, router: str):
        """The router's catalogue of providers and prices, saved as seen today. A router that can't be
        reached leaves the prices last seen in place and the crawl's result alone: it is noted in the run."""
        try:
            offers, skipped = router_api.fetch(self.client, router, retries=self.client.max_retries // 2)
        except router_api.RouterError as e:
            self.tally.notes.append(f"prices not refreshed: {e}")
            return
        with self.db.atomic():
            self.tally.prices = save_offers(self.conn, offers, self.day, self.clock.date_of(self.day))
            for reason in skipped:
                self.quarantine(f"{router.rstrip('/')}/v1/models", None, reason, b"")

    def _mark_metric_day(self):
        self.conn.execute("INSERT INTO metric_days (day, date, models_moved) VALUES (?, date(? * 86400, 'unixepoch'), 0) "
                          "ON CONFLICT (day) DO NOTHING", (self.day, self.day))
        self.conn.execute("UPDATE metric_days SET models_moved = (SELECT count(*) FROM metrics_history WHERE day = ?) "
                          "WHERE day = ?", (self.day, self.day))


