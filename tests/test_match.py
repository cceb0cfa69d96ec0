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
from hubdex.derive import match, match_evidence
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
    """A model's rivals in the order `hubdex matches` and the comparisons read them."""
    return [r[0] for r in conn.execute(
        """SELECT CASE WHEN a_key = ? THEN b_key ELSE a_key END FROM match_edges WHERE relation = 'competitor'
        AND (a_key = ? OR b_key = ?) ORDER BY CASE WHEN a_key = ? THEN a_standing ELSE b_standing END DESC, weight DESC, a_key + b_key
        LIMIT ?""", (key, key, key, key, n))]


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
    # across tasks; docs/REPLICA.md): the graph before issue 22's gates scored precision@5 0.662 on it;
    # with them 0.762 / 0.752; with name searches discounted (a name's results share a name, not a use),
    # measured rivals ordered by the evidence of competing and lists led by distinct alternatives,
    # 0.833 / 0.824 (the target: 0.8 / 0.6). The misses left are skippers whose only evidence is
    # another task's benchmark. These floors hold that level.
    assert p >= 0.8
    assert r >= 0.8


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
    rows = conn.execute("""SELECT e.relation, a.pipeline_tag, b.pipeline_tag, e.search, e.benchmark, e.card_table,
        e.spaces FROM match_edges e JOIN models a ON a.key = e.a_key JOIN models b ON b.key = e.b_key""").fetchall()
    group = lambda t: match.TASK_GROUPS.get(t, t)  # noqa: E731
    assert any(r[0] == "complement" for r in rows)
    for relation, ta, tb, search, *measured in rows:
        if ta is None or tb is None:  # task unknown: a rival on evidence, never on search alone
            assert relation != "complement" and (relation != "competitor" or any(measured)), (relation, ta, tb)
            continue
        same = group(ta) == group(tb)
        assert (relation in ("competitor", "family")) == same, (relation, ta, tb)


def test_rivals_pass_the_size_language_and_family_gates(graph):
    """No rival over 4x apart in parameters unless a comparison table names the two together, none of
    another language, none of the same family (listed apart as family)."""
    from hubdex.derive import rivals

    _server, db, _result = graph
    conn = sqlite3.connect(db)
    tags = {}
    for key, tag in conn.execute("SELECT model_key, tag FROM model_tags"):
        tags.setdefault(key, []).append(tag)
    facts = {k: (i, p or rivals.params_from_name(i)) for k, i, p in conn.execute("SELECT key, id, params FROM models")}
    edges = conn.execute("SELECT a_key, b_key, relation, card_table FROM match_edges").fetchall()
    relations = {r[2] for r in edges}
    assert {"competitor", "family", "complement"} <= relations
    same_family = 0
    for a, b, relation, card_table in edges:
        (ia, pa), (ib, pb) = facts[a], facts[b]
        family = (ia.split("/")[0].lower() == ib.split("/")[0].lower()
                  and rivals.family_stem(ia) == rivals.family_stem(ib))
        if relation != "competitor":
            same_family += family and relation == "family"
            continue
        assert not family, (ia, ib)
        assert card_table > 0 or rivals.size_gap(pa, pb) <= rivals.SIZE_RATIO or not (pa and pb), (ia, pa, ib, pb)
        assert rivals.languages_compatible(rivals.languages(tags.get(a, []), ia), rivals.languages(tags.get(b, []), ib)), (
            ia, tags.get(a), ib, tags.get(b))
    assert same_family > 0  # the family was found, and listed apart


def test_search_alone_never_outranks_measured_evidence(graph):
    _server, db, _result = graph
    conn = sqlite3.connect(db)
    bands = dict(conn.execute("SELECT tier, max(weight) FROM match_edges WHERE relation = 'competitor' GROUP BY tier"))
    lows = dict(conn.execute("SELECT tier, min(weight) FROM match_edges WHERE relation = 'competitor' GROUP BY tier"))
    assert set(bands) >= {1, 3}
    assert bands[1] < 1 / 3 <= lows.get(2, 1) and bands.get(2, 0) < 2 / 3 <= lows[3]
    for (tier, search, benchmark, card_table, spaces) in conn.execute(
            "SELECT tier, search, benchmark, card_table, spaces FROM match_edges WHERE relation = 'competitor'"):
        if card_table and not benchmark:  # a table naming a model past the size gate counts as Spaces do
            assert tier in (2, 3)
        else:
            assert tier == (3 if benchmark else 2 if spaces else 1 if search else 0)
    # every model's rivals, in the order they are read: tiers never rise
    for (key,) in conn.execute("SELECT model_key FROM match_scores WHERE times_matched > 2 LIMIT 300"):
        order = [conn.execute("SELECT tier FROM match_edges WHERE a_key = ? AND b_key = ?",
                              (min(key, o), max(key, o))).fetchone()[0] for o in _top(conn, key, 20)]
        assert order == sorted(order, reverse=True), order


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
        tiers = [match.TIER_OF_NAME[c["tier"]] for c in doc["competitors"]]
        assert tiers == sorted(tiers, reverse=True)  # read in order: measured, Spaces, search only
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
        for (table, *ref), value in zip(d["rows"], d["values"]):
            if table == "evaluations":  # a card's results table
                row = conn.execute("SELECT lower(dataset), lower(metric), value FROM evaluations WHERE model_key = ? "
                                   "AND seq = ?", ref).fetchone()
                assert row == (src["dataset"], src["metric"], value), e
            else:  # the evidence crawl's results (model-index, evalResults, leaderboards): dataset with config
                assert table == "eval_results"
                dataset, config, metric, got = conn.execute(
                    "SELECT dataset_id, task_id, coalesce(metric, ''), value FROM eval_results WHERE id = ?", ref).fetchone()
                assert match_evidence.benchmark_key(dataset, config, src["split"], metric)[0].split("\x1f")[0] == src["dataset"]
                assert metric.lower() == src["metric"] and got == value, e
    elif e["kind"] == "card_table":
        row = conn.execute("SELECT subject, location FROM evaluations WHERE model_key = ? AND seq = ?",
                           (src["model_key"], d["row_seq"])).fetchone()
        assert row and row[1].startswith(src["table"]) and match_evidence.subject_name(row[0]) in d["names"], e
    elif e["kind"] == "spaces":
        assert conn.execute("SELECT 1 FROM model_spaces WHERE space_id = ?", (src["space_id"],)).fetchone(), e
    elif e["kind"] == "base_model":
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


def test_the_match_signal_is_the_strength_of_its_own_edges_and_enters_the_rank(graph):
    _server, db, result = graph
    conn = sqlite3.connect(db)
    assert result.graph.competitor_edges > 0
    lo, hi = conn.execute("SELECT min(score), max(score) FROM match_scores").fetchone()
    assert 0 < lo < hi <= 100
    # 100 * S / (S + 1), S the sum of the weights of its strongest MATCH_TOP competitor edges
    for key, score in conn.execute("SELECT model_key, score FROM match_scores WHERE model_key NOT IN "
                                   "(SELECT model_key FROM match_copies) ORDER BY model_key LIMIT 200").fetchall():
        weights = [w for (w,) in conn.execute("""SELECT weight FROM match_edges WHERE relation = 'competitor'
            AND (a_key = ? OR b_key = ?) ORDER BY weight DESC LIMIT ?""", (key, key, match.MATCH_TOP))]
        assert score == pytest.approx(100 * sum(weights) / (sum(weights) + 1), abs=0.006)
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


def _graph_and_entries(conn):
    tables = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
              for t in ("match_scores", "match_edges", "match_edge_evidence", "match_evidence", "match_copies")}
    return tables, conn.execute("SELECT * FROM comparisons ORDER BY 1, 2").fetchall()


def test_a_rebuild_with_no_new_evidence_changes_no_score_no_edge_and_no_entry(graph):
    """The graph rebuilt (its stored digest forgotten) from the same evidence: every match score, every
    edge and every stored comparison entry stays as it was, and the build writes no row."""
    _server, db, _result = graph
    conn = sqlite3.connect(db)
    before = _graph_and_entries(conn)
    assert before[1] and before[0]["match_scores"]
    conn.execute("DELETE FROM crawl_state WHERE key = 'derive.match'")
    conn.commit()
    again = derive(db)
    assert again.graph is not None and again.graph.competitor_edges > 0
    assert sum(again.graph.written.values()) == 0, again.graph.written
    assert _graph_and_entries(conn) == before


def test_new_evidence_moves_only_the_scores_of_the_models_it_touches(graph, tmp_path):
    """A model's match signal reads only its own edges, and an edge only the sets its two models share:
    when one model loses its results, the scores that move are those of the models of the evidence
    sets it was in (a percentile or PageRank would have moved its whole task)."""
    from hubdex.derive import signals

    _server, db, _result = graph
    copy = tmp_path / "copy.db"
    src = sqlite3.connect(db)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    before = dict(dst.execute("SELECT model_key, score FROM match_scores"))
    model = dst.execute("""SELECT e.model_key FROM evaluations e JOIN match_scores s ON s.model_key = e.model_key
        WHERE e.subject IS NULL AND e.model_key NOT IN (SELECT model_key FROM match_copies)
        AND e.model_key NOT IN (SELECT canonical_key FROM match_copies)
        GROUP BY e.model_key ORDER BY count(*) DESC, e.model_key LIMIT 1""").fetchone()[0]
    sets = {r[0] for r in dst.execute("SELECT evidence_id FROM match_edge_evidence WHERE a_key = ? OR b_key = ?",
                                      (model, model))}
    touched = {model}
    for a, b, eid in dst.execute("SELECT a_key, b_key, evidence_id FROM match_edge_evidence"):
        if eid in sets:
            touched.update((a, b))
    copies = dict(dst.execute("SELECT model_key, canonical_key FROM match_copies"))
    dst.execute("DELETE FROM evaluations WHERE model_key = ?", (model,))
    dst.execute("DELETE FROM eval_results WHERE model_key = ?", (model,))  # (model-index, as the evidence crawl keeps it)
    result = match.build(dst, signals.load_weights(None)["match"])
    dst.commit()
    after = dict(dst.execute("SELECT model_key, score FROM match_scores"))
    moved = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    moved_canonical = {copies.get(k, k) for k in moved}
    assert moved_canonical and moved_canonical <= touched, moved_canonical - touched
    assert len(moved) < len(before) / 4
    assert 0 < result.written["match_edges"] < len(before)


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


def test_a_derive_after_a_few_models_changed_updates_the_graph_to_what_a_build_makes(graph, tmp_path):
    """A card read again with new results, and another model's downloads moved: the derive updates
    the graph (only the sets those models are in), and a full build of the same tables afterwards
    writes no row: the update left exactly what a build makes."""
    from hubdex.derive import signals
    from hubdex.store.db import open_db

    _server, db, _result = graph
    copy = tmp_path / "copy.db"
    src, dst = sqlite3.connect(db), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    ranked = [k for (k,) in dst.execute("""SELECT r.model_key FROM eval_results r JOIN match_scores s ON s.model_key = r.model_key
        WHERE r.model_key NOT IN (SELECT model_key FROM match_copies) GROUP BY r.model_key ORDER BY count(*) DESC, 1
        LIMIT 2""")]
    # (a model whose edges come from Spaces and search alone: its downloads move only its edges' standing)
    other = dst.execute("""SELECT s.model_key FROM match_scores s WHERE s.model_key NOT IN (?, ?)
        AND s.model_key NOT IN (SELECT model_key FROM eval_results WHERE model_key IS NOT NULL)
        AND s.model_key NOT IN (SELECT model_key FROM evaluations)
        AND s.model_key NOT IN (SELECT model_key FROM match_copies)
        ORDER BY s.score DESC, 1 LIMIT 1""", ranked).fetchone()[0]
    dst.execute("UPDATE eval_results SET value = value * 0.9 WHERE model_key IN (?, ?)", ranked)
    dst.execute("UPDATE cards SET fetched_at = '2030-01-01T00:00:00Z' WHERE model_key IN (?, ?)", ranked)
    dst.execute("UPDATE models SET downloads = coalesce(downloads, 0) * 40 + 1000 WHERE key = ?", (other,))
    dst.commit()
    dst.close()
    result = derive(copy)
    assert result.graph is not None and result.graph.mode == "update", result.summary()
    assert 0 < result.graph.sets_rebuilt and sum(result.graph.written.values()) > 0
    d = open_db(str(copy), must_exist=True)
    d.conn.execute("BEGIN")
    full = match.build(d.conn, signals.load_weights(None)["match"])
    d.conn.execute("ROLLBACK")
    assert {t: n for t, n in full.written.items() if t != "match_inputs" and n} == {}
