"""Reading the sides of comparisons: every SQL statement of compare/ that reads crawled or derived rows.

A *side* (`Side`) is everything an entry, a model page or a task row shows of one model: typed
facts, each a *cell* `{"value", "shown", "source"}` where `value` is the row's value as stored, `shown`
the text a person reads, and `source` the table, column, row and crawl day it came from (and `how`,
when the figure is computed from the row, such as memory at int4 from the parameter count). Unknown
is a cell whose value is None, shown as "unknown", never 0.

An *edge* (`Edge`) is what an entry shows of the match edge between two models.

Sides are read for many models at once with a few bulk queries over a temp table of keys, and only
ever for the keys asked for (build.py asks batch by batch, so memory stays bounded).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import re
import tomllib
from dataclasses import dataclass, field
from urllib.parse import quote

import orjson

from ..clock import Clock
from ..derive.match import KINDS, TASK_GROUPS

SPACES_CAP = 100       # the Hub lists at most 100 Spaces per model: a count at the cap is "100+"
RIVALS = 10            # a model's competitors as `hubdex matches` lists them (strongest edges first)
HISTORY_DAYS = 120     # the adoption history a side carries (for the trend and the model page's chart)
EMBEDDING_TASKS = ("feature-extraction", "sentence-similarity")
VECTOR_TASKS = ("zero-shot-image-classification",)  # CLIP-like: an embedding dimension too
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx",
                "max_seq_len", "model_max_length")
EMBED_KEYS = ("word_embedding_dimension", "embedding_dimension", "projection_dim", "hidden_size", "d_model", "dim")


# -- cells -------------------------------------------------------------------------------------------
def cell(value, shown: str | None = None, *, table: str, column: str, row: dict, day: str | None,
         how: str | None = None) -> dict:
    if value is None:
        shown = "unknown"
    elif shown is None:
        shown = str(value)
    source = {"table": table, "column": column, "row": row, "day": day}
    if how:
        source["how"] = how
    return {"value": value, "shown": shown, "source": source}


def count_text(n, sign: bool = False, cap: int | None = None) -> str:
    """A count as people read it: 41.9K, 1.23M; exact below 1,000; '100+' at a cap."""
    if n is None:
        return "unknown"
    if cap is not None and n >= cap:
        return f"{cap}+"
    prefix = "+" if sign and n > 0 else ""
    a = abs(n)
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div:
            return f"{prefix}{n / div:#.3g}".rstrip(".") + unit
    return f"{prefix}{n:,}" if isinstance(n, int) else f"{prefix}{n:g}"


def bytes_text(n) -> str:
    """A size in the unit that fits: MB under 1 GB, KB under 1 MB."""
    if n is None:
        return "unknown"
    for div, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if n >= div:
            v = n / div
            return f"{v:.1f} {unit}" if v < 100 else f"{v:,.0f} {unit}"
    return f"{int(n)} B"


def _day(day) -> str | None:
    return None if day is None else Clock.date_of(int(day))


# -- the licence catalogue's plain words -------------------------------------------------------------
@functools.cache
def licence_terms() -> dict:
    """licence id -> {commercial, summary, conditions, text, clauses} (data/licence_terms.toml)."""
    text = importlib.resources.files("hubdex").joinpath("data/licence_terms.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


# -- typed sides and edges ---------------------------------------------------------------------------
@dataclass
class Side:
    key: int
    id: str
    name: str
    author: str
    hub_url: str
    task: str | None
    task_group: str | None
    cells: dict = field(default_factory=dict)
    benchmarks: list = field(default_factory=list)   # [{dataset, config, split, metric, value, how, where, source}]
    claims: list = field(default_factory=list)       # raw capability rows: (name, detail, kind, src, table, row)
    rivals: list = field(default_factory=list)       # [{id, key, author, task, weight, rank}] strongest first
    shares: dict = field(default_factory=dict)       # (capability, detail lower) -> rivals that claim it too
    history: list = field(default_factory=list)      # [[day, downloads_30d]] oldest first
    licence: dict | None = None                      # licence_terms() entry, with its id
    card: str | None = None

    def public(self) -> dict:
        return {"id": self.id, "name": self.name, "author": self.author, "hub_url": self.hub_url, "task": self.task,
                "task_group": self.task_group}

    def shown(self) -> dict:
        """What the side shows, without the rows' raw values: an entry moves only when this moves."""
        return {"public": self.public(), "cells": {k: [c["shown"], c["source"]["table"], c["source"]["column"]]
                                                   for k, c in self.cells.items()},
                "benchmarks": [[b["dataset"], b["config"], b["split"], b["metric"], b["shown"], b["how"]]
                               for b in self.benchmarks],
                "claims": [c[:3] for c in self.claims], "rivals": [[r["id"], r["task"], r["rank"]] for r in self.rivals],
                "shares": sorted([list(k), v] for k, v in self.shares.items()), "licence": self.licence}

    def hash(self) -> str:
        return hashlib.blake2b(orjson.dumps(self.shown(), option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


@dataclass
class Edge:
    relation: str
    task_group: str | None
    weight: float
    kinds: dict
    evidence_sets: int
    a_key: int
    b_key: int

    def shown(self) -> dict:
        return {"relation": self.relation, "task_group": self.task_group, "weight": round(self.weight, 2),
                "kinds": self.kinds, "evidence_sets": self.evidence_sets,
                "source": {"table": "match_edges", "column": "weight",
                           "row": {"a_key": min(self.a_key, self.b_key), "b_key": max(self.a_key, self.b_key)}}}


# -- SQL ---------------------------------------------------------------------------------------------
# Every query over a batch of keys reads `temp.compare_keys k CROSS JOIN <table>`: SQLite then walks the
# batch and looks each key up (CROSS JOIN fixes the loop order), where its planner would otherwise scan
# the whole table once a batch (all 1.25M capability rows for 2,000 keys at 100,000 models).
def _keys_table(conn, keys, name="compare_keys"):
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (key INTEGER PRIMARY KEY)")
    conn.execute(f"DELETE FROM temp.{name}")
    conn.executemany(f"INSERT OR IGNORE INTO temp.{name} VALUES (?)", ((int(k),) for k in keys))


SHOWN_FROM = """FROM temp.compare_keys k CROSS JOIN models m ON m.key = k.key
    LEFT JOIN model_scores s ON s.model_key = m.key LEFT JOIN match_scores ms ON ms.model_key = m.key"""
# What a side shows that no model_changes row reports: rounded scores, licence and pricing classes,
# times matched, copies and the strongest rivals. build.py reads a side again when this moves.
SHOWN_KEY_SQL = f"""printf('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
    CAST(round(s.rank) AS INTEGER), CAST(round(s.adoption) AS INTEGER), CAST(round(s.quality) AS INTEGER),
    CAST(round(s.ecosystem) AS INTEGER), CAST(round(s.match) AS INTEGER), s.pricing_class, s.licence,
    s.commercial_use, s.hosted_providers, round(s.cheapest_input_usd_per_m, 2), round(s.cheapest_output_usd_per_m, 2),
    s.growth_30d, ms.times_matched,
    (SELECT count(*) FROM match_copies cc WHERE cc.canonical_key = m.key),
    (SELECT group_concat(o || ':' || w || ':' || coalesce(CAST(round(rs.rank) AS INTEGER), ''), ',') FROM (
        SELECT CASE WHEN e.a_key = m.key THEN e.b_key ELSE e.a_key END AS o, round(e.weight, 2) AS w,
            CASE WHEN e.a_key = m.key THEN e.a_standing ELSE e.b_standing END AS st
        FROM match_edges e WHERE (e.a_key = m.key OR e.b_key = m.key) AND e.relation = 'competitor'
        AND (SELECT removed_at FROM models x WHERE x.key = CASE WHEN e.a_key = m.key THEN e.b_key ELSE e.a_key END)
            IS NULL
        ORDER BY st DESC, e.weight DESC, e.a_key + e.b_key LIMIT {RIVALS}) LEFT JOIN model_scores rs ON rs.model_key = o))"""


def shown_keys(conn, keys) -> dict:
    _keys_table(conn, keys)
    out = dict(conn.execute(f"SELECT m.key, {SHOWN_KEY_SQL} {SHOWN_FROM}"))
    conn.execute("DELETE FROM temp.compare_keys")
    return out


_SIDE_SQL = f"""SELECT m.key, m.id, m.author, m.pipeline_tag, m.library_name, m.gated, m.params, m.used_storage,
    m.context_length, m.downloads, m.downloads_all_time, m.likes, m.trending_score, m.children_finetune,
    m.children_adapter, m.children_quantized, m.children_merge, m.spaces_count, m.last_modified, m.created_at,
    m.updated_at, m.config, m.gguf, json_extract(m.card_data, '$.language') AS card_language,
    s.rank, s.adoption, s.quality, s.ecosystem, s.pricing_class,
    CAST(round(s.rank) AS INTEGER) AS rank_pt, CAST(round(s.adoption) AS INTEGER) AS adoption_pt,
    CAST(round(s.quality) AS INTEGER) AS quality_pt, CAST(round(s.ecosystem) AS INTEGER) AS ecosystem_pt,
    CAST(round(ms.score) AS INTEGER) AS match_pt, s.licence, s.licence_family, s.commercial_use,
    s.cheapest_provider, s.cheapest_input_usd_per_m, s.cheapest_output_usd_per_m, s.hosted_providers,
    s.growth_7d, s.growth_30d, ms.score AS match, ms.times_matched, l.name AS licence_name,
    c.source AS card, c.fetched_at,
    (SELECT max(h.day) FROM metrics_history h WHERE h.model_key = m.key) AS metrics_day,
    (SELECT max(p.context_length) FROM router_prices p WHERE p.model_id = m.id AND p.status = 'live'
        AND p.day = (SELECT max(day) FROM router_prices)) AS router_context,
    (SELECT count(*) FROM match_copies cc WHERE cc.canonical_key = m.key) AS copies
    {SHOWN_FROM} LEFT JOIN licences l ON l.id = s.licence LEFT JOIN cards c ON c.model_key = m.key"""


def _optional_tables(conn) -> set:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}


def sides(conn, keys, *, rivals: bool = True, history: bool = True, shares: bool = True) -> dict:
    """key -> Side, for the given model keys (a few bulk queries, whatever their number). shares=False
    leaves out how many rivals share each capability (an entry's marks; a model page shows none)."""
    keys = list(keys)
    if not keys:
        return {}
    _keys_table(conn, keys)
    cur = conn.execute(_SIDE_SQL)
    names = [d[0] for d in cur.description]
    rows = {r[0]: dict(zip(names, r)) for r in cur}
    claims: dict = {}
    for key, seq, name, detail, kind, src in conn.execute(
            """SELECT c.model_key, c.seq, c.capability, c.detail, c.evidence_kind, c.evidence_source
            FROM temp.compare_keys k CROSS JOIN capabilities c ON c.model_key = k.key ORDER BY c.model_key, c.seq"""):
        claims.setdefault(key, []).append((name, detail, kind, src, "capabilities", {"model_key": key, "seq": seq}))
    for key, name, detail, kind, src in conn.execute(
            """SELECT r.model_key, n.name, r.detail, e.evidence_kind, e.evidence_source
            FROM temp.compare_keys k CROSS JOIN model_capability_rows r ON r.model_key = k.key
            JOIN capability_names n ON n.id = r.capability_id JOIN capability_evidence e ON e.id = r.evidence_id
            ORDER BY r.model_key, r.capability_id, r.detail"""):
        claims.setdefault(key, []).append((name, detail, kind, src, "model_capabilities",
                                           {"model_key": key, "capability": name, "detail": detail}))
    evals: dict = {}
    if "eval_results" in _optional_tables(conn):
        # the evidence crawl's table: every origin (evalResults, leaderboards, the card's model-index)
        # the benchmark's direction as its leaderboard ranks it (the evidence crawl's `benchmarks`): the
        # Hub's evalResults name no metric, so "score" alone can't say that a lower WER is better
        for key, rid, dataset, config, split, metric, value, kind, origin, name, url, lower in conn.execute(
                """SELECT e.model_key, e.id, e.dataset_id, e.task_id, e.split, e.metric, e.value, e.kind, e.origin,
                e.source_name, e.source_url, b.lower_is_better FROM temp.compare_keys k
                CROSS JOIN eval_results e ON e.model_key = k.key LEFT JOIN benchmarks b ON b.dataset_id = e.dataset_id
                ORDER BY e.model_key, CASE e.kind WHEN 'verified' THEN 0 WHEN 'third-party' THEN 1 ELSE 2 END, e.id"""):
            how = "measured" if kind in ("verified", "third-party") else "claimed"
            where = f"{origin}" + (f" ({kind})" if kind else "") + (f": {name}" if name else "") + \
                (f" {url}" if url else "")
            evals.setdefault(key, []).append((dataset, config, split, metric or "score", value, how, where,
                                              {"table": "eval_results", "column": "value", "row": {"id": rid}},
                                              lower))
    for key, seq, dataset, metric, split, value, source, location in conn.execute(
            """SELECT e.model_key, e.seq, e.dataset, e.metric, e.split, e.value, e.source, e.location
            FROM temp.compare_keys k CROSS JOIN evaluations e ON e.model_key = k.key
            WHERE e.subject IS NULL AND e.dataset IS NOT NULL AND e.metric IS NOT NULL AND e.value IS NOT NULL
            ORDER BY e.model_key, e.seq"""):
        evals.setdefault(key, []).append((dataset, None, split, metric, value, "claimed", f"{source}: {location}",
                                          {"table": "evaluations", "column": "value",
                                           "row": {"model_key": key, "seq": seq}}, None))
    configs: dict = {}
    if "model_configs" in _optional_tables(conn):
        for key, path, body in conn.execute("""SELECT c.model_key, c.path, c.body FROM temp.compare_keys k
                CROSS JOIN model_configs c ON c.model_key = k.key"""):
            v = _json(body)
            if v is not None:
                configs.setdefault(key, {})[path] = v
    hist: dict = {}
    if history:
        for key, day, dl in conn.execute(
                f"""SELECT h.model_key, h.day, h.downloads FROM temp.compare_keys k CROSS JOIN metrics_history h
                ON h.model_key = k.key WHERE h.day > (SELECT max(day) FROM metrics_history) - {HISTORY_DAYS}
                ORDER BY h.model_key, h.day"""):
            hist.setdefault(key, []).append([_day(day), dl])
    riv: dict = {}
    shared: dict = {}
    if rivals:
        riv = _rivals(conn)
        shared = _shares(conn) if shares else {}
    conn.execute("DELETE FROM temp.compare_keys")
    return {k: _side(r, claims.get(k, []), evals.get(k, []), hist.get(k, []), riv.get(k, []), shared.get(k, {}),
                     configs.get(k, {})) for k, r in rows.items()}


_RIVALS_SQL = f"""WITH e AS (
        SELECT k.key AS k, x.b_key AS o, x.a_standing AS standing, x.weight, x.a_key + x.b_key AS t FROM temp.compare_keys k
            CROSS JOIN match_edges x ON x.a_key = k.key WHERE x.relation = 'competitor'
        UNION ALL SELECT k.key, x.a_key, x.b_standing, x.weight, x.a_key + x.b_key FROM temp.compare_keys k
            CROSS JOIN match_edges x ON x.b_key = k.key WHERE x.relation = 'competitor'),
    r AS (SELECT k, o, weight, row_number() OVER (PARTITION BY k ORDER BY standing DESC, weight DESC, t) AS n FROM e)
    SELECT r.k, r.o, m.id, m.author, m.pipeline_tag, r.weight, CAST(round(s.rank) AS INTEGER)
    FROM r JOIN models m ON m.key = r.o LEFT JOIN model_scores s ON s.model_key = r.o
    WHERE r.n <= {RIVALS} AND m.removed_at IS NULL ORDER BY r.k, r.n"""


def _rivals(conn) -> dict:
    """key -> its competitors as `hubdex matches` lists them: strongest edge first, ties by key sum."""
    out: dict = {}
    for k, o, oid, author, task, weight, rank in conn.execute(_RIVALS_SQL):
        out.setdefault(k, []).append({"id": oid, "key": o, "author": author, "task": task,
                                      "weight": round(weight, 2), "rank": rank})
    return out


# the capabilities whose sharing among rivals an entry judges (what a model does, not how it ships)
SHARED_KINDS = ("task", "input modality", "output modality", "language", "context length")


def _shares(conn) -> dict:
    """key -> {(capability, detail lowered): how many of its top 5 rivals claim it too}."""
    kinds = ", ".join(f"'{k}'" for k in SHARED_KINDS)
    out: dict = {}
    for k, name, low, n in conn.execute(f"""WITH e AS (
            SELECT k.key AS k, x.b_key AS o, x.a_standing AS standing, x.weight, x.a_key + x.b_key AS t FROM temp.compare_keys k
                CROSS JOIN match_edges x ON x.a_key = k.key WHERE x.relation = 'competitor'
            UNION ALL SELECT k.key, x.a_key, x.b_standing, x.weight, x.a_key + x.b_key FROM temp.compare_keys k
                CROSS JOIN match_edges x ON x.b_key = k.key WHERE x.relation = 'competitor'),
        r AS (SELECT k, o FROM (SELECT k, o, row_number() OVER (PARTITION BY k ORDER BY standing DESC, weight DESC, t)
              AS n FROM e)
              WHERE n <= 5)
        SELECT r.k, cn.name, lower(mr.detail), count(DISTINCT r.o) FROM r
        JOIN model_capability_rows mr ON mr.model_key = r.o JOIN capability_names cn ON cn.id = mr.capability_id
        WHERE cn.name IN ({kinds}) GROUP BY 1, 2, 3"""):
        out.setdefault(k, {})[(name, low)] = n
    for k, n in conn.execute("""SELECT k.key, count(*) FROM temp.compare_keys k CROSS JOIN match_edges x
            ON (x.a_key = k.key OR x.b_key = k.key) AND x.relation = 'competitor' GROUP BY 1"""):
        out.setdefault(k, {})[("", "rivals")] = min(n, 5)
    return out


def _json(text):
    if not text:
        return None
    try:
        v = json.loads(text)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def _int(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int) and v > 0:
        return v
    if isinstance(v, float) and v > 0 and v == int(v):
        return int(v)
    if isinstance(v, str):
        m = re.search(r"\d[\d,]*", v)
        return int(m.group(0).replace(",", "")) if m else None
    return None


def _find(d: dict | None, keys) -> tuple:
    """The first of keys found in a config dict or one level down (text_config, ...): (key path, value)."""
    if not d:
        return None, None
    for k in keys:
        v = _int(d.get(k))
        if v and v < 10**8:
            return k, v
    for sub in ("text_config", "llm_config", "language_config", "text_encoder"):
        if isinstance(d.get(sub), dict):
            for k in keys:
                v = _int(d[sub].get(k))
                if v and v < 10**8:
                    return f"{sub}.{k}", v
    return None, None


def _side(r: dict, claims: list, evals: list, hist: list, rivals: list, shares: dict, files: dict) -> Side:
    key, mid = r["key"], r["id"]
    task = r["pipeline_tag"]
    row = {"id": mid}
    srow = {"model_key": key}
    meta_day = (r["updated_at"] or "")[:10] or None
    metrics_day = _day(r["metrics_day"])
    card_day = (r["fetched_at"] or "")[:10] or None
    data_day = max((d for d in (meta_day, metrics_day, card_day) if d), default=None)
    s = Side(key=key, id=mid, name=mid.split("/")[-1], author=r["author"] or mid.split("/")[0],
             hub_url="https://huggingface.co/" + quote(mid, safe="/"), task=task,
             task_group=TASK_GROUPS.get(task, task) if task else None, card=r["card"])
    c = s.cells

    def meta(column, value, shown=None, how=None):
        return cell(value, shown, table="models", column=column, row=row, day=meta_day, how=how)

    def metric(column, value, shown=None):
        return cell(value, shown, table="models", column=column, row=row, day=metrics_day)

    def score(column, value, shown=None):
        return cell(value, shown, table="model_scores", column=column, row=srow, day=data_day)

    c["task"] = meta("pipeline_tag", task)
    # rounded in SQL, as SHOWN_KEY_SQL rounds them (half away from zero; Python's round() is half to even)
    for name in ("rank", "adoption", "quality", "ecosystem"):
        v = r[name]
        c[name] = score(name, v, None if v is None else f"{r[name + '_pt']}/100")
    v = r["match"]
    c["match"] = cell(v, None if v is None else f"{r['match_pt']}/100", table="match_scores", column="score", row=srow,
                      day=data_day)
    c["times_matched"] = cell(r["times_matched"], None if r["times_matched"] is None else f"{r['times_matched']:,}",
                              table="match_scores", column="times_matched", row=srow, day=data_day)
    c["pricing"] = score("pricing_class", r["pricing_class"])
    for column in ("downloads", "downloads_all_time", "likes", "trending_score"):
        c[column] = metric(column, r[column], count_text(r[column]))
    for column in ("growth_7d", "growth_30d"):
        c[column] = score(column, r[column], count_text(r[column], sign=True))
    # size and memory: the weights at each precision, computed from the parameter count
    p = r["params"]
    c["params"] = meta("params", p, None if p is None else count_text(p))
    for prec, per in (("fp16", 2), ("int8", 1), ("int4", 0.5)):
        c["memory_" + prec] = meta("params", p, None if p is None else bytes_text(p * per),
                                   how=f"parameters x {per:g} byte{'s' if per != 1 else ''} (weights only)")
        if p is not None:
            c["memory_" + prec]["value"] = int(p * per)
    st = r["used_storage"]
    c["storage"] = meta("used_storage", st, bytes_text(st))
    # context length: the router's, then the GGUF header's, then the config's, then the card's
    config, gguf = _json(r["config"]), _json(r["gguf"])
    frow = {"model_key": key}

    def from_file(path, keys, unit="", where=None):
        k, n = _find(files.get(path), keys)
        if n:
            return cell(n, f"{n:,}{unit}", table="model_configs", column="body", row=dict(frow, path=path),
                        day=card_day, how=f"$.{k}")
        return None

    ctx = None
    if r["context_length"]:
        ctx = meta("context_length", r["context_length"], f"{r['context_length']:,} tokens")
    elif r["router_context"]:
        ctx = cell(r["router_context"], f"{r['router_context']:,} tokens", table="router_prices",
                   column="context_length", row={"model_id": mid, "status": "live"}, day=metrics_day)
    elif gguf and _int(gguf.get("context_length")):
        n = _int(gguf["context_length"])
        ctx = meta("gguf", n, f"{n:,} tokens", how="$.context_length")
    elif task not in EMBEDDING_TASKS and (from_file("config.json", CONTEXT_KEYS[:-1], " tokens")):
        ctx = from_file("config.json", CONTEXT_KEYS[:-1], " tokens")
    else:
        k, n = _find(config, CONTEXT_KEYS)
        if n:
            ctx = meta("config", n, f"{n:,} tokens", how=f"$.{k}")
        else:
            d = next((d for name, d, *_ in claims if name == "context length"), None)
            n = _int(d)
            if n:
                ctx = cell(n, f"{n:,} tokens", table="model_capabilities", column="detail",
                           row={"model_key": key, "capability": "context length"}, day=meta_day)
    c["context_length"] = ctx or meta("context_length", None)
    # embedding models (and CLIP-like ones): their vector size and how much text they read at once
    emb = maxin = None
    if task in EMBEDDING_TASKS or task in VECTOR_TASKS or (r["library_name"] or "") == "sentence-transformers":
        emb = (from_file("1_Pooling/config.json", ("word_embedding_dimension",))
               or from_file("open_clip_config.json", ("embed_dim",)) if files else None)
        if emb is None and files.get("open_clip_config.json"):
            n = _int((files["open_clip_config.json"].get("model_cfg") or {}).get("embed_dim"))
            if n:
                emb = cell(n, f"{n:,}", table="model_configs", column="body",
                           row=dict(frow, path="open_clip_config.json"), day=card_day, how="$.model_cfg.embed_dim")
        if emb is None:
            emb = from_file("config.json", EMBED_KEYS)
        if emb is None:
            k, n = _find(config, EMBED_KEYS)
            if n:
                emb = meta("config", n, f"{n:,}", how=f"$.{k}")
        maxin = (from_file("sentence_bert_config.json", ("max_seq_length",), " tokens")
                 or from_file("tokenizer_config.json", ("model_max_length",), " tokens")
                 or from_file("config.json", ("max_position_embeddings",), " tokens"))
        if maxin is None:
            k, n = _find(config, ("max_seq_length", "max_position_embeddings", "model_max_length"))
            if n:
                maxin = meta("config", n, f"{n:,} tokens", how=f"$.{k}")
    elif files.get("tokenizer_config.json"):
        maxin = from_file("tokenizer_config.json", ("model_max_length",), " tokens")
    c["embedding_dim"] = emb or meta("config", None)
    c["max_input"] = maxin or meta("config", None)
    # languages and modalities, as the card and the metadata declare them
    langs = r["card_language"]
    try:
        langs = json.loads(langs) if langs and langs.startswith("[") else ([langs] if langs else [])
    except ValueError:
        langs = []
    langs = [str(x) for x in langs if x]
    if not langs:
        langs = [d for name, d, *_ in claims if name == "language"]
    langs = list(dict.fromkeys(langs))
    c["languages"] = cell(langs or None, _langs_text(langs) if langs else None, table="models",
                          column="card_data", row=row, day=meta_day, how="$.language")
    for side_, cap in (("input", "input modality"), ("output", "output modality")):
        mods = list(dict.fromkeys(d for name, d, *_ in claims if name == cap))
        c[side_ + "_modalities"] = cell(mods or None, ", ".join(mods) if mods else None, table="model_capabilities",
                                        column="detail", row={"model_key": key, "capability": cap}, day=meta_day)
    # the licence, in plain words from the catalogue
    lic = r["licence"]
    terms = licence_terms().get(lic) if lic else None
    s.licence = dict(terms, id=lic) if terms else None
    lrow = {"id": lic}
    c["licence"] = score("licence", lic, None if lic is None else (r["licence_name"] or lic))
    commercial = terms["commercial"] if terms else {"yes": "yes", "no": "no", "conditional": "on conditions"}.get(
        r["commercial_use"] or "")
    c["commercial_use"] = cell(commercial, table="licence_terms" if terms else "model_scores",
                               column="commercial" if terms else "commercial_use",
                               row=lrow if terms else srow, day=data_day)
    c["licence_conditions"] = cell(terms["conditions"] if terms and terms["conditions"] else (
        [] if terms else None), "; ".join(terms["conditions"]) if terms and terms["conditions"] else (
        "none" if terms else None), table="licence_terms", column="conditions", row=lrow, day=None)
    c["licence_text"] = cell(terms["text"] if terms else None, table="licence_terms", column="text", row=lrow, day=None)
    gated = r["gated"] not in (None, "false", "0", "False")
    c["gated"] = meta("gated", r["gated"], None if r["gated"] is None else (
        ("yes" + ("" if r["gated"] in ("true", "1") else f" ({r['gated']})")) if gated else "no"))
    # when: released, last changed
    c["released"] = meta("created_at", (r["created_at"] or "")[:10] or None)
    c["last_modified"] = meta("last_modified", (r["last_modified"] or "")[:10] or None)
    # adoption over time, from the stored history
    s.history = hist
    c["trend"] = _trend(hist, key, metrics_day)
    # ecosystem
    for rel in ("finetune", "adapter", "quantized", "merge"):
        v = r["children_" + rel]
        c["children_" + rel] = meta("children_" + rel, v, count_text(v))
    c["spaces"] = meta("spaces_count", r["spaces_count"], count_text(r["spaces_count"], cap=SPACES_CAP))
    c["library"] = meta("library_name", r["library_name"])
    formats = sorted({d for name, d, *_ in claims if name == "weight format"})
    c["formats"] = cell(formats or None, ", ".join(formats) if formats else None, table="model_capabilities",
                        column="detail", row={"model_key": key, "capability": "weight format"}, day=meta_day)
    c["copies"] = cell(r["copies"], f"{r['copies']:,}", table="match_copies", column="model_key",
                       row={"canonical_key": key}, day=data_day)
    # serving and price: the router's per-token prices (LLMs); other modalities have no price the Hub publishes
    hosted = r["hosted_providers"]
    c["providers"] = score("hosted_providers", hosted, None if hosted is None else f"{hosted} live")
    pin, pout = r["cheapest_input_usd_per_m"], r["cheapest_output_usd_per_m"]
    price = None
    if pin is not None or pout is not None:
        parts = [f"${pin:.2f}/M input tokens" if pin is not None else None,
                 f"${pout:.2f}/M output tokens" if pout is not None else None]
        price = [r["cheapest_provider"], pin, pout]
        shown = ", ".join(p for p in parts if p) + f" ({r['cheapest_provider']})"
    c["price"] = score("cheapest_input_usd_per_m, cheapest_output_usd_per_m", price, shown if price else None)
    s.claims = claims
    s.benchmarks = _benchmarks(evals, key, card_day or meta_day)
    s.rivals = rivals
    s.shares = {k: v for k, v in shares.items()}
    return s


_LANG = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
         "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ru": "Russian", "ar": "Arabic", "hi": "Hindi",
         "th": "Thai", "nl": "Dutch", "pl": "Polish", "tr": "Turkish", "vi": "Vietnamese", "id": "Indonesian",
         "sv": "Swedish", "multilingual": "many languages",
         # ISO 639-3, as some cards and the evidence write them
         "eng": "English", "deu": "German", "fra": "French", "spa": "Spanish", "ita": "Italian", "por": "Portuguese",
         "zho": "Chinese", "jpn": "Japanese", "kor": "Korean", "rus": "Russian", "ara": "Arabic", "hin": "Hindi",
         "tha": "Thai", "nld": "Dutch", "pol": "Polish", "tur": "Turkish", "vie": "Vietnamese", "ind": "Indonesian",
         "swe": "Swedish"}


def language_name(code: str) -> str:
    return _LANG.get(str(code).lower(), str(code))


def _langs_text(langs: list) -> str:
    names = [language_name(x) for x in langs]
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _trend(hist: list, key: int, day) -> dict:
    """Downloads over the stored history: from the first to the last snapshot of the window."""
    pts = [(d, v) for d, v in hist if v is not None]
    src = dict(table="metrics_history", column="downloads", row={"model_key": key}, day=day)
    if len(pts) < 2:
        c = cell(None, **src)
        if pts:
            c["shown"] = f"unknown (one snapshot, {pts[0][0]})"
        return c
    (d0, v0), (d1, v1) = pts[0], pts[-1]
    if v0 == 0:
        return {"value": None, "shown": f"from 0 to {count_text(v1)} a month ({d0} to {d1})", "source": src}
    change = (v1 - v0) / v0
    word = "up" if change > 0.05 else "down" if change < -0.05 else "flat"
    text = (f"{word} {abs(change):.0%}" if word != "flat" else "flat") + \
        f": {count_text(v0)} to {count_text(v1)} a month ({d0} to {d1})"
    return {"value": round(change, 4), "shown": text, "source": src}


def _benchmarks(evals, key, day) -> list:
    """One result per benchmark (dataset, config, split, metric), measured before claimed."""
    out, seen = [], set()
    for dataset, config, split, metric, value, how, where, source, lower in evals:
        k = (dataset.strip().lower(), (config or "").strip().lower(), (split or "").strip().lower(),
             metric.strip().lower())
        if k in seen or value is None:
            continue
        seen.add(k)
        out.append({"dataset": dataset, "config": config, "split": split, "metric": metric, "value": float(value),
                    "shown": f"{float(value):.4g}", "how": how, "where": where, "source": dict(source, day=day),
                    "lower_is_better": None if lower is None else bool(lower)})
    return out


# -- pairs and edges ---------------------------------------------------------------------------------
def pairs(conn, top_m: int, after: int = -1, limit: int | None = None) -> list[tuple[int, int]]:
    """(a_key, b_key), a_key < b_key: every model's top M competitors, each pair once, in key order;
    `after`/`limit` page through them by a_key (a page holds whole a_keys)."""
    sql = """WITH e AS (
            SELECT a_key AS k, b_key AS o, a_standing AS standing, weight, a_key + b_key AS t FROM match_edges
            WHERE relation = 'competitor'
            UNION ALL SELECT b_key, a_key, b_standing, weight, a_key + b_key FROM match_edges WHERE relation = 'competitor'),
        r AS (SELECT k, o, row_number() OVER (PARTITION BY k ORDER BY standing DESC, weight DESC, t, o) AS n FROM e)
        SELECT DISTINCT min(k, o) AS a, max(k, o) AS b FROM r WHERE n <= ? ORDER BY 1, 2"""
    return conn.execute(sql, (top_m,)).fetchall() if limit is None else \
        conn.execute(f"SELECT a, b FROM ({sql}) WHERE a > ? AND a <= ? ORDER BY 1, 2",
                     (top_m, after, after + limit)).fetchall()


def key_range(conn) -> tuple[int, int]:
    lo, hi = conn.execute("SELECT min(key), max(key) FROM models").fetchone()
    return (lo or 0), (hi or 0)


def edges(conn, wanted) -> dict:
    """(a_key, b_key) -> Edge, for the wanted pairs."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS compare_pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b))")
    conn.execute("DELETE FROM temp.compare_pairs")
    conn.executemany("INSERT OR IGNORE INTO temp.compare_pairs VALUES (?, ?)", wanted)
    out = {}
    for a, b, relation, task, weight, n, *parts in conn.execute(
            f"""SELECT e.a_key, e.b_key, e.relation, e.task, e.weight, e.evidence, {', '.join('e.' + k for k in KINDS)}
            FROM temp.compare_pairs p JOIN match_edges e ON e.a_key = p.a AND e.b_key = p.b"""):
        kinds = {k: round(v, 2) for k, v in zip(KINDS, parts) if round(v, 2)}
        out[(a, b)] = Edge(relation, task, weight, kinds, n, a, b)
    conn.execute("DELETE FROM temp.compare_pairs")
    return out


def ids(conn, keys) -> dict:
    _keys_table(conn, keys)
    out = dict(conn.execute("SELECT m.key, m.id FROM temp.compare_keys k CROSS JOIN models m ON m.key = k.key"))
    conn.execute("DELETE FROM temp.compare_keys")
    return out


def resolve(conn, model_id: str):
    """(key, id) of a live model by id (exact, then case-insensitive), or None."""
    row = conn.execute("SELECT key, id FROM models WHERE id = ? AND removed_at IS NULL", (model_id,)).fetchone()
    if row is None:
        row = conn.execute("SELECT key, id FROM models WHERE lower(id) = lower(?) AND removed_at IS NULL",
                           (model_id,)).fetchone()
    return row


# What a model's page shows, as a fingerprint's parts: its rows (metadata hash, metrics, card, the last
# history day), its rounded scores, licence and pricing classes, times matched and copies. Its rivals
# (ids, tasks, weights and ranks, as the page lists them) are read apart, for the whole batch at once
# (_RIVALS_SQL): read by a subquery per model, they cost most of a rerun.
_PAGE_ROWS_SQL = """SELECT m.key, m.id, m.pipeline_tag, m.params, m.downloads, CAST(round(s.rank) AS INTEGER),
    s.licence, s.commercial_use, l.name,
    printf('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', m.meta_hash, m.downloads,
        m.downloads_all_time, m.likes, c.sha, c.fetched_at, m.detail_at,
        (SELECT max(day) FROM metrics_history h WHERE h.model_key = m.key),
        CAST(round(s.rank) AS INTEGER), CAST(round(s.adoption) AS INTEGER), CAST(round(s.quality) AS INTEGER),
        CAST(round(s.ecosystem) AS INTEGER), CAST(round(ms.score) AS INTEGER), s.pricing_class, s.licence,
        s.commercial_use, s.hosted_providers, round(s.cheapest_input_usd_per_m, 2),
        round(s.cheapest_output_usd_per_m, 2), s.growth_30d, ms.times_matched),
    (SELECT count(*) FROM match_copies cc WHERE cc.canonical_key = m.key)
    """ + SHOWN_FROM + """ LEFT JOIN licences l ON l.id = s.licence LEFT JOIN cards c ON c.model_key = m.key
    ORDER BY m.key"""


def page_rows(conn, keys) -> list[tuple]:
    """For a batch of models, what a task row and the search index show, and the parts of a fingerprint
    of everything a model's page shows (its rows, card, history day, rounded scores, copies and its
    rivals as the page lists them): (key, id, task, params, downloads, rank, licence, commercial_use,
    licence name, fingerprint text)."""
    _keys_table(conn, keys)
    rows = conn.execute(_PAGE_ROWS_SQL).fetchall()
    rivals: dict = {}
    for k, _o, oid, _author, task, weight, rank in conn.execute(_RIVALS_SQL):
        rivals.setdefault(k, []).append(f"{oid}:{task}:{round(weight, 2)}:{rank}")
    conn.execute("DELETE FROM temp.compare_keys")
    return [(*r[:9], f"{r[9]}|{r[10]}|{','.join(rivals.get(r[0], ()))}") for r in rows]


def live_keys(conn, after: int = -1, limit: int = 5000) -> list[int]:
    """Live models' keys in key order, a page at a time."""
    return [r[0] for r in conn.execute("SELECT key FROM models WHERE removed_at IS NULL AND key > ? ORDER BY key "
                                       "LIMIT ?", (after, limit))]
