"""Stage 5, derive: capabilities, licences, pricing, signals and rank from the stored tables.

A derive is these steps, in this order, in one transaction (a reader sees the previous derive or
this one, never half of it). Each step reads and writes named tables; nothing passes between them
but those tables and the `Changes` record of this run.

  1. licences      licences.classify_stored     models                    -> licences, licence_classes
  2. changes       changes.find                 models, cards, metrics,   -> model_changes (inputs)
                                                router_prices, derive_inputs
  3. capabilities  capabilities.rebuild         models and children,      -> model_capability_rows,
                                                licence_classes             capability_summary
     (meanwhile, on a second read-only connection: signals.gather reads the crawled inputs)
     match         match.build (match.update    search_results, evaluations, -> match_copies, match_evidence,
                   when only models changed)    model_relations, models        match_edges, match_edge_evidence,
                                                                               match_scores
  4. signals       signals.compute              capability_summary, licence_classes, match_scores
  5. scores        scores.write_scores          -> model_scores (changed rows only), model_changes (scores)
                   scores.write_percentiles     -> score_percentiles (by value, changed rows only)
                   scores.write_history         -> signals_history (moved by a point or more)
  6. after         the steps the caller declares (`after=`), in order, on the same connection and
                   transaction: the comparisons (hubdex.compare.build: model_scores, match_edges, ...
                   -> comparisons, comparison_runs) are one, passed in by the derive job, since
                   derive comes before compare in the pipeline and never imports it; then
                   store.overview.refresh (model_scores, models -> model_overview, overview_trends:
                   hubdex serve's start page and trend charts)
  7. inputs        changes.record_inputs        -> derive_inputs; derive_runs; crawl_state marks

Derive never imports the crawl or the HTTP stack: it reads what the crawl stored.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ..store.db import open_reader, path_of
from ..store.save import get_state, set_state
from . import capabilities, changes, licences, match, scores, signals
from .columns import Coded


@dataclass
class DeriveResult:
    models: int
    inputs_changed: int
    rebuilt: int
    rebuilt_all: bool
    capability_rows: int
    scores_written: int
    scores_removed: int
    history_rows: int
    history_moved: int  # of history_rows, those this run added or changed (a same-day rerun: often 0)
    weights_id: str
    unknown_licences: list
    reasons: dict
    seconds: float
    graph: match.MatchResult | None = None
    after: list = field(default_factory=list)  # the results of the `after` steps (each has summary())

    def _history(self) -> str:
        if self.history_moved == self.history_rows:
            return f"{self.history_rows:,} history rows (moved)"
        # a rerun the same day: the day's rows are rewritten, but only these moved since the last
        return (f"{self.history_moved:,} history rows moved since today's earlier derive "
                f"({self.history_rows:,} for today)")

    def summary(self) -> str:
        why = ", ".join(f"{n:,} {r}" for r, n in sorted(self.reasons.items())) or "none"
        line = (f"derived {self.models:,} models: {self.inputs_changed:,} with changed inputs ({why}); "
                f"capabilities rebuilt for {self.rebuilt:,}{' (all)' if self.rebuilt_all else ''} "
                f"({self.capability_rows:,} rows), signals and rank for all, {self.scores_written:,} score rows "
                f"written, {self.scores_removed:,} removed, {self._history()}; "
                f"weights {self.weights_id}; {self.seconds:.1f} s")
        line += (f"\n{self.graph.summary()} ({self.graph.seconds:.1f} s)" if self.graph is not None else
                 "\nmatch graph unchanged: nothing it reads moved since it was built")
        for step in self.after:
            line += f"\n{step.summary()}"
        if self.unknown_licences:
            shown = ", ".join(f"{lic} ({n})" for lic, n in self.unknown_licences[:10])
            line += f"\nlicences not in the catalogue (kept as given): {shown}"
        return line


def code_version() -> str:
    """Changes when what capabilities are derived from, or how, changes: then all are rebuilt."""
    h = hashlib.blake2b(digest_size=8)
    h.update(repr(capabilities.STATEMENTS).encode())
    h.update(resources.files("hubdex").joinpath("data/licences.csv").read_bytes())
    return h.hexdigest()


def unrecognised_licences(out: dict) -> list:
    """The licence ids not in the catalogue, with how many models carry each (most first)."""
    lic, via = out["licence"], out["licence_via"]  # Coded columns over the same codes
    counts = np.bincount(lic.codes[via.as_array() == "unrecognised"], minlength=len(lic.table))
    found = [(str(lic.table[i]), int(n)) for i, n in enumerate(counts) if n]
    return sorted(found, key=lambda p: (-p[1], p[0]))


def _return_freed_memory():
    """glibc keeps freed memory in its arenas (the gather thread's own arena above all); hand it back
    so the peak is what is live, not what was once used. A no-op where there is no malloc_trim."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _gather(db, day: int, weights: dict):
    read = open_reader(db)
    try:
        read.execute("BEGIN")  # one snapshot for every read
        return signals.gather(read, day, weights)
    finally:
        read.close()


def derive(db, *, day: int, now: str, run_id: int, everything: bool = False,
           weights_path: str | None = None, after=()) -> DeriveResult:
    """One derive run (`run_id`: its row in `runs`, which the job opened) on `day`. Each of `after` is
    called as step(conn, run_id=, now=, day=, rebuild_all=) once the scores are written, in this transaction."""
    started = time.monotonic()
    conn = db.conn
    weights = signals.load_weights(weights_path)
    wid = signals.weights_id(weights)
    version = code_version()
    with db.atomic():
        licences.classify_stored(conn)
        rebuild_all = everything or get_state(conn, "derive.version") != version
        found = changes.find(conn, run_id, rebuild_all)
        keys = found.rebuild_keys(conn)
        # Two cores: while this connection rebuilds capabilities, a second one reads the inputs the
        # other signals need (tables a derive does not write) and computes their percentiles.
        with ThreadPoolExecutor(1) as pool:
            gathering = pool.submit(_gather, db, day, weights) if path_of(db) else None
            rows = capabilities.rebuild(conn, keys, rebuild_all, found.removed_keys(conn))
            digest = match.inputs_digest(conn, weights["match"])  # the build does not write what it covers
            last = get_state(conn, "derive.match")
            todo = match.plan(digest, found.counts, rebuild_all, day, last)
            if todo == "build":
                graph = match.build(conn, weights["match"])
                set_state(conn, "derive.match", json.dumps({"digest": digest, "day": day, "built": day}), now)
            elif todo == "update":  # only models moved: what they touch, equal to a build (match.update)
                graph = match.update(conn, weights["match"], match.changed_keys(conn, found.run_id))
                built = json.loads(last).get("built", json.loads(last).get("day"))
                set_state(conn, "derive.match", json.dumps({"digest": digest, "day": day, "built": built}), now)
            else:
                graph = None  # nothing it reads moved: the graph and match_scores stand
            gathered = gathering.result() if gathering else signals.gather(conn, day, weights)
        _return_freed_memory()  # what the gather thread freed, before compute allocates its own
        out = signals.compute(conn, gathered, weights)
        del gathered
        _return_freed_memory()
        unknown = unrecognised_licences(out)
        out["weights_id"] = Coded(np.zeros(len(out["model_key"]), dtype=np.int32), np.array([wid], dtype=object))
        written, removed = scores.write_scores(conn, out, run_id, record=not rebuild_all)
        scores.write_percentiles(conn, out)  # apart from the rows: they move when any model's value does
        history, history_moved = scores.write_history(conn, out, day)
        done_after = [step(conn, run_id=run_id, now=now, day=day, rebuild_all=rebuild_all) for step in after]
        conn.execute("INSERT OR IGNORE INTO rank_weights VALUES (?, ?, ?)",
                     (wid, json.dumps(weights, sort_keys=True), now))
        prices_day, prices_digest = changes.record_inputs(conn, found)
        set_state(conn, "derive.version", version, now)
        set_state(conn, "derive.prices_day", prices_day, now)
        set_state(conn, "derive.prices_digest", prices_digest, now)
        set_state(conn, "derive.weights", wid, now)
        result = DeriveResult(len(out["model_key"]), found.inputs_changed, len(keys), rebuild_all, rows, written,
                              removed, history, history_moved, wid, unknown, found.counts,
                              time.monotonic() - started, graph, done_after)
        conn.execute("INSERT OR REPLACE INTO derive_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (run_id, day, result.models, result.inputs_changed, result.rebuilt, int(rebuild_all), rows,
                      written, removed, history, wid, round(result.seconds, 3)))
        changes.prune(conn, day)
    return result
