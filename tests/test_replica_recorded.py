"""The recorded catalogue: every real body, card and redirect served as recorded."""

from __future__ import annotations

import filecmp
import json
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
import requests
from huggingface_hub import HfApi

from hubdex.replica.wire import weak_etag

from .conftest import REPO, SHARED_REAL, real_dir

PACKAGED = REPO / "src" / "hubdex" / "replica" / "data" / "real"


def recorded_responses():
    """(as-of epoch, uri, status, body path) for every recorded response, read from the ground truth."""
    base = real_dir()
    out = []
    for e in json.loads((base / "huggingface_hub-cassettes" / "index.json").read_text()):
        when = parsedate_to_datetime(e["response"]["headers"]["Date"]).timestamp()
        out.append((when, e["request"]["uri"], e["response"]["status"], base / "huggingface_hub-cassettes" / e["file"]))
    for e in json.loads((base / "hub-listings" / "index.json").read_text())["entries"]:
        day = e["recorded"][:10] if e["recorded"][:4].isdigit() else "2023-05-22"
        when = parsedate_to_datetime(f"{day[8:10]} {['', 'Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][int(day[5:7])]} {day[:4]} 00:00:00 GMT").timestamp()
        out.append((when, e["request_uri"], e["status"], base / "hub-listings" / e["file"]))
    return out


RESPONSES = recorded_responses()


@pytest.mark.skipif(not SHARED_REAL.is_dir(), reason="../shared is not beside the repo")
def test_packaged_fixtures_are_an_exact_copy_of_shared():
    cmp = filecmp.dircmp(SHARED_REAL, PACKAGED)
    stack, differing = [cmp], []
    while stack:
        c = stack.pop()
        differing += c.left_only + c.right_only + c.diff_files
        stack += c.subdirs.values()
    assert differing == []
    for path in SHARED_REAL.rglob("*"):
        if path.is_file():
            assert (PACKAGED / path.relative_to(SHARED_REAL)).read_bytes() == path.read_bytes()


def test_all_recordings_are_covered():
    assert len(RESPONSES) == 82  # 76 huggingface_hub cassette bodies + 6 hub-listings bodies


@pytest.mark.parametrize("when,uri,status,body", RESPONSES, ids=[r[3].name for r in RESPONSES])
def test_each_recorded_body_comes_back_identical(demo_replica, when, uri, status, body):
    parts = urlsplit(uri)
    endpoint = f"{demo_replica.url}/_asof/{int(when)}"
    r = requests.get(f"{endpoint}{parts.path}" + (f"?{parts.query}" if parts.query else ""),
                     allow_redirects=False, timeout=30)
    assert r.status_code == status
    assert r.content == body.read_bytes()
    if status == 200:
        # The unmodified client reads it through the same time-travel endpoint.
        model_id = parts.path[len("/api/models/"):]
        expand = [v.split("=", 1)[1] for v in parts.query.split("&") if v.startswith("expand")] or None
        info = HfApi(endpoint=endpoint, token=False).model_info(model_id, expand=expand)
        assert info.id == json.loads(body.read_bytes())["id"]
    else:
        assert r.headers["Location"].startswith("/_asof/") or r.headers["Location"].startswith("/api/models/")


def test_newest_recording_is_served_by_default(demo_replica):
    newest = {}
    for when, uri, status, body in RESPONSES:
        if uri not in newest or when > newest[uri][0]:
            newest[uri] = (when, body)
    for uri, (_when, body) in newest.items():
        parts = urlsplit(uri)
        r = requests.get(f"{demo_replica.url}{parts.path}" + (f"?{parts.query}" if parts.query else ""),
                         allow_redirects=False, timeout=30)
        assert r.content == body.read_bytes(), uri


def test_etag_algorithm_matches_the_hubs():
    """The API's weak ETag is express's W/"<len hex>-<base64 sha1>": every recorded ETag agrees but one."""
    base = real_dir() / "huggingface_hub-cassettes"
    mismatches = []
    for e in json.loads((base / "index.json").read_text()):
        etag = e["response"]["headers"].get("ETag")
        if etag and weak_etag((base / e["file"]).read_bytes()) != etag:
            mismatches.append(e["file"])
    # /api/models/gpt2 answered with the legacy id in the body but the ETag of the canonical body.
    assert mismatches == ["bodies/gpt2__2025-03-21__0bfdde8fa8.json"]


def test_recorded_models_are_projected_into_listings(demo_replica):
    listed = {}
    url = f"{demo_replica.url}/api/models?expand=sha&expand=downloads&expand=likes&expand=tags&expand=gated"
    while url:
        r = requests.get(url, timeout=30)
        listed.update({i["_id"]: i for i in r.json()})
        url = r.links.get("next", {}).get("url")
    base = real_dir() / "huggingface_hub-cassettes"
    checked = 0
    for e in json.loads((base / "index.json").read_text()):
        if e["response"]["status"] != 200 or "?" in e["request"]["uri"]:
            continue
        body = json.loads((base / e["file"]).read_bytes())
        served = requests.get(f"{demo_replica.url}/api/models/{body['id']}", timeout=30, allow_redirects=True).json()
        item = listed[served["_id"]]
        assert [item[k] for k in ("sha", "downloads", "likes", "tags", "gated")] == [
            served[k] for k in ("sha", "downloads", "likes", "tags", "gated")]
        checked += 1
    assert checked >= 40
    ids = [i["id"] for i in listed.values()]
    assert "openai-community/gpt2" in ids and "gpt2" not in ids  # an alias is not a second model


def test_real_cards_are_served_as_readme(demo_replica):
    cards = json.loads((real_dir() / "model-cards" / "index.json").read_text())
    gated = []
    for entry in cards:
        url = f"{demo_replica.url}/{entry['model_id']}/resolve/main/README.md"
        if requests.head(url, timeout=30).status_code == 401:
            gated.append(entry["model_id"])
        r = requests.get(url, headers={"Authorization": "Bearer hf_reader"}, timeout=30)
        assert r.status_code == 200, entry["model_id"]
        assert r.content == (real_dir() / "model-cards" / entry["file"]).read_bytes()
    assert len(cards) == 79
    assert gated == ["black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-kontext-dev"]


def test_recorded_inference_provider_mapping_is_a_list_in_listings(demo_replica):
    items = requests.get(f"{demo_replica.url}/api/models",
                         params={"search": "Llama-3.1-8B-Instruct", "expand": "inferenceProviderMapping"},
                         timeout=30).json()
    mapping = next(i for i in items if i["id"] == "meta-llama/Llama-3.1-8B-Instruct")["inferenceProviderMapping"]
    # The newest recording (2026-08-12) lists deepinfra, featherless-ai, novita and nscale.
    assert sorted(e["provider"] for e in mapping) == ["deepinfra", "featherless-ai", "novita", "nscale"]
    assert all(set(e) == {"provider", "providerId", "status", "task"} for e in mapping)
