"""Cards in the crawl: fetched at the model's sha, parsed, stored; refetched only when the sha moves."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hubdex.crawl.cards import CONFIG_FILES, TASK_LEADERS
from hubdex.crawl.scope import Scope
from hubdex.jobs import EXIT_OK

from .conftest import control, crawl, real_dir


@pytest.fixture(scope="module")
def demo_with_cards(tmp_path_factory):
    from hubdex.replica.server import start_replica

    server = start_replica("demo", quotas={"api": 10**9, "resolvers": 10**9})
    db = tmp_path_factory.mktemp("cards") / "hub.db"
    assert crawl(db, server.url, mode="full", progress=False).code == EXIT_OK
    out = crawl(db, server.url, mode="cards", progress=False)
    yield server, db, out
    server.stop()


def test_every_model_gets_its_card_gated_ones_from_card_data(demo_with_cards):
    _server, db, out = demo_with_cards
    assert out.code == EXIT_OK
    conn = sqlite3.connect(db)
    models, gated = conn.execute("SELECT count(*), count(*) FILTER (WHERE gated IN ('auto', 'manual')) "
                                 "FROM models").fetchone()
    sources = dict(conn.execute("SELECT source, count(*) FROM cards GROUP BY source").fetchall())
    # A repo without README.md (a real recording lists none) answers 404 EntryNotFound, as on the Hub.
    no_readme = conn.execute("SELECT count(*) FROM models m WHERE gated NOT IN ('auto', 'manual') AND NOT EXISTS "
                             "(SELECT 1 FROM model_files f WHERE f.model_key = m.key AND f.path = 'README.md')"
                             ).fetchone()[0]
    assert no_readme == 1  # dbmdz/bert-large-cased-finetuned-conll03-english
    assert sources == {"readme": models - gated - no_readme, "cardData": gated, "none": no_readme}
    # one README a model, and each small config file its file list holds (read with the card)
    configs = conn.execute(f"SELECT count(*) FROM model_files WHERE path IN ({', '.join('?' * len(CONFIG_FILES))})",
                           CONFIG_FILES).fetchone()[0]
    assert configs > 0
    assert conn.execute("SELECT cards, requests FROM runs WHERE mode = 'cards'").fetchone() == (models, models + configs)
    sha_match = conn.execute("SELECT count(*) FROM cards c JOIN models m ON m.key = c.model_key "
                             "WHERE c.sha = m.sha").fetchone()[0]
    assert sha_match == models


@pytest.mark.parametrize("model,body", [
    ("HuggingFaceH4/zephyr-7b-beta", "HuggingFaceH4_zephyr-7b-beta__2025-03-21__31822c7af1.json"),
    ("deepset/roberta-base-squad2", "deepset_roberta-base-squad2__2025-01-22__085606be25.json"),
    ("distilbert/distilbert-base-uncased-finetuned-sst-2-english",
     "distilbert_distilbert-base-uncased-finetuned-sst-2-english__2025-03-21__82ebebb72a.json"),
])
def test_real_model_index_results_become_evaluation_rows(demo_with_cards, model, body):
    _server, db, _ = demo_with_cards
    recorded = json.loads((real_dir() / "huggingface_hub-cassettes" / "bodies" / body).read_bytes())
    expected = sorted((m.get("name") or m.get("type"), float(m["value"])) for e in recorded["model-index"]
                      for r in e["results"] for m in r["metrics"] if isinstance(m.get("value"), (int, float)))
    conn = sqlite3.connect(db)
    got = sorted(conn.execute("SELECT e.metric, e.value FROM evaluations e JOIN models m ON m.key = e.model_key "
                              "WHERE m.id = ? AND e.source LIKE '%model-index'", (model,)).fetchall())
    assert got == expected and got


def test_card_sections_and_capabilities_are_rows(demo_with_cards):
    _server, db, _ = demo_with_cards
    conn = sqlite3.connect(db)
    key = conn.execute("SELECT key FROM models WHERE id = 'dslim/bert-base-NER'").fetchone()[0]
    titles = [r[0] for r in conn.execute("SELECT title FROM card_sections WHERE model_key = ? ORDER BY seq", (key,))]
    assert titles[:3] == ["bert-base-NER", "Model description", "Intended uses & limitations"]
    assert ("f1", 91.3, "test") in conn.execute("SELECT metric, value, split FROM evaluations WHERE model_key = ?",
                                                (key,)).fetchall()
    count = conn.execute("SELECT capabilities_count FROM cards WHERE model_key = ?", (key,)).fetchone()[0]
    assert count == conn.execute("SELECT count(*) FROM capabilities WHERE model_key = ?", (key,)).fetchone()[0] > 5


def test_a_second_pass_costs_no_request(demo_with_cards):
    server, db, _ = demo_with_cards
    again = crawl(db, server.url, mode="cards", progress=False)
    assert again.code == EXIT_OK and " 0 cards," in again.summary and "; 0 requests" in again.summary


def test_incremental_refetches_exactly_the_changed_cards(replica_factory, tmp_path):
    server = replica_factory("synthetic:2000", seed=6)
    db = tmp_path / "hub.db"
    crawl(db, server.url, mode="full", progress=False)
    crawl(db, server.url, mode="cards", progress=False)
    changes = control(server, "POST", "scenario", json.dumps(
        {"seed": 3, "update": 30, "add": 10, "rename": 5, "metrics": 200}).encode())
    control(server, "POST", "requests/reset")
    out = crawl(db, server.url, progress=False)
    assert out.code == EXIT_OK
    counts = control(server, "GET", "requests")["counts"]
    # One README per updated or added model; renames and moved figures keep their commit: no refetch.
    assert counts["card"] == len(changes["updated"]) + len(changes["added"]) == 40
    conn = sqlite3.connect(db)
    stale = conn.execute("SELECT count(*) FROM models m LEFT JOIN cards c ON c.model_key = m.key "
                         "WHERE m.removed_at IS NULL AND (c.sha IS NULL OR c.sha != m.sha)").fetchone()[0]
    assert stale == 0
    changelog = conn.execute("SELECT count(*) FROM card_sections s JOIN models m ON m.key = s.model_key "
                             "WHERE s.title = 'Changelog'").fetchone()[0]
    readable = conn.execute(f"SELECT count(*) FROM models WHERE gated = 'false' AND id IN "
                            f"({','.join('?' * len(changes['updated']))})", changes["updated"]).fetchone()[0]
    assert changelog == readable > 0  # the new card text was read and stored (gated ones: cardData only)


def test_a_short_card_budget_reads_every_tasks_leaders_first(replica_factory, tmp_path):
    """With fewer reads than models, the cards read are each task's most downloaded (up to TASK_LEADERS),
    then the rest by downloads; by downloads alone, small tasks' leaders waited behind the biggest task."""
    server = replica_factory("synthetic:3000", seed=11)
    db = tmp_path / "hub.db"
    assert crawl(db, server.url, mode="full", progress=False).code == EXIT_OK
    conn = sqlite3.connect(db)
    ranked = conn.execute("SELECT key, pipeline_tag, downloads, row_number() OVER (PARTITION BY pipeline_tag "
                          "ORDER BY downloads DESC, key) FROM models WHERE removed_at IS NULL").fetchall()
    leaders = {k for k, _t, _d, place in ranked if place <= TASK_LEADERS}
    budget = len(leaders) + 40
    assert budget < len(ranked) // 2
    assert crawl(db, server.url, mode="cards", scope=Scope(limit=budget), progress=False).code == EXIT_OK
    read = {k for (k,) in conn.execute("SELECT model_key FROM cards")}
    assert leaders <= read and len(read) == budget
    rest = sorted((-d, k) for k, _t, d, place in ranked if place > TASK_LEADERS)
    by_downloads = {k for _d, k in rest[:40]}
    assert read - leaders == by_downloads  # (ties in downloads are broken by key)
    # by downloads alone, some task's leaders would have been left unread
    top = {k for _d, k in sorted((-d, k) for k, _t, d, _p in ranked)[:budget]}
    assert leaders - top


def search(conn, query) -> set:
    return {r[0] for r in conn.execute("SELECT s.id FROM model_search_fts f JOIN model_search s "
                                       "ON s.model_key = f.rowid WHERE model_search_fts MATCH ?", (query,))}


def test_full_text_search_over_ids_authors_tags_and_cards(demo_with_cards):
    _server, db, _ = demo_with_cards
    conn = sqlite3.connect(db)
    assert "facebook/mask2former-swin-large-cityscapes-semantic" in search(conn, "cityscapes")
    assert "facebook/bart-large-mnli" in search(conn, '"zero shot"')  # tags and card text
    assert "dslim/bert-base-NER" in search(conn, 'card:"CoNLL-2003"')  # only in its card
    assert search(conn, "author:stabilityai") == {r[0] for r in conn.execute(
        "SELECT id FROM models WHERE author = 'stabilityai'")}
    assert conn.execute("SELECT count(*) FROM model_search").fetchone()[0] == conn.execute(
        "SELECT count(*) FROM models").fetchone()[0]


def test_search_follows_renames_and_new_cards(replica_factory, tmp_path):
    server = replica_factory("synthetic:1500", seed=6)
    db = tmp_path / "hub.db"
    crawl(db, server.url, mode="full", progress=False)  # a bulk first pass: index built at its end
    crawl(db, server.url, mode="cards", progress=False)
    changes = control(server, "POST", "scenario", json.dumps({"seed": 4, "update": 20, "rename": 5}).encode())
    crawl(db, server.url, progress=False)  # incremental: the triggers keep the index in step
    conn = sqlite3.connect(db)
    old, new = changes["renamed"][0]
    owner = new.split("/")[0]
    assert new in search(conn, f'id:"{new}"')
    assert conn.execute("SELECT count(*) FROM model_search WHERE id = ?", (old,)).fetchone()[0] == 0
    assert new in search(conn, f'author:"{owner}"')
    updated_readable = {r[0] for r in conn.execute("SELECT id FROM models WHERE gated = 'false' AND id IN (%s)" % ",".join(
        "?" * len(changes["updated"])), changes["updated"])}
    assert updated_readable and search(conn, "changelog") == updated_readable  # exactly the new card texts


def test_datasette_searches_the_crawled_database(demo_with_cards):
    import asyncio

    from datasette.app import Datasette

    _server, db, _ = demo_with_cards

    async def ask():
        ds = Datasette([str(db)])
        name = db.stem
        fts = await ds.get_database(name).fts_table("model_search")
        r = await ds.client.get(f"/{name}/model_search.json?_search=mask2former&_shape=array")
        return fts, r.status_code, [row["id"] for row in r.json()]

    fts, status, ids = asyncio.run(ask())
    assert fts == "model_search_fts" and status == 200
    assert "facebook/mask2former-swin-large-cityscapes-semantic" in ids


def _card_sizes(db) -> dict:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT m.id, c.bytes FROM cards c JOIN models m ON m.key = c.model_key "
                                 "WHERE c.source = 'readme'").fetchall())
    finally:
        conn.close()


def test_a_truncating_replica_leaves_no_short_card(replica_factory, tmp_path):
    """Issue 17.1: the replica cuts 30% of README bodies in half (Content-Length agrees with the cut
    body; the ETag, the git blob id of the whole file, does not): every card stored is whole."""
    clean_server = replica_factory("synthetic:1500", seed=6)
    faulty_server = replica_factory("synthetic:1500", seed=6, faults="truncate:on=card,p=0.3")
    clean, faulty = tmp_path / "clean.db", tmp_path / "faulty.db"
    for db, server in ((clean, clean_server), (faulty, faulty_server)):
        assert crawl(db, server.url, mode="full").code == EXIT_OK
        out = crawl(db, server.url, mode="cards", scope=Scope(limit=300), backoff=0)
        assert out.code == EXIT_OK, out.summary
    fired = control(faulty_server, "GET", "state")["faults"]["rules"][0]["fired"]
    retries = int(out.summary.split(" retries")[0].rsplit(" ", 1)[1])
    assert 30 < retries <= fired  # bodies were cut (some were errors' bodies, not READMEs) and read again
    assert " 300 cards," in out.summary and " 0 quarantined" in out.summary
    assert _card_sizes(faulty) == _card_sizes(clean) and len(_card_sizes(clean)) > 250
    conn = sqlite3.connect(faulty)
    assert conn.execute("SELECT count(*) FROM cards WHERE source = 'readme' AND blob_id IS NULL").fetchone()[0] == 0


def test_a_card_that_stays_short_is_quarantined_not_stored(replica_factory, tmp_path):
    server = replica_factory("synthetic:1500", seed=6, faults="truncate:on=card")
    db = tmp_path / "hub.db"
    assert crawl(db, server.url, mode="full").code == EXIT_OK
    out = crawl(db, server.url, mode="cards", scope=Scope(limit=20), backoff=0, max_retries=1)
    assert out.code == EXIT_OK and " 0 cards," in out.summary
    conn = sqlite3.connect(db)
    none_found = conn.execute("SELECT count(*) FROM cards WHERE source = 'none'").fetchone()[0]
    reasons = [r[0] for r in conn.execute("SELECT reason FROM quarantine")]
    assert len(reasons) == 20 - none_found > 0 and f"{len(reasons)} quarantined" in out.summary
    assert all("after 2 attempts" in r and "is not the ETag" in r for r in reasons), reasons[:2]
    assert conn.execute("SELECT count(*) FROM cards WHERE source = 'readme'").fetchone()[0] == 0
    control(server, "POST", "faults", b"")  # the Hub answers whole again: the same models are read
    assert crawl(db, server.url, mode="cards", scope=Scope(limit=20)).code == EXIT_OK
    assert conn.execute("SELECT count(*) FROM cards WHERE source = 'readme'").fetchone()[0] == len(reasons)


def test_a_card_stored_short_by_an_earlier_version_is_read_again(replica_factory, tmp_path):
    server = replica_factory("synthetic:200", seed=6)
    db = tmp_path / "hub.db"
    assert crawl(db, server.url, mode="full").code == EXIT_OK
    assert crawl(db, server.url, mode="cards").code == EXIT_OK
    whole = _card_sizes(db)
    conn = sqlite3.connect(db, isolation_level=None)
    keys = [r[0] for r in conn.execute("SELECT model_key FROM cards WHERE source = 'readme' ORDER BY model_key")]
    short, old_whole, listed = keys[:5], keys[5:10], keys[10]
    # As an earlier version left them: no blob id; some cut short, some whole.
    conn.execute(f"UPDATE cards SET blob_id = NULL, bytes = bytes / 2 WHERE model_key IN ({','.join(map(str, short))})")
    conn.execute(f"UPDATE cards SET blob_id = NULL WHERE model_key IN ({','.join(map(str, old_whole + [listed]))})")
    # One whose file list gives README.md the stored size: known whole without a request.
    conn.execute("INSERT OR REPLACE INTO model_files (model_key, path, size) "
                 "SELECT model_key, 'README.md', bytes FROM cards WHERE model_key = ?", (listed,))
    control(server, "POST", "requests/reset")
    out = crawl(db, server.url, mode="cards")
    assert out.code == EXIT_OK and " 10 cards," in out.summary
    assert control(server, "GET", "requests")["counts"]["card"] == 10
    assert _card_sizes(db) == whole
    assert conn.execute("SELECT count(*) FROM cards WHERE source = 'readme' AND blob_id IS NULL").fetchone()[0] == 1
