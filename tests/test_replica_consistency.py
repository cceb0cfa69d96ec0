"""What the replica says one way it must say every way: listings, filters, revisions, renames, shutdown."""

from __future__ import annotations

import json

import pytest
import requests

from .conftest import control


def page_all(url: str) -> list[dict]:
    items = []
    while url:
        r = requests.get(url, timeout=60)
        assert r.status_code == 200, r.text
        items += r.json()
        url = r.links.get("next", {}).get("url")
    return items


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_real_ids_sharing_their_first_16_digits_are_all_listed(demo_replica, limit):
    # Real 2022 repos share _id prefixes (621ffdc136468d70...): the keyset must order the whole id.
    every = page_all(f"{demo_replica.url}/api/models?sort=createdAt&limit=1000&expand=createdAt")
    small = page_all(f"{demo_replica.url}/api/models?sort=createdAt&limit={limit}&expand=createdAt"
                     + ("&author=sentence-transformers" if limit == 1 else ""))
    expected = {i["_id"] for i in every if limit != 1 or i["id"].startswith("sentence-transformers/")}
    assert [i["_id"] for i in small] and len(small) == len(expected) and {i["_id"] for i in small} == expected


def test_bad_cursor_ids_are_a_400(demo_replica):
    import base64

    doc = {"$or": [{"likes": 1, "_id": {"$gt": "-1"}}, {"likes": {"$lt": 1}}, {"likes": None}]}
    cursor = base64.b64encode(json.dumps(doc).encode()).decode()
    assert requests.get(f"{demo_replica.url}/api/models", params={"sort": "likes", "cursor": cursor},
                        timeout=30).status_code == 400


def test_scenario_metrics_leave_recorded_models_alone(replica_factory):
    from .conftest import real_dir

    recorded = {json.loads((real_dir() / "huggingface_hub-cassettes" / e["file"]).read_bytes())["_id"]
                for e in json.loads((real_dir() / "huggingface_hub-cassettes" / "index.json").read_text())
                if e["response"]["status"] == 200}
    server = replica_factory("demo")
    before = {i["_id"]: i for i in page_all(f"{server.url}/api/models?expand=downloads&expand=likes")}
    changes = control(server, "POST", "scenario", json.dumps({"seed": 1, "metrics": 0.9}).encode())
    after = page_all(f"{server.url}/api/models?sort=downloads&expand=downloads&expand=likes")
    moved = {i["id"] for i in after if (i["downloads"], i["likes"]) != (
        before[i["_id"]]["downloads"], before[i["_id"]]["likes"])}
    assert moved and moved <= set(changes["metrics_changed"])
    assert all((i["downloads"], i["likes"]) == (before[i["_id"]]["downloads"], before[i["_id"]]["likes"])
               for i in after if i["_id"] in recorded)
    downloads = [i["downloads"] for i in after]
    assert downloads == sorted(downloads, reverse=True)  # ordered by the figures it shows


def test_rename_changes_neither_card_nor_card_data(replica_factory):
    server = replica_factory("synthetic:3000", seed=5)
    items = page_all(f"{server.url}/api/models?expand=sha&expand=cardData&expand=baseModels&expand=gated")
    auth = {"Authorization": "Bearer hf_reader"}
    cards = {i["id"]: requests.get(f"{server.url}/{i['id']}/resolve/{i['sha']}/README.md", headers=auth,
                                   timeout=30).content for i in items[:400]}
    changes = control(server, "POST", "scenario", json.dumps({"seed": 3, "rename": 600}).encode())
    renamed = dict(map(tuple, changes["renamed"]))
    after = {i["_id"]: i for i in page_all(f"{server.url}/api/models?expand=sha&expand=cardData&expand=baseModels")}
    for old in items[:400]:
        now = after[old["_id"]]
        assert now["sha"] == old["sha"] and now.get("cardData") == old.get("cardData")
        r = requests.get(f"{server.url}/{now['id']}/resolve/{now['sha']}/README.md", headers=auth, timeout=30)
        assert r.content == cards[old["id"]]
        if "baseModels" in now and now["baseModels"]["models"][0]["id"] in renamed.values():
            assert now["cardData"]["base_model"] != now["baseModels"]["models"][0]["id"]  # tags follow, card doesn't
    assert any(i["id"] in renamed for i in items[:400])


def test_older_commits_stay_resolvable(replica_factory):
    server = replica_factory("synthetic:500", seed=5)
    auth = {"Authorization": "Bearer hf_reader"}
    ids = [i["id"] for i in page_all(f"{server.url}/api/models?expand=sha")]
    before = {m: requests.get(f"{server.url}/api/models/{m}", timeout=30).json()["sha"] for m in ids[:50]}
    cards = {m: requests.get(f"{server.url}/{m}/resolve/{sha}/README.md", headers=auth, timeout=30).content
             for m, sha in before.items()}
    changes = control(server, "POST", "scenario", json.dumps({"seed": 1, "update": 400}).encode())
    model = next(m for m in changes["updated"] if m in before)
    old_sha = before[model]
    latest = requests.get(f"{server.url}/api/models/{model}", timeout=30).json()
    assert latest["sha"] != old_sha
    at_old = requests.get(f"{server.url}/api/models/{model}/revision/{old_sha}", timeout=30)
    assert at_old.status_code == 200 and at_old.json()["sha"] == old_sha
    card_old = requests.get(f"{server.url}/{model}/resolve/{old_sha}/README.md", headers=auth, timeout=30)
    assert card_old.status_code == 200 and card_old.headers["X-Repo-Commit"] == old_sha
    assert card_old.content == cards[model]  # the commit's content, as it was
    never = requests.get(f"{server.url}/api/models/{model}/revision/{'0' * 40}", timeout=30)
    assert never.status_code == 404 and never.headers["X-Error-Code"] == "RevisionNotFound"


def test_inference_warm_and_num_parameters_match_what_is_shown(demo_replica):
    shown = page_all(f"{demo_replica.url}/api/models?expand=inference&expand=safetensors&expand=gguf")
    warm = {i["_id"] for i in page_all(f"{demo_replica.url}/api/models?inference=warm&expand=inference")}
    assert warm == {i["_id"] for i in shown if i.get("inference") == "warm"}
    in_range = {i["_id"] for i in page_all(f"{demo_replica.url}/api/models?num_parameters=min:1B,max:10B"
                                           "&expand=safetensors")}

    def total(i):
        return (i.get("safetensors") or {}).get("total") or (i.get("gguf") or {}).get("total")

    assert in_range == {i["_id"] for i in shown if total(i) and 1e9 <= total(i) <= 1e10}


def test_stop_drops_kept_alive_connections(replica_factory):
    server = replica_factory("synthetic:50")
    session = requests.Session()
    assert session.get(f"{server.url}/api/models?limit=1", timeout=10).status_code == 200
    server.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{server.url}/api/models?limit=1", timeout=10)


def test_sub_routes_are_not_a_missing_repo(demo_replica):
    r = requests.get(f"{demo_replica.url}/api/models/google-bert/bert-base-uncased/discussions", timeout=30)
    assert r.status_code == 404 and "X-Error-Code" not in r.headers  # a route the replica lacks
    r = requests.get(f"{demo_replica.url}/api/models/google-bert/bert-base-uncased/tree/main", timeout=30)
    assert r.status_code == 200 and "config.json" in {e["path"] for e in r.json()}
