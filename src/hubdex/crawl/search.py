"""`hubdex crawl --search`: the raw search evidence of the match graph.

Queries come from `schedules/queries.toml` (family names and task words) and from the database (each
task's top listing by downloads and by trending; the family stems of the most downloaded models).
For each query the top results are stored with their position and the day (`search_results`); the
match graph reads them at derive time, so its weights can change without refetching.

A query is re-run only when its stored results are older than its refresh period. Each query and its
results commit together, with the day's request count, so a crawl stopped at any point resumes
with the queries it had not done, and the per-day budget holds across runs.
"""

from __future__ import annotations

import json
import pathlib
import re
import tomllib
from dataclasses import dataclass

from ..hub.client import HubError, NotFound
from ..store.save import get_state
from .progress import Progress

DEFAULT_QUERIES = pathlib.Path(__file__).resolve().parents[3] / "schedules" / "queries.toml"
TASK_REFRESH_DAYS = 1    # task listings move daily (trending above all)
TASK_WEIGHT = 0.5        # a task's top listing is everyone popular in it: it says little per pair
FAMILY_SEEDS = 300       # the most downloaded canonical models whose family stems become queries
FAMILY_REFRESH_DAYS = 7
QUICKSEARCH_LIMIT = 20   # the most /api/quicksearch answers
MIN_TASK_MODELS = 10     # a task with fewer models needs no listing of its own

# Words that end a family stem: sizes, variants, formats, backbones (`Llama-3.1-8B-Instruct` ->
# `Llama-3.1`, `mask2former-swin-large-...` -> `mask2former`, `bert-base-uncased` -> `bert`).
_STEM_STOP = re.compile(
    r"^(\d+(\.\d+)?[bkmt]|\d+x\d+[bm]|l\d+|base|large|small|tiny|mini|medium|xl|xxl|huge|v\d[\w.]*|instruct|chat|it|"
    r"hf|gguf|awq|gptq|mlx|onnx|exl2|fp\d+|int\d|\d+bit|bnb|uncased|cased|swin|resnet|vit|convnext|beta|alpha|"
    r"preview|sft|dpo|rlhf|lora|finetuned|base|distilled|turbo|\d{3,}.*)$", re.I)


class QueriesFileError(ValueError):
    """The queries file can't be read or does not have the documented shape."""


@dataclass
class Query:
    endpoint: str          # 'models' or 'quicksearch'
    query: str             # the search text ('' for a task listing)
    params: list           # the request's parameters, in order
    origin: str            # 'queries.toml', 'task-top', 'family'
    weight: float
    refresh_days: int

    @property
    def key(self) -> tuple:
        return self.endpoint, self.query, json.dumps(self.params)


@dataclass
class SearchSettings:
    queries_file: str | None = None
    budget: int | None = None     # requests per day; None: the file's


def family_stem(model_id: str) -> str | None:
    name = model_id.split("/")[-1]
    words = re.split(r"[-_]", name)
    kept = []
    for w in words:
        if kept and _STEM_STOP.match(w):
            break
        kept.append(w)
    stem = "-".join(kept)
    return stem if len(stem) >= 3 else None


def read_queries_file(path: str | None) -> dict:
    where = pathlib.Path(path) if path else DEFAULT_QUERIES
    try:
        doc = tomllib.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QueriesFileError(f"queries file {where} does not exist (give one with --queries)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as e:
        raise QueriesFileError(f"queries file {where} can't be read: {e}") from None
    defaults = doc.get("defaults", {})
    out = {"refresh_days": defaults.get("refresh_days", 7), "results": defaults.get("results", 50),
           "budget": defaults.get("budget", 2000), "groups": []}
    for key in ("refresh_days", "results", "budget"):
        if not isinstance(out[key], int) or isinstance(out[key], bool) or out[key] < 1:
            raise QueriesFileError(f"queries file {where}: defaults.{key} must be a whole number of at least 1")
    for name, group in doc.items():
        if name == "defaults":
            continue
        terms = group.get("terms") if isinstance(group, dict) else None
        weight = group.get("weight", 1.0) if isinstance(group, dict) else None
        if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
            raise QueriesFileError(f"queries file {where}: [{name}] needs `terms`, a list of non-empty strings")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight <= 1:
            raise QueriesFileError(f"queries file {where}: [{name}] weight must be a number in (0, 1]")
        out["groups"].append((name, [t.strip() for t in terms], float(weight)))
    return out


def _term_queries(term: str, origin: str, weight: float, refresh: int, results: int) -> list[Query]:
    return [Query("models", term, [["search", term], ["sort", "downloads"], ["limit", str(results)]], origin, weight,
                  refresh),
            Query("quicksearch", term, [["q", term], ["type", "model"], ["limit", str(QUICKSEARCH_LIMIT)]], origin,
                  weight, refresh)]


def plan(conn, spec: dict) -> list[Query]:
    """Every query the search crawl knows of: the file's, then those derived from the database."""
    out, results = [], spec["results"]
    for _name, terms, weight in spec["groups"]:
        for term in terms:
            out += _term_queries(term, "queries.toml", weight, spec["refresh_days"], results)
    for (task,) in conn.execute("SELECT pipeline_tag FROM models WHERE removed_at IS NULL AND pipeline_tag IS NOT NULL "
                                "GROUP BY pipeline_tag HAVING count(*) >= ? ORDER BY pipeline_tag", (MIN_TASK_MODELS,)):
        for sort in ("downloads", "trendingScore"):
            out.append(Query("models", "", [["pipeline_tag", task], ["sort", sort], ["limit", str(results)]],
                             "task-top", TASK_WEIGHT, TASK_REFRESH_DAYS))
    # Family stems of the most downloaded models that are not copies of another (a GGUF copy's stem
    # is its base's).
    seeds = conn.execute("""SELECT id FROM models m WHERE removed_at IS NULL AND NOT EXISTS (
            SELECT 1 FROM model_relations r WHERE r.model_key = m.key AND r.relation = 'quantized')
        ORDER BY downloads DESC LIMIT ?""", (FAMILY_SEEDS,)).fetchall()
    known = {q.query.lower() for q in out if q.query}
    for (model_id,) in seeds:
        stem = family_stem(model_id)
        if stem and stem.lower() not in known:
            known.add(stem.lower())
            out += _term_queries(stem, "family", 1.0, FAMILY_REFRESH_DAYS, results)
    return out


def sync_queries(conn, queries: list[Query]) -> dict:
    """Insert the queries not stored yet, refresh the others' origin, weight and period; returns
    {key: (id, fetched_day)}."""
    stored = {(e, q, p): (i, d) for i, e, q, p, d in conn.execute(
        "SELECT id, endpoint, query, params, fetched_day FROM search_queries")}
    for q in queries:
        if q.key in stored:
            conn.execute("UPDATE search_queries SET origin = ?, weight = ?, refresh_days = ? WHERE id = ?",
                         (q.origin, q.weight, q.refresh_days, stored[q.key][0]))
        else:
            cur = conn.execute("INSERT INTO search_queries (endpoint, query, params, origin, weight, refresh_days) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (*q.key, q.origin, q.weight, q.refresh_days))
            stored[q.key] = (cur.lastrowid, None)
    return stored


def due(queries: list[Query], stored: dict, day: int) -> list[tuple[int, Query]]:
    """The queries whose results are missing or older than their refresh period, never-run first."""
    todo = []
    for q in queries:
        qid, fetched = stored[q.key]
        if fetched is None or day - fetched >= q.refresh_days:
            todo.append((fetched if fetched is not None else -1, qid, q))
    todo.sort(key=lambda t: (t[0], t[1]))
    return [(qid, q) for _f, qid, q in todo]


def _fetch(client, q: Query) -> tuple[list[str], int | None]:
    if q.endpoint == "quicksearch":
        body, _ = client.get("/api/quicksearch", params=[tuple(p) for p in q.params])
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list):
            raise HubError("quicksearch answered without a `models` list")
        total = body.get("modelsCount")
        ids = [m.get("id") for m in models if isinstance(m, dict)]
        return [i for i in ids if isinstance(i, str)], total if isinstance(total, int) else None
    body, _ = client.get("/api/models", params=[tuple(p) for p in q.params])
    if not isinstance(body, list):
        raise HubError("a search listing that is not a list")
    ids = [m.get("id") for m in body if isinstance(m, dict)]
    return [i for i in ids if isinstance(i, str)], None


def crawl_search(crawler, settings: SearchSettings) -> int:
    """Run the due queries within the day's budget; returns how many ran."""
    conn, day = crawler.conn, crawler.day
    spec = read_queries_file(settings.queries_file)
    budget = settings.budget or spec["budget"]
    with crawler.db.atomic():
        queries = plan(conn, spec)
        stored = sync_queries(conn, queries)
    spent = json.loads(get_state(conn, "search.requests") or "null") or {}
    used = spent.get("requests", 0) if spent.get("day") == day else 0
    todo = due(queries, stored, day)
    bar = Progress("search", len(todo), crawler.progress_enabled)
    done = 0
    try:
        for qid, q in todo:
            if used >= budget:
                crawler.tally.notes.append(f"search budget of {budget:,} requests for today spent: "
                                           f"{len(todo) - done:,} queries left for tomorrow")
                break
            before = crawler.client.stats.requests
            status = "ok"
            try:
                ids, total = _fetch(crawler.client, q)
            except NotFound:
                ids, total, status = [], None, "not found"  # an endpoint this Hub lacks: noted, not fatal
            used += crawler.client.stats.requests - before
            with crawler.db.atomic():
                conn.execute("DELETE FROM search_results WHERE query_id = ? AND day = ?", (qid, day))
                conn.executemany("INSERT INTO search_results VALUES (?, ?, ?, ?)",
                                 [(qid, day, i + 1, model_id) for i, model_id in enumerate(ids)])
                conn.execute("UPDATE search_queries SET fetched_day = ?, fetched_at = ?, results = ?, total = ?, "
                             "run_id = ?, status = ? WHERE id = ?",
                             (day, crawler.writer.now, len(ids), total, crawler.run_id, status, qid))
                crawler.writer.set_state("search.requests", {"day": day, "requests": used})
            done += 1
            crawler.tally.searches += 1
            bar.update(done, crawler.tally.searches)
            crawler.check_stop(f"{done:,} search queries")
    finally:
        bar.update(done, done, force=True)
        bar.close()
    return done
