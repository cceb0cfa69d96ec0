"""The crawl as a job: settings in, a `Crawler` run in the mode asked for, the run's figures out."""

from __future__ import annotations

import json

from ..crawl.evidence import EvidenceSettings
from ..crawl.modes import Crawler, Stopped, Tally
from ..crawl.progress import announce
from ..crawl.scope import CrawlSettings, Scope
from ..crawl.search import QueriesFileError, SearchSettings, read_queries_file
from ..hub.budget import SharedBudget
from ..hub.client import GaveUp, HubClient, HubError, origin_of
from ..hub.router import router_for
from ..store.db import path_of
from ..store.save import get_state
from .runner import Refused, Stop, Usage


class CrawlJob:
    def __init__(self, settings: CrawlSettings):
        self.settings = settings
        self.client: HubClient | None = None
        self.tally: Tally | None = None
        self.resolved = settings.mode

    @property
    def holder(self) -> str:
        return f"crawl {self.settings.mode}"

    def configure(self, db):
        if self.settings.max_db_pages:  # a quota on the file: past it, writes fail as on a full disk
            db.conn.execute(f"PRAGMA max_page_count={int(self.settings.max_db_pages)}")

    def mode(self, db) -> str:
        s = self.settings
        mode = s.mode
        passed = get_state(db.conn, "incremental.watermark") is not None  # a full pass has completed
        if mode == "auto":
            mode = "scoped" if s.scope.is_set() else ("incremental" if passed else "full")
        if mode in ("incremental", "metrics", "search", "evidence") and not passed:
            raise Usage(f"--{mode} needs a completed full pass, and this database has none: "
                        "run `hubdex crawl --full` first")
        if mode == "cards":
            s.scope = Scope(limit=s.scope.limit)
        if mode == "search":
            try:  # a queries file that can't be read is the user's mistake: said before the run starts
                read_queries_file(s.queries_file)
            except QueriesFileError as e:
                raise Usage(str(e)) from None  # --limit bounds the backlog; nothing else applies
        self.resolved = mode
        self.tally = Tally(mode)
        return mode

    def describe(self):
        s = self.settings
        return (json.dumps(s.scope.params()) if s.scope.is_set() else "", s.endpoint,
                {**s.args(), "mode": self.resolved})

    def execute(self, ctx):
        s, mode = self.settings, self.resolved
        path = path_of(ctx.db)
        # Every crawl of this database shares one rate-limit budget (a file beside it), and its waits
        # end when a stop is asked for.
        budget = SharedBudget(path + ".ratelimit", origin_of(s.endpoint)) if path else None
        self.client = HubClient(s.endpoint, s.token, timeout=s.timeout, max_retries=s.max_retries, base_wait=s.backoff,
                                sleep=_sleep_unless(ctx.stop), budget=budget,
                                on_wait=announce)  # a long wait is said, never silent
        ctx.notes = self.tally.notes  # trouble that did not stop the run goes into its reason
        crawler = Crawler(ctx.db, self.client, ctx.clock, ctx.run_id, self.tally, progress=s.progress,
                          details=s.details, should_stop=ctx.stop.is_set)
        router = s.router or router_for(s.endpoint)
        try:
            if mode == "full":
                crawler.full()
                crawler.prices(router)
            elif mode == "incremental":
                crawler.incremental()
                crawler.prices(router)
            elif mode == "prices":
                crawler.prices(router)
                if self.tally.prices is None:
                    raise Stopped(self.tally.notes.pop())
            elif mode == "metrics":
                crawler.metrics()
            elif mode == "cards":
                crawler.cards(s.scope.limit)
            elif mode == "search":
                crawler.search(SearchSettings(s.queries_file, s.search_budget))
            elif mode == "evidence":
                crawler.evidence(EvidenceSettings(s.evidence_budget, s.spaces_models))
            else:
                missing = crawler.scoped(s.scope)
                if missing:
                    raise Refused("unknown model" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing))
        except (GaveUp, Stopped, HubError) as e:
            raise Stop(str(e)) from None

    def report(self, status: str, reason: str | None):
        stats = self.client.stats if self.client else _NoStats()
        return self.tally.summary(stats, status, reason), self.tally.figures(stats)


def _sleep_unless(stop):
    """A sleep for the client's waits that ends the run when a stop is asked for (nothing is lost:
    a wait happens before a request, never inside a transaction)."""
    def sleep(seconds: float):
        if stop.wait(seconds):
            raise Stopped("stop requested while waiting for the Hub; the next run resumes from the last commit")
    return sleep


class _NoStats:
    requests = retries = throttled = errors = 0
    waited = 0.0
