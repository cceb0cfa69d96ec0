"""`hubdex crawl --evidence`: the evidence of quality and of use the Hub publishes (HUB-API.md §9).

Evaluation results of every model come with the listing (`expand=evalResults` is in the crawl's
expand set: hub/expand.py), so they cost no request of their own. This mode adds, within a daily
request budget (state `evidence.requests`, like the search crawl's):

1. benchmarks: GET /api/datasets?filter=benchmark:official (paged by `Link`) -> `benchmarks`;
2. leaderboards: GET /api/datasets/{id}/leaderboard?base_model=false for each benchmark not read
   today (false: every submitted result, derivatives included; the default view, canonical repos
   only, is a subset of it, so one request gives both) -> `eval_results` rows of origin
   'leaderboard', written only when they differ from the stored ones, and the benchmark's
   direction (lower or higher is better) from its rank order;
3. evalResults by model_info only where the listing could not carry them: a crawled model a
   leaderboard names whose stored listing item has no `evalResults` key (models refreshed weekly);
4. Spaces that load models: GET /api/spaces?models=ID&expand=models&expand=likes for the most
   downloaded canonical models not asked within SPACES_REFRESH_DAYS -> `space_models` (every
   model each of those Spaces loads).

Each unit (the benchmark list, one leaderboard, one model's results, one model's Spaces) commits
with its bookkeeping, so a stopped run resumes with what it had not done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from ..hub import ids
from ..hub.client import HubError, NotFound, next_link
from ..records.evidence import (BadEvidence, direction_from_ranks, eval_result_rows, leaderboard_rows, space_rows,
                                stated_direction)
from ..store.save import get_state, replace_results
from .progress import Progress

LEADERBOARD_REFRESH_DAYS = 1
SPACES_REFRESH_DAYS = 7
EVAL_REFRESH_DAYS = 7
DEFAULT_BUDGET = 2000       # requests per UTC day (a free account may make 1,000 per 5 minutes)
DEFAULT_SPACES_MODELS = 2000  # the most downloaded canonical models whose Spaces are followed


@dataclass
class EvidenceSettings:
    budget: int | None = None
    spaces_models: int | None = None


class _Budget:
    def __init__(self, crawler, budget: int):
        self.crawler, self.budget = crawler, budget
        spent = json.loads(get_state(crawler.conn, "evidence.requests") or "null") or {}
        self.used = spent.get("requests", 0) if spent.get("day") == crawler.day else 0
        self.mark = crawler.client.stats.requests

    def left(self) -> bool:
        return self.used < self.budget

    def record(self):
        """Count the requests since the last record (retries included), in the caller's transaction."""
        now = self.crawler.client.stats.requests
        self.used += now - self.mark
        self.mark = now
        self.crawler.writer.set_state("evidence.requests", {"day": self.crawler.day, "requests": self.used})


def crawl_evidence(crawler, settings: EvidenceSettings) -> dict:
    budget = _Budget(crawler, settings.budget or DEFAULT_BUDGET)
    done = {"benchmarks": 0, "leaderboards": 0, "results": 0, "models": 0, "spaces": 0}
    _benchmarks(crawler, budget, done)
    _leaderboards(crawler, budget, done)
    _model_results(crawler, budget, done)
    _spaces(crawler, budget, done, settings.spaces_models or DEFAULT_SPACES_MODELS)
    with crawler.db.atomic():  # leaderboard rows of models crawled since: their keys
        crawler.conn.execute("""UPDATE eval_results SET model_key = (SELECT key FROM models m WHERE m.id = model_id)
            WHERE model_key IS NULL AND EXISTS (SELECT 1 FROM models m WHERE m.id = model_id)""")
    if not budget.left():
        crawler.tally.notes.append(f"evidence budget of {budget.budget:,} requests for today spent: the rest "
                                   "waits for tomorrow's run")
    crawler.tally.notes.append(
        f"evidence: {done['benchmarks']:,} benchmarks listed, {done['leaderboards']:,} leaderboards read "
        f"({done['results']:,} results), {done['models']:,} models' results by model_info, "
        f"{done['spaces']:,} models' Spaces")
    return done


def _benchmarks(crawler, budget: _Budget, done: dict):
    conn, day = crawler.conn, crawler.day
    listed = conn.execute("SELECT max(listed_day) FROM benchmarks").fetchone()[0]
    if listed == day or not budget.left():
        return
    url = f"{crawler.client.endpoint}/api/datasets?{urlencode([('filter', 'benchmark:official'), ('limit', '1000')])}"
    seen = []
    while url and budget.left():
        items, response = crawler.client.get(url)
        if not isinstance(items, list):
            with crawler.db.atomic():
                crawler.quarantine(url, None, "benchmark listing is not a list", json.dumps(items).encode())
                budget.record()
            return
        for d in items:
            if isinstance(d, dict) and isinstance(d.get("id"), str):
                seen.append((d["id"], json.dumps(d, sort_keys=True), stated_direction(d)))
        url = next_link(response)
        with crawler.db.atomic():
            budget.record()
    with crawler.db.atomic():
        for dataset_id, raw, lower in seen:
            conn.execute("""INSERT INTO benchmarks (dataset_id, official, listed_day, raw, lower_is_better, direction_via)
                VALUES (?, 1, ?, ?, ?, CASE WHEN ? IS NULL THEN NULL ELSE 'benchmark card' END)
                ON CONFLICT (dataset_id) DO UPDATE SET official = 1, listed_day = excluded.listed_day,
                raw = excluded.raw, lower_is_better = coalesce(excluded.lower_is_better, lower_is_better),
                direction_via = coalesce(excluded.direction_via, direction_via)""", (dataset_id, day, raw, lower, lower))
    done["benchmarks"] = len(seen)


def _leaderboards(crawler, budget: _Budget, done: dict):
    conn, day = crawler.conn, crawler.day
    todo = [r[0] for r in conn.execute("""SELECT dataset_id FROM benchmarks WHERE official = 1 AND
        (leaderboard_day IS NULL OR leaderboard_day <= ? - ?) ORDER BY leaderboard_day IS NOT NULL, leaderboard_day,
        dataset_id""", (day, LEADERBOARD_REFRESH_DAYS))]
    bar = Progress("leaderboards", len(todo), crawler.progress_enabled)
    try:
        for dataset_id in todo:
            if not budget.left():
                break
            url = f"/api/datasets/{quote(dataset_id, safe='/')}/leaderboard"
            status, rows, skipped = "ok", [], []
            try:
                body, _ = crawler.client.get(url, params={"base_model": "false"})
                rows, skipped = leaderboard_rows(dataset_id, body)
            except NotFound:
                status = "no leaderboard"
            except BadEvidence as e:
                status = "unreadable"
                with crawler.db.atomic():
                    crawler.quarantine(url, None, str(e), b"")
            except HubError as e:  # a benchmark whose leaderboard errors (the Hub says "no leaderboard")
                if e.status is not None and 400 <= e.status < 500:
                    status = f"no leaderboard ({e.status})"
                else:
                    raise
            with crawler.db.atomic():
                if status == "ok":
                    replace_results(conn, rows, now=crawler.writer.now, run_id=crawler.run_id, origin="leaderboard",
                                    dataset_id=dataset_id)
                    lower = direction_from_ranks(rows)
                    conn.execute("""UPDATE benchmarks SET lower_is_better = ?, direction_via = 'leaderboard rank order'
                        WHERE dataset_id = ? AND ? IS NOT NULL AND direction_via IS NOT 'benchmark card'""",
                                 (lower, dataset_id, lower))
                    for reason in skipped[:20]:
                        crawler.quarantine(url, None, f"leaderboard {dataset_id}: {reason}", b"")
                conn.execute("UPDATE benchmarks SET leaderboard_day = ?, leaderboard_status = ?, entries = ? "
                             "WHERE dataset_id = ?", (day, status, len(rows), dataset_id))
                budget.record()
            done["leaderboards"] += 1
            done["results"] += len(rows)
            bar.update(done["leaderboards"], done["results"])
            crawler.check_stop(f"{done['leaderboards']:,} leaderboards")
    finally:
        bar.close()


def _model_results(crawler, budget: _Budget, done: dict):
    """model_info(expand=evalResults) for crawled models that leaderboards name but whose listing
    item carried no `evalResults` (a Hub that does not expand them in listings)."""
    conn, day = crawler.conn, crawler.day
    asked = json.loads(get_state(conn, "evidence.model_results") or "null") or {}
    todo = [r[0] for r in conn.execute("""SELECT DISTINCT m.id FROM eval_results e JOIN models m ON m.key = e.model_key
        WHERE e.origin = 'leaderboard' AND m.removed_at IS NULL AND json_type(m.raw, '$.evalResults') IS NULL
        ORDER BY m.downloads DESC, m.id""")]
    todo = [t for t in todo if day - asked.get(t, -10**6) >= EVAL_REFRESH_DAYS]
    for model_id in todo:
        if not budget.left():
            break
        try:
            body, _ = crawler.client.get(f"/api/models/{ids.path(model_id)}", params={"expand": "evalResults"})
        except NotFound:
            body = None
        with crawler.db.atomic():
            if isinstance(body, dict) and "evalResults" in body:
                key = conn.execute("SELECT key FROM models WHERE id = ?", (model_id,)).fetchone()
                rows, _skipped = eval_result_rows(model_id, body["evalResults"])
                if key:
                    replace_results(conn, rows, now=crawler.writer.now, run_id=crawler.run_id, model_key=key[0],
                                    origin="evalResults")
            asked[model_id] = day
            crawler.writer.set_state("evidence.model_results", asked)
            budget.record()
        done["models"] += 1
        crawler.check_stop(f"{done['models']:,} models' results")


def _spaces(crawler, budget: _Budget, done: dict, top: int):
    conn, day = crawler.conn, crawler.day
    todo = [r[0] for r in conn.execute("""SELECT m.id FROM models m LEFT JOIN space_queries q ON q.model_id = m.id
        WHERE m.removed_at IS NULL AND coalesce(m.spaces_count, 1) > 0
          AND NOT EXISTS (SELECT 1 FROM model_relations r WHERE r.model_key = m.key AND r.relation = 'quantized')
          AND (q.day IS NULL OR q.day <= ? - ?)
        ORDER BY m.downloads DESC, m.id LIMIT ?""", (day, SPACES_REFRESH_DAYS, top))]
    bar = Progress("spaces", len(todo), crawler.progress_enabled)
    try:
        for model_id in todo:
            if not budget.left():
                break
            status = "ok"
            try:
                body, _ = crawler.client.get("/api/spaces", params=[("models", model_id), ("expand", "models"),
                                                                    ("expand", "likes"), ("limit", "100")])
            except NotFound:
                body, status = [], "not found"
            rows = space_rows(body)
            with crawler.db.atomic():
                spaces = sorted({r[0] for r in rows})
                for sid in spaces:  # each Space's list of models, as it is now
                    conn.execute("DELETE FROM space_models WHERE space_id = ?", (sid,))
                conn.executemany("INSERT OR REPLACE INTO space_models VALUES (?, ?, ?, ?)",
                                 [(s, m, day, likes) for s, m, likes in rows])
                conn.execute("INSERT OR REPLACE INTO space_queries VALUES (?, ?, ?, ?)",
                             (model_id, day, len(spaces), status))
                budget.record()
            done["spaces"] += 1
            bar.update(done["spaces"], done["spaces"])
            crawler.check_stop(f"{done['spaces']:,} models' Spaces")
    finally:
        bar.close()
