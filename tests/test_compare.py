"""Comparison entries, "A vs B": the seed pair on the demo catalogue, rebuilt only where what they
show moved, `hubdex compare`, and the static site (hostile cards, hostile ids, a real browser)."""

from __future__ import annotations

import html.parser
import json
import math
import os
import pathlib
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from hubdex.cli import main
from hubdex.compare import build, entry
from hubdex.crawl.scope import Scope
from hubdex.replica.server import start_replica

from .conftest import UNLIMITED, control, crawl, derive

SEED = ("facebook/mask2former-swin-large-cityscapes-semantic", "stabilityai/stable-diffusion-3.5-large")
SEED_ROWS = ("Type", "Rank", "Adoption", "Quality", "Ecosystem", "Match Graph", "Pricing", "Capabilities",
             "Times Matched")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """The demo catalogue crawled as `make demo` does (full pass, the most downloaded cards, the search
    evidence), derived."""
    server = start_replica("demo", quotas=UNLIMITED)
    db = tmp_path_factory.mktemp("compare-demo") / "hub.db"
    try:
        assert crawl(db, server.url, mode="full").ok
        # the 500 most downloaded cards, as make demo reads (the demo now holds 2,500 corpus models too)
        assert crawl(db, server.url, mode="cards", scope=Scope(limit=500)).ok
        assert crawl(db, server.url, mode="search").ok
    finally:
        server.stop()
    derive(db)
    return db


def _compare(db, *args):
    return CliRunner().invoke(main, ["compare", *args, "--db", str(db)])


def _assert_source_exists(conn, c):
    """A cell's source names a row that is there, with the value shown (at the precision shown)."""
    s = c["source"]
    assert set(s) == {"table", "column", "row", "day"}, s
    table, row = s["table"], s["row"]
    if table == "models":
        got = conn.execute(f"SELECT {s['column']} FROM models WHERE id = ?", (row["id"],)).fetchone()
        assert got is not None
    elif table == "model_scores":
        assert conn.execute("SELECT 1 FROM model_scores WHERE model_key = ?", (row["model_key"],)).fetchone()
    elif table == "match_scores" and c["value"] is not None:
        assert conn.execute("SELECT 1 FROM match_scores WHERE model_key = ?", (row["model_key"],)).fetchone()
    elif table == "licences" and c["value"] is not None:
        assert conn.execute("SELECT 1 FROM licences WHERE id = ?", (row["id"],)).fetchone()


def test_the_seed_pair_shows_every_seed_row_from_crawled_data_and_says_they_do_different_tasks(demo_db):
    out = _compare(demo_db, *SEED, "--format", "json")
    assert out.exit_code == 0, out.output
    e = json.loads(out.output)
    conn = sqlite3.connect(demo_db)
    assert [r["feature"] for r in e["features"]] == list(SEED_ROWS)
    by = {r["feature"]: r for r in e["features"]}
    figures = {r["figure"]: r for r in e["figures"]}
    for side, model_id in (("a", SEED[0]), ("b", SEED[1])):
        assert e["models"][side]["id"] == model_id
        s = dict(zip(("key", "rank", "adoption", "quality", "ecosystem", "pricing_class", "caps", "downloads", "likes"),
                     conn.execute("""SELECT m.key, s.rank, s.adoption, s.quality, s.ecosystem, s.pricing_class,
                     s.capabilities_count, m.downloads, m.likes FROM models m JOIN model_scores s ON s.model_key = m.key
                     WHERE m.id = ?""", (model_id,)).fetchone()))
        assert by["Type"][side]["value"] == "Model"
        # the entry rounds as SQLite's round() does, half away from zero (84.5 -> 85; Python's round gives 84)
        half_up = lambda x: int(math.floor(x + 0.5)) if x is not None else None  # noqa: E731
        assert by["Rank"][side]["value"] == half_up(s["rank"]) and by["Rank"][side]["shown"] == f"{half_up(s['rank'])}/100"
        for label, k in (("Adoption", "adoption"), ("Quality", "quality"), ("Ecosystem", "ecosystem")):
            assert by[label][side]["value"] == half_up(s[k]), label  # unknown stays unknown (None)
        assert by["Pricing"][side]["value"] == s["pricing_class"]
        assert by["Capabilities"][side]["shown"] == f"{s['caps']} decomposed"
        match = conn.execute("SELECT score, times_matched FROM match_scores WHERE model_key = ?", (s["key"],)).fetchone()
        if match is None:  # not in the match graph: unknown, never 0
            assert by["Match Graph"][side]["value"] is None and by["Match Graph"][side]["shown"] == "unknown"
            assert by["Times Matched"][side]["shown"] == "unknown"
        else:
            assert by["Match Graph"][side]["value"] == half_up(match[0]) and by["Times Matched"][side]["value"] == match[1]
        assert figures["Downloads (30 days)"][side]["value"] == entry.sig3(s["downloads"])
        assert figures["Likes"][side]["value"] == entry.sig3(s["likes"])
        for r in e["features"] + e["figures"]:
            _assert_source_exists(conn, r[side])
            if r[side]["value"] is None:
                assert r[side]["shown"] == "unknown"
    # SD 3.5 Large is gated: its README is refused, so its card completeness is unknown, not 0
    q_card = conn.execute("SELECT q_card FROM model_scores s JOIN models m ON m.key = s.model_key WHERE m.id = ?",
                          (SEED[1],)).fetchone()[0]
    assert q_card is None
    assert figures["Gated"]["b"]["shown"].startswith("yes") and figures["Gated"]["a"]["shown"] == "no"
    # different tasks: not direct competitors, and only what they share is compared
    assert e["same_task"] is False and e["verdict"]["direct_competitors"] is False
    assert "different tasks" in e["verdict"]["summary"] and "Not direct competitors" in e["verdict"]["summary"]
    assert "share no benchmark" in e["head_to_head"]["statement"]
    assert "ranks higher at" in e["headline"] or "rank level" in e["headline"]
    caps = e["capabilities"]["a"]["shown"]
    assert caps and {c["mark"] for c in caps} <= {"unique", "shared"}
    assert any(c["sentence"] == "Performs image-segmentation." and c["mark"] == "unique" for c in caps)
    # the other formats say the same
    text = _compare(demo_db, *SEED).output
    assert "different tasks" in text and "Times Matched" in text
    md = _compare(demo_db, *SEED, "--format", "markdown").output
    assert md.startswith("# mask2former-swin-large-cityscapes-semantic vs stable-diffusion-3.5-large")
    page = _compare(demo_db, *SEED, "--format", "html").output
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page


def test_compare_of_an_unknown_model_is_one_line_and_exit_1(demo_db):
    out = _compare(demo_db, "nobody/nothing", SEED[0])
    assert out.exit_code == 1 and out.output.strip() == "Error: unknown model: nobody/nothing"


def test_a_stored_fresh_entry_is_served_from_storage(demo_db):
    conn = sqlite3.connect(demo_db)
    a, b, markdown = conn.execute("SELECT model_a, model_b, markdown FROM comparisons WHERE stale = 0 "
                                  "ORDER BY model_a LIMIT 1").fetchone()
    out = _compare(demo_db, b, a, "--format", "markdown")  # either order
    assert out.exit_code == 0 and out.output == markdown
    assert _compare(demo_db, a, b).output.rstrip().endswith("(stored)")
    assert _compare(demo_db, *SEED).output.rstrip().endswith("(built on the spot)")


# -- rebuilt only where what an entry shows moved ----------------------------------------------------
@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    server = start_replica("synthetic:1500", quotas=UNLIMITED)
    db = tmp_path_factory.mktemp("compare-graph") / "hub.db"
    for mode in ("full", "search"):
        assert crawl(db, server.url, mode=mode).ok
    first = derive(db)
    yield server, db, first
    server.stop()


def _stored(conn) -> dict:
    return {(a, b): (run, gen, doc, stale) for a, b, run, gen, doc, stale in conn.execute(
        "SELECT model_a, model_b, run_id, generated_at, entry, stale FROM comparisons")}


def _fresh_entries(conn) -> dict:
    """Every stored pair's entry, built anew from the database as it is now."""
    out = {}
    for a, b, ka, kb in conn.execute("SELECT model_a, model_b, a_key, b_key FROM comparisons WHERE stale = 0").fetchall():
        side = entry.sides(conn, [ka, kb])
        sa, sb = build.ordered(side[ka], side[kb])
        e = entry.build_entry(sa, sb, build.edge_for(build.edges(conn, [(min(ka, kb), max(ka, kb))]), ka, kb))
        out[(a, b)] = json.loads(json.dumps(e))
    return out


def test_only_the_entries_whose_shown_figures_changed_are_rebuilt(graph):
    server, db, first = graph
    res = first.after[0]
    assert res.pairs > 100 and res.built == res.pairs
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT built FROM comparison_runs ORDER BY run_id DESC LIMIT 1").fetchone()[0] == res.built
    before = _stored(conn)
    # each model's top 5 competitors, each pair once
    assert len(before) == len(set(before)) == res.pairs and all(a < b for a, b in before)
    changed = control(server, "POST", "scenario", json.dumps({"seed": 11, "update": 4, "delete": 2,
                                                              "metrics": 6}).encode())
    assert crawl(db, server.url, mode="full").ok
    assert crawl(db, server.url, mode="metrics").ok
    second = derive(db).after[0]
    after = _stored(conn)
    run = conn.execute("SELECT max(run_id) FROM comparison_runs").fetchone()[0]
    rebuilt = {p for p, v in after.items() if p in before and v[0] == run}
    moved_figures = {p for p, v in after.items() if p in before and v[2] != before[p][2]}
    assert rebuilt == moved_figures  # exactly the entries whose shown figures changed
    assert second.rebuilt == len(rebuilt) and second.built == sum(1 for p in after if p not in before)
    for p, v in after.items():  # and no other entry's generated_at moved
        if p in before and p not in rebuilt:
            assert v[:3] == before[p][:3], p
    # none left stale-but-current: every current entry is what would be built now
    fresh = _fresh_entries(conn)
    wrong = [p for p, doc in fresh.items() if json.loads(after[p][2]) != doc]
    assert not wrong, wrong[:3]
    # removed models' entries are marked stale, never deleted
    gone = set(changed["deleted"])
    touching_gone = {p for p in before if set(p) & gone}
    assert set(before) <= set(after)
    for p in touching_gone:
        assert after[p][3] == 1
        assert conn.execute("SELECT stale_reason FROM comparisons WHERE model_a = ? AND model_b = ?",
                            p).fetchone()[0].startswith("removed")
    assert second.stale >= len(touching_gone)
    # the figures moved on some of the changed models' entries; the rest of the catalogue stayed
    touched = set(changed["metrics_changed"]) | set(changed["updated"]) | gone
    print(f"\nrebuilt {len(rebuilt)} of {len(before)} entries; {sum(1 for p in before if set(p) & touched)} touch "
          f"the {len(touched)} changed models")
    # a second derive with nothing changed rebuilds none
    third = derive(db).after[0]
    assert third.built == third.rebuilt == third.stale == 0 and third.unchanged == third.pairs
    assert _stored(conn) == after


# -- the static site ---------------------------------------------------------------------------------
HOSTILE = ('<script>alert(1)</script><img src=x onerror="alert(2)"> [click](javascript:alert(3)) '
           '<a href="javascript:alert(4)">x</a> [up](../../../etc/passwd) <iframe src="https://evil.example/"></iframe>')
HOSTILE_PREFIX = "../../../outside/<b onmouseover=alert(5)>x</b>/..%2f..\\evil/../"  # + the model's own name


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.bad, self.links = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("script", "iframe", "img", "object", "embed", "form", "base", "link"):
            self.bad.append(tag)
        for k, v in attrs:
            if k.startswith("on") or (v or "").strip().lower().startswith(("javascript:", "data:")):
                self.bad.append(f"{tag} {k}={v}")
            if k in ("href", "src"):
                self.links.append(v)


def test_a_hostile_card_and_a_hostile_id_give_no_live_markup_and_no_file_outside_dir(graph, tmp_path):
    _server, db, _first = graph
    work = tmp_path / "work"
    work.mkdir()
    copy = work / "hub.db"
    src = sqlite3.connect(db)
    src.execute(f"VACUUM INTO '{copy}'")
    src.close()
    conn = sqlite3.connect(copy)
    a_key, b_key = conn.execute("SELECT a_key, b_key FROM comparisons WHERE stale = 0 ORDER BY model_a LIMIT 1").fetchone()
    old = conn.execute("SELECT id FROM models WHERE key = ?", (a_key,)).fetchone()[0]
    # its name stays last (a search result counts for a model whose name holds the query)
    hostile_id = HOSTILE_PREFIX + old.split("/")[-1]
    conn.execute("UPDATE models SET id = ? WHERE key = ?", (hostile_id, a_key))
    conn.execute("UPDATE search_results SET model_id = ? WHERE model_id = ?", (hostile_id, old))  # its evidence follows
    for key in (a_key, b_key):
        conn.execute("INSERT INTO capabilities VALUES (?, 9999, 'intended use', ?, 'card section', ?, 0.9)",
                     (key, HOSTILE, '<b onmouseover="alert(6)">Usage</b>'))
    conn.commit()
    derive(str(copy))
    assert conn.execute("SELECT count(*) FROM comparisons WHERE stale = 0 AND (model_a = ? OR model_b = ?)",
                        (hostile_id, hostile_id)).fetchone()[0] >= 1
    site = work / "site" / "inner"
    out = CliRunner().invoke(main, ["site", str(site), "--db", str(copy)])
    assert out.exit_code == 0, out.output
    outside = {p for p in tmp_path.rglob("*") if p.is_file() and site not in p.parents}
    assert {p.name for p in outside} <= {"hub.db", "hub.db-wal", "hub.db-shm", "hub.db.lock"}, outside
    assert not (tmp_path / "outside").exists() and not (work / "outside").exists()
    pages = [p for p in site.rglob("*.html")]
    assert pages
    seen_hostile = 0
    for p in pages:
        text = p.read_text(encoding="utf-8")
        parser = _Page()
        parser.feed(text)
        assert not parser.bad, (p, parser.bad)
        for link in parser.links:
            if link.startswith("https://huggingface.co/"):
                continue
            assert "://" not in link and not link.startswith(("/", "javascript", "data")), (p, link)
            target = (p.parent / link).resolve()
            assert site.resolve() in target.parents and target.is_file(), (p, link)
        if "alert(1)" in text:
            seen_hostile += 1
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert seen_hostile >= 2  # the card text is there, escaped, on the comparison and the model pages
    # a rerun writes nothing; a change rewrites only the pages that show it
    again = CliRunner().invoke(main, ["site", str(site), "--db", str(copy)])
    assert ", 0 written," in again.output
    # the markdown escapes the card too
    md = conn.execute("SELECT markdown FROM comparisons WHERE model_a = ? OR model_b = ?",
                      (hostile_id, hostile_id)).fetchone()[0]
    assert "<script>" not in md and "](javascript:" not in md


# -- a real browser ----------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"


def test_a_real_browser_shows_a_comparison_and_a_model_page_with_no_request_leaving_the_site(graph, tmp_path):
    """Debian's chromium driven by Playwright (never `playwright install`: nothing downloads here).
    Missing chromium fails, loudly: `make test` installs it with apt-get."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test does it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    _server, db, _first = graph
    site = tmp_path / "site"
    assert CliRunner().invoke(main, ["site", str(site), "--db", str(db)]).exit_code == 0
    conn = sqlite3.connect(db)
    a, b, doc = conn.execute("SELECT model_a, model_b, entry FROM comparisons WHERE stale = 0 "
                             "ORDER BY model_a LIMIT 1").fetchone()
    e = json.loads(doc)
    from hubdex.compare.site import compare_path

    page_path = site / compare_path(a, b)
    root = site.resolve().as_uri()
    outside = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page()
            page.on("request", lambda r: None if r.url.startswith(root) else outside.append(r.url))
            page.goto(page_path.resolve().as_uri())
            assert page.locator("h1").inner_text() == e["title"]
            assert page.locator(".headline").inner_text() == e["headline"]
            rows = page.locator("#features tr").all_inner_texts()
            assert [r.split("\t")[0].split("\n")[0] for r in rows[1:]] == list(SEED_ROWS)
            assert e["verdict"]["summary"] in page.locator("#verdict").inner_text()
            # follow the link to the first model's page
            page.get_by_role("link", name=a, exact=True).first.click()
            page.wait_for_load_state()
            assert page.locator("h1").inner_text() == a
            assert page.locator("#profile").is_visible()
            assert page.locator("#competitors li").count() >= 1
            assert page.locator("#comparisons a", has_text=e["title"]).count() == 1
        finally:
            browser.close()
    assert not outside, outside


def test_the_verdict_claims_a_lead_only_past_the_stated_margin():
    def side(name, task, rank, adoption, values):
        cells = {k: {"value": None, "shown": "unknown", "source": {}} for _l, k in entry.FEATURES + entry.FIGURES}
        for k, v in (("rank", rank), ("adoption", adoption), ("quality", 50), ("ecosystem", 50), ("match", None)):
            cells[k] = {"value": v, "shown": "unknown" if v is None else f"{v}/100", "source": {}}
        bench = [{"dataset": d, "metric": m, "split": None, "value": v, "where": "w", "source": {}}
                 for d, m, v in values]
        return {"id": f"o/{name}", "name": name, "hub_url": "", "task": task, "task_group": task, "cells": cells,
                "benchmarks": bench, "capabilities": []}

    a = side("a", "text-generation", 60, 70, [("d", "accuracy", 0.80), ("d", "wer", 10.0), ("e", "f1", 0.500)])
    b = side("b", "text-generation", 56, 50, [("d", "accuracy", 0.70), ("d", "wer", 8.0), ("e", "f1", 0.502)])
    v = entry.build_entry(a, b, None)["verdict"]
    assert v["margin_points"] == 5 and "A tie on rank" in v["summary"]  # 60 vs 56: within 5 points
    assert "a leads on adoption" in v["summary"]  # 70 vs 50
    assert "Match Graph: unknown for a, no comparison" in v["lines"]  # unknown is not 0
    assert "d / accuracy: a leads (0.8 vs 0.7)" in v["lines"]
    assert "d / wer: b leads (8 vs 10, lower is better)" in v["lines"]
    assert any(line.startswith("e / f1: tie") for line in v["lines"])  # 0.4% apart
    b["cells"]["rank"]["value"] = 54
    assert "a is ahead on rank by a clear margin" in entry.build_entry(a, b, None)["verdict"]["summary"]
    b["task"] = b["task_group"] = "text-to-image"
    v = entry.build_entry(a, b, None)["verdict"]
    assert not v["direct_competitors"] and "different tasks" in v["summary"]
    assert not any("accuracy" in line for line in v["lines"])  # only what they share is compared
