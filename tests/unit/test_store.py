"""store: the Writer's counts and what it writes (and doesn't), tombstones, state, offers, the
runs table, and ensure_shape. Each test opens its own database file in tmp_path."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hubdex.hub.router import Offer
from hubdex.records.models import normalise
from hubdex.store import shape
from hubdex.store.db import open_db
from hubdex.store.runs import close_run, open_run
from hubdex.store.save import Counts, Writer, get_state, save_offers, set_state

NOW1, NOW2, NOW3 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"


@pytest.fixture
def db(tmp_path):
    d = open_db(str(tmp_path / "h.db"))
    yield d
    d.conn.close()


def rec(mid="org/a", oid="oid-a", tags=("t1",), downloads=10, likes=1, **more):
    return normalise({"id": mid, "_id": oid, "tags": list(tags), "downloads": downloads, "likes": likes, **more})


def save(db, records, day=1, now=NOW1) -> Counts:
    with db.atomic():
        return Writer(db.conn, day, now).save_models(records)


def model(db, oid):
    cur = db.conn.execute("SELECT * FROM models WHERE oid = ?", (oid,))
    row = cur.fetchone()
    return None if row is None else dict(zip([c[0] for c in cur.description], row))


def tags_of(db, oid):
    return sorted(r[0] for r in db.conn.execute(
        "SELECT tag FROM model_tags JOIN models ON key = model_key WHERE oid = ?", (oid,)))


def history(db, oid):
    return db.conn.execute("SELECT h.day, h.downloads, h.likes FROM metrics_history h "
                           "JOIN models m ON m.key = h.model_key WHERE m.oid = ? ORDER BY h.day", (oid,)).fetchall()


def counts(**kw):
    return Counts(**{"seen": 0, "new": 0, "changed": 0, "renamed": 0, "revived": 0, "metrics_moved": 0, **kw})


# -- save_models ------------------------------------------------------------------------------------

def test_new_models_are_inserted_with_children_and_history(db):
    c = save(db, [rec(), rec("org/b", "oid-b", tags=("x", "y"), siblings=[{"rfilename": "f.json"}])])
    assert c == counts(seen=2, new=2, metrics_moved=2)
    a, b = model(db, "oid-a"), model(db, "oid-b")
    assert a["id"] == "org/a" and a["downloads"] == 10 and a["first_seen"] == NOW1 and a["removed_at"] is None
    assert a["key"] != b["key"]
    assert tags_of(db, "oid-b") == ["x", "y"]
    assert db.conn.execute("SELECT path FROM model_files WHERE model_key = ?", (b["key"],)).fetchall() == [("f.json",)]
    assert history(db, "oid-a") == [(1, 10, 1)]
    assert db.conn.execute("SELECT id FROM model_search WHERE model_key = ?", (a["key"],)).fetchone() == ("org/a",)


def test_a_page_of_new_models_stores_each_ones_lists_exactly(db):
    """A page's new models' tags, file names and Spaces go in as one statement per table: each model
    gets its own, whatever characters they hold (a NUL, quotes, escapes, astral planes), between
    models already stored; files with sizes, a duplicate file name and relations go row by row."""
    save(db, [rec("org/old", "oid-old", tags=("kept",))])
    odd = ["quote\"d", "back\\slash", "new\nline", "tab\t", "nul\x00inside", "😀 astral", "\u2028sep", "é"]
    page = [rec("org/a", "oid-a", tags=odd[:4], siblings=[{"rfilename": "a.json"}, {"rfilename": "dir/b.bin"}],
                spaces=["s/one", "s/two"]),
            rec("org/old", "oid-old", tags=("kept",)),  # known and unchanged: no rows
            rec("org/b", "oid-b", tags=(), siblings=[], spaces=[]),
            rec("org/c", "oid-c", tags=odd[4:], siblings=[{"rfilename": "w.bin", "size": 5, "blobId": "b1"}],
                baseModels={"relation": "finetune", "models": [{"id": "org/a"}]}),
            rec("org/d", "oid-d", tags=("only",), siblings=[{"rfilename": "x"}, {"rfilename": "x"}])]
    c = save(db, page)
    assert c == counts(seen=5, new=4, metrics_moved=4)

    def rows(table, column, oid):
        return sorted(db.conn.execute(f"SELECT {column} FROM {table} JOIN models ON key = model_key WHERE oid = ?",
                                      (oid,)).fetchall())

    assert tags_of(db, "oid-a") == sorted(odd[:4]) and tags_of(db, "oid-c") == sorted(odd[4:])
    assert tags_of(db, "oid-b") == [] and tags_of(db, "oid-old") == ["kept"] and tags_of(db, "oid-d") == ["only"]
    assert rows("model_files", "path, size, blob_id", "oid-a") == [("a.json", None, None), ("dir/b.bin", None, None)]
    assert rows("model_files", "path, size, blob_id", "oid-c") == [("w.bin", 5, "b1")]
    assert rows("model_files", "path", "oid-d") == [("x",)]
    assert rows("model_spaces", "space_id", "oid-a") == [("s/one",), ("s/two",)]
    assert rows("model_relations", "parent, relation", "oid-c") == [("org/a", "finetune")]
    assert db.conn.execute("SELECT count(*) FROM model_tags").fetchone()[0] == 1 + 4 + 4 + 1


def test_the_same_page_again_writes_nothing(db):
    page = [rec(), rec("org/b", "oid-b")]
    save(db, page)
    before = db.conn.total_changes
    with db.atomic():
        c = Writer(db.conn, 2, NOW2).save_models([rec(), rec("org/b", "oid-b")])
    assert db.conn.total_changes == before
    assert c == counts(seen=2)
    assert model(db, "oid-a")["updated_at"] == NOW1
    assert history(db, "oid-a") == [(1, 10, 1)]


def test_changed_metadata_rewrites_the_row_and_its_children(db):
    save(db, [rec(tags=("old", "keep")), rec("org/b", "oid-b")])
    c = save(db, [rec(tags=("keep", "new")), rec("org/b", "oid-b")], day=2, now=NOW2)
    assert c == counts(seen=2, changed=1)
    a = model(db, "oid-a")
    assert a["meta_hash"] == rec(tags=("keep", "new")).row["meta_hash"]
    assert a["updated_at"] == NOW2 and a["first_seen"] == NOW1
    assert tags_of(db, "oid-a") == ["keep", "new"]
    assert model(db, "oid-b")["updated_at"] == NOW1  # only the changed row was written
    assert history(db, "oid-a") == [(1, 10, 1)]  # the figures did not move


def test_new_id_same_oid_is_a_rename(db):
    save(db, [rec(tags=("t",))])
    key = model(db, "oid-a")["key"]
    c = save(db, [rec("org/renamed", tags=("t",))], day=2, now=NOW2)
    assert c == counts(seen=1, renamed=1)
    a = model(db, "oid-a")
    assert a["id"] == "org/renamed" and a["key"] == key
    assert db.conn.execute("SELECT count(*) FROM models").fetchone()[0] == 1
    assert tags_of(db, "oid-a") == ["t"]
    assert db.conn.execute("SELECT id FROM model_search WHERE model_key = ?", (key,)).fetchone() == ("org/renamed",)


def test_an_id_reused_by_another_model_moves_the_old_one_aside(db):
    save(db, [rec("org/a", "oid-old")])
    c = save(db, [rec("org/a", "oid-new")], day=2, now=NOW2)
    assert c.new == 1
    old = model(db, "oid-old")
    assert old["id"] == "org/a@oid-old" and old["removed_at"] == NOW2
    assert model(db, "oid-new")["id"] == "org/a"


def test_history_row_only_when_figures_move(db):
    save(db, [rec(downloads=10)], day=1, now=NOW1)
    c2 = save(db, [rec(downloads=10)], day=2, now=NOW2)
    c3 = save(db, [rec(downloads=11, likes=4)], day=3, now=NOW3)
    assert c2.metrics_moved == 0 and c3 == counts(seen=1, metrics_moved=1)
    assert history(db, "oid-a") == [(1, 10, 1), (3, 11, 4)]
    a = model(db, "oid-a")
    assert (a["downloads"], a["likes"]) == (11, 4)
    assert a["updated_at"] == NOW1  # figures alone do not make a metadata change


def test_figures_moving_twice_in_a_day_keep_one_row(db):
    save(db, [rec(downloads=10)], day=1)
    save(db, [rec(downloads=12)], day=1)
    assert history(db, "oid-a") == [(1, 12, 1)]


def test_save_metrics(db):
    save(db, [rec(), rec("org/b", "oid-b", downloads=5)])
    before = db.conn.total_changes
    with db.atomic():
        moved, unknown = Writer(db.conn, 2, NOW2).save_metrics([
            ("org/a", "oid-a", (20, None, 2, None)),     # moved
            ("org/b", "oid-b", (5, None, 1, None)),      # unchanged
            ("org/zz", "oid-zz", (1, 1, 1, 1)),          # unknown
        ])
    assert (moved, unknown) == (1, 1)
    assert (model(db, "oid-a")["downloads"], model(db, "oid-a")["likes"]) == (20, 2)
    assert history(db, "oid-a") == [(1, 10, 1), (2, 20, 2)]
    assert history(db, "oid-b") == [(1, 5, 1)]
    assert model(db, "oid-zz") is None
    assert db.conn.total_changes - before == 2  # one models row, one history row
    with db.atomic():
        assert Writer(db.conn, 2, NOW2).save_metrics([("org/a", "oid-a", (20, None, 2, None))]) == (0, 0)


def test_finish_pass_tombstones_unseen_models_and_revive(db):
    save(db, [rec(), rec("org/b", "oid-b"), rec("org/c", "oid-c")])
    with db.atomic():
        w = Writer(db.conn, 2, NOW2)
        w.record_pass_page("p1", 0, ["oid-a"])
        w.record_pass_page("p1", 1, ["oid-c"])
        w.record_pass_page("old-pass", 0, ["oid-b"])  # another pass's pages do not count as seen
        assert w.finish_pass("p1") == 1
    assert model(db, "oid-b")["removed_at"] == NOW2
    assert model(db, "oid-a")["removed_at"] is None and model(db, "oid-c")["removed_at"] is None
    assert db.conn.execute("SELECT count(*) FROM pass_pages").fetchone()[0] == 0
    # An earlier tombstone keeps its date.
    with db.atomic():
        w = Writer(db.conn, 3, NOW3)
        w.record_pass_page("p2", 0, ["oid-a", "oid-c"])
        assert w.finish_pass("p2") == 0
    assert model(db, "oid-b")["removed_at"] == NOW2
    # Seen again: revived, untombstoned.
    c = save(db, [rec("org/b", "oid-b")], day=4, now="2026-01-04T00:00:00Z")
    assert c == counts(seen=1, revived=1)
    assert model(db, "oid-b")["removed_at"] is None


def test_state(db):
    with db.atomic():
        w = Writer(db.conn, 1, NOW1)
        w.set_state("cursor", "abc")
        w.set_state("full.pass", {"id": "p1", "bulk": False})
        w.set_state("cursor", "def")
        set_state(db.conn, "none", None, NOW2)
    assert get_state(db.conn, "cursor") == "def"
    assert json.loads(get_state(db.conn, "full.pass")) == {"id": "p1", "bulk": False}
    assert get_state(db.conn, "none", "dflt") is None
    assert get_state(db.conn, "missing") is None and get_state(db.conn, "missing", 7) == 7
    assert db.conn.execute("SELECT count(*) FROM crawl_state WHERE key = 'cursor'").fetchone()[0] == 1


def test_save_offers_replaces_the_day(db):
    o1 = Offer("org/a", "together", "live", 0.2, 0.6, 8192, 1, 0, 0)
    o2 = Offer("org/a", "groq", "live", 0.1, None, None, None, None, 1)
    with db.atomic():
        assert save_offers(db.conn, [o1, o2], 1, "1970-01-02") == 2
        assert save_offers(db.conn, [o1], 2, "1970-01-03") == 1
        assert save_offers(db.conn, [o2], 2, "1970-01-03") == 1  # the day seen again: replaced
    rows = db.conn.execute("SELECT day, provider, input_usd_per_m, is_free FROM router_prices ORDER BY day, provider")
    assert rows.fetchall() == [(1, "groq", 0.1, 1), (1, "together", 0.2, 0), (2, "groq", 0.1, 1)]
    assert db.conn.execute("SELECT provider FROM current_router_prices").fetchall() == [("groq",)]


# -- runs -------------------------------------------------------------------------------------------

def run_row(db, run_id):
    cur = db.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,))
    return dict(zip([c[0] for c in cur.description], cur.fetchone()))


def test_open_run_marks_a_leftover_running_row_killed(db):
    first = open_run(db.conn, "full", "all", "https://hub.test", {"limit": 5}, NOW1)
    r = run_row(db, first)
    assert r["status"] == "running" and r["started_at"] == NOW1 and json.loads(r["args"]) == {"limit": 5}
    second = open_run(db.conn, "update", "all", "https://hub.test", {}, NOW2)
    assert second != first
    assert run_row(db, first)["status"] == "killed" and run_row(db, first)["ended_at"] == NOW2
    assert run_row(db, second)["status"] == "running"


def test_open_run_leaves_finished_runs_alone(db):
    first = open_run(db.conn, "full", "all", "e", {}, NOW1)
    close_run(db.conn, first, "ok", None, {}, NOW2)
    open_run(db.conn, "full", "all", "e", {}, NOW3)
    assert run_row(db, first)["status"] == "ok" and run_row(db, first)["ended_at"] == NOW2


def test_close_run_writes_figures(db):
    run = open_run(db.conn, "full", "all", "e", {}, NOW1)
    close_run(db.conn, run, "stopped", "gave up", {"pages": 3, "models_new": 7, "waited_seconds": 1.5}, NOW2)
    r = run_row(db, run)
    assert (r["status"], r["reason"], r["ended_at"]) == ("stopped", "gave up", NOW2)
    assert (r["pages"], r["models_new"], r["waited_seconds"]) == (3, 7, 1.5)


def test_close_run_rejects_unknown_figures(db):
    run = open_run(db.conn, "full", "all", "e", {}, NOW1)
    with pytest.raises(ValueError, match="not a column of runs: bogus, nope"):
        close_run(db.conn, run, "ok", None, {"pages": 1, "nope": 1, "bogus": 2}, NOW2)
    r = run_row(db, run)
    assert r["status"] == "running" and r["pages"] is None


# -- shape ------------------------------------------------------------------------------------------

def schema_of(conn):
    return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(), key=repr)


def test_ensure_shape_is_idempotent(db):
    before = schema_of(db.conn)
    version = db.conn.execute("PRAGMA schema_version").fetchone()[0]
    changes = db.conn.total_changes
    shape.ensure_shape(db)
    assert schema_of(db.conn) == before
    assert db.conn.execute("PRAGMA schema_version").fetchone()[0] == version
    assert db.conn.total_changes == changes


def test_reopening_a_database_changes_nothing(tmp_path):
    path = str(tmp_path / "h.db")
    d = open_db(path)
    before = schema_of(d.conn)
    d.conn.close()
    d = open_db(path)
    assert schema_of(d.conn) == before
    d.conn.close()


def columns(conn, name):
    return [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]


def test_ensure_shape_replaces_a_view_altered_by_hand(db):
    real = columns(db.conn, "all_capabilities")
    assert real[:3] == ["model_id", "capability", "detail"]
    db.conn.execute("DROP VIEW all_capabilities")
    db.conn.execute("CREATE VIEW all_capabilities AS SELECT 1 AS x")
    assert columns(db.conn, "all_capabilities") == ["x"]
    shape.ensure_shape(db)
    assert columns(db.conn, "all_capabilities") == real
    sql = db.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'all_capabilities'").fetchone()[0]
    assert sql == shape._view_sql("all_capabilities", shape.VIEWS["all_capabilities"])
    # The views after it are still there, and everything reads.
    for name in shape.VIEWS:
        db.conn.execute(f"SELECT * FROM {name} LIMIT 1").fetchall()


def test_ensure_shape_recreates_a_dropped_view_and_index(db):
    db.conn.execute("DROP VIEW current_router_prices")
    db.conn.execute("DROP INDEX idx_models_author")
    shape.ensure_shape(db)
    names = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master")}
    assert {"current_router_prices", "idx_models_author"} <= names


def test_bulk_load_leaves_analyst_indexes_and_triggers_out_until_the_end(db):
    shape.begin_bulk_load(db.conn)
    shape.ensure_shape(db, bulk_load_in_progress=True)
    names = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master")}
    assert not (set(shape.ANALYST_INDEXES) | set(shape.SEARCH_TRIGGERS)) & names
    shape.ensure_shape(db)
    names = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master")}
    assert (set(shape.ANALYST_INDEXES) | set(shape.SEARCH_TRIGGERS)) <= names


def test_open_db_on_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        open_db(str(path))


def test_check_file_refuses_only_a_database_that_is_not_hubdexs(tmp_path):
    from hubdex.store.db import ForeignDatabase, check_file

    check_file(str(tmp_path / "absent.db"))  # a new database
    (tmp_path / "empty.db").write_bytes(b"")
    check_file(str(tmp_path / "empty.db"))
    ours = tmp_path / "ours.db"
    open_db(str(ours)).conn.close()
    check_file(str(ours))
    killed = sqlite3.connect(tmp_path / "killed.db")  # a first open killed after the migrations table
    killed.execute("CREATE TABLE _sqlite_migrations (id INTEGER PRIMARY KEY, migration_set TEXT, name TEXT, "
                   "applied_at TEXT)")
    killed.commit()
    check_file(str(tmp_path / "killed.db"))
    assert open_db(str(tmp_path / "killed.db")).conn.execute("SELECT count(*) FROM models").fetchone() == (0,)
    other = sqlite3.connect(tmp_path / "other.db")  # another tool's, which uses the same migrations library
    other.execute("CREATE TABLE _sqlite_migrations (id INTEGER PRIMARY KEY, migration_set TEXT, name TEXT, "
                  "applied_at TEXT)")
    other.execute("INSERT INTO _sqlite_migrations (migration_set, name) VALUES ('notes-app', 'm001')")
    other.execute("CREATE TABLE notes (x)")
    other.commit()
    with pytest.raises(ForeignDatabase, match=r"did not create \(tables: _sqlite_migrations, notes\)"):
        check_file(str(tmp_path / "other.db"))
    (tmp_path / "junk.db").write_bytes(b"not a database" * 300)
    with pytest.raises(sqlite3.DatabaseError):
        check_file(str(tmp_path / "junk.db"))
