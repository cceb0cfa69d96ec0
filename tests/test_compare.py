"""Comparison entries, "A vs B": the seed pair on the demo catalogue, rebuilt only where what they
show moved, `hubdex compare`, and the static site (hostile cards, hostile ids, a real browser)."""

from __future__ import annotations

import html.parser
import json
import os
import pathlib
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from hubdex.cli import main
from hubdex.compare import build, entry, reading, render
from hubdex.crawl.scope import Scope
from hubdex.replica.server import start_replica

from .conftest import UNLIMITED, control, crawl, derive

SEED = ("facebook/mask2former-swin-large-cityscapes-semantic", "stabilityai/stable-diffusion-3.5-large")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """The demo catalogue crawled as `make demo` does (full pass, the most downloaded cards, the search
    evidence), derived."""
    server = start_replica("demo", quotas=UNLIMITED)
    db = tmp_path_factory.mktemp("compare-demo") / "hub.db"
    try:
        assert crawl(db, server.url, mode="full").ok
        assert crawl(db, server.url, mode="cards", scope=Scope(limit=500)).ok  # as make demo reads
        assert crawl(db, server.url, mode="evidence", evidence_budget=140).ok  # benchmarks and their directions
        assert crawl(db, server.url, mode="search").ok
    finally:
        server.stop()
    derive(db)
    return db


def _compare(db, *args):
    return CliRunner().invoke(main, ["compare", *args, "--db", str(db)])


def _assert_source_exists(conn, c):
    """A cell's source names a row that is there."""
    s = c["source"]
    assert {"table", "column", "row", "day"} <= set(s) <= {"table", "column", "row", "day", "how"}, s
    table, row = s["table"], s["row"]
    if table == "models":
        assert conn.execute("SELECT 1 FROM models WHERE id = ?", (row["id"],)).fetchone() is not None
    elif table == "model_scores":
        assert conn.execute("SELECT 1 FROM model_scores WHERE model_key = ?", (row["model_key"],)).fetchone()
    elif table == "match_scores" and c["value"] is not None:
        assert conn.execute("SELECT 1 FROM match_scores WHERE model_key = ?", (row["model_key"],)).fetchone()
    elif table == "licence_terms" and c["value"] is not None:
        assert row["id"] in reading.licence_terms()


def _cells(e):
    for sec in e["sections"]:
        if sec["kind"] == "table":
            for r in sec["rows"]:
                yield sec["id"], r


def test_the_seed_pair_puts_the_verdict_first_and_every_figure_has_its_source(demo_db):
    out = _compare(demo_db, *SEED, "--format", "json")
    assert out.exit_code == 0, out.output
    e = json.loads(out.output)
    conn = sqlite3.connect(demo_db)
    assert e["sections"][0]["kind"] == "verdict" and e["sections"][0]["picks"]
    assert e["same_task"] is False and "different jobs" in e["sections"][0]["summary"]
    rows = {(sid, r["key"]): r for sid, r in _cells(e)}
    for side, model_id in (("a", SEED[0]), ("b", SEED[1])):
        assert e["models"][side]["id"] == model_id
        downloads, params, spaces = conn.execute("SELECT downloads, params, spaces_count FROM models WHERE id = ?",
                                                 (model_id,)).fetchone()
        # the JSON keeps the row's value apart from the text shown
        d = rows[("adoption", "downloads")][side]
        assert d["value"] == downloads and d["shown"] == reading.count_text(downloads)
        if params is not None:
            m = rows[("size", "memory_fp16")][side]
            assert m["value"] == params * 2 and m["shown"] == reading.bytes_text(params * 2)
            assert "parameters x 2 bytes" in m["source"]["how"]
        for _sid, r in _cells(e):
            _assert_source_exists(conn, r[side])
            if r[side]["value"] is None:
                assert r[side]["shown"].startswith("unknown"), r
    # mask2former is 216M parameters: its weights are shown in MB, never "0.0 GB"
    assert rows[("size", "memory_fp16")]["a"]["shown"].endswith(" MB")
    # SD 3.5's licence in plain words, with the text it summarises
    lic = rows[("licence", "licence_conditions")]["b"]
    assert "US$1 million" in lic["shown"] and rows[("licence", "commercial_use")]["b"]["value"] == "on conditions"
    assert rows[("licence", "licence_text")]["b"]["value"].startswith("https://stability.ai/")
    # the most useful sentence of the seed pair (its card's intended use) is shown, not hidden, when the card
    # was read (the demo reads the most downloaded cards first; mask2former ranks near 1,000 among the real
    # corpus's models)
    caps = next(s for s in e["sections"] if s["kind"] == "capabilities")["sides"]["a"]
    intended = conn.execute("SELECT c.detail FROM capabilities c JOIN models m ON m.key = c.model_key WHERE m.id = ? "
                            "AND c.capability = 'intended use'", (SEED[0],)).fetchall()
    assert all(any(d[:40] in c["sentence"] for c in caps["shown"]) for (d,) in intended[:1])
    # the other formats say the same, verdict first
    text = _compare(demo_db, *SEED).output
    assert text.splitlines()[2] == "VERDICT" and max(len(x) for x in text.splitlines()) <= 100
    md = _compare(demo_db, *SEED, "--format", "markdown").output
    assert md.startswith("# mask2former-swin-large-cityscapes-semantic vs stable-diffusion-3.5-large\n\n## Verdict")
    page = _compare(demo_db, *SEED, "--format", "html").output
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert page.index("id=\"verdict\"") < page.index("id=\"glance\"")


REAL_PAIRS = [
    ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3-8B-Instruct"),
    ("meta-llama/Llama-3.1-8B-Instruct", "HuggingFaceH4/zephyr-7b-beta"),
    ("meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-4-Scout-17B-16E-Instruct"),
    ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/paraphrase-xlm-r-multilingual-v1"),
    ("BAAI/bge-large-en-v1.5", "sentence-transformers/all-MiniLM-L6-v2"),
    ("openai/whisper-large-v3", "jonatasgrosman/wav2vec2-large-xlsr-53-english"),
    ("openai/clip-vit-base-patch32", "openai/clip-vit-large-patch14"),
    ("stabilityai/stable-diffusion-3.5-large", "black-forest-labs/FLUX.1-dev"),
    ("black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-schnell"),
    ("stabilityai/stable-diffusion-xl-base-1.0", "CompVis/stable-diffusion-v1-4"),
    ("facebook/bart-large-mnli", "joeddav/xlm-roberta-large-xnli"),
]
# Sentences that were garbled once: none may come back.
GARBLES = (r"on the Hub \w[\w -]* on the Hub", r"^Of model type", r"\b1 \w+ variants", r"decomposed",
           r"Has \d+ on the Hub", r"\.\.$", r"Takes \w+ as input\.$", r"^Produces \w+\.$")
# Capability sentences start with a verb (third person) as a person would write them.
VERBS = {"performs", "states", "takes", "works", "reads", "supports", "reports", "is", "was", "describes",
         "documents", "has", "runs", "produces", "generates"}


def _claims(e):
    sec = next(s for s in e["sections"] if s["kind"] == "capabilities")
    for side in ("a", "b"):
        yield side, sec["sides"][side]["shown"] + sec["sides"][side]["more"]


def check_sentences(e):
    """The known garbles, a capability line without a verb, a repeated sentence: each fails."""
    import re

    for side, claims in _claims(e):
        seen = set()
        for c in claims:
            s = c["sentence"]
            for g in GARBLES:
                assert not re.search(g, s), (g, s)
            assert s.split()[0].lower() in VERBS, f"no verb: {s}"
            assert s.lower() not in seen, f"repeated: {s}"
            seen.add(s.lower())
    v = e["sections"][0]
    said = [x.strip() for x in re.split(r"(?<=\.) ", v["summary"]) if x.strip()] + v["picks"]
    assert len(said) == len(set(said)), said


def test_real_pairs_render_verdict_first_with_the_choosers_facts(demo_db):
    conn = sqlite3.connect(demo_db)
    shown = 0
    for a, b in REAL_PAIRS:
        if conn.execute("SELECT count(*) FROM models WHERE id IN (?, ?)", (a, b)).fetchone()[0] < 2:
            continue
        shown += 1
        e = json.loads(_compare(demo_db, a, b, "--format", "json").output)
        assert e["sections"][0]["kind"] == "verdict" and e["sections"][0]["picks"], (a, b)
        check_sentences(e)
        rows = {(sid, r["key"]): r for sid, r in _cells(e)}
        for side in ("a", "b"):
            mid = e["models"][side]["id"]
            params, lic = conn.execute("SELECT m.params, s.licence FROM models m JOIN model_scores s "
                                       "ON s.model_key = m.key WHERE m.id = ?", (mid,)).fetchone()
            assert (rows[("size", "memory_int4")][side]["value"] is None) == (params is None), mid
            assert (rows[("licence", "licence")][side]["value"] is None) == (lic is None), mid
    assert shown >= 7


FOUR = {"meta-llama/Llama-3.1-8B-Instruct": ("on conditions", "700 million monthly active users"),
        "BAAI/bge-large-en-v1.5": ("yes", "copyright"),
        "stabilityai/stable-diffusion-3.5-large": ("on conditions", "US$1 million"),
        "black-forest-labs/FLUX.1-dev": ("no", "non-commercial use of the model only")}


def test_context_embedding_max_input_and_licence_conditions_come_from_crawled_data(demo_db):
    conn = sqlite3.connect(demo_db)
    keys = dict(conn.execute(f"SELECT id, key FROM models WHERE id IN ({', '.join('?' * len(FOUR))})", list(FOUR)))
    assert set(keys) == set(FOUR)
    sides = {s.id: s for s in reading.sides(conn, keys.values()).values()}
    for mid, (commercial, words) in FOUR.items():
        c = sides[mid].cells
        assert c["commercial_use"]["value"] == commercial, mid
        assert words in c["licence_conditions"]["shown"], (mid, c["licence_conditions"]["shown"])
        assert c["licence_text"]["value"].startswith("https://"), mid
    # the embedding model: its vector size and max input from its sentence-transformers files, read by the crawl
    bge = sides["BAAI/bge-large-en-v1.5"].cells
    pooling = json.loads(conn.execute("SELECT body FROM model_configs WHERE model_key = ? AND path = "
                                      "'1_Pooling/config.json'", (keys["BAAI/bge-large-en-v1.5"],)).fetchone()[0])
    assert bge["embedding_dim"]["value"] == pooling["word_embedding_dimension"] == 1024
    assert bge["embedding_dim"]["source"]["row"]["path"] == "1_Pooling/config.json"
    assert bge["max_input"]["value"] == 512 and bge["max_input"]["shown"] == "512 tokens"
    assert bge["max_input"]["source"]["row"]["path"] == "sentence_bert_config.json"
    # the gated three refuse their config files to an anonymous crawl: their context or max input is the
    # router's where it gives one, else unknown, never a guess
    for mid in ("meta-llama/Llama-3.1-8B-Instruct", "stabilityai/stable-diffusion-3.5-large",
                "black-forest-labs/FLUX.1-dev"):
        assert conn.execute("SELECT count(*) FROM model_configs WHERE model_key = ?", (keys[mid],)).fetchone()[0] == 0
        router = conn.execute("SELECT max(context_length) FROM router_prices WHERE model_id = ? AND status = 'live'",
                              (mid,)).fetchone()[0]
        assert sides[mid].cells["context_length"]["value"] == (router or conn.execute(
            "SELECT context_length FROM models WHERE id = ?", (mid,)).fetchone()[0]), mid


def test_no_stored_entry_has_a_garble_a_verbless_capability_or_a_repeat(demo_db):
    conn = sqlite3.connect(demo_db)
    n = 0
    for (doc,) in conn.execute("SELECT entry FROM comparisons WHERE stale = 0"):
        check_sentences(json.loads(doc))
        n += 1
    assert n > 100


def test_a_head_to_head_lead_goes_the_way_its_benchmark_ranks(demo_db):
    """A lower word error rate leads: the Hub's evalResults name no metric ("score"), so the direction
    is the benchmark's (its leaderboard's rank order), never a guess from the name; unknown claims none."""
    conn = sqlite3.connect(demo_db)
    lower_rows = 0
    for (doc,) in conn.execute("SELECT entry FROM comparisons WHERE stale = 0"):
        for sec in json.loads(doc)["sections"]:
            if sec["kind"] != "benchmarks":
                continue
            for r in sec.get("shared") or []:
                va, vb = float(r["a"]["shown"]), float(r["b"]["shown"])
                if r["lower_is_better"] is None:
                    assert r["lead"] == "unknown"
                elif r["lead"] in ("a", "b") and va != vb:
                    better = "a" if (va < vb) == r["lower_is_better"] else "b"
                    assert r["lead"] == better, (r["dataset"], r["config"], va, vb)
                    lower_rows += r["lower_is_better"]
    assert lower_rows > 10  # the speech recognisers' WER rows were checked
    e = json.loads(_compare(demo_db, "openai/whisper-large-v3", "nvidia/parakeet-tdt-0.6b-v2", "--format", "json").output)
    rows = [r for s in e["sections"] if s["kind"] == "benchmarks" for r in s.get("shared") or []]
    clean = next(r for r in rows if r["config"] == "librispeech/test.clean")
    assert clean["lower_is_better"] is True
    assert clean["lead"] == ("a" if float(clean["a"]["shown"]) < float(clean["b"]["shown"]) else "b")


def test_the_checks_catch_the_garbles_they_name():
    e = {"sections": [{"kind": "verdict", "summary": "A leads.", "picks": ["Pick a if you want x."]},
                      {"kind": "capabilities", "sides": {"a": {"shown": [], "more": []}, "b": {"shown": [], "more": []}}}]}
    check_sentences(e)
    for bad in (["Has 6 on the Hub fine-tunes on the Hub."], ["Of model type mask2former."], ["Image segmentation."],
                ["Performs text generation.", "Performs text generation."]):
        e["sections"][1]["sides"]["a"]["shown"] = [{"sentence": x} for x in bad]
        with pytest.raises(AssertionError):
            check_sentences(e)


def test_figures_are_honest_caps_and_units():
    assert reading.count_text(100, cap=100) == "100+" and reading.count_text(99, cap=100) == "99"
    assert reading.bytes_text(47_000_000) == "47.0 MB" and reading.bytes_text(16_060_522_496) == "16.1 GB"
    assert reading.count_text(41_873) == "41.9K" and reading.count_text(None) == "unknown"


def test_compare_of_an_unknown_model_is_one_line_and_exit_1(demo_db):
    out = _compare(demo_db, "nobody/nothing", SEED[0])
    assert out.exit_code == 1 and out.output.strip() == "Error: unknown model: nobody/nothing"


def test_a_stored_fresh_entry_is_served_from_storage(demo_db):
    conn = sqlite3.connect(demo_db)
    a, b, stored = conn.execute("SELECT model_a, model_b, entry FROM comparisons WHERE stale = 0 "
                                "ORDER BY model_a LIMIT 1").fetchone()
    # an entry is stored once, as JSON; its Markdown is rendered from it where it is read
    assert "markdown" not in {r[1] for r in conn.execute("PRAGMA table_info(comparisons)")}
    out = _compare(demo_db, b, a, "--format", "markdown")  # either order
    assert out.exit_code == 0 and out.output == render.render_markdown(json.loads(stored))
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
        side = reading.sides(conn, [ka, kb], history=False)
        sa, sb = side[ka], side[kb]
        e = entry.build_entry(sa, sb, reading.edges(conn, [(min(ka, kb), max(ka, kb))]).get((min(ka, kb), max(ka, kb))))
        out[(a, b)] = json.loads(render.render_json(e))
    return out


def _shown(e):
    """What an entry shows (its text), without the rows' values kept beside it."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in ("value", "day")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(e)


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
    moved_figures = {p for p, v in after.items() if p in before
                     and _shown(json.loads(v[2])) != _shown(json.loads(before[p][2]))}
    assert rebuilt == moved_figures  # exactly the entries whose shown figures changed
    assert second.rebuilt == len(rebuilt) and second.built == sum(1 for p in after if p not in before)
    for p, v in after.items():  # and no other entry's generated_at moved
        if p in before and p not in rebuilt:
            assert v[:3] == before[p][:3], p
    # none left stale-but-current: every current entry is what would be built now
    fresh = _fresh_entries(conn)
    wrong = [p for p, doc in fresh.items() if _shown(json.loads(after[p][2])) != _shown(doc)]
    if wrong:
        x, y = _shown(json.loads(after[wrong[0]][2])), _shown(fresh[wrong[0]])
        diff = [(sx["id"], [(rx, ry) for rx, ry in zip(sx.get("rows", []), sy.get("rows", [])) if rx != ry] or
                 (sx, sy)) for sx, sy in zip(x["sections"], y["sections"]) if sx != sy]
        print("DIFF", diff)
    assert not wrong, (wrong[:3], diff[:1] if wrong else None)
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
        a = dict(attrs)
        if tag == "script" and (a.get("src") or "").split("/")[-1] in ("site.js", "search-index.js"):
            pass  # the site's own script, from its own directory
        elif tag == "link" and (a.get("rel"), (a.get("href") or "").split("/")[-1]) in (("stylesheet", "site.css"),
                                                                                         ("icon", "icon.svg")):
            pass
        elif tag == "form" and a.get("id") == "search-form" and "action" not in a:
            pass  # the index's search box: no action, handled by the site's script
        elif tag in ("script", "iframe", "img", "object", "embed", "form", "base", "link"):
            self.bad.append(tag)
        for k, v in attrs:
            if k.startswith("on") or (v or "").strip().lower().startswith(("javascript:", "data:")):
                self.bad.append(f"{tag} {k}={v}")
            if k in ("href", "src"):
                self.links.append((tag, v))


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
        for tag, link in parser.links:
            if tag == "a" and link.startswith("https://"):
                continue  # a plain link out (the Hub page, a licence's text): never loaded by the page
            assert "://" not in link and not link.startswith(("/", "javascript", "data")), (p, link)
            target = (p.parent / link.split("#")[0]).resolve()
            assert site.resolve() in target.parents and target.is_file(), (p, link)
        if "alert(1)" in text:
            seen_hostile += 1
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert seen_hostile >= 2  # the card text is there, escaped, on the comparison and the model pages
    # a rerun writes nothing; a change rewrites only the pages that show it
    again = CliRunner().invoke(main, ["site", str(site), "--db", str(copy)])
    assert ", 0 written," in again.output
    # the markdown escapes the card too
    md = render.render_markdown(json.loads(conn.execute("SELECT entry FROM comparisons WHERE model_a = ? OR model_b = ?",
                                                        (hostile_id, hostile_id)).fetchone()[0]))
    i = md.find("<script>")
    assert i < 0, md[max(0, i - 300):i + 100]
    assert "](javascript:" not in md.replace("\\](javascript:", "")  # an escaped bracket makes no link


# -- a real browser ----------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def demo_site(demo_db, tmp_path_factory):
    site = tmp_path_factory.mktemp("demo-site") / "site"
    out = CliRunner().invoke(main, ["site", str(site), "--db", str(demo_db)])
    assert out.exit_code == 0, out.output
    return site


@pytest.fixture
def browser_on(demo_site):
    """Debian's chromium driven by Playwright (never `playwright install`: nothing downloads here), on the
    site served over HTTP from 127.0.0.1; a request for anything else fails the test."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test does it)", pytrace=False)
    import functools
    import http.server
    import threading

    from playwright.sync_api import sync_playwright

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(demo_site))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{httpd.server_address[1]}/"
    outside, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)

        def page(width=1200, height=900):
            pg = browser.new_page(viewport={"width": width, "height": height})
            pg.on("request", lambda r: None if r.url.startswith(root) else outside.append(r.url))
            pg.on("pageerror", lambda err: errors.append(str(err)))
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            return pg

        try:
            yield root, page
        finally:
            browser.close()
            httpd.shutdown()
    assert not outside, outside
    assert not errors, errors  # a CSP violation or a script error shows here


def test_search_on_the_index_finds_a_model_by_part_of_its_name_and_opens_its_page(browser_on):
    root, new_page = browser_on
    page = new_page()
    page.goto(root + "index.html")
    page.fill("#q", "whisper-large")
    hit = page.locator("#results a", has_text="openai/whisper-large-v3")
    hit.first.wait_for()
    hit.first.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "openai/whisper-large-v3"
    assert page.locator("#profile").is_visible() and page.locator("#history svg").count() == 1
    hub = page.get_by_role("link", name="Hub page").first
    assert hub.get_attribute("href") == "https://huggingface.co/openai/whisper-large-v3"


def test_a_comparison_page_at_400_px_shows_both_columns_and_the_verdict_above_the_fold(browser_on, demo_db):
    from hubdex.compare.site import compare_path

    root, new_page = browser_on
    conn = sqlite3.connect(demo_db)
    a, b = conn.execute("SELECT model_a, model_b FROM comparisons WHERE stale = 0 AND model_a LIKE 'meta-llama/Llama-3%' "
                        "ORDER BY model_a, model_b LIMIT 1").fetchone()
    page = new_page(400, 800)
    page.goto(root + compare_path(a, b))
    verdict = page.locator("#verdict").bounding_box()
    assert verdict["y"] < 800 and verdict["y"] + 40 < 800  # the verdict starts above the fold
    assert page.locator("#verdict .picks li").first.bounding_box()["y"] < 800
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # nothing cut off to the right
    cells = page.locator("#glance table tr").nth(1).locator("td")
    for i in range(2):
        box = cells.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 400, box
    # sources on demand
    src = page.locator("#glance details.sources")
    assert not src.locator("li").first.is_visible()
    src.locator("summary").click()
    assert src.locator("li").first.is_visible()


def test_a_task_page_sorts_by_downloads(browser_on, demo_db):
    from hubdex.compare.site import task_path

    root, new_page = browser_on
    page = new_page()
    page.goto(root + task_path("text-to-image"))
    header = page.locator("#models thead th", has_text="Downloads")
    header.click()

    def column():
        return [None if v == "" else int(v) for v in page.eval_on_selector_all(
            "#models tbody tr", "rows => rows.map(r => r.cells[3].getAttribute('data-v'))")]

    got = column()
    assert len(got) > 5 and got == sorted(got, key=lambda v: -1 if v is None else v, reverse=True)
    header.click()
    assert column() == sorted(got, key=lambda v: -1 if v is None else v)
    # and filters by name
    page.fill("#filter", "flux")
    visible = page.locator("#models tbody tr:visible").all_inner_texts()
    assert visible and all("flux" in r.lower() for r in visible)


def test_the_site_has_a_page_for_every_model_and_a_rerun_rewrites_only_what_changed(demo_db, demo_site, tmp_path):
    from hubdex.compare import site as site_

    conn = sqlite3.connect(demo_db)
    live = [r[0] for r in conn.execute("SELECT id FROM models WHERE removed_at IS NULL")]
    assert len(live) > 3000
    missing = [m for m in live if not (demo_site / site_.model_path(m)).is_file()]
    assert not missing, missing[:5]
    for m in ("openai-community/gpt2-large", "FacebookAI/roberta-large", "google/tapas-base-finetuned-wtq",
              "naver-clova-ix/donut-base-finetuned-docvqa"):
        if m in live:
            assert (demo_site / site_.model_path(m)).is_file()
    # the model page's competitors are `hubdex matches`'s
    from hubdex.present.matches import matches
    page = (demo_site / site_.model_path("meta-llama/Llama-3.1-8B-Instruct")).read_text()
    listed = page.split('id="competitors"')[1].split("</ol>")[0]
    want = [c["id"] for c in matches(conn, "meta-llama/Llama-3.1-8B-Instruct")["competitors"]]
    import re as _re
    got = [html.unescape(x) for x in _re.findall(r'<li><a href="[^"]+">([^<]+)</a>', listed)]
    assert got == want
    # a rerun with nothing changed writes nothing; one model's downloads moved: only the pages showing them
    copy = tmp_path / "hub.db"
    conn.execute(f"VACUUM INTO '{copy}'")
    site = tmp_path / "site"
    shutil.copytree(demo_site, site)
    c2 = sqlite3.connect(copy)
    assert site_.build_site(c2, str(site)).written == 0
    c2.execute("UPDATE models SET downloads = downloads * 3 + 7 WHERE id = 'openai/whisper-large-v3'")
    c2.commit()
    res = site_.build_site(c2, str(site))
    assert set(res.written_paths) == {site_.model_path("openai/whisper-large-v3"),
                                      site_.task_path("automatic-speech-recognition"), "assets/search-index.js"}
    # a model's rank moved: its page, its task's page, and the pages listing it among their competitors
    rival = want[0]  # Llama-3.1-8B-Instruct's strongest competitor
    c2.execute("UPDATE model_scores SET rank = CASE WHEN coalesce(rank, 0) > 50 THEN rank - 30 ELSE coalesce(rank, 0) + 30 "
               "END WHERE model_key = (SELECT key FROM models WHERE id = ?)", (rival,))
    c2.commit()
    res = site_.build_site(c2, str(site))
    pages = [p for p in res.written_paths if p.startswith("models/")]
    assert site_.model_path("meta-llama/Llama-3.1-8B-Instruct") in pages and site_.model_path(rival) in pages
    for p in pages:
        text = (site / p).read_text()
        assert p == site_.model_path(rival) or f">{html.escape(rival)}</a>" in text.split('id="competitors"')[1], p


def test_pages_rendered_by_worker_processes_are_the_pages_rendered_inline(demo_db, tmp_path):
    """A large build shares its pages among processes (site.WORKERS): the site is the same, byte for byte,
    its manifest included, and a rerun renders none of the pages again."""
    from hubdex.compare import site as site_

    conn = sqlite3.connect(demo_db)
    inline, pooled = tmp_path / "inline", tmp_path / "pooled"
    one = site_.build_site(conn, str(inline), workers=1)
    res = site_.build_site(conn, str(pooled), workers=2, parallel_from=1)
    want = sorted(p.relative_to(inline) for p in inline.rglob("*") if p.is_file())
    got = sorted(p.relative_to(pooled) for p in pooled.rglob("*") if p.is_file())
    assert got == want and res.pages == one.pages == len(want) - 1 and res.written == res.pages  # all but the manifest
    differ = [str(p) for p in want if (pooled / p).read_bytes() != (inline / p).read_bytes()]
    assert not differ, differ[:5]  # the manifest too: every page with its fingerprint
    pages = [p for p in want if p.parts[0] in ("models", "compare")]
    again = site_.build_site(conn, str(pooled), workers=1)
    assert again.written == 0 and again.unchanged == again.pages == res.pages and again.kept == len(pages)


def test_the_verdict_follows_from_the_numbers_and_claims_a_lead_only_past_its_margin():
    def side(name, task, params, downloads, bench, commercial="yes"):
        s = reading.Side(key=hash(name) % 1000, id=f"o/{name}", name=name, author="o" + name, hub_url="", task=task,
                         task_group=task)
        src = {"table": "t", "column": "c", "row": {}, "day": None}
        for k in ("rank", "adoption", "quality", "ecosystem", "match", "times_matched", "pricing", "downloads_all_time",
                  "likes", "trending_score", "growth_7d", "growth_30d", "storage", "context_length", "embedding_dim",
                  "max_input", "languages", "input_modalities", "output_modalities", "licence", "licence_conditions",
                  "licence_text", "gated", "released", "last_modified", "trend", "children_finetune",
                  "children_adapter", "children_quantized", "children_merge", "spaces", "library", "formats",
                  "copies", "providers", "price", "task"):
            s.cells[k] = {"value": None, "shown": "unknown", "source": src}
        s.cells["commercial_use"] = {"value": commercial, "shown": commercial, "source": src}
        s.cells["downloads"] = {"value": downloads, "shown": reading.count_text(downloads), "source": src}
        s.cells["params"] = {"value": params, "shown": reading.count_text(params), "source": src}
        for prec, per in (("fp16", 2), ("int8", 1), ("int4", 0.5)):
            s.cells["memory_" + prec] = {"value": params * per, "shown": reading.bytes_text(params * per), "source": src}
        s.benchmarks = [{"dataset": d, "config": None, "split": "test", "metric": m, "value": v, "shown": f"{v:g}",
                         "how": "measured", "where": "w", "source": src} for d, m, v in bench]
        return s

    a = side("a", "text-generation", 8_000_000_000, 5_000_000, [("d", "accuracy", 0.80), ("d", "wer", 10.0),
                                                               ("e", "f1", 0.500)])
    b = side("b", "text-generation", 1_000_000_000, 4_000_000, [("d", "accuracy", 0.70), ("d", "wer", 8.0),
                                                               ("e", "f1", 0.502)], commercial="no")
    e = entry.build_entry(a, b, None)
    v = e["sections"][0]
    leads = {(r["dataset"], r["metric"]): r["lead"] for r in entry.section(e, "benchmarks")["shared"]}
    assert leads == {("d", "accuracy"): "a", ("d", "wer"): "b", ("e", "f1"): "tie"}  # lower wer wins; 0.4% is a tie
    assert "b is 8.0x smaller" in v["summary"] and "far more used" not in v["summary"]  # 5M vs 4M: no claim
    assert any(p.startswith("Pick a if you want") and "commercial use" in p for p in v["picks"])
    assert any(p.startswith("Pick b if you want less memory (500 MB of weights at int4)") for p in v["picks"]), v["picks"]
    b.task = b.task_group = "text-to-image"
    v = entry.build_entry(a, b, None)["sections"][0]
    assert not v["direct_competitors"] and "different jobs" in v["summary"]
