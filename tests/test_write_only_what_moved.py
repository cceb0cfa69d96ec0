"""Issue 25: a derive writes only what moved. Every INSERT, UPDATE and DELETE on the derived tables is
logged by triggers in the database itself (the derive job runs on its own connection, so nothing in
the test's connection could see its writes), and the log is what is asserted."""

from __future__ import annotations

import pytest

from hubdex.store.db import open_db

from .conftest import derive
from .test_derive import _item, _store

DAY = 20_001  # 2024-10-05
# The tables whose rows a derive shows or keeps: a derive in which nothing moved writes none of them.
WATCHED = ("model_scores", "signals_history", "comparisons", "comparison_sides", "model_capability_rows",
           "capability_summary", "capability_names", "capability_evidence", "derive_inputs", "match_scores",
           "match_edges")


# the tiny catalogue's items and their storing are test_derive's (one definition of a hand-made model)


def _log_writes(conn):
    """Triggers noting (table, operation, model key where the table has one) for every row written."""
    conn.execute("CREATE TABLE IF NOT EXISTS test_write_log (tbl TEXT, op TEXT, model_key INTEGER)")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for t in WATCHED:
        if t not in tables:
            continue
        cols = {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}
        key = "model_key" if "model_key" in cols else ("a_key" if "a_key" in cols else None)
        for op, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            conn.execute(f"CREATE TRIGGER IF NOT EXISTS test_log_{t}_{op} AFTER {op} ON {t} BEGIN "
                         f"INSERT INTO test_write_log VALUES ('{t}', '{op}', {f'{row}.{key}' if key else 'NULL'}); END")
    conn.execute("DELETE FROM test_write_log")
    conn.commit()


def _written(conn) -> dict:
    out = {}
    for t, op, k in conn.execute("SELECT tbl, op, model_key FROM test_write_log"):
        out.setdefault(t, []).append((op, k))
    return out


@pytest.fixture
def derived(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBDEX_DAY", "2024-10-05")
    db = open_db(str(tmp_path / "hub.db"))
    _store(db, [_item(1), _item(2, downloads=10, downloadsAllTime=10, likes=10, trendingScore=10),
                _item(3, downloads=100, downloadsAllTime=100, likes=100, trendingScore=100),
                _item(4, downloads=1000, downloadsAllTime=1000, likes=1000, trendingScore=1000,
                      tags=["transformers", "safetensors", "text-classification", "license:apache-2.0", "arxiv:1810.04805"]),
                _item(5, downloads=5000, downloadsAllTime=5000, likes=20, trendingScore=3)])
    first = derive(db)
    assert first.scores_written == 5 and first.history_rows == 5
    return db


@pytest.mark.parametrize("later_day", [False, True], ids=["same day", "next day"])
def test_a_derive_with_nothing_changed_writes_no_score_history_or_entry_row(derived, monkeypatch, later_day):
    if later_day:
        monkeypatch.setenv("HUBDEX_DAY", "2024-10-06")
    conn = derived.conn
    _log_writes(conn)
    runs_before = conn.execute("SELECT count(*) FROM derive_runs").fetchone()[0]
    again = derive(derived)
    assert _written(conn) == {}
    assert (again.scores_written, again.history_moved, again.inputs_changed, again.rebuilt) == (0, 0, 0, 0)
    assert conn.execute("SELECT count(*) FROM derive_runs").fetchone()[0] == runs_before + 1  # its run row


def test_one_models_downloads_move_only_its_rows(derived, monkeypatch):
    """A week on (growth over 7 days now known for all), model 3's downloads move within the gap to
    model 4's, so no other model's standing moves, but model 3 now grows where the others don't:
    model 3's rows are the only ones written."""
    monkeypatch.setenv("HUBDEX_DAY", "2024-10-13")
    derive(derived)  # growth_7d known from today: every row moves once
    monkeypatch.setenv("HUBDEX_DAY", "2024-10-14")
    conn = derived.conn
    key = conn.execute("SELECT key FROM models WHERE id = 'org/model-3'").fetchone()[0]
    _store(derived, [_item(3, downloads=400, downloadsAllTime=900, likes=100, trendingScore=100)], day=DAY + 9)
    _log_writes(conn)
    result = derive(derived)
    assert result.inputs_changed == 1 and result.reasons == {"metrics": 1}
    written = _written(conn)
    assert set(written) <= {"model_scores", "signals_history", "derive_inputs", "comparisons", "comparison_sides"}
    assert {k for rows in written.values() for _op, k in rows} == {key}, written
    assert written["derive_inputs"] and written["model_scores"]  # its figures are in its row
