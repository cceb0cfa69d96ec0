"""`hubdex top` says when a rank rests on little known weight, and which ranks are built on another
author's model (issue 22: a reader is not misled by a rank the known signals were rescaled to fill)."""

from __future__ import annotations

from hubdex.present.ranking import THIN_MARK, render_top, top
from hubdex.store.db import open_db


def _db(tmp_path):
    db = open_db(str(tmp_path / "h.db"))
    rows = [  # key, id, task, rank, adoption, quality, ecosystem, pricing, match, known weight, parent
        (1, "meta/measured-8b", "text-generation", 70.0, 80.0, 66.0, 20.0, 60.0, 80.0, 1.0, None),
        (2, "someone/popular-unmeasured", "text-generation", 75.0, 95.0, None, 30.0, 100.0, 70.0, 0.60, None),
        (3, "merger/merged-8b", "text-generation", 72.0, 40.0, 90.0, 5.0, 100.0, 70.0, 1.0, "meta/measured-8b"),
    ]
    for key, mid, task, rank, ad, q, eco, pr, ma, known, parent in rows:
        db.conn.execute("INSERT INTO models (id, key, oid, raw, meta_hash, first_seen, pipeline_tag) "
                        "VALUES (?, ?, ?, '{}', '', '2026-01-01', ?)", (mid, key, f"o{key}", task))
        db.conn.execute("INSERT INTO model_scores (model_key, rank, adoption, quality, ecosystem, pricing, match, "
                        "rank_known_weight, pricing_class) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'free open weights')",
                        (key, rank, ad, q, eco, pr, ma, known))
        if parent:
            db.conn.execute("INSERT INTO model_relations VALUES (?, ?, 'merge')", (key, parent))
    return db


def test_top_marks_a_rank_resting_on_little_known_weight_and_names_what_a_derivative_is_built_on(tmp_path):
    db = _db(tmp_path)
    rows = top(db.conn, "text-generation")
    by_id = {r["model"]: r for r in rows}
    assert by_id["someone/popular-unmeasured"]["thin"] and by_id["someone/popular-unmeasured"]["unknown_signals"] == ["quality"]
    assert not by_id["meta/measured-8b"]["thin"] and not by_id["merger/merged-8b"]["thin"]
    assert by_id["merger/merged-8b"]["built_on"] == "merge of meta/measured-8b"
    assert by_id["meta/measured-8b"]["built_on"] is None
    text = render_top(rows)
    table, *notes = text.split("\n\n")
    line = {ln.split()[6]: ln for ln in table.splitlines()[1:]}
    assert f"60%{THIN_MARK}" in line["someone/popular-unmeasured"]       # the share, marked
    assert "100%" in line["meta/measured-8b"] and THIN_MARK not in line["meta/measured-8b"]
    assert any(n.startswith(THIN_MARK) and "quality unknown" in n and "#1" in n for n in notes)  # #1: the unmeasured
    assert any("#2 merger/merged-8b: merge of meta/measured-8b" in n for n in notes)
    # every table line has its known column at the same place
    assert len({ln.index("%") for ln in table.splitlines()[1:]}) == 1
