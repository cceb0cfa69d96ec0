"""The derive as a job: its run row (mode 'derive'), the lock shared with crawls, its outcome."""

from __future__ import annotations

from ..derive import DeriveResult, derive
from ..derive.signals import load_weights


class DeriveJob:
    needs_database = True  # a derive of a file that isn't there is a mistake, not a new database
    holder = "derive"

    def __init__(self, everything: bool = False, weights_path: str | None = None, compare: bool = True,
                 top_m: int | None = None):
        load_weights(weights_path)  # a bad weights file is refused before anything is locked or written
        self.everything, self.weights_path = everything, weights_path
        self.compare, self.top_m = compare, top_m
        self.result: DeriveResult | None = None

    def mode(self, db) -> str:
        return "derive"

    def describe(self):
        return "", "", {"all": self.everything, "weights": self.weights_path}

    def execute(self, ctx):
        self.result = derive(ctx.db, day=ctx.day, now=ctx.clock.now(), run_id=ctx.run_id,
                             everything=self.everything, weights_path=self.weights_path, after=self._after())

    def _after(self):
        from ..store import overview

        # last: the analyst's start page (hubdex serve), for the models that moved in this run
        steps = (lambda conn, run_id, now, day, rebuild_all: overview.refresh(conn, run_id, rebuild_all, day),)
        if not self.compare:
            return steps
        from ..compare import build

        top_m = self.top_m or build.TOP_M
        return (lambda conn, run_id, now, day, rebuild_all: build.build(conn, run_id=run_id, now=now, top_m=top_m,
                                                                      rebuild_all=rebuild_all),) + steps

    def report(self, status: str, reason: str | None):
        r = self.result
        if r is None:
            return f"derive {status}" + (f"\nreason: {reason}" if reason else ""), {}
        return r.summary(), {"models_seen": r.models, "models_changed": r.inputs_changed}
