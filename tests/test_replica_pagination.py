"""Keyset pagination over 100,000 synthetic models: each model exactly once, even while the catalogue changes."""

from __future__ import annotations

import json

import pytest
import requests
from huggingface_hub import HfApi

from .conftest import control, replica_oids

N = 100_000


@pytest.fixture(scope="module")
def big(request):
    from hubdex.replica.server import start_replica

    server = start_replica(f"synthetic:{N}", seed=7, quotas={"api": 10**9, "resolvers": 10**9})
    request.addfinalizer(server.stop)
    return server


@pytest.mark.slow
def test_pages_through_100k_models_each_exactly_once(big):
    api = HfApi(endpoint=big.url, token=False)
    control(big, "POST", "requests/reset")
    seen = [m._id for m in api.list_models(sort="created_at", expand=["createdAt"])]
    assert len(seen) == N == len(set(seen))
    requests_made = control(big, "GET", "requests")["counts"]["list"]
    assert requests_made == -(-N // 1000)  # full pages of 1000 (the Hub's cap), and no extra request at the end
    by_downloads = [m._id for m in api.list_models(sort="downloads", expand=["downloads"])]
    assert set(by_downloads) == set(seen)


@pytest.mark.slow
@pytest.mark.parametrize("sort,moves", [("created_at", True), ("downloads", False), ("last_modified", False)])
def test_listing_while_the_catalogue_mutates_between_pages(replica_factory, sort, moves):
    """Adds, deletes, renames and updates land between every two pages; no model is seen twice, and
    every model that existed throughout (and whose sort key did not move) is seen exactly once."""
    server = replica_factory(f"synthetic:{N}", seed=11)
    before = replica_oids(server, sort="trendingScore")
    api = HfApi(endpoint=server.url, token=False)
    expand = ["createdAt", "downloads", "lastModified", "sha"]
    seen, deleted, touched, step = [], set(), set(), 0
    for i, model in enumerate(api.list_models(sort=sort, expand=expand), 1):
        seen.append(model._id)
        if i % 1000 == 0:  # the client asks for the next page only when this one is consumed
            step += 1
            changes = control(server, "POST", "scenario", json.dumps({
                # Updates and renames move lastModified: in a lastModified listing they are key moves.
                "seed": step, "update": 40 if sort != "last_modified" else 0, "add": 30,
                "rename": 20 if sort != "last_modified" else 0,
                "delete": 25, "metrics": 2000 if moves else 0}).encode())
            deleted |= set(changes["deleted"])
            touched |= {old for old, _new in changes["renamed"]}
    assert step >= 90
    assert len(seen) == len(set(seen)), "a model was listed twice"
    now = replica_oids(server, sort="trendingScore")
    survivors = before & now
    missing = survivors - set(seen)
    assert not missing, f"{len(missing)} models that existed throughout were skipped"
    # Anything else seen was added during the listing and deleted again by a later step.
    assert len(set(seen) - before - now) <= len(deleted)
    assert deleted and (touched or sort == "last_modified")


def test_cursor_is_opaque_base64_of_the_hubs_keyset_query(big):
    import base64

    r = requests.get(f"{big.url}/api/models", params={"sort": "likes", "limit": 3}, timeout=30)
    cursor = r.links["next"]["url"].split("cursor=")[1]
    from urllib.parse import unquote

    doc = json.loads(base64.b64decode(unquote(cursor)))
    last = r.json()[-1]
    assert doc["$or"][0]["_id"] == {"$gt": last["_id"]} and doc["$or"][1] == {"likes": {"$lt": last["likes"]}}
    bad = requests.get(f"{big.url}/api/models", params={"sort": "likes", "cursor": "garbage!"}, timeout=30)
    assert bad.status_code == 400
