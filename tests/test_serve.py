"""`hubdex serve`: the metadata describes everything, sorts / facets / canned queries are indexed,
every canned query answers, card text is sanitised Markdown, and Datasette answers while a crawl
writes the same file. The browser test is tests/test_serve_browser.py."""

from __future__ import annotations

import fnmatch
import json
import os
import pathlib
import re
import sqlite3
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest
import requests

from hubdex import serve
from hubdex.clock import Clock, parse_day
from hubdex.crawl.scope import Scope
from hubdex.present import matches as present_matches
from hubdex.store.db import open_db

from .conftest import UNLIMITED, control, crawl, derive

DAY0 = parse_day("2026-10-30")
MASK2FORMER = "facebook/mask2former-swin-large-cityscapes-semantic"
# Days with figures: growth over 7 and 30 days both exist on the last one.
METRIC_DAYS = [DAY0 + d for d in (1, 3, 8, 16, 24, 31)]
# Tables that stay small whatever the catalogue (bookkeeping): a query may scan them.
SMALL_TABLES = {"runs", "quarantine", "crawl_state", "metric_days", "derive_runs", "licences", "licence_classes",
                "capability_names", "capability_evidence", "rank_weights", "export_state", "history_prunes",
                "pass_pages", "_sqlite_migrations",
                "overview_breakdowns"}  # one row per licence and per pricing class
NASTY_CARD = ("## Uses\n\nA **bold** claim.\n\n<script>alert('card')</script>\n"
              "<img src=\"http://example.com/pixel.png\" onerror=\"alert(1)\">\n\n"
              "![badge](https://example.com/badge.svg)\n")


def build_served_db(path, replica):
    """A full crawl with one item quarantined, cards, six more days of moving figures, a derive."""
    control(replica, "POST", "faults", b"missing-id:on=list,rate=0.002")
    assert crawl(path, replica.url, mode="full", clock=Clock(DAY0)).ok
    control(replica, "DELETE", "faults")
    assert crawl(path, replica.url, mode="cards", scope=Scope(limit=300), clock=Clock(DAY0)).ok
    for i, day in enumerate(METRIC_DAYS):
        control(replica, "POST", "scenario", json.dumps({"seed": i + 1, "metrics": 0.3, "advance": 86400}).encode())
        assert crawl(path, replica.url, mode="metrics", clock=Clock(day)).ok
        if i == 2:  # a first derive mid-way: the last one refreshes model_overview for what moved only
            derive(path, clock=Clock(day))
    derive(path, clock=Clock(METRIC_DAYS[-1]))
    # A card section with raw HTML and outside images, as real cards have.
    db = open_db(str(path))
    key = db.conn.execute("SELECT key FROM models WHERE id = 'facebook/mask2former-swin-large-cityscapes-semantic'"
                          ).fetchone()[0]
    db.conn.execute("INSERT OR REPLACE INTO card_sections VALUES (?, 1, 2, 'Uses', '[\"Uses\"]', ?)",
                    (key, NASTY_CARD))
    db.conn.close()


@pytest.fixture(scope="module")
def served_db(tmp_path_factory):
    from hubdex.replica.server import start_replica

    replica = start_replica("demo", quotas=UNLIMITED)
    try:
        path = tmp_path_factory.mktemp("serve") / "hub.db"
        build_served_db(path, replica)
        yield path
    finally:
        replica.stop()


class Served:
    """`hubdex serve` as a subprocess; its URL is the first line it prints."""

    def __init__(self, db_path, *extra):
        self.db_path = db_path
        self.proc = subprocess.Popen([sys.executable, "-m", "hubdex", "serve", "--db", str(db_path), "--port", "0",
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.proc.kill()
            raise AssertionError(f"hubdex serve did not start: {self.url!r} {self.proc.stderr.read()[-3000:]}")

    def get(self, path, **params):
        return requests.get(self.url + path.lstrip("/"), params=params, timeout=60)

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture(scope="module")
def served(served_db):
    s = Served(served_db)
    yield s
    s.stop()


def schema(path):
    """Every table and view with its columns (hidden and generated ones included)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {n: [r[0] for r in conn.execute("SELECT name FROM pragma_table_xinfo(?)", (n,))] for n in names}
    finally:
        conn.close()


def tables_meta():
    return serve.metadata()["databases"][serve.DB_NAME]["tables"]


def facet_columns(meta):
    """A table's configured facets' columns (`column`, or `{type: column}`)."""
    return [f if isinstance(f, str) else next(iter(f.values())) for f in meta.get("facets") or []]


# -- metadata ---------------------------------------------------------------------------------------
def test_every_table_view_and_column_is_described(served_db):
    tables, missing, stale = tables_meta(), [], []
    live = schema(served_db)
    for name, columns in live.items():
        meta = tables.get(name) or {}
        if not (meta.get("description") or meta.get("description_html")):
            missing.append(name)
        described = meta.get("columns") or {}
        missing += [f"{name}.{c}" for c in columns if not described.get(c)]
        stale += [f"{name}.{c}" for c in described if c not in columns]
    stale += [name for name in tables if name not in live]
    assert not missing, "not described in src/hubdex/serve/metadata.yml: " + ", ".join(missing)
    assert not stale, "described in metadata.yml but not in the database: " + ", ".join(stale)
    meta = serve.metadata()
    assert meta["title"] and meta["databases"]["hubdex"]["description_html"]


def _plan(conn, sql, params=None):
    return [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params or {})]


def test_default_sorts_and_facets_use_indexes(served_db, served):
    conn = sqlite3.connect(f"file:{served_db}?mode=ro", uri=True)
    wrong = []
    for table, meta in tables_meta().items():
        if meta.get("sort") or meta.get("sort_desc"):
            # the SQL Datasette itself runs for the table's first page
            sql = served.get(f"hubdex/{table}.json", _size=1).json()["query"]["sql"]
            plan = _plan(conn, sql)  # a scan in the order asked (an index, the rowid, a clustered key) is fine
            if any("TEMP B-TREE" in p for p in plan):
                wrong.append(f"{table} sorted: {sql[-60:]} -> {plan}")
        for column in facet_columns(meta):
            # as Datasette counts a facet (datasette/facets.py, ColumnFacet)
            sql = (f"select [{column}] as value, count(*) as count from (select * from [{table}]) "
                   f"where [{column}] is not null and [{column}] != '' group by [{column}] order by count desc, value "
                   f"limit 31")
            plan = _plan(conn, sql)
            if not any("INDEX" in p for p in plan) or any("TEMP B-TREE FOR GROUP BY" in p for p in plan):
                wrong.append(f"{table} facet {column} -> {plan}")
    assert not wrong, "\n".join(wrong)


def test_the_overview_filtered_by_each_facet_reads_indexes_only(served_db, served):
    """model_overview filtered by a value of any of its facets: its rows come down an index in rank
    order (no sort of the value's rows), and each facet within is counted inside a covering index."""
    conn = sqlite3.connect(f"file:{served_db}?mode=ro", uri=True)
    facets = facet_columns(tables_meta()["model_overview"])
    assert facets == ["pipeline_tag", "library_name", "licence_family", "gated", "size_band"]
    wrong = []
    for column in facets:
        value = conn.execute(f"SELECT {column} FROM model_overview GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
                             ).fetchone()[0]
        body = served.get("hubdex/model_overview.json", **{column: value, "_size": "1"}).json()
        plan = _plan(conn, body["query"]["sql"], body["query"]["params"])
        if any("TEMP B-TREE FOR ORDER BY" in p for p in plan) or not any("INDEX" in p for p in plan):
            wrong.append(f"rows where {column} = {value!r}: {plan}")
        for other in facets:
            sql = (f"select [{other}] as value, count(*) as count from (select * from model_overview where "
                   f"[{column}] = :p0) where [{other}] is not null and [{other}] != '' group by [{other}] "
                   f"order by count desc, value limit 31")
            plan = _plan(conn, sql, {"p0": value})
            if not any("COVERING INDEX" in p for p in plan):
                wrong.append(f"facet {other} where {column} = {value!r}: {plan}")
    assert not wrong, "\n".join(wrong)


def test_the_overviews_facet_counts_are_the_rows_counts(served):
    """Counted from overview_cube (unfiltered, filtered by facet values) or live (a search, any other
    filter): every facet count is the number of model_overview rows the page holds with that value."""
    conn = sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True)
    facets = facet_columns(tables_meta()["model_overview"])
    task = conn.execute("SELECT pipeline_tag FROM model_overview GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    pages = [({}, "1=1", []), ({"pipeline_tag": task}, "pipeline_tag = ?", [task]),
             ({"pipeline_tag": task, "gated": "false"}, "pipeline_tag = ? AND gated = ?", [task, "false"]),
             ({"size_band": "unknown"}, "size_band = ?", ["unknown"]),
             ({"downloads__gt": "1000"}, "downloads > ?", [1000]),
             ({"_search": "bert"}, "model_key IN (SELECT rowid FROM model_search_fts WHERE model_search_fts MATCH ?)",
              ["bert"])]
    for params, where, args in pages:
        body = served.get("hubdex/model_overview.json", _size="1", **params).json()
        assert set(body["facet_results"]) == set(facets), body["facet_results"].keys()
        for column in facets:
            shown = {r["value"]: r["count"] for r in body["facet_results"][column]["results"]}
            real = dict(conn.execute(f"SELECT {column}, count(*) FROM model_overview WHERE {where} AND {column} "
                                     f"IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 30", args).fetchall())
            assert shown == real, (params, column)
        assert body["filtered_table_rows_count"] == conn.execute(
            f"SELECT count(*) FROM model_overview WHERE {where}", args).fetchone()[0]


_FROM = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_]\w*)(?:\s+(?:AS\s+)?(?!(?:ON|JOIN|WHERE|LEFT|CROSS|INNER|GROUP|ORDER|"
                   r"LIMIT|USING|UNION|WINDOW)\b)([A-Za-z_]\w*))?", re.IGNORECASE)


_CTE = re.compile(r"(?:\bWITH(?:\s+RECURSIVE)?|,)\s*([A-Za-z_]\w*)\s*(?:\([^()]*\))?\s+AS\s*\(", re.IGNORECASE)


def _aliases(sql, real):
    out = {}
    ctes = set(_CTE.findall(sql))
    for table, alias in _FROM.findall(sql):
        if alias in ctes or table in ctes:  # a CTE, or an alias of one: small by construction
            continue
        if table in real:
            out.setdefault(table, set()).add(table)
            if alias:
                out.setdefault(alias, set()).add(table)
    return out


def test_canned_queries_read_big_tables_through_indexes(served_db):
    """No canned query scans a table that grows with the catalogue, except through an index."""
    conn = sqlite3.connect(f"file:{served_db}?mode=ro", uri=True)
    live = schema(served_db)
    views = " ".join(r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'view'"))
    wrong = []
    queries = dict(serve.canned_queries())
    for dashboard in serve.dashboards().values():
        for slug, chart in dashboard["charts"].items():
            queries[f"dashboard chart {slug}"] = {"sql": chart["query"]}
        for slug, f in (dashboard.get("filters") or {}).items():
            if f.get("query"):
                queries[f"dashboard filter {slug}"] = {"sql": f["query"]}
    for name, q in queries.items():
        params = {p: "" for p in re.findall(r":(\w+)", q["sql"])}
        aliases = _aliases(q["sql"] + " " + views, set(live))
        for line in _plan(conn, q["sql"], params):
            m = re.match(r"SCAN (\w+)", line)
            if not m or "INDEX" in line or "VIRTUAL TABLE" in line:
                continue
            ctes = set(_CTE.findall(q["sql"]))
            cte_aliases = {a for table, a in _FROM.findall(q["sql"]) if table in ctes}
            tables = set() if m.group(1) in ctes | cte_aliases else aliases.get(m.group(1), set())
            if tables - SMALL_TABLES:
                wrong.append(f"{name}: {line} ({', '.join(sorted(tables))})")
    assert not wrong, "\n".join(wrong)


# -- answers ----------------------------------------------------------------------------------------
def test_every_canned_query_answers(served):
    queries = serve.canned_queries()
    assert {"top_by_task", "fastest_growing_7d", "fastest_growing_30d", "licence_breakdown", "pricing_breakdown",
            "model_profile", "derivative_tree", "cheapest_providers", "crawl_health"} <= set(queries)
    for name in queries:
        r = served.get(f"hubdex/{name}.json", _shape="objects")
        assert r.status_code == 200, (name, r.text[:500])
        body = r.json()
        assert body.get("ok", True) and not body.get("error"), (name, body.get("error"))
        assert body["rows"], f"{name} answered no rows with its defaults"
    # ... and with parameters an analyst would give
    model = "facebook/mask2former-swin-large-cityscapes-semantic"
    rows = served.get("hubdex/top_by_task.json", _shape="array", task="image-segmentation").json()
    assert rows and {r["pipeline_tag"] for r in rows} == {"image-segmentation"}
    assert [r["rank"] for r in rows] == sorted((r["rank"] for r in rows), reverse=True)
    profile = served.get("hubdex/model_profile.json", _shape="array", model=model).json()
    sections = {r["section"] for r in profile}
    assert {"model", "signal", "licence", "pricing", "capability (metadata)", "card"} <= sections, sections
    assert any(r["item"] == "id" and r["value"] == model for r in profile)
    # a model's profile lists its competitors as `hubdex matches` does, in its order, and its comparison entries;
    # model_competitors reads them in the same order
    ro = sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True)
    rival = ro.execute(
        "SELECT m.id FROM match_edges e JOIN models m ON m.key = e.a_key WHERE e.relation = 'competitor' "
        "AND EXISTS (SELECT 1 FROM comparisons c WHERE c.model_a = m.id OR c.model_b = m.id) "
        "GROUP BY e.a_key ORDER BY count(*) DESC, m.id LIMIT 1").fetchone()[0]
    expected = [c["id"] for c in present_matches.matches(ro, rival, limit=10)["competitors"]]
    profile = served.get("hubdex/model_profile.json", _shape="array", model=rival).json()
    assert len(expected) >= 3 and [r["item"] for r in profile if r["section"] == "competitor"] == expected
    entries = [r for r in profile if r["section"] == "comparison"]
    assert entries and all(rival in r["item"].split(" vs ") for r in entries)
    listed = served.get("hubdex/model_competitors.json", _shape="array", model=rival).json()
    assert [r["model_id"] for r in listed if r["relation"] == "competitor"][:10] == expected
    parent = sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True).execute(
        "SELECT parent FROM model_relations GROUP BY parent ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    tree = served.get("hubdex/derivative_tree.json", _shape="array", model=parent).json()
    assert tree[0]["depth"] <= 0 and any(r["depth"] == 1 for r in tree)
    assert all(r["path"].startswith(parent) for r in tree if r["depth"] >= 0)
    found = served.get("hubdex/search_models.json", _shape="array", q="mask2former cityscapes").json()
    assert model in {r["model_id"] for r in found}
    health = {r["check_name"]: r for r in served.get("hubdex/crawl_health.json", _shape="array").json()}
    assert health["last full run"]["value"] == "completed" and int(health["card backlog"]["value"]) > 0
    assert served.get("hubdex/recent_quarantine.json", _shape="array").json()
    providers = served.get("hubdex/cheapest_providers.json", _shape="array").json()
    assert len({r["provider"] for r in providers}) == len(providers)  # one row per provider


# The analyst questions of issue 24, each answered by a canned query (named in the README).
ANALYST_QUESTIONS = {
    "growth per task, side by side": ("task_growth", {}),
    "the licence mix over time": ("licence_mix_over_time", {}),
    "one model's prices across providers and over time": ("model_prices", {}),
    "models by size band": ("models_by_size_band", {}),
    "a task's adoption over time": ("adoption_over_time", {"task": "text-generation"}),
    "a library's adoption over time": ("adoption_over_time", {"library": "transformers"}),
    "a model's comparison entries": ("model_comparisons", {}),
}


def test_each_analyst_question_is_answered_and_named_in_the_readme(served):
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for question, (query, params) in ANALYST_QUESTIONS.items():
        rows = served.get(f"hubdex/{query}.json", _shape="array", **params).json()
        assert isinstance(rows, list) and rows, (question, query, rows)
        assert f"`{query}`" in readme, f"{query} ({question}) is not named in the README"
    growth = served.get("hubdex/task_growth.json", _shape="array").json()
    assert len({r["task"] for r in growth}) >= 3  # side by side
    months = [r["month"] for r in growth]
    assert months == sorted(months) and len(set(months)) > 1
    per_task = {}
    for r in growth:  # the running total adds up the months
        per_task[r["task"]] = per_task.get(r["task"], 0) + r["new_models"]
        assert r["models"] == per_task[r["task"]]
    mix = served.get("hubdex/licence_mix_over_time.json", _shape="array").json()
    for period in {(r["kind"], r["period"]) for r in mix}:
        assert abs(sum(r["share_pct"] for r in mix if (r["kind"], r["period"]) == period) - 100) < 1
    lib = served.get("hubdex/adoption_over_time.json", _shape="array", library="transformers").json()
    assert {r["facet"] for r in lib} == {"library"} and {r["value"] for r in lib} == {"transformers"}
    assert {"on the day", "created in the month"} <= {r["series"] for r in lib}
    conn = sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True)
    bands = {r["size_band"]: r["models"] for r in served.get("hubdex/models_by_size_band.json", _shape="array").json()}
    assert sum(bands.values()) == conn.execute("SELECT count(*) FROM model_scores").fetchone()[0]
    assert bands["unknown"] == conn.execute("SELECT count(*) FROM model_scores s JOIN models m ON m.key = s.model_key "
                                            "WHERE m.params IS NULL OR m.params <= 0").fetchone()[0]
    prices = served.get("hubdex/model_prices.json", _shape="array").json()
    assert len({r["model_id"] for r in prices}) == 1 and len({r["provider"] for r in prices}) > 1
    rank = served.get("hubdex/model_rank.json", _shape="array", model=MASK2FORMER).json()
    signals = [r for r in rank if r["level"] == "signal"]
    assert rank[0]["item"] == MASK2FORMER and len(signals) == 5
    assert abs(sum(r["adds"] for r in signals) - rank[0]["value"]) < 0.011  # the working adds up to the rank


def _described_checks(description: str):
    """What a column's description claims of its values: a range ('0-100', '0..1'), a closed set
    ("one of 'a', 'b'"), days since 1970, ISO-8601 timestamps."""
    checks = []
    m = re.search(r"(?<![\w.])(0)(-|\.\.)(1|100)(?!\w|\.\d)", description)
    if m:
        checks.append(("range", 0.0, float(m.group(3))))
    m = re.search(r"one of ((?:'[^']*'(?: \([^)]*\))?(?:, )?)+)", description)
    if m:
        checks.append(("set", set(re.findall(r"'([^']*)'", m.group(1)))))
    if "days since 1970-01-01" in description:
        checks.append(("days",))
    if "ISO-8601" in description:
        checks.append(("iso",))
    return checks


def test_descriptions_agree_with_the_stored_values(served_db):
    """A column described as 0..1, 0-100, one of a set of values, a day number or a timestamp holds
    only such values (gated once said 'empty when not gated' over 'false'; model_scores said its
    percentile parts were 0..1 over values up to 100)."""
    conn = sqlite3.connect(f"file:{served_db}?mode=ro", uri=True)
    live = schema(served_db)
    wrong, checked = [], 0
    for table, meta in tables_meta().items():
        described = dict(meta.get("columns") or {})
        # a table's own description may state ranges for columns by pattern: "0..1 for (q_*, e_*)"
        for bound, patterns in re.findall(r"(0-100|0\.\.1) for \(([^)]*)\)", meta.get("description") or ""):
            for pattern in (p.strip() for p in patterns.split(",")):
                for column in fnmatch.filter(live.get(table, []), pattern):
                    described[column] = f"{described.get(column, '')} ({bound})"
        for column, description in described.items():
            if table not in live or column not in live[table]:
                continue
            for check in _described_checks(description):
                checked += 1
                q = lambda sql: conn.execute(sql.format(c=f"[{column}]", t=f"[{table}]")).fetchone()  # noqa: E731
                if check[0] == "range":
                    lo, hi, n = q("SELECT min({c}), max({c}), count({c}) FROM {t}")
                    if n and (lo < check[1] or hi > check[2]):
                        wrong.append(f"{table}.{column}: described {check[1]:g}..{check[2]:g}, holds {lo}..{hi}")
                    elif n >= 50 and check[2] == 100 and hi <= 1:
                        wrong.append(f"{table}.{column}: described 0-100, holds only 0..{hi}")
                elif check[0] == "set":
                    held = {r[0] for r in conn.execute(f"SELECT DISTINCT [{column}] FROM [{table}] "
                                                       f"WHERE [{column}] IS NOT NULL")}
                    if held - check[1]:
                        wrong.append(f"{table}.{column}: described one of {sorted(check[1])}, holds {sorted(held)}")
                elif check[0] == "days":
                    bad = q("SELECT count(*) FROM {t} WHERE {c} IS NOT NULL AND (typeof({c}) != 'integer' "
                            "OR {c} NOT BETWEEN 10000 AND 40000)")[0]
                    if bad:
                        wrong.append(f"{table}.{column}: described as a day number, {bad} values are not")
                elif check[0] == "iso":
                    bad = q("SELECT count(*) FROM {t} WHERE {c} IS NOT NULL AND {c} NOT GLOB "
                            "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*'")[0]
                    if bad:
                        wrong.append(f"{table}.{column}: described ISO-8601, {bad} values are not")
    assert checked >= 60, checked
    assert not wrong, "\n".join(wrong)
    gated = tables_meta()["models"]["columns"]["gated"]
    assert ("set", {"false", "manual", "auto"}) in _described_checks(gated)


def test_a_models_rows_are_one_click_from_its_row_page(served):
    """Every table link on a model's row page filters by its integer key and lists its rows."""
    conn = sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True)
    # the best ranked model whose card was read (rows in most of its tables)
    model, key = conn.execute("""SELECT m.id, m.key FROM model_scores s JOIN models m ON m.key = s.model_key
        WHERE EXISTS (SELECT 1 FROM cards c WHERE c.model_key = m.key AND c.source = 'readme')
          AND EXISTS (SELECT 1 FROM capabilities c WHERE c.model_key = m.key)
          AND EXISTS (SELECT 1 FROM model_files f WHERE f.model_key = m.key)
        ORDER BY s.rank DESC LIMIT 1""").fetchone()
    from datasette.utils import tilde_encode

    page = served.get(f"hubdex/models/{tilde_encode(model)}").text
    links = dict(re.findall(r'<a href="(/hubdex/[a-z_]+\?model_key=\d+)" data-table="([a-z_]+)">', page))
    tables = set(links.values())
    assert {"model_tags", "model_files", "cards", "card_sections", "capabilities", "model_scores"} <= tables, tables
    for href, table in links.items():
        assert href.endswith(f"model_key={key}")
        expected = conn.execute(f"SELECT count(*) FROM [{table}] WHERE model_key = ?", (key,)).fetchone()[0]
        shown = re.search(rf'data-table="{table}">{table} \(([\d,]+)\)', page).group(1)
        assert int(shown.replace(",", "")) == expected > 0
        listed = served.get(href.lstrip("/").replace("?", ".json?"), _shape="array", _size="max").json()
        assert len(listed) == min(expected, 1000), (table, len(listed), expected)
    below = page.split("Links from other tables", 1)[1]  # Datasette's own list, its links by the key too
    assert "model_key=" in below and not re.search(r"model_key=[^\d\"]", below)
    # evaluations, on the row page of a model that has some
    ev_key, ev_id, n = conn.execute("SELECT e.model_key, m.id, count(*) FROM evaluations e JOIN models m "
                                    "ON m.key = e.model_key GROUP BY 1 ORDER BY 3 DESC LIMIT 1").fetchone()
    page = served.get(f"hubdex/models/{tilde_encode(ev_id)}").text
    assert f'href="/hubdex/evaluations?model_key={ev_key}" data-table="evaluations">evaluations ({n:,})' in page
    assert len(served.get("hubdex/evaluations.json", model_key=str(ev_key), _shape="array").json()) == n
    # a row keyed by model_key (model_scores) carries the same story
    page = served.get(f"hubdex/model_scores/{key}").text
    assert 'data-story="profile"' in page and model in page


def test_figures_are_readable(served):
    page = served.get("hubdex/model_overview", _size="20").text
    assert re.search(r'<td class="col-downloads[^"]*"><span class="hubdex-figure" title="\d{4,}">\d{1,3}(,\d{3})+</span>',
                     page)
    assert re.search(r'col-created_at[^"]*"><span class="hubdex-figure" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC<',
                     page)
    assert re.search(r'col-params[^"]*"><span class="hubdex-figure" title="\d+">[\d.]+[KMBT]?</span>', page)
    page = served.get("hubdex/metrics_history", _size="5").text
    assert re.search(r'col-day[^"]*"><span class="hubdex-figure" title="\d{5}">20\d\d-\d\d-\d\d</span>', page)
    page = served.get("hubdex/cards", _size="50", source="readme").text
    assert re.search(r'col-bytes[^"]*"><span class="hubdex-figure" title="\d+">[\d.,]+ (KB|MB|GB)</span>', page)
    page = served.get("hubdex/model_score_percentiles", _size="5").text  # percentiles live apart (issue 25)
    assert re.search(r'col-rank_pct[^"]*"><span class="hubdex-figure" title="[\d.]+">[\d.]+%</span>', page)
    page = served.get("hubdex/model_scores", _size="5").text
    assert re.search(r'col-q_licence[^"]*"><span class="hubdex-figure" title="[\d.]+">\d+%</span>', page)
    # the JSON keeps the stored values
    row = served.get("hubdex/model_overview.json", _shape="array", _size="1").json()[0]
    assert isinstance(row["downloads"], int) and row["created_at"].endswith("Z")


def test_the_start_page_leads_with_the_overview(served):
    home = served.get("hubdex").text
    assert "_memory" not in served.get("").text and "_memory" not in home
    start = home.index('class="hubdex-start"')
    assert start < home.index("<h2")  + 200 or start < home.index('class="sql"') + 10_000
    assert 'id="hubdex-overview"' in home and 'name="_search"' in home
    listed = set(re.findall(r'<h3><a href="/hubdex/([a-z_]+)">', home))
    assert "model_overview" in listed and "models" in listed
    for bookkeeping in ("crawl_state", "pass_pages", "_sqlite_migrations", "derive_inputs", "comparison_sides"):
        assert bookkeeping not in listed
        assert served.get(f"hubdex/{bookkeeping}.json").status_code == 200  # hidden, still there
    page = served.get("hubdex/model_overview").text
    for column in ("pipeline_tag", "library_name", "licence_family", "gated", "size_band"):
        assert f'data-column="{column}"' in page.split("<table", 1)[0], column
    found = served.get("hubdex/model_overview.json", _search="mask2former cityscapes", _shape="array").json()
    assert MASK2FORMER in {r["model_id"] for r in found}


def test_comparison_entries_render_sanitised_with_names_as_links(served):
    conn = sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True)
    a, b = conn.execute("SELECT model_a, model_b FROM comparisons WHERE stale = 0 LIMIT 1").fetchone()
    page = served.get("hubdex/comparison", a=b, b=a).text  # either order
    cell = page.split('<td class="col-comparison_markdown', 1)[1].split("</td>", 1)[0]
    assert "<table>" in cell and "<h1>" in cell and "|---|" not in cell  # Markdown, rendered whole
    assert f'href="/hubdex/model_profile?{urlencode({"model": a})}"' in cell
    assert f'href="/hubdex/model_profile?{urlencode({"model": b})}"' in cell
    from hubdex.serve.plugin import render_comparison

    class DS:
        class urls:
            path = staticmethod(lambda p: p)
    evil = render_comparison("# x/y vs z\n\n<script>alert(1)</script><img src=x onerror=alert(1)> **x/y** [a](javascript:alert(1))",
                             DS, {"x/y": "x/y", "y": "x/y"})
    assert "<script" not in evil and "onerror" not in evil and "javascript:" not in evil
    assert '<a class="hubdex-model" href="/hubdex/model_profile?model=x%2Fy">x/y</a>' in evil


def test_a_csv_stream_cut_at_the_limit_says_so(served_db, tmp_path):
    """Datasette stops a CSV stream at max_csv_mb: the last line says the file is truncated and where
    the whole table is (`hubdex export`)."""
    import asyncio

    ds = serve.make_datasette(str(served_db), settings={"max_csv_mb": 1})

    async def get():
        await ds.invoke_startup()
        return await ds.client.get("/hubdex/models.csv?_stream=on&_size=max")

    body = asyncio.run(get()).text
    assert body.rstrip().endswith("`hubdex export DIR` writes whole tables as Parquet.")
    assert "# TRUNCATED" in body and "CSV contains more than" not in body


def test_model_overview_is_refreshed_for_what_moved(served_db):
    """The second derive refreshed model_overview for the models it saw move only; it holds exactly
    what model_scores and models say, and overview_trends kept both derive days."""
    from hubdex.store import overview

    conn = sqlite3.connect(f"file:{served_db}?mode=ro", uri=True)
    runs = conn.execute("SELECT run_id, rebuilt_all FROM derive_runs ORDER BY run_id").fetchall()
    assert len(runs) == 2 and runs[1][1] == 0  # the last derive was incremental
    cols = ", ".join(overview.COLUMNS)
    fresh = set(conn.execute(overview.SELECT).fetchall())
    stored = set(conn.execute(f"SELECT {cols} FROM model_overview").fetchall())
    assert stored == fresh and len(stored) == conn.execute("SELECT count(*) FROM model_scores").fetchone()[0]
    days = {r[0] for r in conn.execute("SELECT DISTINCT period FROM overview_trends WHERE kind = 'day'")}
    assert len(days) == 2
    totals = conn.execute("SELECT sum(models) FROM overview_trends WHERE kind = 'day' AND facet = 'task' "
                          "GROUP BY period ORDER BY period DESC LIMIT 1").fetchone()[0]
    assert totals == len(stored)
    # the breakdowns the derive counted are what model_scores holds now
    live = set(conn.execute("SELECT licence_family, commercial_use, licence, count(*), round(avg(rank), 1), max(rank) "
                            "FROM model_scores GROUP BY 1, 2, 3").fetchall())
    assert live == set(conn.execute("SELECT licence_family, commercial_use, licence, models, mean_rank, best_rank "
                                    "FROM overview_breakdowns WHERE breakdown = 'licence'").fetchall())
    live = set(conn.execute("SELECT pricing_class, count(*), sum(hosted_providers > 0) FROM model_scores "
                            "GROUP BY 1").fetchall())
    assert live == set(conn.execute("SELECT pricing_class, models, with_hosted_providers FROM overview_breakdowns "
                                    "WHERE breakdown = 'pricing'").fetchall())


def test_sql_is_read_only(served):
    r = served.get("hubdex.json", sql="DELETE FROM runs")
    assert r.status_code == 400 and "Statement must be a SELECT" in r.text
    r = served.get("hubdex.json", sql="SELECT count(*) AS n FROM runs; DELETE FROM runs")
    assert r.status_code == 400
    assert served.get("hubdex/runs.json", _shape="array").json()  # still there


def test_card_text_is_sanitised_markdown_and_ids_link_to_the_hub(served):
    key = sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True).execute(
        f"SELECT key FROM models WHERE id = '{MASK2FORMER}'").fetchone()[0]
    page = served.get("hubdex/card_sections", model_key=str(key), seq="1").text
    assert "<strong>bold</strong>" in page
    assert "<script>alert" not in page and "onerror" not in page
    assert '<img' not in page.split("<table", 1)[1]  # images are links: nothing loads from outside
    assert '[image: badge]' in page
    overview = served.get("hubdex/model_overview").text
    assert re.search(r'<a href="https://huggingface\.co/[^"]+" title="its page on the Hub">', overview)
    for table in ("model_tags", "metrics_history"):  # model_key shows the model's id, linked to its row
        page = served.get(f"hubdex/{table}").text     # (a declared foreign key, and a lookup)
        assert re.search(r'<td class="col-model_key[^"]*"><a href="/hubdex/models/[^"]+">[^<]+</a> <em>\d+</em>', page)


def test_served_pages_answer(served):
    for path in ("", "hubdex", "hubdex/models", "hubdex/models?_search=cityscapes", "hubdex/model_overview",
                 "hubdex/model_scores", "hubdex/card_sections", "hubdex/model_daily_metrics", "-/dashboards",
                 "-/dashboards/adoption", "-/metadata.json"):
        r = served.get(path)
        assert r.status_code == 200, (path, r.text[:300])


def test_serve_leaves_the_shape_to_a_job_that_holds_the_database(served_db):
    from hubdex.store.lockfile import WriterLock

    with WriterLock(str(served_db), "crawl (a test)"):
        s = Served(served_db)
        try:
            assert s.get("hubdex/crawl_health.json").status_code == 200
        finally:
            s.stop()
        err = s.proc.stderr.read()
    assert "crawl (a test) holds" in err and "serving it as it is" in err


def test_serve_refuses_a_missing_database(tmp_path):
    p = subprocess.run([sys.executable, "-m", "hubdex", "serve", "--db", str(tmp_path / "none.db"), "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "no database at" in p.stderr
    assert not (tmp_path / "none.db").exists()


# -- reading while a crawl writes -------------------------------------------------------------------
@pytest.mark.slow
def test_queries_answer_while_a_crawl_writes(replica_factory, tmp_path):
    """A first full pass (bulk load), then a derive, write the file Datasette serves: every query
    answers, and every snapshot holds whole pages (models come 1,000 to a committed page)."""
    replica = replica_factory("synthetic:12000")
    path = tmp_path / "hub.db"
    open_db(str(path)).conn.close()
    s = Served(path)
    failures, counts, done = [], [], threading.Event()
    snapshot_sql = "SELECT (SELECT count(*) FROM models) AS models, (SELECT count(*) FROM model_scores) AS scores"

    def reader():
        paths = ["hubdex/models.json?_size=5", "hubdex/top_by_task.json", "hubdex/crawl_health.json",
                 "hubdex/model_overview.json?_size=5"]
        i = 0
        while not done.is_set():
            try:
                r = s.get("hubdex.json", sql=snapshot_sql, _shape="array")
                if r.status_code != 200:
                    failures.append(("snapshot", r.status_code, r.text[:300]))
                else:
                    counts.append(r.json()[0])
                r = s.get(paths[i % len(paths)])
                if r.status_code != 200:
                    failures.append((paths[i % len(paths)], r.status_code, r.text[:300]))
            except requests.RequestException as e:
                failures.append(("request", repr(e)))
            i += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        assert crawl(path, replica.url, mode="full", clock=Clock(DAY0)).ok
        during_crawl = len(counts)
        derive(path, clock=Clock(DAY0))
        time.sleep(0.5)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
        s.stop()
    assert not failures, failures[:5]
    assert during_crawl >= 5, f"only {during_crawl} snapshots during the crawl"
    sizes = {c["models"] for c in counts}
    assert len(sizes) >= 3, f"the readers saw too few states of the crawl: {sorted(sizes)}"
    assert all(n % 1000 == 0 or n == 12000 for n in sizes), sorted(sizes)  # whole pages only
    assert {c["scores"] for c in counts} <= {0, 12000}  # a derive is one transaction


# -- in a real browser ------------------------------------------------------------------------------
ARTIFACTS = pathlib.Path(__file__).resolve().parents[1] / "build" / "test-artifacts" / "serve"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (never `playwright install`: no download reaches the
    internet from here). Missing chromium fails, loudly: `make test` installs it with apt-get."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test does it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, served):
    """A page that lets nothing leave 127.0.0.1: every other request is aborted and fails the test."""
    from urllib.parse import urlsplit

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    outside, errors = [], []

    def route(r):
        url = r.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname != "127.0.0.1":
            outside.append(url)
            return r.abort()
        return r.continue_()

    pg.route("**/*", route)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.base = served.url
    yield pg
    context.close()
    assert not outside, f"requests left 127.0.0.1: {outside}"
    assert not errors, f"errors in the page: {errors}"


def shot(pg, name):
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_in_a_browser_table_facets_and_search(page):
    page.goto(page.base + "hubdex/model_overview")
    for column in ("pipeline_tag", "library_name", "licence_family", "gated", "size_band"):
        assert page.locator(f'.facet-info[data-column="{column}"]').is_visible(), column
    first = page.locator('.facet-info[data-column="pipeline_tag"] li a').first
    task = first.inner_text().rsplit(" ", 1)[0].strip()
    expected = int(page.locator('.facet-info[data-column="pipeline_tag"] li').first.inner_text().rsplit(" ", 1)[1]
                   .replace(",", ""))
    first.click()
    page.wait_for_load_state()
    assert "pipeline_tag=" in page.url
    assert f"{expected:,} row" in page.locator("h3").first.inner_text(), page.locator("h3").first.inner_text()
    assert task in page.locator("h3").first.inner_text()
    shot(page, "1-overview-faceted")

    page.goto(page.base + "hubdex/models")
    page.fill("#_search", "mask2former cityscapes")
    page.press("#_search", "Enter")
    page.wait_for_url("**_search=*")
    assert "_search=" in page.url
    link = page.locator('a[href="/hubdex/models/facebook~2Fmask2former-swin-large-cityscapes-semantic"]')
    assert link.count() >= 1
    shot(page, "2-models-search")


def test_in_a_browser_canned_query_and_profile(page):
    page.goto(page.base + "hubdex/top_by_task?task=image-segmentation")
    rows = page.locator("table.rows-and-columns tbody tr")
    assert rows.count() > 0
    tasks = {t.strip() for t in page.locator("table.rows-and-columns tbody td.col-pipeline_tag").all_inner_texts()}
    assert tasks == {"image-segmentation"}
    hub = page.locator('td.col-model_id a[title="its page on the Hub"]').first.get_attribute("href")
    assert hub.startswith("https://huggingface.co/")
    shot(page, "3-canned-top-by-task")

    page.goto(page.base + "hubdex/model_profile?model=facebook/mask2former-swin-large-cityscapes-semantic")
    sections = set(page.locator("td.col-section").all_inner_texts())
    assert {"model", "signal", "licence", "card"} <= {s.strip() for s in sections}, sections
    card = page.locator("td.col-card_excerpt strong", has_text="bold")
    assert card.count() == 1  # Markdown rendered, and the raw <script> of the card never ran (no page error)
    shot(page, "4-model-profile")


def test_in_a_browser_the_adoption_dashboard_draws_charts(page, served):
    charts = {}

    def on_response(r):
        if "/hubdex.json?sql=" in r.url and r.status == 200:
            charts[r.url] = r.json()["rows"]

    page.on("response", on_response)
    top = requests.get(served.url + "hubdex/top_by_task.json", params={"_shape": "array"}, timeout=60).json()[0]
    page.goto(page.base + "-/dashboards/adoption")
    for slug in ("downloads", "likes", "trending", "all-time", "movers-7d", "moved-per-day"):
        page.locator(f"#chart-{slug} svg.marks").wait_for(state="visible", timeout=30000)
    page.locator("#chart-rank table").wait_for(timeout=30000)
    assert top["model_id"] in page.locator("#chart-rank").inner_text()
    series = [rows for url, rows in charts.items() if "model_daily_metrics" in requests.utils.unquote(url)]
    assert series and all(len(rows) == len(METRIC_DAYS) + 1 for rows in series), [len(r) for r in series]
    points = page.locator("#chart-downloads svg.marks g.mark-symbol path").count()
    assert points == len(METRIC_DAYS) + 1  # one point a day
    shot(page, "5-dashboard-adoption")
    # the biggest mover of the week, by name: its line moves (docs/serve-dashboard.png is this page)
    mover = requests.get(served.url + "hubdex/fastest_growing_7d.json", params={"_shape": "array"},
                         timeout=60).json()[0]["model_id"]
    charts.clear()
    page.goto(page.base + "-/dashboards/adoption?" + urlencode({"model": mover}))
    page.locator("#chart-downloads svg.marks").wait_for(state="visible", timeout=30000)
    page.locator("#chart-moved-per-day svg.marks").wait_for(state="visible", timeout=30000)
    assert mover in page.locator("#chart-rank").inner_text()
    series = [rows for url, rows in charts.items() if "model_daily_metrics" in requests.utils.unquote(url)]
    assert len({r["downloads_all_time"] for r in series[0]}) > 1  # it grew
    shot(page, "6-dashboard-adoption-mover")


def _walk_model(db_path):
    """The best ranked model with a history, competitors, comparison entries and derivatives."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    return conn.execute("""
        SELECT m.id, m.key FROM model_scores s JOIN models m ON m.key = s.model_key
        WHERE EXISTS (SELECT 1 FROM model_relations r WHERE r.parent = m.id)
          AND (EXISTS (SELECT 1 FROM comparisons c WHERE c.model_a = m.id AND c.stale = 0)
               OR EXISTS (SELECT 1 FROM comparisons c WHERE c.model_b = m.id AND c.stale = 0))
          AND (EXISTS (SELECT 1 FROM match_edges e WHERE e.a_key = m.key AND e.relation = 'competitor')
               OR EXISTS (SELECT 1 FROM match_edges e WHERE e.b_key = m.key AND e.relation = 'competitor'))
        ORDER BY s.rank DESC LIMIT 1""").fetchone()


def _click(page, locator):
    locator.first.click()
    page.wait_for_load_state()


def test_in_a_browser_a_models_whole_story_by_clicks_only(page, served):
    """From the index, by clicks only (and typing a search): a model found by search, its profile,
    its history chart, its competitors, one rendered comparison, its derivatives."""
    model, key = _walk_model(served.db_path)
    page.goto(page.base)  # the index: the only address typed
    assert "_memory" not in page.content()
    _click(page, page.locator('a[href="/hubdex"]'))
    assert page.locator("section.hubdex-start").is_visible()
    shot(page, "7-start")
    page.fill("#hubdex-q", model.split("/", 1)[1])
    page.press("#hubdex-q", "Enter")
    page.wait_for_url("**/model_overview?_search=*")
    for column in ("pipeline_tag", "library_name", "licence_family", "gated", "size_band"):
        assert page.locator(f'.facet-info[data-column="{column}"]').is_visible(), column
    found = page.locator("td.col-model_id", has_text=model)
    assert found.count() >= 1
    _click(page, found.locator("a.hubdex-profile"))
    # the profile, leading with the model's story
    assert page.url.endswith("/hubdex/model_profile?" + urlencode({"model": model}))
    assert model in page.locator("section.hubdex-story h2").inner_text()
    assert {"model", "signal", "licence"} <= {t.strip() for t in page.locator("td.col-section").all_inner_texts()}
    shot(page, "8-walk-profile")

    _click(page, page.locator('section.hubdex-story a[data-story="history chart"]'))
    page.locator("#chart-downloads svg.marks").wait_for(state="visible", timeout=30000)
    page.locator("#chart-rank table").wait_for(timeout=30000)
    assert model in page.locator("#chart-rank").inner_text()
    assert page.locator("#chart-downloads svg.marks g.mark-symbol path").count() == len(METRIC_DAYS) + 1
    page.go_back()
    page.wait_for_load_state()

    _click(page, page.locator('section.hubdex-story a[data-story="competitors"]'))
    rows = page.locator("table.rows-and-columns tbody tr")
    assert rows.count() > 0
    assert "competitor" in page.locator("td.col-relation").first.inner_text()
    evidence = page.locator("td.col-evidence").first.inner_text()
    assert re.search(r"(search|benchmark|card_table|sibling|size): ", evidence), evidence
    shot(page, "9-walk-competitors")
    page.go_back()
    page.wait_for_load_state()

    _click(page, page.locator('section.hubdex-story a[data-story="comparisons"]'))
    entry = page.locator("td.col-comparison a.hubdex-comparison").first
    pair = entry.inner_text()
    assert model in pair.split(" vs ")
    _click(page, entry)
    rendered = page.locator("td.col-comparison_markdown")
    assert rendered.locator("h1").count() == 1 and rendered.locator("table").count() >= 1  # Markdown rendered
    assert "|---|" not in rendered.inner_text()
    names = rendered.locator("a.hubdex-model")
    assert names.count() >= 2 and "model_profile?model=" in names.first.get_attribute("href")
    shot(page, "10-walk-comparison")
    page.go_back()
    page.wait_for_load_state()
    page.go_back()
    page.wait_for_load_state()

    _click(page, page.locator('section.hubdex-story a[data-story="derivatives by relation"]'))
    expected = sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True).execute(
        "SELECT relation, count(*) FROM model_relations WHERE parent = ? GROUP BY relation", (model,)).fetchall()
    assert page.locator('.facet-info[data-column="relation"]').is_visible()
    total = sum(n for _, n in expected)
    assert f"{total:,} row" in page.locator("h3").first.inner_text()
    assert {t.strip() for t in page.locator("td.col-parent").all_inner_texts()} == {model + " (profile)"} or \
        all(model in t for t in page.locator("td.col-parent").all_inner_texts())
    shot(page, "11-walk-derivatives")


def test_in_a_browser_a_models_rows_from_its_row_page(page, served):
    """model_tags and evaluations of a model, each one click from its row page."""
    conn = sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True)
    model, key, n_eval = conn.execute("SELECT m.id, m.key, count(*) FROM evaluations e JOIN models m "
                                      "ON m.key = e.model_key GROUP BY 1 ORDER BY 3 DESC LIMIT 1").fetchone()
    n_tags = conn.execute("SELECT count(*) FROM model_tags WHERE model_key = ?", (key,)).fetchone()[0]
    from datasette.utils import tilde_encode

    page.goto(page.base + "hubdex/models/" + tilde_encode(model))
    assert model in page.locator("section.hubdex-story h2").inner_text()
    shot(page, "12-model-row")
    for table, n in (("model_tags", n_tags), ("evaluations", n_eval)):
        _click(page, page.locator(f'section.hubdex-story a[data-table="{table}"]'))
        assert f"model_key = {key}" in page.locator("h3").first.inner_text() or f"model_key={key}" in page.url
        assert page.locator("table.rows-and-columns tbody tr").count() == min(n, 50)
        assert f"{n:,} row" in page.locator("h3").first.inner_text()
        # the key column names the model
        assert model in page.locator("td.col-model_key").first.inner_text()
        page.go_back()
        page.wait_for_load_state()


def test_in_a_browser_trends_prices_and_an_ad_hoc_chart(page):
    page.goto(page.base + "-/dashboards/trends")
    for slug in ("tasks-created", "tasks-total", "licences-over-time", "tasks-by-day", "size-bands", "movers-per-task"):
        page.locator(f"#chart-{slug} svg.marks").wait_for(state="visible", timeout=30000)
    shot(page, "13-dashboard-trends")
    page.goto(page.base + "-/dashboards/prices")
    for slug in ("offers-per-provider", "price-range", "model-latest", "model-over-time"):
        page.locator(f"#chart-{slug} svg.marks").wait_for(state="visible", timeout=30000)
    shot(page, "14-dashboard-prices")
    # any query's rows, charted in the page (Vega-Lite as bundled by datasette-dashboards)
    page.goto(page.base + "hubdex/models_by_size_band")
    panel = page.locator("details.hubdex-chart")
    panel.locator("summary").click()
    panel.locator('select[name="x"]').select_option("size_band")
    panel.locator('select[name="y"]').select_option("models")
    panel.locator("button").click()
    panel.locator(".hubdex-chart-view svg.marks").wait_for(state="visible", timeout=30000)
    assert int(panel.get_attribute("data-drawn")) == 6
    assert panel.locator(".hubdex-chart-view svg.marks g.mark-rect path").count() == 6
    shot(page, "15-ad-hoc-chart")
