"""Issue 22, items 1-4: the evidence crawled over HTTP from the replica (real results of real models),
quality measured on benchmarks, adoption on a log scale, and unknown kept unknown in the rank."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from hubdex.cli import main

from .conftest import UNLIMITED, crawl, derive
from .test_derive import _item, _scores, _store, open_db

NAMED = [("openai/whisper-large-v3", "facebook/wav2vec2-large-960h-lv60-self"),
         ("meta-llama/Llama-3.3-70B-Instruct", "openai-community/gpt2"),
         ("BAAI/bge-large-en-v1.5", "sentence-transformers/all-MiniLM-L6-v2")]


@pytest.fixture(scope="module")
def evidence_db(tmp_path_factory):
    """The demo catalogue crawled through the real client: a full pass, then `crawl --evidence`, then derive."""
    from hubdex.replica.server import start_replica

    server = start_replica("demo", quotas=UNLIMITED)
    db = tmp_path_factory.mktemp("evidence") / "hub.db"
    try:
        assert crawl(db, server.url, mode="full", details=False).ok
        first = crawl(db, server.url, mode="evidence", evidence_budget=400, spaces_models=40)
        assert first.ok, first.summary
        again = crawl(db, server.url, mode="evidence", evidence_budget=400, spaces_models=40)
        assert again.ok, again.summary
    finally:
        server.stop()
    derive(db)
    return db, first, again


def _conn(db):
    return sqlite3.connect(db)


# -- 1. the crawl ---------------------------------------------------------------------------------------
def test_evidence_is_crawled_with_its_kind_config_source_and_date(evidence_db):
    db, first, again = evidence_db
    conn = _conn(db)
    origins = dict(conn.execute("SELECT origin, count(*) FROM eval_results GROUP BY origin"))
    # evaluation results came with the listing (expand=evalResults), leaderboards from their endpoint
    assert origins.get("evalResults", 0) > 1000 and origins.get("leaderboard", 0) > 1000
    # every result names its benchmark, its kind and its source
    assert conn.execute("SELECT count(*) FROM eval_results WHERE dataset_id IS NULL OR kind NOT IN "
                        "('verified', 'third-party', 'claim')").fetchone()[0] == 0
    row = conn.execute("""SELECT task_id, kind, source_name, date FROM eval_results WHERE model_id =
        'openai/whisper-large-v3' AND origin = 'evalResults' AND dataset_id = 'openslr/librispeech_asr'
        ORDER BY task_id""").fetchall()
    # LibriSpeech clean and other are two benchmarks under one dataset: the config (task id) is kept
    assert [r[0] for r in row] == ["librispeech/test.clean", "librispeech/test.other"]
    assert {r[1] for r in row} == {"third-party"} and all(r[2] and r[3] for r in row)
    # a figure a third party copied from the model card is still the author's claim
    assert conn.execute("SELECT count(*) FROM eval_results WHERE notes LIKE '%self-reported%' AND kind != 'claim'"
                        ).fetchone()[0] == 0
    # benchmarks listed, each leaderboard read once a day, its direction known (WER: lower is better)
    assert conn.execute("SELECT count(*) FROM benchmarks WHERE leaderboard_status = 'ok'").fetchone()[0] >= 20
    assert conn.execute("SELECT lower_is_better FROM benchmarks WHERE dataset_id = 'openslr/librispeech_asr'"
                        ).fetchone()[0] == 1
    assert conn.execute("SELECT lower_is_better FROM benchmarks WHERE dataset_id = 'TIGER-Lab/MMLU-Pro'"
                        ).fetchone()[0] == 0
    # Spaces that load several models, as the Hub lists them by model
    assert conn.execute("SELECT count(*) FROM (SELECT space_id FROM space_models GROUP BY space_id "
                        "HAVING count(*) >= 2)").fetchone()[0] >= 5
    # the second run the same day has nothing due: it reads no leaderboard again, asks for no Space again
    assert "0 leaderboards read" in again.summary and "0 models' Spaces" in again.summary, again.summary
    assert json.loads(conn.execute("SELECT value FROM crawl_state WHERE key = 'evidence.requests'").fetchone()[0]
                      )["requests"] <= 400


# -- 2. quality from evidence ---------------------------------------------------------------------------
def _ranks(a):
    a = np.asarray(a, dtype=float)
    r = np.empty(len(a))
    r[a.argsort(kind="stable")] = np.arange(len(a))
    for v in np.unique(a):
        r[a == v] = r[a == v].mean()
    return r


def spearman_by_task(conn, min_benchmarks: int = 3, min_models: int = 5) -> dict:
    """Per task: the Spearman correlation between hubdex's quality and the leaderboards' own order,
    over the models that share the `k` benchmarks most models of the task are on (every k from
    `min_benchmarks` while at least `min_models` share them): the leaderboards' order is each model's
    mean place on those leaderboards (their stored `rank`), among those models. The worst k counts."""
    rows = conn.execute("""SELECT m.id, coalesce(m.pipeline_tag, ''), e.dataset_id, coalesce(e.task_id, ''), e.rank,
        s.quality FROM eval_results e JOIN models m ON m.key = e.model_key JOIN model_scores s ON s.model_key = m.key
        WHERE e.origin = 'leaderboard' AND e.rank IS NOT NULL""").fetchall()
    by_task: dict = {}
    for mid, task, ds, t, rank, q in rows:
        by_task.setdefault(task, {}).setdefault((ds, t), {})[mid] = (rank, q)
    out = {}
    for task, boards in by_task.items():
        order = sorted(boards, key=lambda b: (-len(boards[b]), b))
        for k in range(min_benchmarks, len(order) + 1):
            models = sorted(set.intersection(*(set(boards[b]) for b in order[:k])))
            if len(models) < min_models:
                break
            place = [np.mean([sorted(boards[b][x][0] for x in models).index(boards[b][m][0]) for b in order[:k]])
                     for m in models]
            quality = [boards[order[0]][m][1] for m in models]
            assert None not in quality, f"{task}: a model with leaderboard results has quality unknown"
            rho = float(np.corrcoef(_ranks([-p for p in place]), _ranks(quality))[0, 1])
            if task not in out or rho < out[task][0]:
                out[task] = rho, len(models)
    return out


def test_quality_order_agrees_with_the_leaderboards_within_each_task(evidence_db):
    db, _first, _again = evidence_db
    found = spearman_by_task(_conn(db))
    assert len(found) >= 4, found  # text generation, embeddings, ASR, ImageNet, CLIP
    for task, (rho, n) in found.items():
        assert rho >= 0.8, (task, rho, n)


@pytest.mark.parametrize("better,worse", NAMED)
def test_known_models_stand_in_the_right_order_on_quality(evidence_db, better, worse):
    db, _first, _again = evidence_db
    q = dict(_conn(db).execute("SELECT m.id, s.quality FROM models m JOIN model_scores s ON s.model_key = m.key "
                               "WHERE m.id IN (?, ?)", (better, worse)))
    assert q[better] is not None and q[worse] is not None, q  # both have results in the corpus
    assert q[better] > q[worse], q


def test_a_model_without_evidence_has_quality_unknown_not_low(evidence_db):
    db, _first, _again = evidence_db
    conn = _conn(db)
    none = conn.execute("""SELECT count(*), sum(s.quality IS NULL), sum(s.documentation IS NOT NULL) FROM models m
        JOIN model_scores s ON s.model_key = m.key WHERE NOT EXISTS (SELECT 1 FROM eval_results e
        WHERE e.model_key = m.key)""").fetchone()
    assert none[0] > 1000 and none[1] == none[0] and none[2] == none[0]
    out = CliRunner().invoke(main, ["rank", "google-bert/bert-base-uncased", "--db", str(db)])
    assert "quality unknown, adds nothing" in out.output and "unknown: quality" in out.output


def test_rank_names_the_benchmarks_and_sources(evidence_db):
    db, _first, _again = evidence_db
    out = CliRunner().invoke(main, ["rank", "openai/whisper-large-v3", "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "Open ASR Leaderboard" in out.output and "librispeech/test.clean" in out.output, out.output
    assert "lower is better" in out.output and "third-party" in out.output


def test_a_derive_with_no_new_evidence_writes_no_score(evidence_db):
    db, _first, _again = evidence_db
    result = derive(db)
    assert result.scores_written == 0 and result.history_moved == 0


# -- 3. adoption that separates -------------------------------------------------------------------------
def test_adoption_separates_a_400x_gap_and_counts_copies_as_family(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBDEX_DAY", "2024-10-05")
    db = open_db(str(tmp_path / "hub.db"))
    _store(db, [_item(1, downloads=18_200_000, downloadsAllTime=400_000_000, likes=3000, trendingScore=50),
                _item(2, downloads=44_500, downloadsAllTime=1_000_000, likes=30, trendingScore=2),
                _item(3, id="other/model-1-GGUF", downloads=900_000, downloadsAllTime=2_000_000, likes=5,
                      tags=["gguf", "text-classification", "base_model:quantized:org/model-1"]),
                _item(4, downloads=10, downloadsAllTime=10, likes=0, pipeline_tag="image-classification",
                      tags=["image-classification"])])
    derive(db)
    s = _scores(db)
    big, small = s["org/model-1"], s["org/model-2"]
    # 400x is 2.6 decades: on the task's log scale that is a gap of ~35 points, not a tie at 97-100
    assert big["pt_downloads_30d"] - small["pt_downloads_30d"] > 30
    assert big["adoption"] - small["adoption"] > 25
    # the GGUF copy's downloads count toward its canonical model's family, shown apart
    assert big["family_downloads_30d"] == 18_200_000 + 900_000
    assert small["family_downloads_30d"] == 44_500
    # a model alone in its task is not at 100 for lack of rivals: the scale has a floor
    assert s["org/model-4"]["pt_downloads_30d"] < 25
    # adding an unrelated model in another task moves no one's adoption
    before = {k: v["adoption"] for k, v in s.items()}
    _store(db, [_item(9, downloads=5_000_000, downloadsAllTime=9_000_000, likes=10,
                      pipeline_tag="automatic-speech-recognition", tags=["automatic-speech-recognition"])])
    derive(db)
    after = _scores(db)
    assert {k: after[k]["adoption"] for k in before} == before


# -- 4. unknown is unknown everywhere in the rank --------------------------------------------------------
@pytest.fixture
def unknowns(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBDEX_DAY", "2024-10-05")
    db = open_db(str(tmp_path / "hub.db"))
    live = [{"provider": "together", "providerId": "x", "status": "live", "task": "text-generation"}]
    _store(db, [
        _item(1, downloads=1000, downloadsAllTime=1000, likes=10),
        # no licence, no library, a file list with a config but no weight file, served by a provider:
        # open weights can't be ruled out, so never "paid API only"
        _item(2, tags=["text-generation"], pipeline_tag="text-generation", library_name=None, cardData={},
              siblings=[{"rfilename": "README.md"}, {"rfilename": "config.json"}], inferenceProviderMapping=live),
        # no file list at all (a listing that did not carry it), served by a provider, no licence
        _item(3, tags=["text-generation"], pipeline_tag="text-generation", library_name=None, cardData={},
              siblings=None, inferenceProviderMapping=live),
        # only documentation in a file list that was read, no licence, no library, a provider: API only
        _item(4, tags=["text-generation"], pipeline_tag="text-generation", library_name=None, cardData={},
              siblings=[{"rfilename": "README.md"}, {"rfilename": ".gitattributes"}],
              inferenceProviderMapping=live),
        # a licence for the weights, but a file list without them: open weights
        _item(5, tags=["text-generation", "license:mit"], pipeline_tag="text-generation", library_name=None,
              cardData={"license": "mit"}, siblings=[{"rfilename": "README.md"}], inferenceProviderMapping=live),
        # no stated task, but results on a benchmark the text-classification models are on
        _item(6, tags=["license:apache-2.0"], pipeline_tag=None, downloads=50, downloadsAllTime=50),
        _item(7, downloads=50, downloadsAllTime=50), _item(8, downloads=60, downloadsAllTime=60),
    ])
    with db.atomic():
        for n, value in ((6, 0.91), (7, 0.80), (8, 0.85)):
            key = db.conn.execute("SELECT key FROM models WHERE id = ?", (f"org/model-{n}",)).fetchone()[0]
            db.conn.execute("""INSERT INTO eval_results (model_id, model_key, origin, dataset_id, task_id, split, metric,
                value, kind, fetched_at) VALUES (?, ?, 'model-index', 'glue', 'sst2', 'validation', 'accuracy', ?,
                'claim', '2024-10-05T00:00:00Z')""", (f"org/model-{n}", key, value))
    derive(db)
    return db


def test_unknown_match_adds_nothing_and_the_known_weights_are_rescaled(unknowns):
    s = _scores(unknowns)
    m = s["org/model-1"]  # no match graph, no evidence: match and quality unknown
    assert m["match"] is None and m["quality"] is None
    w = {"adoption": 0.35, "quality": 0.25, "ecosystem": 0.25, "pricing": 0.15, "match": 0.10}
    known = [k for k in w if m[k] is not None]
    share = round(sum(w[k] for k in known) / 1.10, 4)
    assert m["rank_known_weight"] == share < 1
    assert m["rank"] == pytest.approx(sum(round(w[k] / 1.10 / share * m[k], 2) for k in known), abs=0.011)
    out = CliRunner().invoke(main, ["rank", "org/model-1", "--db", unknowns.conn.execute(
        "PRAGMA database_list").fetchone()[2]])
    assert "unknown: quality, match" in out.output and "rescaled" in out.output


def test_unknown_pricing_is_unknown_not_30(unknowns):
    s = _scores(unknowns)
    # no licence: what the weights cost can't be told: unknown, adding nothing, never a score of 30
    m = s["org/model-2"]
    assert m["pricing_class"] == "unknown" and m["pricing"] is None
    assert m["rank_known_weight"] == round((0.35 + 0.25) / 1.10, 4)  # adoption and ecosystem only


def test_open_weights_are_never_paid_api_only_for_a_missing_file(unknowns):
    s = _scores(unknowns)
    assert s["org/model-2"]["pricing_class"] != "paid API only"  # a config: a checkpoint repo
    assert s["org/model-3"]["pricing_class"] != "paid API only"  # no file list read
    assert s["org/model-5"]["pricing_class"] == "open weights plus paid hosted inference"  # the MIT licence
    assert s["org/model-4"]["pricing_class"] == "paid API only"  # a read list of documentation alone


def test_a_model_with_no_stated_task_competes_on_evidence(unknowns):
    s = _scores(unknowns)
    # placed among the text-classification models on the same benchmark: the best of three
    assert s["org/model-6"]["quality"] is not None
    assert s["org/model-6"]["eval_standing"] == 1.0 and s["org/model-7"]["eval_standing"] == 0.0
    assert s["org/model-6"]["task_group"] == "task unknown"
    out = CliRunner().invoke(main, ["top", "--db", unknowns.conn.execute("PRAGMA database_list").fetchone()[2]])
    assert "task unknown" in out.output
