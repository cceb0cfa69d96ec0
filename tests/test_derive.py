"""`hubdex derive`: metadata capabilities, licences, pricing, signals and rank, and their commands."""

from __future__ import annotations

import json
from importlib import resources
import math

import numpy as np
import pytest
from click.testing import CliRunner

from hubdex.cli import main
from hubdex.clock import Clock
from hubdex.derive.signals import load_weights, percentiles
from hubdex.jobs import EXIT_OK
from hubdex.records.models import normalise
from hubdex.store.db import open_db
from hubdex.store.save import Writer

from .conftest import control, crawl, derive

DAY = 20_001  # 2024-10-05, in days since 1970-01-01


# -- percentiles, by hand ------------------------------------------------------------------------------
def test_percentiles_are_mid_rank_with_zero_scoring_zero():
    # 4 values: below 10 is one model (0), no tie -> (1 + 0.5) / 4 = 37.5; 0 scores 0 by rule
    assert percentiles([0, 10, 100, 1000]).tolist() == [0.0, 37.5, 62.5, 87.5]
    # ties share their mid-rank: 5, 5 -> (0 + 2 * 0.5) / 3; 7 -> (2 + 0.5) / 3
    got = percentiles([5, 5, 7])
    assert got[0] == got[1] == pytest.approx(100 / 3) and got[2] == pytest.approx(250 / 3)
    # within groups, and NaN (missing) stays missing
    got = percentiles([1, 2, 3, np.nan, 50], groups=np.array([0, 0, 1, 1, 1]))
    assert got[:3].tolist() == [25.0, 75.0, 25.0] and math.isnan(got[3]) and got[4] == 75.0


# -- a tiny catalogue whose signals are worked out by hand ---------------------------------------------
def _item(n: int, **over) -> dict:
    item = {"_id": f"{n:024x}", "id": f"org/model-{n}", "author": "org", "sha": f"{n:040x}",
            "lastModified": "2024-01-01T00:00:00.000Z", "createdAt": "2024-01-01T00:00:00.000Z", "private": False,
            "gated": False, "disabled": False, "downloads": 0, "downloadsAllTime": 0, "likes": 0, "trendingScore": 0,
            "tags": ["transformers", "safetensors", "text-classification", "license:apache-2.0"],
            "pipeline_tag": "text-classification", "library_name": "transformers",
            "cardData": {"license": "apache-2.0"},
            "siblings": [{"rfilename": "README.md"}, {"rfilename": "model.safetensors"}],
            "childrenModelCount": {"finetune": 0, "adapter": 0, "quantized": 0, "merge": 0},
            "spaces": [], "inferenceProviderMapping": []}
    item.update(over)
    return item


def _store(db, items, day=DAY):
    with db.atomic():
        Writer(db.conn, day, Clock().now()).save_models([normalise(i) for i in items])


def _scores(db) -> dict:
    cur = db.conn.execute("SELECT m.id, s.* FROM model_scores s JOIN models m ON m.key = s.model_key")
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r)) for r in cur}


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBDEX_DAY", "2024-10-05")
    db = open_db(str(tmp_path / "hub.db"))
    _store(db, [
        _item(1),
        _item(2, downloads=10, downloadsAllTime=10, likes=10, trendingScore=10),
        _item(3, downloads=100, downloadsAllTime=100, likes=100, trendingScore=100),
        _item(4, downloads=1000, downloadsAllTime=1000, likes=1000, trendingScore=1000,
              tags=["transformers", "safetensors", "text-classification", "license:apache-2.0", "arxiv:1810.04805"],
              childrenModelCount={"finetune": 5, "adapter": 0, "quantized": 0, "merge": 0}),
    ])
    derive(db)
    return db


def test_signals_match_hand_computed_values(tiny):
    s = _scores(tiny)
    m4, m2 = s["org/model-4"], s["org/model-2"]
    # adoption: a log scale within the task. Each input's anchor is the task's top value (1000 for
    # every input here) or the input's floor, whichever is larger, rounded up to a quarter decade
    # (steps of ln(10)/4 in log1p space). Downloads (floor 1e6): anchor ln(1e6) = 13.816, so 1000
    # downloads score 100 * ln(1001) / 13.816 = 50.01. Likes (floor 1000) and trending (floor 100):
    # ln(1001) = 6.909 is 12.002 steps, rounded up to 13 steps = 7.483: 92.32. All-time (floor 1e7):
    # 16.118 -> 42.86. Family downloads (no copies: its own) as downloads: 50.01.
    step = math.log(10) / 4
    x = math.log1p(1000)
    dl, at, lk = 100 * x / math.log(1e6), 100 * x / math.log(1e7), 100 * x / (13 * step)
    assert (m4["pt_downloads_30d"], m4["pt_downloads_all_time"], m4["pt_likes"], m4["pt_trending"]) == (
        round(dl, 2), round(at, 2), round(lk, 2), round(lk, 2)) == (50.01, 42.86, 92.32, 92.32)
    assert m4["pt_family_downloads_30d"] == 50.01 and m4["family_downloads_30d"] == 1000
    assert m4["p_growth_7d"] is None  # no history yet: growth drops out, the weights rescale
    w = {"dl": 0.35, "at": 0.20, "lk": 0.20, "tr": 0.10, "fam": 0.10}
    expected = (w["dl"] * dl + w["at"] * at + w["lk"] * lk + w["tr"] * lk + w["fam"] * dl) / sum(w.values())
    assert m4["adoption"] == pytest.approx(round(expected, 2), abs=0.011)
    # 10 downloads against 1000: 100x apart is two decades, a gap the scale keeps (not 37.5 vs 87.5
    # percentiles that say nothing of its size)
    assert m2["pt_downloads_30d"] == round(100 * math.log1p(10) / math.log(1e6), 2) == 17.36
    assert [s[f"org/model-{n}"]["adoption"] for n in (1, 2, 3, 4)] == sorted(
        s[f"org/model-{n}"]["adoption"] for n in (1, 2, 3, 4)) and s["org/model-1"]["adoption"] == 0.0
    # quality: no benchmark results at all, so quality is unknown (not low, not the card's care);
    # documentation alone: no card read yet, so the card is unknown and drops out: apache-2.0
    # recognised (0.02) + safetensors (0.02) of 0.06 = 66.67; with a paper (+0.02) 100
    assert m2["quality"] is None and m4["quality"] is None and m4["q_evaluations"] is None
    assert m2["q_card"] is None and m2["documentation"] == 66.67 and m4["documentation"] == 100.0
    # ecosystem: 5 finetunes on the log scale (floor 1000: ln(1000) is exactly 12 steps) ->
    # ln(6) / ln(1000) = 0.2594 at weight 0.20; library (0.05); one format of three (0.05 / 3)
    fin = math.log1p(5) / math.log(1000)
    assert m4["e_finetunes"] == round(fin, 4) == 0.2594
    assert m4["ecosystem"] == round(100 * (0.20 * fin + 0.05 + 0.05 / 3), 2) == 11.85
    assert m2["ecosystem"] == round(100 * (0.05 + 0.05 / 3), 2) == 6.67
    # pricing: apache-2.0, not gated, no hosted inference: free open weights, 100
    assert m4["pricing_class"] == "free open weights" and m4["pricing"] == 100.0
    # rank: weights 0.30 adoption, 0.40 quality, 0.15 ecosystem, 0.10 pricing, 0.05 match; quality and
    # match are unknown, so they add nothing and the known three (0.55 of 1.00) are rescaled to sum to 1
    share = round(0.55 / 1.00, 4)  # stored to 4 places, and divided by as stored
    known = {k: v / 1.00 / share for k, v in {"adoption": 0.30, "ecosystem": 0.15, "pricing": 0.10}.items()}
    expected = sum(round(known[k] * m4[k], 2) for k in known)
    assert m4["match"] is None and m4["rank"] == pytest.approx(expected, abs=0.005)
    assert m4["rank_known_weight"] == round(0.55 / 1.00, 4)
    assert m4["licence"] == "apache-2.0" and m4["licence_family"] == "permissive" and m4["commercial_use"] == "yes"


def test_rank_explanation_adds_up_and_is_byte_identical(tiny, tmp_path):
    runner = CliRunner()
    db_path = tiny.conn.execute("PRAGMA database_list").fetchone()[2]
    first = runner.invoke(main, ["rank", "org/model-4", "--db", db_path, "--json"])
    assert first.exit_code == 0, first.output
    e = json.loads(first.output)
    assert round(sum(s["contribution"] for s in e["signals"]), 2) == e["rank"]
    assert {s["signal"] for s in e["signals"]} == {"adoption", "quality", "ecosystem", "pricing", "match"}
    match = next(s for s in e["signals"] if s["signal"] == "match")
    assert match["score"] is None and match["contribution"] == 0 and "no match graph yet" in match["inputs"][0]["note"]
    text = runner.invoke(main, ["rank", "org/model-4", "--db", db_path])
    assert "rank = sum of contributions" in text.output and f"{e['rank']:.2f}" in text.output
    derive(tiny, everything=True)  # same inputs, recomputed from scratch
    again = runner.invoke(main, ["rank", "org/model-4", "--db", db_path, "--json"])
    assert again.output == first.output
    top = runner.invoke(main, ["top", "--db", db_path, "--limit", "2"])
    assert top.exit_code == 0 and top.output.index("org/model-4") < top.output.index("org/model-3")


def test_history_records_only_models_whose_signals_moved(tiny, monkeypatch):
    conn = tiny.conn
    assert conn.execute("SELECT count(*) FROM signals_history").fetchone()[0] == 4  # first scored
    monkeypatch.setenv("HUBDEX_DAY", "2024-10-06")
    # model 3 becomes gated (pricing -10 points); nobody's downloads, likes or trending move, so no
    # other model's signals move
    _store(tiny, [_item(3, downloads=100, downloadsAllTime=100, likes=100, trendingScore=100, gated="manual")],
           day=DAY + 1)
    result = derive(tiny)
    assert result.rebuilt == 1 and result.reasons.get("metadata") == 1
    ids = [r[0] for r in conn.execute("SELECT m.id FROM signals_history h JOIN models m ON m.key = h.model_key "
                                      "WHERE h.day = ? ORDER BY m.id", (DAY + 1,))]
    assert ids == ["org/model-3"]
    assert result.history_rows == 1 and result.scores_written >= 1
    # a rerun the same day with nothing changed adds nothing and rebuilds nothing
    before = conn.execute("SELECT count(*) FROM signals_history").fetchone()[0]
    again = derive(tiny)
    assert again.rebuilt == 0 and conn.execute("SELECT count(*) FROM signals_history").fetchone()[0] == before


def _dump(db):
    return (db.conn.execute("SELECT * FROM model_capabilities ORDER BY 1, 2, 3").fetchall(),
            db.conn.execute("SELECT * FROM capability_summary ORDER BY model_key").fetchall(),
            db.conn.execute("SELECT * FROM model_scores ORDER BY model_key").fetchall())


def test_derive_all_and_incremental_give_the_same_rows(tiny):
    # after the first derive (tiny's), change one model's metadata and add one: the incremental
    # derive rebuilds just those two, and must leave the same rows as a rebuild of everything
    _store(tiny, [_item(2, downloads=10, downloadsAllTime=10, likes=10, trendingScore=10,
                        tags=["transformers", "gguf", "text-classification", "license:mit", "dataset:squad"],
                        cardData={"license": "mit"}),
                  _item(7, downloads=55, downloadsAllTime=60, likes=3, trendingScore=1)])
    inc = derive(tiny)
    assert (inc.rebuilt, inc.rebuilt_all) == (2, False)
    assert inc.reasons.get("new") == 1 and inc.reasons.get("metadata") == 1
    incremental = _dump(tiny)
    assert any(r[1] == "training data" and r[2] == "squad" for r in incremental[0])  # the change is in
    full = derive(tiny, everything=True)
    assert full.rebuilt_all and full.rebuilt == 5
    assert _dump(tiny) == incremental
    assert full.scores_written == 0  # same values: no score row rewritten


def test_a_derive_with_nothing_changed_writes_no_score_row(tiny):
    """The scores step, on the derive's own connection: total_changes() does not move."""
    from hubdex.derive import scores, signals
    from hubdex.store.runs import open_run

    conn = tiny.conn
    # through the whole derive job: nothing changed since tiny's derive, so no score row is written
    again = derive(tiny)
    assert again.scores_written == 0 and again.inputs_changed == 0
    assert conn.execute("SELECT count(*) FROM model_changes WHERE reason = 'scores' AND run_id = "
                        "(SELECT max(id) FROM runs)").fetchone()[0] == 0
    weights = load_weights()
    with tiny.atomic():
        run_id = open_run(conn, "derive", "", "", {}, Clock().now())
        out = signals.compute(conn, signals.gather(conn, DAY, weights), weights)
        out["weights_id"] = np.full(len(out["model_key"]), signals.weights_id(weights), dtype=object)
        before = conn.total_changes
        assert scores.write_scores(conn, out, run_id) == (0, 0)
        assert conn.total_changes == before
        # one value moved: exactly one row written, and recorded as a change
        out["quality"].units[1] += 100  # one point more (a fixed-point column of hundredths)
        assert scores.write_scores(conn, out, run_id) == (1, 0)
        assert conn.total_changes == before + 2  # the row, and its model_changes row
    # the next derive puts that row back as the inputs say, and only that row
    assert derive(tiny).scores_written == 1


def test_a_derive_after_a_metrics_crawl_records_which_models_changed(crawled, monkeypatch):
    monkeypatch.setenv("HUBDEX_DAY", "2026-11-30")
    server, db = crawled("synthetic:2000", seed=3)
    first = derive(db)
    assert first.rebuilt_all and first.reasons["new"] == first.models
    moved = control(server, "POST", "scenario", json.dumps({"seed": 5, "metrics": 37}).encode())["metrics_changed"]
    monkeypatch.setenv("HUBDEX_DAY", "2026-12-01")
    assert crawl(db, server.url, mode="metrics").ok
    second = derive(db)
    conn = open_db(str(db)).conn
    run_id = conn.execute("SELECT max(id) FROM runs WHERE mode = 'derive'").fetchone()[0]
    changed = {r[0] for r in conn.execute("SELECT model_id FROM model_changes_by_id WHERE run_id = ? AND "
                                          "reason = 'metrics'", (run_id,))}
    assert changed == set(moved) and len(changed) == 37
    assert second.rebuilt == 0 and not second.rebuilt_all  # figures moved; no capability to rebuild
    assert conn.execute("SELECT count(*) FROM model_changes WHERE run_id = ? AND reason NOT IN ('metrics', 'scores')",
                        (run_id,)).fetchone()[0] == 0
    # the run is logged like a crawl's, with its figures beside it
    row = conn.execute("SELECT r.mode, r.status, d.inputs_changed, d.scores_written FROM runs r "
                       "JOIN derive_runs d ON d.run_id = r.id WHERE r.id = ?", (run_id,)).fetchone()
    assert row[:3] == ("derive", "completed", 37) and row[3] == second.scores_written > 0


# -- orderings that must hold, on the replica's synthetic catalogue -------------------------------------
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from hubdex.replica.server import start_replica

    server = start_replica("synthetic:3000", quotas={"api": 10**9, "resolvers": 10**9})
    path = tmp_path_factory.mktemp("derive") / "hub.db"
    assert crawl(path, server.url, mode="full", progress=False).code == EXIT_OK
    server.stop()
    db = open_db(str(path))
    # Twins of a crawled model, differing in one input each: the orderings below must hold whatever
    # the rest of the catalogue looks like.
    key, raw, task, library = db.conn.execute("SELECT key, raw, pipeline_tag, library_name FROM models WHERE "
                                              "downloads > 0 AND library_name IS NOT NULL ORDER BY key LIMIT 1").fetchone()
    base = json.loads(raw)  # raw keeps what no column or child table holds: those are put back
    base.update(pipeline_tag=task, library_name=library,
                tags=[t for (t,) in db.conn.execute("SELECT tag FROM model_tags WHERE model_key = ?", (key,))],
                siblings=[{"rfilename": f} for (f,) in db.conn.execute("SELECT path FROM model_files WHERE model_key = ?",
                                                                       (key,))])
    base.update(gated=False, childrenModelCount={"finetune": 0, "adapter": 0, "quantized": 0, "merge": 0},
                tags=[t for t in base["tags"] if not t.startswith("license:")] + ["license:apache-2.0"],
                cardData={"license": "apache-2.0"}, downloads=1000)

    def twin(n, **over):
        return {**base, "_id": f"ffff{n:020x}", "id": f"twins/model-{n}", **over}

    _store(db, [twin(1), twin(2, downloads=100_000),
                twin(3, gated="manual", tags=base["tags"][:-1] + ["license:cc-by-nc-4.0"],
                     cardData={"license": "cc-by-nc-4.0"}),
                twin(4, childrenModelCount={"finetune": 400, "adapter": 20, "quantized": 60, "merge": 5})])
    derive(db)
    yield db


def test_a_hundred_times_the_downloads_means_higher_adoption(synthetic):
    s = _scores(synthetic)
    assert s["twins/model-2"]["adoption"] > s["twins/model-1"]["adoption"]
    assert s["twins/model-2"]["rank"] > s["twins/model-1"]["rank"]
    for k in ("quality", "ecosystem", "pricing"):
        assert s["twins/model-2"][k] == s["twins/model-1"][k]


def test_gated_non_commercial_prices_below_apache(synthetic):
    s = _scores(synthetic)
    nc, apache = s["twins/model-3"], s["twins/model-1"]
    assert nc["pricing_class"] == "free with conditions" and nc["licence_family"] == "non-commercial"
    assert apache["licence"] == "apache-2.0" and apache["pricing_class"] in (
        "free open weights", "open weights plus paid hosted inference")
    assert nc["pricing"] < apache["pricing"]


def test_many_finetunes_lead_on_ecosystem(synthetic):
    s = _scores(synthetic)
    assert s["twins/model-4"]["ecosystem"] > s["twins/model-1"]["ecosystem"]
    assert s["twins/model-4"]["e_finetunes"] > 0.8  # 400 finetunes: ln(401) / ln(1000) on the log scale


def test_signals_are_within_bounds_and_classes_known(synthetic):
    conn = synthetic.conn
    n = conn.execute("SELECT count(*) FROM models WHERE removed_at IS NULL").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM model_scores").fetchone()[0] == n
    for s in ("adoption", "quality", "ecosystem", "pricing", "rank", "documentation"):
        lo, hi = conn.execute(f"SELECT min({s}), max({s}) FROM model_scores").fetchone()
        assert (lo is None and s in ("quality", "pricing")) or 0 <= lo <= hi <= 100, s
    # quality is known exactly where benchmark evidence placed the model, unknown elsewhere (never 0)
    assert conn.execute("SELECT count(*) FROM model_scores WHERE (quality IS NULL) != (q_evaluations IS NULL)"
                        ).fetchone()[0] == 0
    # the match signal: known (0-100) exactly for the models in the match graph (Spaces and benchmarks
    # are evidence even without a search crawl), unknown for every other model, never 0 for want of evidence
    in_graph = conn.execute("SELECT count(*) FROM match_scores").fetchone()[0]
    assert 0 < in_graph < n
    assert conn.execute("SELECT count(*) FROM model_scores WHERE match IS NOT NULL").fetchone()[0] == in_graph
    lo, hi = conn.execute("SELECT min(match), max(match) FROM model_scores").fetchone()
    assert 0 < lo <= hi <= 100
    classes = {r[0] for r in conn.execute("SELECT DISTINCT pricing_class FROM model_scores")}
    assert classes <= {"free open weights", "open weights plus paid hosted inference", "free with conditions",
                       "paid API only", "unknown"} and len(classes) >= 3
    # the capability count is the distinct (capability, detail) pairs of card and metadata rows
    key, count = conn.execute("SELECT model_key, capabilities_count FROM model_scores ORDER BY "
                              "capabilities_count DESC, model_key LIMIT 1").fetchone()
    distinct = conn.execute("SELECT count(*) FROM (SELECT capability, detail FROM model_capabilities WHERE model_key = ? "
                            "UNION SELECT capability, detail FROM capabilities WHERE model_key = ?)",
                            (key, key)).fetchone()[0]
    assert count == distinct > 5


# -- the real recorded models -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from hubdex.replica.server import start_replica

    server = start_replica("recorded", quotas={"api": 10**9, "resolvers": 10**9})
    path = tmp_path_factory.mktemp("recorded") / "hub.db"
    assert crawl(path, server.url, mode="full", progress=False).code == EXIT_OK
    assert crawl(path, server.url, mode="cards", progress=False).code == EXIT_OK
    offered = json.loads(__import__("requests").get(f"{server.url}/router/v1/models", timeout=10).content)
    server.stop()
    db = open_db(str(path))
    result = derive(db)
    yield db, result, offered


def test_every_recorded_licence_is_classified(recorded):
    db, result, _ = recorded
    assert result.unknown_licences == []
    vias = dict(db.conn.execute("SELECT licence_via, count(*) FROM model_scores GROUP BY 1").fetchall())
    assert set(vias) <= {"id", "license_name", "license_link", "missing"}, vias
    # a model with a licence has it classified; one without says so
    missing = db.conn.execute("SELECT count(*) FROM model_scores s JOIN models m ON m.key = s.model_key "
                              "WHERE s.licence_via = 'missing' AND m.license IS NOT NULL").fetchone()[0]
    assert missing == 0


def test_router_prices_are_stored_as_served(recorded):
    db, _, offered = recorded
    served = sorted((i["id"], p["provider"], (p.get("pricing") or {}).get("input"), (p.get("pricing") or {}).get("output"))
                    for i in offered["data"] for p in i["providers"])
    stored = sorted(db.conn.execute("SELECT model_id, provider, input_usd_per_m, output_usd_per_m FROM router_prices"))
    assert stored == served and stored
    cheapest = db.conn.execute("SELECT s.cheapest_provider, s.cheapest_input_usd_per_m, s.cheapest_output_usd_per_m "
                               "FROM model_scores s JOIN models m ON m.key = s.model_key "
                               "WHERE m.id = 'meta-llama/Llama-3.1-8B-Instruct'").fetchone()
    priced = [(i + o, p, i, o) for mid, p, i, o in served if mid == "meta-llama/Llama-3.1-8B-Instruct" and i is not None]
    assert cheapest == min(priced)[1:]


def test_recorded_metadata_capabilities_have_evidence(recorded):
    db, _, _ = recorded
    caps = {(c, d): src for c, d, src in db.conn.execute(
        "SELECT capability, detail, evidence_source FROM all_capabilities "
        "WHERE model_id = 'meta-llama/Llama-3.1-8B-Instruct' AND origin = 'metadata'")}
    assert caps[("task", "text-generation")] == "pipeline_tag"
    assert caps[("architecture", "LlamaForCausalLM")] == "config.architectures"
    assert caps[("parameters", "8.03B")] == "safetensors.total"
    assert caps[("weights memory", "16.1 GB (BF16)")] == "safetensors.parameters"  # 8,030,261,248 x 2 bytes
    assert caps[("licence terms", "llama3.1: community, commercial use conditional")] == "license"
    assert caps[("access", "gated (manual approval)")] == "gated"
    assert caps[("language", "de")] == "tags" and caps[("paper", "arxiv:2204.05149")] == "tags"
    assert ("weight format", "safetensors") in caps and any(c == "inference provider" for c, _ in caps)


def test_recorded_rank_ordering_is_sensible(recorded):
    db, _, _ = recorded
    s = {r[0]: r[1:] for r in db.conn.execute(
        "SELECT m.id, s.rank, s.pricing, s.adoption FROM model_scores s JOIN models m ON m.key = s.model_key")}
    # the most used open models outrank an obscure 2021 translation model
    for famous in ("google-bert/bert-base-uncased", "openai-community/gpt2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert s[famous][0] > s["Ogayo/Hel-ach-en"][0]
    # a community licence behind a gate prices below apache-2.0 open weights
    assert s["meta-llama/Llama-3.1-8B-Instruct"][1] < s["google-bert/bert-base-uncased"][1]
    # adoption follows downloads between two otherwise comparable BERTs
    top10 = [r[0] for r in db.conn.execute("SELECT m.id FROM model_scores s JOIN models m ON m.key = s.model_key "
                                           "ORDER BY s.rank DESC, m.id LIMIT 10")]
    assert "google-bert/bert-base-uncased" in top10


# -- mistakes get one line ----------------------------------------------------------------------------
def test_user_mistakes_get_one_clear_line(tiny, tmp_path):
    runner = CliRunner()
    db_path = tiny.conn.execute("PRAGMA database_list").fetchone()[2]
    r = runner.invoke(main, ["rank", "nobody/nothing", "--db", db_path])
    assert r.exit_code == 1 and r.output.strip() == "Error: unknown model: nobody/nothing"
    r = runner.invoke(main, ["derive", "--db", str(tmp_path / "absent.db")])
    assert r.exit_code == 1 and "no database at" in r.output and "Traceback" not in r.output
    bad = tmp_path / "w.toml"
    bad.write_text("[rank]\nadoption = -1\n")
    r = runner.invoke(main, ["derive", "--db", db_path, "--weights", str(bad)])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "weights" in r.output  # a usage error
    empty = open_db(str(tmp_path / "empty.db"))
    assert derive(empty).models == 0
    r = runner.invoke(main, ["top", "--db", str(tmp_path / "empty.db")])
    assert r.exit_code == 1 and r.output.strip() == "Error: nothing ranked yet: crawl, then run `hubdex derive`"
    r = runner.invoke(main, ["top", "--db", db_path, "--task", "no-such-task"])
    assert r.exit_code == 1 and "no ranked model" in r.output


SHIPPED_WEIGHTS_TEXT = resources.files("hubdex").joinpath("data/weights.toml").read_text(encoding="utf-8")


def test_weights_live_in_a_file_and_are_stored_with_results(tiny, tmp_path):
    w = tmp_path / "w.toml"
    shipped = load_weights()
    assert "adoption = 0.30\n" in SHIPPED_WEIGHTS_TEXT
    w.write_text(SHIPPED_WEIGHTS_TEXT.replace("adoption = 0.30", "adoption = 0.9"))
    result = derive(tiny, weights_path=str(w))
    stored = json.loads(tiny.conn.execute("SELECT weights FROM rank_weights WHERE id = ?",
                                          (result.weights_id,)).fetchone()[0])
    assert stored["rank"]["adoption"] > shipped["rank"]["adoption"]
    ids = {r[0] for r in tiny.conn.execute("SELECT DISTINCT weights_id FROM model_scores")}
    assert ids == {result.weights_id}


def test_a_router_that_fails_leaves_the_crawl_complete(replica_factory, tmp_path):
    server = replica_factory("demo")
    db = tmp_path / "hub.db"
    out = crawl(db, server.url, mode="full", progress=False, router="http://127.0.0.1:9", max_retries=1,
              backoff=0)
    assert out.code == EXIT_OK and "prices not refreshed" in out.summary
    conn = open_db(str(db)).conn
    assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == control(server, "GET", "state")["models"]
    assert conn.execute("SELECT count(*) FROM router_prices").fetchone()[0] == 0
    assert "prices not refreshed" in conn.execute("SELECT reason FROM runs").fetchone()[0]
    # --prices alone against the replica's router: stored, and a failing one is a clean stop (exit 4)
    assert crawl(db, server.url, mode="prices", progress=False).code == EXIT_OK
    assert conn.execute("SELECT count(*) FROM router_prices").fetchone()[0] > 0
    bad = crawl(db, server.url, mode="prices", progress=False, router="http://127.0.0.1:9", max_retries=0)
    assert bad.code == 4 and "gave up" in bad.summary


def test_a_licence_not_in_the_catalogue_is_kept_and_reported(tiny):
    _store(tiny, [_item(9, tags=["transformers", "license:made-up-1.0"], cardData={"license": "made-up-1.0"})])
    result = derive(tiny)
    assert result.unknown_licences == [("made-up-1.0", 1)]
    assert "made-up-1.0 (1)" in result.summary()
    row = _scores(tiny)["org/model-9"]
    assert (row["licence"], row["licence_family"], row["licence_via"], row["pricing_class"]) == (
        "made-up-1.0", "unknown", "unrecognised", "unknown")


def test_weights_files_that_would_break_the_rank_are_refused(tmp_path):
    """Finite, non-negative, one positive per table; every refusal names the file and the key."""
    good = SHIPPED_WEIGHTS_TEXT
    assert "adoption = 0.30\n" in good
    cases = {"inf": (good.replace("adoption = 0.30", "adoption = inf"), "[rank] adoption = inf"),
             "nan": (good.replace("adoption = 0.30", "adoption = nan"), "[rank] adoption = nan"),
             "huge": (good.replace("adoption = 0.30", "adoption = 1e300"), "[rank] adoption = 1e+300"),
             "missing": (good.replace("adoption = 0.30\n", ""), "[rank] has no adoption")}
    for label, (text, says) in cases.items():
        path = tmp_path / f"{label}.toml"
        path.write_text(text)
        with pytest.raises(ValueError) as e:
            load_weights(str(path))
        assert str(path) in str(e.value) and says in str(e.value), (label, str(e.value))
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\x9e\x00\xff")
    with pytest.raises(ValueError, match="bin.toml: not UTF-8 text"):
        load_weights(str(binary))
    with pytest.raises(ValueError, match="absent.toml: no such file"):
        load_weights(str(tmp_path / "absent.toml"))


def test_wording_long_ids_same_day_reruns_a_busy_database_and_missing_weights(tiny, tmp_path):
    """Issue 17.13: `top` columns hold long ids; a same-day derive that moved nothing does not say
    rows moved; a crawl blocked by a derive is told a derive holds the database; a missing weights
    key is named as missing."""
    from hubdex.store.lockfile import WriterLock

    runner = CliRunner()
    db_path = tiny.conn.execute("PRAGMA database_list").fetchone()[2]
    long_id = "an-organisation-with-a-long-name/" + "a-model-name-that-runs-on-" * 2 + "and-on"
    _store(tiny, [_item(9, id=long_id, downloads=1000, downloadsAllTime=1000, likes=50, trendingScore=9,
                        pipeline_tag="automatic-speech-recognition")])
    first = derive(tiny)  # the same day as the fixture's derive: the new model moved others' percentiles
    assert f"{first.history_moved} history rows moved since today's earlier derive (5 for today)" in first.summary()
    assert first.history_moved >= 1
    lines = runner.invoke(main, ["top", "--db", db_path]).output.split("\n\n")[0].splitlines()  # the table
    assert any(long_id in line for line in lines[1:])
    starts = {line.index(" " + word) for line, word in zip(lines, ["model"] + [r.split()[6] for r in lines[1:]])}
    assert len(starts) == 1  # the model column starts at the same place on every line
    ends = {len(line.rsplit("  ", 1)[0]) for line in lines}  # and so does the last column
    assert len(ends) == 1, lines
    again = runner.invoke(main, ["derive", "--db", db_path])
    assert again.exit_code == 0
    assert "0 history rows moved since today's earlier derive (5 for today)" in again.output, again.output
    assert "5 history rows (moved)" not in again.output
    with WriterLock(db_path, "derive"):
        busy = runner.invoke(main, ["crawl", "--db", db_path, "--endpoint", "http://127.0.0.1:9"])
    assert busy.exit_code == 3 and "derive" in busy.output and "crawl is already running" not in busy.output
    assert busy.output.startswith("Error: another job is writing to") and busy.output.count("\n") == 1
    shipped = load_weights()
    text = "\n".join(f"[{t}]\n" + "\n".join(f"{k} = {v}" for k, v in vals.items() if k != "likes")
                     for t, vals in shipped.items())
    (tmp_path / "w.toml").write_text(text)
    r = runner.invoke(main, ["derive", "--db", db_path, "--weights", str(tmp_path / "w.toml")])
    assert r.exit_code == 2 and "[adoption] has no likes" in r.output and "number" not in r.output


def test_a_weights_file_from_before_the_match_graph_takes_the_shipped_match_kinds(tmp_path):
    older = tmp_path / "old.toml"
    older.write_text(SHIPPED_WEIGHTS_TEXT.split("\n[match]")[0])
    assert "[match]" not in older.read_text()
    assert load_weights(str(older))["match"] == load_weights()["match"]
    # a file of the first match graph (sibling and size kinds, no spaces): the retired kinds are
    # ignored, spaces takes the shipped weight
    first = tmp_path / "first.toml"
    first.write_text(SHIPPED_WEIGHTS_TEXT.split("\n[match]")[0] + "\n[match]\nsearch = 0.25\nbenchmark = 0.30\n"
                     "card_table = 0.30\nsibling = 0.10\nsize = 0.05\n")
    assert set(load_weights(str(first))["match"]) == {"search", "benchmark", "card_table", "spaces"}
    bad = tmp_path / "bad.toml"
    head, match_table = SHIPPED_WEIGHTS_TEXT.split("\n[match]")
    bad.write_text(head + "\n[match]" + match_table.replace("spaces = 0.20", "spaces = -1"))
    with pytest.raises(ValueError, match=r"\[match\] spaces = -1"):
        load_weights(str(bad))
