"""`hubdex crawl` over real HTTP against the replica: full, second run, incremental, metrics, scopes."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
import requests

from hubdex.crawl.cards import CONFIG_FILES
from hubdex.crawl.scope import Scope
from hubdex.jobs import EXIT_OK

from .conftest import control, crawl

DATA_TABLES = ["models", "model_tags", "model_files", "model_relations", "model_spaces", "model_providers",
               "metrics_history"]


def listing(server, expand=("sha", "lastModified", "tags", "siblings", "downloads", "likes")) -> dict:
    items, url = {}, f"{server.url}/api/models?sort=createdAt&" + "&".join(f"expand={e}" for e in expand)
    while url:
        r = requests.get(url, timeout=60)
        items.update({i["_id"]: i for i in r.json()})
        url = r.links.get("next", {}).get("url")
    return items


def fingerprint(db_path) -> dict:
    conn = sqlite3.connect(db_path)
    out = {}
    for table in DATA_TABLES:
        digest = hashlib.sha256()
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
            digest.update(repr(row).encode())
        out[table] = digest.hexdigest()
    conn.close()
    return out


def crawl_replica(server, db, **kwargs):
    return crawl(db, server.url, **kwargs)


@pytest.fixture(scope="module")
def crawled_20k(tmp_path_factory):
    from hubdex.replica.server import start_replica

    server = start_replica("synthetic:20000", seed=21, quotas={"api": 10**9, "resolvers": 10**9})
    db = tmp_path_factory.mktemp("crawl") / "hub.db"
    first = crawl_replica(server, db, mode="full")
    yield server, db, first
    server.stop()


@pytest.mark.slow
def test_full_crawl_stores_every_model_once_with_its_fields(crawled_20k):
    server, db, first = crawled_20k
    assert first.code == EXIT_OK, first.summary
    truth = listing(server)
    conn = sqlite3.connect(db)
    rows = {r[0]: r for r in conn.execute("SELECT oid, id, sha, last_modified, downloads, likes, key FROM models")}
    assert set(rows) == set(truth) and len(truth) == 20000
    for oid, item in truth.items():
        assert rows[oid][1:6] == (item["id"], item["sha"], item["lastModified"], item["downloads"], item["likes"])
    tags = {}
    for key, tag in conn.execute("SELECT model_key, tag FROM model_tags"):
        tags.setdefault(key, set()).add(tag)
    files = {}
    for key, path in conn.execute("SELECT model_key, path FROM model_files"):
        files.setdefault(key, set()).add(path)
    for oid, item in list(truth.items())[:2000]:
        key = rows[oid][6]
        assert tags.get(key, set()) == set(item["tags"])
        assert files.get(key, set()) == {s["rfilename"] for s in item["siblings"]}
    run_row = conn.execute("SELECT status, pages, models_new, requests FROM runs ORDER BY id LIMIT 1").fetchone()
    assert run_row == ("completed", 20, 20000, 22)  # ceil(N/1000) pages, the watermark probe, the router catalogue
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_second_full_run_writes_nothing(crawled_20k):
    server, db, _ = crawled_20k
    before = fingerprint(db)
    second = crawl_replica(server, db, mode="full")
    assert second.code == EXIT_OK
    assert fingerprint(db) == before
    conn = sqlite3.connect(db)
    last = conn.execute("SELECT models_seen, models_new, models_changed, models_removed, metrics_moved FROM runs "
                        "ORDER BY id DESC LIMIT 1").fetchone()
    assert last == (20000, 0, 0, 0, 0)


def test_incremental_finds_exactly_what_changed(replica_factory, tmp_path):
    server = replica_factory("synthetic:10000", seed=4)
    db = tmp_path / "hub.db"
    assert crawl_replica(server, db, mode="full").code == EXIT_OK
    changes = control(server, "POST", "scenario", json.dumps(
        {"seed": 5, "update": 0.01, "add": 40, "rename": 15, "delete": 12}).encode())
    control(server, "POST", "requests/reset")
    out = crawl_replica(server, db)  # auto: incremental, a full pass exists
    assert out.code == EXIT_OK, out.summary
    conn = sqlite3.connect(db)
    r = conn.execute("SELECT mode, models_new, models_changed, models_renamed, details, requests, pages, cards "
                     "FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    changed = len(changes["updated"])
    assert r[:5] == ("incremental", 40, changed, 15, 40 + changed + 15)
    # The minimum: the pages holding the changed models, one model_info each (file sizes, model-index),
    # one README each (none had been read yet: renamed models' cards too), each small config file its
    # file list holds (read with the card: context length, embedding dimension), and the router's catalogue.
    pages_needed = -(-(40 + changed + 15) // 1000)
    assert r[7] == 40 + changed + 15
    touched = changes["added"] + changes["updated"] + [new for _old, new in changes["renamed"]]
    configs = conn.execute(
        f"SELECT count(*) FROM model_files f JOIN models m ON m.key = f.model_key WHERE f.path IN "
        f"({', '.join('?' * len(CONFIG_FILES))}) AND m.id IN ({', '.join('?' * len(touched))})",
        (*CONFIG_FILES, *touched)).fetchone()[0]
    assert configs > 0  # the synthetic models ship a config.json
    assert r[6] == pages_needed and r[5] == pages_needed + r[4] + r[7] + configs + 1
    ids = {row[0] for row in conn.execute("SELECT id FROM models WHERE removed_at IS NULL")}
    assert set(changes["added"]) <= ids and {new for _old, new in changes["renamed"]} <= ids
    assert not {old for old, _new in changes["renamed"]} & ids
    for model_id in changes["updated"][:10]:
        sha = conn.execute("SELECT sha FROM models WHERE id = ?", (model_id,)).fetchone()[0]
        assert sha == requests.get(f"{server.url}/api/models/{model_id}", timeout=30).json()["sha"]
    sized = conn.execute("SELECT count(*) FROM model_files f JOIN models m ON m.key = f.model_key "
                         "WHERE m.id = ? AND f.size IS NOT NULL", (changes["added"][0],)).fetchone()[0]
    assert sized > 0  # details brought file sizes
    # Deletions leave no trace in a listing: the next full pass tombstones exactly them.
    full = crawl_replica(server, db, mode="full")
    removed = {row[0] for row in conn.execute("SELECT id FROM models WHERE removed_at IS NOT NULL")}
    assert removed == set(changes["deleted"]) and full.code == EXIT_OK


def test_a_model_that_comes_back_is_revived(replica_factory, tmp_path):
    server = replica_factory("synthetic:800", seed=4)
    db = tmp_path / "hub.db"
    control(server, "POST", "faults", b"missing-id:on=list,rate=0.5")  # unreadable, but seen: no tombstone
    assert crawl_replica(server, db, mode="full").code == EXIT_OK
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM models WHERE removed_at IS NOT NULL").fetchone()[0] == 0
    control(server, "DELETE", "faults")
    crawl_replica(server, db, mode="full")
    assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 800
    conn.execute("UPDATE models SET removed_at = '2026-01-01T00:00:00Z' WHERE key <= 10")
    conn.commit()
    crawl_replica(server, db, mode="full")
    assert conn.execute("SELECT count(*) FROM models WHERE removed_at IS NOT NULL").fetchone()[0] == 0
    assert conn.execute("SELECT models_revived FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0] == 10


def test_metrics_mode_records_only_what_moved(replica_factory, tmp_path):
    server = replica_factory("synthetic:5000", seed=8)
    db = tmp_path / "hub.db"
    crawl_replica(server, db, mode="full")
    changes = control(server, "POST", "scenario", json.dumps({"seed": 2, "metrics": 0.2}).encode())
    truth = listing(server, expand=("downloads", "downloadsAllTime", "likes", "trendingScore"))
    conn = sqlite3.connect(db)
    stored = {r[0]: r[1:] for r in conn.execute(
        "SELECT oid, downloads, downloads_all_time, likes, trending_score FROM models")}
    moved = {oid for oid, i in truth.items() if stored[oid] != (
        i["downloads"], i["downloadsAllTime"], i["likes"], i["trendingScore"])}
    assert len(moved) <= len(changes["metrics_changed"]) and moved
    conn.execute("DELETE FROM metrics_history")  # figures of the day the full pass saw: start afresh
    conn.commit()
    out = crawl_replica(server, db, mode="metrics")
    assert out.code == EXIT_OK
    history = conn.execute("SELECT count(*) FROM metrics_history").fetchone()[0]
    assert history == len(moved)
    assert conn.execute("SELECT metrics_moved, requests FROM runs ORDER BY id DESC LIMIT 1").fetchone() == (
        len(moved), 5)
    again = crawl_replica(server, db, mode="metrics")  # the same day, nothing moved since
    assert again.code == EXIT_OK and conn.execute("SELECT count(*) FROM metrics_history").fetchone()[0] == history
    mover = truth[next(iter(moved))]
    series = conn.execute("SELECT downloads, likes, moved FROM model_daily_metrics WHERE model_id = ?",
                          (mover["id"],)).fetchall()
    assert series == [(mover["downloads"], mover["likes"], 1)]


def test_scoped_crawls_and_unknown_models(demo_replica, tmp_path):
    db = tmp_path / "hub.db"
    out = crawl(db, demo_replica.url, scope=Scope(author="sentence-transformers"), progress=False)
    conn = sqlite3.connect(db)
    got = {r[0] for r in conn.execute("SELECT id FROM models")}
    assert out.code == EXIT_OK and got and all(i.startswith("sentence-transformers/") for i in got)
    out = crawl(db, demo_replica.url, scope=Scope(filters=["license:mit"], limit=25), progress=False)
    assert conn.execute("SELECT count(*) FROM models m JOIN model_tags t ON t.model_key = m.key "
                        "WHERE t.tag = 'license:mit'").fetchone()[0] == 25
    out = crawl(db, demo_replica.url, progress=False,
              scope=Scope(model_ids=["facebook/mask2former-swin-large-cityscapes-semantic", "nobody/nothing"]))
    assert out.code == 1 and "unknown model: nobody/nothing" in out.summary
    row = conn.execute("SELECT pipeline_tag, license, detail_at FROM models WHERE id = ?",
                       ("facebook/mask2former-swin-large-cityscapes-semantic",)).fetchone()
    assert row[0] == "image-segmentation" and row[1] == "other" and row[2]


def test_licences_are_stored_as_the_hub_gives_them(demo_replica, tmp_path):
    db = tmp_path / "hub.db"
    crawl(db, demo_replica.url, mode="full", progress=False)
    conn = sqlite3.connect(db)
    sd = conn.execute("SELECT license, license_name, license_link, card_license, gated FROM models WHERE id = ?",
                      ("stabilityai/stable-diffusion-3.5-large",)).fetchone()
    assert sd == ("other", "stabilityai-ai-community", "LICENSE.md", "other", "auto")
    llama = conn.execute("SELECT license, params, base_model_relation FROM models WHERE id = ?",
                         ("meta-llama/Llama-3.1-8B-Instruct",)).fetchone()
    assert llama == ("llama3.1", 8030261248, "finetune")
    parents = {r[0] for r in conn.execute("SELECT parent FROM model_relations r JOIN models m ON m.key = r.model_key "
                                          "WHERE m.id = 'meta-llama/Llama-3.1-8B-Instruct'")}
    assert parents == {"meta-llama/Llama-3.1-8B"}
    providers = {r[0] for r in conn.execute("SELECT provider FROM model_providers p JOIN models m ON m.key = "
                                            "p.model_key WHERE m.id = 'meta-llama/Llama-3.1-8B-Instruct'")}
    assert providers == {"deepinfra", "featherless-ai", "novita", "nscale"}
