"""The match graph's parts on hand-made rows: folding copies, naming subjects, PageRank."""

from __future__ import annotations

import numpy as np

from hubdex.derive import match
from hubdex.store.db import open_db


def _db(tmp_path, models, relations=()):
    db = open_db(str(tmp_path / "h.db"))
    for key, model_id, downloads in models:
        db.conn.execute("INSERT INTO models (id, key, oid, raw, meta_hash, first_seen, downloads, pipeline_tag) "
                        "VALUES (?, ?, ?, '{}', '', '2026-01-01', ?, 'text-generation')",
                        (model_id, key, f"oid{key}", downloads))
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
    assert match.subject_name("[Llama 3](https://huggingface.co/meta-llama/Meta-Llama-3-8B)") == "meta-llama/Meta-Llama-3-8B"
    assert match.subject_name("**Mistral-7B**") == "Mistral-7B"
    assert match.subject_name("[ours](#results)") == "ours"


def test_pagerank_puts_the_hub_of_a_star_first_and_sums_to_one():
    a = np.array([1, 1, 1, 2])
    b = np.array([2, 3, 4, 3])
    nodes, r = match.pagerank(a, b, np.ones(4))
    assert list(nodes) == [1, 2, 3, 4]
    assert r.argmax() == 0 and abs(r.sum() - 1) < 1e-9 and r[3] < r[1]


def test_a_pair_stored_the_other_way_swaps_its_sides():
    pairs = match._Pairs()
    pairs.add(9, 4, match.BENCHMARK, 1.0, 1, {"values": [0.9, 0.4], "table": "t"})
    assert (pairs.a, pairs.b) == ([4], [9]) and pairs.detail[0]["values"] == [0.4, 0.9]
    pairs.add(5, 5, match.SEARCH, 1.0, 1, {})
    assert len(pairs.a) == 1  # a model is never its own competitor
