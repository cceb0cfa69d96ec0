"""export, without a crawl: every table classified, SQLite types to Arrow, timestamps exact, the
fingerprints (a file's equals SQLite's; a same-length edit or a swap between rows is seen), batches
bounded (fetchmany, never fetchall), the directory lock."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hubdex.export import state, tables, writer
from hubdex.export.tables import UnknownTable, columns_of, select_tables
from hubdex.store.db import open_db


@pytest.fixture
def db(tmp_path):
    d = open_db(str(tmp_path / "h.db"))
    yield d
    d.conn.close()


def test_every_table_of_the_schema_is_exported_or_said_not_to_be(db):
    assert tables.unclassified(db.conn) == []
    assert not set(tables.DATA_TABLES) & set(tables.HISTORY_TABLES)
    assert not set(tables.exportable()) & set(tables.NOT_EXPORTED)
    for name in tables.exportable():  # each one exists once migrations ran
        assert tables.table_exists(db.conn, name), name
    db.conn.execute("CREATE TABLE some_new_table (model_key INTEGER, other INTEGER) STRICT")
    assert tables.unclassified(db.conn) == ["some_new_table"]  # a new table must be put in a list


def test_sqlite_declared_types_become_arrow_types(db):
    cols = {c.name: c for c in columns_of(db.conn, "models")}
    for name in ("created_at", "last_modified", "first_seen", "updated_at", "removed_at", "detail_at"):
        assert cols[name].arrow == pa.timestamp("ms", tz="UTC"), name
    assert cols["key"].arrow == pa.int64() and cols["key"].not_null
    assert cols["raw"].arrow == pa.string() and cols["detail"].arrow == pa.string()  # JSON stays text
    assert "card_data" not in cols and "config" not in cols  # generated from raw: not stored, not exported
    h = {c.name: c for c in columns_of(db.conn, "signals_history")}
    assert "day" not in h and h["rank"].arrow == pa.float64() and h["model_key"].pk == 1
    assert {c.name: c.arrow for c in columns_of(db.conn, "metric_days")}["date"] == pa.date32()
    schema = tables.arrow_schema("models", list(cols.values()))
    assert schema.field("key").nullable is False and schema.metadata[b"hubdex_table"] == b"models"


def test_timestamps_keep_their_milliseconds_and_bad_ones_are_counted(db):
    values = ["2024-01-02T03:04:05.123Z", "2024-01-02T03:04:05Z", "1999-12-31T23:59:59.999Z",
              "2026-11-30T00:00:00.001Z", None, "not a time"]
    db.conn.execute("CREATE TEMP TABLE t (created_at TEXT) STRICT")
    db.conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    col = tables.Column("created_at", "TEXT", False, tables.TIMESTAMP_TYPE, "timestamp")
    got = [r[0] for r in db.conn.execute(f"SELECT {col.select} FROM t")]
    want = [int(dt.datetime.fromisoformat(v).timestamp() * 1000 + 0.5) if v and v[0].isdigit() else None
            for v in values]
    assert got == want
    fp = state.table_fingerprint(db.conn, "t", [col])
    assert fp["rows"] == 6 and fp["unparsed"] == {"created_at": 1}


def test_tables_are_chosen_by_name_and_unknown_names_refused():
    assert select_tables(()) == tables.exportable()
    assert select_tables(["metrics_history,models", "models"]) == ("models", "metrics_history")
    with pytest.raises(UnknownTable, match="'runs' \\(the job log: not exported\\)"):
        select_tables(["runs"])
    with pytest.raises(UnknownTable, match="'modles'"):
        select_tables(["models,modles"])


def _history_table(db, rows):
    db.conn.executemany("INSERT INTO signals_history (model_key, day, adoption, quality, ecosystem, pricing, match, "
                        "rank) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return columns_of(db.conn, "signals_history")


def test_a_history_file_has_the_fingerprint_sqlite_computes_for_its_day(db, tmp_path):
    rows = [(k, day, k * 1.37, None, -3.5, 100.0, None, 99.99 - k / 7) for k in range(1, 400) for day in (20000, 20001)
            if (k + day) % 3]
    columns = _history_table(db, rows)
    days = state.history_fingerprints(db.conn, "signals_history", columns)
    assert set(days) == {20000, 20001} and sum(d["rows"] for d in days.values()) == len(rows)
    cur = db.conn.execute(f"SELECT day, {', '.join(c.select for c in columns)} FROM signals_history ORDER BY day, "
                          "model_key")
    done = {}
    writer.write_partitions(cur, lambda d: str(tmp_path / f"{d}.parquet"), tables.arrow_schema("s", columns), columns,
                            97, lambda d, n, b: done.setdefault(d, n))
    assert done == {d: f["rows"] for d, f in days.items()}
    for d, f in days.items():
        assert state.file_history_fingerprint(str(tmp_path / f"{d}.parquet"), columns) == f
    # one value moved by a millionth: both sides see it
    db.conn.execute("UPDATE signals_history SET adoption = adoption + 0.000001 WHERE model_key = 5 AND day = 20000")
    assert state.history_fingerprints(db.conn, "signals_history", columns)[20000] != days[20000]
    assert state.history_fingerprints(db.conn, "signals_history", columns)[20001] == days[20001]


def test_a_table_fingerprint_sees_same_length_edits_and_swaps(db):
    db.conn.executemany("INSERT INTO model_tags (model_key, tag) VALUES (?, ?)", [(1, "en"), (2, "fr"), (3, "de")])
    columns = columns_of(db.conn, "model_tags")
    fp = lambda: state.table_fingerprint(db.conn, "model_tags", columns)["fingerprint"]  # noqa: E731
    before = fp()
    assert fp() == before
    db.conn.execute("UPDATE model_tags SET tag = 'es' WHERE model_key = 1")  # same length
    edited = fp()
    assert edited != before
    db.conn.execute("UPDATE model_tags SET tag = CASE model_key WHEN 2 THEN 'de' WHEN 3 THEN 'fr' END "
                    "WHERE model_key IN (2, 3)")  # two rows swap their values
    assert fp() != edited


class Cursor:
    """A cursor that records how it was read."""

    def __init__(self, cur):
        self.cur, self.sizes = cur, []

    def fetchmany(self, n):
        self.sizes.append(n)
        return self.cur.fetchmany(n)

    def fetchall(self):
        raise AssertionError("fetchall reads a whole table into memory")


def test_a_table_is_read_in_bounded_batches(db, tmp_path):
    db.conn.executemany("INSERT INTO model_tags (model_key, tag) VALUES (?, ?)",
                        [(k, f"tag-{j}") for k in range(2000) for j in range(5)])
    columns = columns_of(db.conn, "model_tags")
    cur = Cursor(db.conn.execute("SELECT model_key, tag FROM model_tags"))
    rows, nbytes = writer.write_file(cur, str(tmp_path / "t.parquet"), tables.arrow_schema("model_tags", columns),
                                     columns, 1000)
    assert rows == 10_000 and set(cur.sizes) == {1000} and len(cur.sizes) == 11
    assert pq.ParquetFile(str(tmp_path / "t.parquet")).metadata.num_rows == 10_000 and nbytes > 0
    # wide rows get smaller batches; none gets more than BATCH_ROWS
    assert writer.batch_rows(10) == writer.BATCH_ROWS
    assert writer.batch_rows(2_000) == writer.BATCH_BYTES // 2_000 < writer.BATCH_ROWS
    assert writer.batch_rows(10**9) == writer.MIN_BATCH_ROWS


def test_one_export_at_a_time_writes_a_directory(tmp_path):
    with writer.DirLock(str(tmp_path)):
        with pytest.raises(writer.ExportBusy, match="another export is writing"):
            writer.DirLock(str(tmp_path)).__enter__()
    with writer.DirLock(str(tmp_path)):  # released
        pass
    os.makedirs(tmp_path / ".tmp-7-123" / "models")
    (tmp_path / "keep").mkdir()
    assert writer.remove_leftovers(str(tmp_path)) == [".tmp-7-123"] and (tmp_path / "keep").is_dir()
