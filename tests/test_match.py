"""The match graph over real HTTP: the search crawl against the replica, the graph built by derive,
measured against the synthetic catalogue's known competitors, and `hubdex matches`."""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests
from click.testing import CliRunner

from hubdex.cli import main
from hubdex.crawl.search import family_stem
from hubdex.derive import match
from hubdex.replica import catalog, leagues
from hubdex.replica.server import start_replica

from .conftest import UNLIMITED, control, crawl, derive

CATALOG = "synthetic:5000"


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """A replica, and a database with a full crawl, every card, the search evidence and a derive."""
    server = start_replica(CATALOG, quotas=UNLIMITED)
    db = tmp_path_factory.mktemp("match") / "hub.db"
    for mode in ("full", "cards", "search"):
        outcome = crawl(db, server.url, mode=mode)
        assert outcome.ok, outcome.summary
    result = derive(db)
    yield server, db, result
    server.stop()


def _truth():
    store, _ = catalog.build(CATALOG)
    return leagues.competitors(store)


def _top(conn, key, n=5):
    return [r[0] for r in conn.execute(
        """SELECT CASE WHEN a_key = ? THEN b_key ELSE a_key END FROM match_edges WHERE relation = 'competitor'
        AND (a_key = ? OR b_key = ?) ORDER BY weight DESC, a_key + b_key LIMIT ?""", (key, key, key, n))]


def test_top_five_competitors_match_the_generators_truth(graph, capsys):
    _server, db, _result = graph
    truth = _truth()
    conn = sqlite3.connect(db)
    key = dict(conn.execute("SELECT id, key FROM models"))
    ids = {k: i for i, k in key.items()}
    copies = {}
    for copy, canonical in conn.execute("SELECT model_key, canonical_key FROM match_copies"):
        copies.setdefault(canonical, set()).add(copy)
    precision, recall = [], []
    for model_id, rivals in truth.items():
        k = key[model_id]
        top = _top(conn, k)
        hits = sum(ids[t] in rivals for t in top)
        precision.append(hits / len(top) if top else 0.0)
        recall.append(hits / min(5, len(rivals)))
        assert not set(top) & copies.get(k, set()), f"a copy of {model_id} is among its competitors"
    assert len(truth) >= 30
    p, r = sum(precision) / len(precision), sum(recall) / len(recall)
    with capsys.disabled():
        print(f"\nmatch graph on {CATALOG}: precision@5 {p:.3f}, recall@5 {r:.3f} over {len(truth)} models")
    # The truth was made hard in issue 21 (skippers, decoys in tables, 10x family siblings, names shared
    # across tasks; docs/REPLICA.md): the graph of that day scored precision@5 0.662, recall@5 0.662 on it
    # (0.983 / 0.983 on the old, easy truth). These floors hold that level, so a regression fails.
    assert p >= 0.62
    assert r >= 0.62


def test_no_copy_is_ever_a_competitor_of_what_it_copies_or_of_another_copy(graph):
    _server, db, _result = graph
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM match_copies").fetchone()[0] > 50
    # copies never appear in edges at all: their evidence counts for their canonical model
    in_edges = conn.execute("""SELECT count(*) FROM match_copies c WHERE EXISTS (SELECT 1 FROM match_edges e
        WHERE e.a_key = c.model_key OR e.b_key = c.model_key)""").fetchone()[0]
    assert in_edges == 0
    # a GGUF copy reports its base's league benchmark: the graph folded it rather than pairing them
    quantized = conn.execute("""SELECT count(*) FROM model_relations r JOIN models p ON p.id = r.parent
        JOIN match_copies c ON c.model_key = r.model_key AND c.canonical_key = p.key
        WHERE r.relation = 'quantized'""").fetchone()[0]
    assert quantized > 50


def test_competitors_share_a_task_and_cross_task_pairs_are_complements(graph):
    _server, db, _result = graph
    conn = sqlite3.connect(db)
    rows = conn.execute("""SELECT e.relation, a.pipeline_tag, b.pipeline_tag FROM match_edges e
        JOIN models a ON a.key = e.a_key JOIN models b ON b.key = e.b_key""").fetchall()
    group = lambda t: match.TASK_GROUPS.get(t, t)  # noqa: E731
    assert any(r[0] == "complement" for r in rows)
    for relation, ta, tb in rows:
        same = ta is not None and group(ta) == group(tb)
        assert (relation == "competitor") == same, (relation, ta, tb)


def test_every_edge_in_matches_json_points_at_evidence_rows_that_exist(graph):
    _server, db, _result = graph
    conn = sqlite3.connect(db)
    sample = [r[0] for r in conn.execute("""SELECT m.id FROM match_scores s JOIN models m ON m.key = s.model_key
        ORDER BY s.times_matched DESC, m.id LIMIT 12""")]
    runner = CliRunner()
    kinds = set()
    for model_id in sample:
        out = runner.invoke(main, ["matches", model_id, "--db", str(db), "--json", "--limit", "8"])
        assert out.exit_code == 0, out.output
        doc = json.loads(out.output)
        assert doc["competitors"]
        weights = [c["weight"] for c in doc["competitors"]]
        assert weights == sorted(weights, reverse=True)
        for c in doc["competitors"] + doc["complements"]:
            assert c["evidence"], c["id"]
            for e in c["evidence"]:
                kinds.add(e["kind"])
                row = conn.execute("SELECT kind, source FROM match_evidence WHERE id = ?", (e["evidence_id"],)).fetchone()
                assert row and row[0] == e["kind"]
                _assert_source_rows_exist(conn, e)
    assert {"search", "benchmark", "card_table"} <= kinds


def _assert_source_rows_exist(conn, e):
    src, d = e["source"], e["detail"]
    if e["kind"] == "search":
        for pos in d["positions"]:
            assert conn.execute("SELECT 1 FROM search_results WHERE query_id = ? AND day = ? AND position = ?",
                                (src["query_id"], src["day"], pos)).fetchone(), e
    elif e["kind"] == "benchmark":
        for (key, seq), value in zip(d["rows"], d["values"]):
            row = conn.execute("SELECT lower(dataset), lower(metric), value FROM evaluations WHERE model_key = ? AND seq = ?",
                               (key, seq)).fetchone()
            assert row == (src["dataset"], src["metric"], value), e
    elif e["kind"] == "card_table":
        row = conn.execute("SELECT subject, location FROM evaluations WHERE model_key = ? AND seq = ?",
                           (src["model_key"], d["row_seq"])).fetchone()
        assert row and row[1].startswith(src["table"]) and match.subject_name(row[0]) in d["names"], e
    elif e["kind"] == "sibling":
        assert conn.execute("SELECT 1 FROM models WHERE key = ?", (src["parent_key"],)).fetchone()


def test_matches_of_an_unknown_model_is_one_line_and_exit_1(graph):
    _server, db, _result = graph
    out = CliRunner().invoke(main, ["matches", "nobody/nothing", "--db", str(db)])
    assert out.exit_code == 1
    assert out.output.strip() == "Error: unknown model: nobody/nothing"


def test_a_model_with_no_evidence_has_an_empty_list_that_says_why(graph):
    _server, db, _result = graph
    conn = sqlite3.connect(db)
    lonely = conn.execute("""SELECT id FROM models m WHERE NOT EXISTS (SELECT 1 FROM match_edges e
        WHERE e.a_key = m.key OR e.b_key = m.key) AND NOT EXISTS (SELECT 1 FROM match_copies c WHERE c.model_key = m.key)
        ORDER BY id LIMIT 1""").fetchone()[0]
    out = CliRunner().invoke(main, ["matches", lonely, "--db", str(db), "--json"])
    doc = json.loads(out.output)
    assert out.exit_code == 0 and doc["competitors"] == [] and "no evidence" in doc["why_none"]
    assert conn.execute("SELECT count(*) FROM match_scores WHERE model_key = (SELECT key FROM models WHERE id = ?)",
                        (lonely,)).fetchone()[0] == 0  # unknown, not 0
    text = CliRunner().invoke(main, ["matches", lonely, "--db", str(db)]).output
    assert "no competitors:" in text


def test_the_match_signal_is_a_percentile_within_the_task_and_enters_the_rank(graph):
    _server, db, result = graph
    conn = sqlite3.connect(db)
    assert result.graph.competitor_edges > 0
    lo, hi = conn.execute("SELECT min(score), max(score) FROM match_scores").fetchone()
    assert 0 < lo < hi <= 100
    scored = conn.execute("SELECT count(*) FROM model_scores WHERE match IS NOT NULL").fetchone()[0]
    assert scored == conn.execute("SELECT count(*) FROM match_scores").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM model_scores WHERE match IS NULL").fetchone()[0] > 0  # unknown stays
    model_id = conn.execute("""SELECT m.id FROM match_scores s JOIN models m ON m.key = s.model_key
        ORDER BY s.score DESC LIMIT 1""").fetchone()[0]
    out = CliRunner().invoke(main, ["rank", model_id, "--db", str(db), "--json"])
    signal = next(s for s in json.loads(out.output)["signals"] if s["signal"] == "match")
    assert signal["weight"] > 0 and signal["contribution"] > 0
    assert {i["input"] for i in signal["inputs"]} >= {"times matched", "strongest competitors"}


def test_quicksearch_answers_as_the_openapi_spec_shapes_it(graph):
    server, _db, _result = graph
    doc = requests.get(f"{server.url}/api/quicksearch", params={"q": "7B", "limit": 5, "type": "model"}, timeout=30).json()
    assert set(doc) == {"q", "models", "modelsCount"}
    assert len(doc["models"]) == 5 and doc["modelsCount"] > 5
    assert all(set(m) == {"id", "private", "trendingWeight"} and "7b" in m["id"].lower() for m in doc["models"])
    trending = [m["trendingWeight"] for m in doc["models"]]
    assert trending == sorted(trending, reverse=True)
    assert requests.get(f"{server.url}/api/quicksearch", params={"q": "x", "limit": 21}, timeout=30).status_code == 400


def test_search_crawl_keeps_its_budget_and_resumes_after_a_failure(tmp_path, replica_factory, monkeypatch):
    server = replica_factory("synthetic:800")
    db = tmp_path / "hub.db"
    assert crawl(db, server.url, mode="full").ok
    first = crawl(db, server.url, mode="search", search_budget=7)
    assert first.ok and "search budget of 7 requests for today spent" in first.summary
    conn = sqlite3.connect(db)
    planned = conn.execute("SELECT count(*) FROM search_queries").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM search_queries WHERE fetched_day IS NOT NULL").fetchone()[0] == 7
    again = crawl(db, server.url, mode="search", search_budget=7)  # same day: the budget is spent
    assert again.ok and conn.execute("SELECT requests FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0] == 0
    # the Hub fails after a few more requests: the crawl stops cleanly, keeping what it committed
    control(server, "POST", "faults", b"503:after=5")
    stopped = crawl(db, server.url, mode="search", max_retries=0, backoff=0)
    assert stopped.code == 4
    done = conn.execute("SELECT count(*) FROM search_queries WHERE fetched_day IS NOT NULL").fetchone()[0]
    assert done == 12
    control(server, "POST", "faults", b"")
    rest = crawl(db, server.url, mode="search")
    assert rest.ok
    assert conn.execute("SELECT count(*) FROM search_queries WHERE fetched_day IS NOT NULL").fetchone()[0] == planned
    assert conn.execute("SELECT sum(requests) FROM runs WHERE mode = 'search'").fetchone()[0] == planned + 1
    # nothing is due again the same day; results are stored once per (query, day, position)
    assert crawl(db, server.url, mode="search").ok
    assert conn.execute("SELECT requests FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0] == 0
    # a day later only the daily task listings are due
    from hubdex.clock import Clock

    tomorrow = Clock().day + 1
    monkeypatch.setenv("HUBDEX_DAY", Clock().date_of(tomorrow))
    assert crawl(db, server.url, mode="search").ok
    daily = conn.execute("SELECT count(*) FROM search_queries WHERE refresh_days = 1").fetchone()[0]
    assert 0 < daily < planned
    assert conn.execute("SELECT requests FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0] == daily


def test_a_queries_file_that_cannot_be_read_is_a_usage_error(tmp_path, replica_factory):
    server = replica_factory("synthetic:200")
    db = tmp_path / "hub.db"
    assert crawl(db, server.url, mode="full").ok
    bad = tmp_path / "q.toml"
    bad.write_text("[families]\nterms = 'llama'\n")
    runner = CliRunner()
    for path, words in ((bad, "needs `terms`"), (tmp_path / "missing.toml", "does not exist")):
        out = runner.invoke(main, ["crawl", "--search", "--queries", str(path), "--db", str(db),
                                   "--endpoint", server.url])
        assert out.exit_code == 2 and words in out.output and "Traceback" not in out.output
        assert len(out.output.strip().splitlines()) == 1


@pytest.mark.parametrize("model_id, stem", [
    ("meta-llama/Llama-3.1-8B-Instruct", "Llama-3.1"), ("stabilityai/stable-diffusion-3.5-large", "stable-diffusion-3.5"),
    ("facebook/mask2former-swin-large-cityscapes-semantic", "mask2former"), ("google-bert/bert-base-uncased", "bert"),
    ("openai/whisper-large-v3", "whisper"), ("facebook/detr-resnet-50", "detr"), ("openai-community/gpt2", "gpt2"),
    ("HuggingFaceH4/zephyr-7b-beta", "zephyr"), ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM")])
def test_family_stems(model_id, stem):
    assert family_stem(model_id) == stem


def test_a_derive_with_nothing_new_keeps_the_graph_and_new_evidence_rebuilds_it(graph, monkeypatch):
    server, db, _result = graph
    conn = sqlite3.connect(db)
    before = conn.execute("SELECT count(*), sum(weight) FROM match_edges").fetchone()
    scores = conn.execute("SELECT * FROM match_scores ORDER BY model_key").fetchall()
    again = derive(db)
    assert again.graph is None and "match graph unchanged" in again.summary()
    assert conn.execute("SELECT * FROM match_scores ORDER BY model_key").fetchall() == scores
    # the next day's search crawl refreshes the task listings: new evidence, so the graph is rebuilt
    from hubdex.clock import Clock

    monkeypatch.setenv("HUBDEX_DAY", Clock().date_of(Clock().day + 1))
    assert crawl(db, server.url, mode="search").ok
    rebuilt = derive(db)
    assert rebuilt.graph is not None and rebuilt.graph.competitor_edges > 0
    assert conn.execute("SELECT count(*) FROM match_edges").fetchone()[0] == pytest.approx(before[0], rel=0.2)
