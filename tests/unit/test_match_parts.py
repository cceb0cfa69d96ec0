"""The match graph's parts on hand-made rows: folding copies, naming subjects, the gates (size, language,
family, task), the tiers of evidence, a signal that moves only with its own evidence, a rebuild that
writes nothing when nothing moved."""

from __future__ import annotations

import numpy as np
import pytest

from hubdex.derive import match, match_evidence
from hubdex.store.db import open_db


def _db(tmp_path, models, relations=()):
    db = open_db(str(tmp_path / "h.db"))
    for key, model_id, downloads, *more in models:
        task, params = (more + ["text-generation", None])[:2] if more else ("text-generation", None)
        db.conn.execute("INSERT INTO models (id, key, oid, raw, meta_hash, first_seen, downloads, pipeline_tag, params) "
                        "VALUES (?, ?, ?, '{}', '', '2026-01-01', ?, ?, ?)",
                        (model_id, key, f"oid{key}", downloads, task, params))
    db.conn.executemany("INSERT INTO model_relations VALUES (?, ?, ?)", relations)
    return db


def test_copies_fold_by_relation_and_by_format_name_into_the_most_downloaded_model_of_that_name(tmp_path):
    db = _db(tmp_path, [(1, "meta/Llama-3-8B", 100), (2, "someone/Llama-3-8B", 5), (3, "TheBloke/Llama-3-8B-GGUF", 50),
                        (4, "mlx-community/Llama-3-8B-4bit", 9), (5, "x/Llama-3-8B-AWQ-GGUF", 1),
                        (6, "y/Other-7B-GPTQ", 3), (7, "z/Llama-3-8B-Instruct", 40)],
             relations=[(5, "TheBloke/Llama-3-8B-GGUF", "quantized")])
    canon, rows = match.fold_copies(db.conn, match._models(db.conn))
    assert canon[3] == 1 and canon[4] == 1  # by name, onto the most downloaded "Llama-3-8B"
    assert canon[5] == 1                      # a copy of a copy folds through to the model itself
    assert canon[6] == 6 and canon[7] == 7 and canon[2] == 2  # no base of that name; a finetune is no copy
    assert {(r[0], r[1]) for r in rows} == {(3, 1), (4, 1), (5, 1)}
    assert dict((r[0], r[2]) for r in rows)[5] == "quantized from"


def test_subject_names_come_from_hub_links_or_plain_text():
    assert match_evidence.subject_name("[Llama 3](https://huggingface.co/meta-llama/Meta-Llama-3-8B)") == "meta-llama/Meta-Llama-3-8B"
    assert match_evidence.subject_name("**Mistral-7B**") == "Mistral-7B"
    assert match_evidence.subject_name("[ours](#results)") == "ours"


def test_a_pair_stored_the_other_way_swaps_its_sides():
    pairs = match._Pairs()
    pairs.add(9, 4, match.BENCHMARK, 1.0, 1, {"values": [0.9, 0.4], "table": "t"})
    assert (pairs.a, pairs.b) == ([4], [9]) and pairs.detail[0]["values"] == [0.4, 0.9]
    pairs.add(5, 5, match.SEARCH, 1.0, 1, {})
    assert len(pairs.a) == 1  # a model is never its own competitor


WEIGHTS = {"search": 0.15, "benchmark": 0.35, "card_table": 0.30, "spaces": 0.20}
LLM, BERT = "text-generation", "fill-mask"
MODELS = [(1, "meta-llama/Llama-3.1-8B-Instruct", 5_000_000, LLM, 8_030_000_000),
          (2, "Qwen/Qwen2.5-7B-Instruct", 3_000_000, LLM, 7_610_000_000),
          (3, "meta-llama/Llama-3.2-3B-Instruct", 2_000_000, LLM, 3_210_000_000),
          (4, "meta-llama/Llama-3.3-70B-Instruct", 900_000, LLM, 70_600_000_000),
          (5, "mistralai/Mistral-7B-Instruct-v0.3", 1_000_000, LLM, 7_250_000_000),
          (6, "someone/obscure-7b-merge", 40, LLM, 7_200_000_000),
          (7, "google-bert/bert-base-uncased", 9_000_000, BERT, 110_000_000),
          (8, "Maltehb/danish-bert-botxo", 20_000, BERT, 111_000_000),
          (9, "FacebookAI/roberta-base", 8_000_000, BERT, 125_000_000),
          (10, "someone/no-task-7b", 500, None, 7_000_000_000),
          (11, "someone/searched-7b", 900, LLM, 7_000_000_000),
          (12, "x/y", 10, "image-classification", 80_000_000), (13, "x/z", 10, "image-classification", 80_000_000),
          (14, "Qwen/Qwen2.5-72B-Instruct", 700_000, LLM, 72_700_000_000)]


def _graph(tmp_path):
    db = _db(tmp_path, MODELS)
    c = db.conn
    c.executemany("INSERT INTO model_tags VALUES (?, ?)", [(7, "en"), (8, "da"), (9, "en")])
    rows = []
    for key in (1, 2, 3, 4, 5, 6, 10):  # one leaderboard (a small one: every pair), and a second, of another config
        rows.append((key, 1, "acc", 0.5 + key / 100, "TIGER-Lab/MMLU-Pro", None, "test", None, "model-index", "mi"))
    rows += [(1, 2, "acc", 0.7, "glue/sst2", None, "validation", None, "model-index", "mi"),
             (7, 2, "acc", 0.9, "glue/mnli", None, "validation", None, "model-index", "mi")]
    # Llama-3.1-8B's card compares it with a 72B in a table: an author who names them together
    rows.append((1, 3, "MMLU", 0.69, None, "Qwen/Qwen2.5-72B-Instruct", None, None, "card table",
                 "section 'Results', table 1, row 1"))
    c.executemany("INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    c.executemany("INSERT INTO model_spaces VALUES (?, ?)", [(7, "a/bert-demo"), (8, "a/bert-demo"), (9, "a/bert-demo"),
                                                             (12, "b/vision"), (13, "b/vision")])
    c.execute("INSERT INTO search_queries (id, endpoint, query, params, origin, weight, refresh_days, fetched_day) "
              "VALUES (1, 'models', '7b', '[]', 'families', 1.0, 7, 100)")
    c.executemany("INSERT INTO search_results VALUES (1, 100, ?, ?)",
                  [(1, "someone/searched-7b"), (2, "Qwen/Qwen2.5-7B-Instruct"), (3, "someone/no-task-7b")])
    return db


def _edges(conn):
    return {(a, b): (rel, tier, standing, weight) for a, b, rel, tier, standing, weight in conn.execute(
        "SELECT a_key, b_key, relation, tier, standing, weight FROM match_edges")}


def test_gates_tiers_and_family_on_hand_made_evidence(tmp_path):
    db = _graph(tmp_path)
    result = match.build(db.conn, WEIGHTS)
    e = _edges(db.conn)
    assert e[(1, 2)][:2] == ("competitor", 3)        # a shared leaderboard, comparable size
    assert e[(1, 3)][0] == "family"                  # the same family at another size: apart
    assert e[(1, 14)][:2] == ("competitor", 2)       # 9x apart, but its card's table names the 72B: a rival,
                                                     # after the measured ones of its size
    assert e[(1, 4)][0] == "family"                  # the 70B of its own family: family, whatever the size
    assert (2, 4) not in e and (5, 4) not in e       # 9x apart on a shared leaderboard only: gated out
    assert e[(7, 9)][:2] == ("competitor", 2)        # a Space loads both
    assert (7, 8) not in e and (8, 9) not in e       # English and Danish: not rivals
    assert e[(1, 10)][0] == "competitor"             # no stated task, but measured evidence
    assert (10, 11) not in e                         # no stated task and search alone: not enough
    assert e[(2, 11)][:2] == ("competitor", 1)       # search only: the lowest tier
    assert e[(12, 13)][0] == "competitor"
    assert (1, 7) not in e                           # glue/sst2 is not glue/mnli (nor another task)
    assert result.gated["size"] >= 2 and result.gated["language"] == 2
    # search alone never outranks measured evidence: Qwen's rivals, read in order
    order = [b if a == 2 else a for (a, b), _v in sorted(((k, v) for k, v in e.items() if 2 in k and v[0] == "competitor"),
                                                            key=lambda kv: -kv[1][2])]
    assert order[-1] == 11
    # among rivals the evidence ranks alike, the better adopted first: Mistral (1M) before the obscure merge
    assert order.index(5) < order.index(6)
    # the weight says the tier: search only below 1/3, Spaces below 2/3, measured above
    assert e[(2, 11)][3] < 1 / 3 <= e[(7, 9)][3] < 2 / 3 <= min(e[(1, 2)][3], e[(2, 6)][3])


def test_a_rebuild_writes_nothing_when_nothing_moved_and_an_unrelated_change_moves_no_score(tmp_path):
    db = _graph(tmp_path)
    match.build(db.conn, WEIGHTS)
    scores = dict((k, s) for k, s, _t in db.conn.execute("SELECT * FROM match_scores"))
    again = match.build(db.conn, WEIGHTS)
    assert sum(again.written.values()) == 0
    # new evidence between the two image models only: no other model's score moves
    db.conn.execute("INSERT INTO model_spaces VALUES (12, 'c/compare'), (13, 'c/compare')")
    moved = match.build(db.conn, WEIGHTS)
    after = dict((k, s) for k, s, _t in db.conn.execute("SELECT * FROM match_scores"))
    assert {k for k in after if after[k] != scores.get(k)} == {12, 13}
    assert 0 < moved.written["match_edges"] <= 1 and moved.written["match_evidence"] == 1


def test_a_large_set_that_gains_a_member_keeps_its_discount():
    assert match.set_discount(7) == 1 / 3 and match.set_discount(2) > match.set_discount(7)
    assert match.set_discount(2000) == match.set_discount(2001) == match.set_discount(2040)
    assert match.set_discount(2000) > match.set_discount(4000)


def _side_order(conn, key):
    """key's rivals in the order every reader reads them (its own side's standing)."""
    return [r[0] for r in conn.execute(
        """SELECT CASE WHEN a_key = ? THEN b_key ELSE a_key END FROM match_edges WHERE relation = 'competitor'
        AND ? IN (a_key, b_key) ORDER BY CASE WHEN a_key = ? THEN a_standing ELSE b_standing END DESC, weight DESC,
        a_key + b_key""", (key, key, key))]


ASR = "automatic-speech-recognition"
ASR_MODELS = [(1, "openai/whisper-large-v3", 10_000_000, ASR, 1_550_000_000),
              # three sizes of one family, better adopted than anyone: one rival, not three
              (2, "facebook/omniASR-CTC-3B", 12_000_000, ASR, 3_000_000_000),
              (3, "facebook/omniASR-LLM-1B", 11_000_000, ASR, 1_000_000_000),
              (4, "facebook/omniASR-LLM-300M", 10_500_000, ASR, 1_600_000_000),
              (5, "nvidia/canary-1b", 900_000, ASR, 1_000_000_000),
              (6, "Qwen/Qwen3-ASR-1.7B", 800_000, ASR, 1_700_000_000),
              (7, "kyutai/stt-2.6b-en", 700_000, ASR, 2_600_000_000),
              # another author's finetune of an earlier whisper: of whisper's lineage, no alternative to it
              (8, "someone/german-asr-ft", 20_000_000, ASR, 1_550_000_000),
              (9, "openai/whisper-large-v2", 1_000, ASR, 1_550_000_000)]


def test_a_list_leads_with_distinct_alternatives_and_each_side_reads_its_own(tmp_path):
    db = _db(tmp_path, ASR_MODELS, relations=[(8, "openai/whisper-large-v2", "finetune")])
    db.conn.executemany("INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        (k, 1, "wer", 2.0 + k / 10, "librispeech_asr", None, "test", None, "model-index",
         "mi") for k in range(1, 9)])
    match.build(db.conn, WEIGHTS)
    whisper = _side_order(db.conn, 1)
    assert len(whisper) == 7
    top = whisper[:4]
    assert len({2, 3, 4} & set(top)) == 1 and {5, 6, 7} <= set(top)  # one omniASR, then the other families
    assert 8 not in top and whisper.index(8) > whisper.index(7)      # whisper's own lineage: no alternative
    # each side reads the edge its own way: for an omniASR model whisper is a distinct rival, first
    for k in (2, 3, 4):
        assert _side_order(db.conn, k)[0] == 1
    # the stored edges say it: the shared standing, and each side's
    for a, b, st, sa, sb in db.conn.execute("SELECT a_key, b_key, standing, a_standing, b_standing FROM match_edges "
                                            "WHERE relation = 'competitor'"):
        assert {sa - st, sb - st} <= {0, match.DISTINCT, match.DISTINCT_UNMEASURED}
    # an update reads each side as a full build does: kyutai declares an omniASR base (it joins that
    # lineage: whisper's list now holds one of the four); another omniASR size becomes the best adopted
    db.conn.execute("INSERT INTO model_relations VALUES (7, 'facebook/omniASR-CTC-3B', 'finetune')")
    _update_equals_build(db, {7})
    assert len({2, 3, 4, 7} & set(_side_order(db.conn, 1)[:3])) == 1
    db.conn.execute("UPDATE models SET downloads = 90000000 WHERE key = 4")
    _update_equals_build(db, {4})


def test_a_name_search_pairs_its_results_at_a_discount(tmp_path):
    models = [(1, "a/Orion-Classifier-small", 500, "text-classification", 60_000_000),
              (2, "b/Orion-Classifier-base", 20, "text-classification", 60_000_000),
              (3, "c/Crux-Classifier-small", 400, "text-classification", 60_000_000)]
    db = _db(tmp_path, models)
    c = db.conn
    c.execute("INSERT INTO search_queries (id, endpoint, query, params, origin, weight, refresh_days, fetched_day) "
              "VALUES (1, 'models', 'Orion', '[]', 'families', 1.0, 7, 100)")
    c.execute("INSERT INTO search_queries (id, endpoint, query, params, origin, weight, refresh_days, fetched_day) "
              "VALUES (2, 'models', '', '[[\"pipeline_tag\", \"text-classification\"]]', 'tasks', 1.0, 7, 100)")
    c.executemany("INSERT INTO search_results VALUES (?, 100, ?, ?)",
                  [(1, 1, "a/Orion-Classifier-small"), (1, 2, "b/Orion-Classifier-base"),
                   (2, 1, "a/Orion-Classifier-small"), (2, 2, "c/Crux-Classifier-small")])
    match.build(c, WEIGHTS)
    s = dict(((a, b), v) for a, b, v in c.execute("SELECT a_key, b_key, search FROM match_edges"))
    # the same places in two queries of the same weight: the name's pair counts for less than the task list's
    assert s[(1, 2)] < 0.6 * s[(1, 3)]


# -- the update: what changed models touch, equal to a full build ---------------------------------
GRAPH_TABLES = ("match_scores", "match_edges", "match_edge_evidence", "match_evidence", "match_copies")


def _tables(conn):
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in GRAPH_TABLES}


def _larger_graph(tmp_path):
    """The hand-made graph, and a large leaderboard (over BENCH_ALL_PAIRS models: pairs by adoption
    and size) of 40 more 7B models, each also in a Space with its neighbour."""
    db = _graph(tmp_path)
    c = db.conn
    for i in range(40):
        key = 100 + i
        c.execute("INSERT INTO models (id, key, oid, raw, meta_hash, first_seen, downloads, pipeline_tag, params) "
                  "VALUES (?, ?, ?, '{}', '', '2026-01-01', ?, ?, ?)",
                  (f"lab{i % 7}/model-{i}-7b", key, f"oid{key}", 10 ** (i % 6) * (i + 1), LLM, 7_000_000_000))
        c.execute("INSERT INTO evaluations VALUES (?, 1, 'acc', ?, 'openai/gsm8k', NULL, 'test', NULL, 'model-index', 'mi')",
                  (key, 0.3 + i / 100))
        c.execute("INSERT INTO model_spaces VALUES (?, ?)", (key, f"s/pair-{i // 2}"))
    # a finetune by its base's author, in a Space alone (so in no evidence yet)
    for key, model_id in ((200, "acme/base-7b"), (201, "acme/base-7b-ft")):
        c.execute("INSERT INTO models (id, key, oid, raw, meta_hash, first_seen, downloads, pipeline_tag, params) "
                  "VALUES (?, ?, ?, '{}', '', '2026-01-01', 1000, ?, 7000000000)", (model_id, key, f"oid{key}", LLM))
    c.execute("INSERT INTO model_relations VALUES (201, 'acme/base-7b', 'finetune')")
    c.execute("INSERT INTO model_spaces VALUES (201, 'd/demo')")
    # a GGUF copy of Mistral with no evidence of its own (it shows Mistral's match score)
    c.execute("INSERT INTO models (id, key, oid, raw, meta_hash, first_seen, downloads, pipeline_tag, params) "
              "VALUES ('TheBloke/Mistral-7B-Instruct-v0.3-GGUF', 140, 'oid140', '{}', '', '2026-01-01', 5, ?, NULL)", (LLM,))
    return db


def _update_equals_build(db, changed):
    """update() after `changed` models changed, against a full build of the same tables (each in a
    transaction rolled back); then the update kept."""
    c = db.conn
    c.execute("SAVEPOINT full")
    match.build(c, WEIGHTS)
    full = _tables(c)
    c.execute("ROLLBACK TO full")
    c.execute("RELEASE full")
    result = match.update(c, WEIGHTS, changed)
    assert _tables(c) == full
    return result


def test_an_update_after_each_kind_of_change_equals_a_full_build(tmp_path):
    db = _larger_graph(tmp_path)
    c = db.conn
    match.build(c, WEIGHTS)
    # nothing of what the graph reads moved (a card's prose, a file): no set computed again, nothing written
    r = _update_equals_build(db, {1, 105})
    assert r.sets_rebuilt == 0 and sum(r.written.values()) == 0
    # downloads: a large leaderboard pairs by adoption, and the edges' standing moves
    c.execute("UPDATE models SET downloads = 50000000 WHERE key IN (103, 5)")
    r = _update_equals_build(db, {103, 5})
    assert r.written["match_edges"] > 0
    # a model loses its results; another gains one on the large leaderboard
    c.execute("DELETE FROM evaluations WHERE model_key = 6")
    c.execute("INSERT INTO evaluations VALUES (11, 5, 'acc', 0.4, 'openai/gsm8k', NULL, 'test', NULL, 'model-index', 'mi')")
    _update_equals_build(db, {6, 11})
    # a Space now loads two image models and a BERT; a model is removed; another's task moves
    c.execute("INSERT INTO model_spaces VALUES (12, 'c/compare'), (13, 'c/compare'), (9, 'c/compare')")
    c.execute("UPDATE models SET removed_at = '2026-02-01' WHERE key = 120")
    c.execute("UPDATE models SET pipeline_tag = 'fill-mask' WHERE key = 121")
    _update_equals_build(db, {12, 13, 9, 120, 121})
    # a model now declares another lab's model as its base: its lineage moves, and with it the place of
    # the distinct alternatives in its rivals' lists (side standings of edges it is not on)
    c.execute("INSERT INTO model_relations VALUES (104, 'lab3/model-3-7b', 'finetune')")
    _update_equals_build(db, {104})
    # another model joins the finetune's Space: the finetune enters the evidence, and with it its family
    c.execute("INSERT INTO model_spaces VALUES (5, 'd/demo')")
    _update_equals_build(db, {5})
    assert c.execute("SELECT relation FROM match_edges WHERE a_key = 200 AND b_key = 201").fetchone() == ("family",)
    # renamed into a format copy of another model (folds into it), and a copy's parent removed
    c.execute("UPDATE models SET id = 'TheBloke/Qwen2.5-7B-Instruct-GGUF' WHERE key = 130")
    r = _update_equals_build(db, {130})
    assert c.execute("SELECT canonical_key FROM match_copies WHERE model_key = 130").fetchone() == (2,)
    # a copy of a copy (131 quantised from Qwen, 132 its GGUF by name) whose middle is renamed: 132 unfolds
    c.execute("UPDATE models SET id = 'someone/qwen-special' WHERE key = 131")
    c.execute("INSERT INTO model_relations VALUES (131, 'Qwen/Qwen2.5-7B-Instruct', 'quantized')")
    c.execute("UPDATE models SET id = 'other/qwen-special-GGUF' WHERE key = 132")
    _update_equals_build(db, {131, 132})
    assert c.execute("SELECT canonical_key FROM match_copies WHERE model_key = 132").fetchone() == (2,)
    c.execute("UPDATE models SET id = 'someone/qwen-renamed' WHERE key = 131")
    _update_equals_build(db, {131})
    assert c.execute("SELECT count(*) FROM match_copies WHERE model_key = 132").fetchone() == (0,)
    assert c.execute("SELECT count(*) FROM match_scores WHERE model_key = 140").fetchone() == (1,)  # Mistral's
    c.execute("UPDATE models SET removed_at = '2026-02-01' WHERE key IN (2, 5)")
    _update_equals_build(db, {2, 5})
    # the copy no longer folds (Mistral is gone) and has no edge of its own: no match score
    assert c.execute("SELECT count(*) FROM match_scores WHERE model_key = 140").fetchone() == (0,)
    assert c.execute("SELECT count(*) FROM match_copies WHERE model_key IN (130, 131)").fetchone() == (0,)


def test_an_update_rewrites_nothing_of_the_graph_its_changed_models_are_not_in(tmp_path):
    """Every row an update writes (insert, change or delete: logged by triggers) belongs to the sets
    the changed models are in: a new Space between the two image models rewrites nothing of the LLMs'
    graph, and the other image-free parts are not even reduced again."""
    db = _larger_graph(tmp_path)
    c = db.conn
    match.build(c, WEIGHTS)
    c.execute("CREATE TABLE written (tbl TEXT, a INTEGER, b INTEGER)")
    for t, a, b in (("match_edges", "a_key", "b_key"), ("match_edge_evidence", "a_key", "b_key"),
                    ("match_scores", "model_key", "model_key")):
        for op, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            c.execute(f"CREATE TEMP TRIGGER log_{t}_{op} AFTER {op} ON {t} BEGIN "
                      f"INSERT INTO written VALUES ('{t}', {row}.{a}, {row}.{b}); END")
    c.execute("INSERT INTO model_spaces VALUES (12, 'c/compare'), (13, 'c/compare')")
    c.execute("UPDATE models SET downloads = 77 WHERE key = 12")
    r = _update_equals_build(db, {12, 13})
    written = c.execute("SELECT DISTINCT a FROM written UNION SELECT DISTINCT b FROM written").fetchall()
    assert written and {k for (k,) in written} <= {12, 13}, written
    assert r.pairs_reduced == 1 and r.sets_rebuilt == 2  # b/vision and c/compare, their one pair
