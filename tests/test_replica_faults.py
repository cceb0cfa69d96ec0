"""Fault injection and rate limits, as a crawler sees them on the wire."""

from __future__ import annotations

import json
import time

import pytest
import requests
from huggingface_hub import HfApi

from hubdex.replica.faults import FaultSpecError, parse_spec

from .conftest import control


@pytest.fixture
def small(replica_factory):
    return replica_factory("synthetic:2500", seed=3)


def test_spec_errors_are_explicit():
    with pytest.raises(FaultSpecError, match="unknown fault kind 'boom'"):
        parse_spec("boom")
    with pytest.raises(FaultSpecError, match="not key=value"):
        parse_spec("503:nth")
    with pytest.raises(FaultSpecError, match="whole number"):
        parse_spec("429:count=many")


def test_5xx_on_the_first_page_is_retried_by_the_client(small):
    control(small, "POST", "faults", b"503:on=list,nth=1")
    ids = [m.id for m in HfApi(endpoint=small.url, token=False).list_models(limit=2500, expand=["sha"])]
    assert len(set(ids)) == 2500
    counts = control(small, "GET", "requests")["counts"]
    assert counts["list:503"] == 1 and counts["list:200"] == 3


@pytest.mark.parametrize("code", ["500", "502", "504"])
def test_each_5xx_code(small, code):
    control(small, "POST", "faults", f"{code}:on=info,count=1".encode())
    first = requests.get(f"{small.url}/api/models?limit=1", timeout=30).json()[0]["id"]
    r1 = requests.get(f"{small.url}/api/models/{first}", timeout=30)
    r2 = requests.get(f"{small.url}/api/models/{first}", timeout=30)
    assert (r1.status_code, r2.status_code) == (int(code), 200)
    assert r1.headers["RateLimit"].startswith('"api";')


def test_429_storm_with_and_without_headers(small):
    control(small, "POST", "faults", b"429:on=list,count=2,retry=1;429:on=list,count=2,headers=no")
    codes, headers = [], []
    for _ in range(5):
        r = requests.get(f"{small.url}/api/models?limit=1", timeout=30)
        codes.append(r.status_code)
        headers.append(r.headers.get("RateLimit"))
    assert codes == [429, 429, 429, 429, 200]
    assert headers[0] == '"api";r=0;t=1' and headers[2] is None and headers[3] is None
    # The client rides out a storm with headers (it sleeps t+1 s each time) and finishes the listing.
    control(small, "POST", "faults", b"429:on=list,count=2,retry=0")
    assert len(list(HfApi(endpoint=small.url, token=False).list_models(limit=1500))) == 1500


def test_slow_response_exceeds_a_client_timeout(small):
    control(small, "POST", "faults", b"slow:on=list,count=1,delay=2")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{small.url}/api/models?limit=5", timeout=0.5)
    assert requests.get(f"{small.url}/api/models?limit=5", timeout=5).status_code == 200


def test_connection_reset_mid_body(small):
    control(small, "POST", "faults", b"reset:on=list,count=1")
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.get(f"{small.url}/api/models?limit=1000", timeout=10)
    assert len(requests.get(f"{small.url}/api/models?limit=1000", timeout=10).json()) == 1000


def test_truncated_json_is_a_complete_response_with_a_broken_body(small):
    control(small, "POST", "faults", b"truncate:on=list,nth=1")
    r = requests.get(f"{small.url}/api/models?limit=100", timeout=10)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_item_faults_missing_id_new_field_vanishing_field(small):
    control(small, "POST", "faults", b"missing-id:on=list,rate=0.1;new-field:name=hotness,value=7;vanish:field=likes")
    items = requests.get(f"{small.url}/api/models?limit=100", timeout=10).json()
    assert sum("id" not in i for i in items) == 10
    assert all(i["hotness"] == "7" and "likes" not in i for i in items)
    info = requests.get(f"{small.url}/api/models/{items[0]['_id'] and items[1].get('id') or items[2]['id']}",
                        timeout=10).json()
    assert "hotness" in info and "likes" not in info
    control(small, "DELETE", "faults")
    clean = requests.get(f"{small.url}/api/models?limit=100", timeout=10).json()
    assert all("id" in i and "likes" in i and "hotness" not in i for i in clean)


def test_rate_limit_headers_per_bucket_and_429_when_empty(replica_factory):
    server = replica_factory("synthetic:200", quotas={"api": 3, "resolvers": 2}, window=60)
    first = requests.get(f"{server.url}/api/models?limit=1", timeout=10)
    assert first.headers["RateLimit"] == '"api";r=2;t=60'
    assert first.headers["RateLimit-Policy"] == '"fixed window";"api";q=3;w=60'
    model = first.json()[0]["id"]
    requests.get(f"{server.url}/api/models/{model}", timeout=10)
    requests.get(f"{server.url}/api/models/{model}", timeout=10)
    empty = requests.get(f"{server.url}/api/models/{model}", timeout=10)
    assert empty.status_code == 429 and empty.headers["RateLimit"].startswith('"api";r=0;t=')
    card = requests.head(f"{server.url}/{model}/resolve/main/README.md", timeout=10)
    assert card.headers["RateLimit"] == '"resolvers";r=1;t=60'  # its own bucket, untouched by api calls
    # A token is another caller, with its own window.
    authed = requests.get(f"{server.url}/api/models?limit=1", headers={"Authorization": "Bearer hf_a"}, timeout=10)
    assert authed.status_code == 200


def test_rate_limit_window_resets(replica_factory):
    server = replica_factory("synthetic:200", quotas={"api": 1, "resolvers": 1}, window=1)
    assert requests.get(f"{server.url}/api/models?limit=1", timeout=10).status_code == 200
    assert requests.get(f"{server.url}/api/models?limit=1", timeout=10).status_code == 429
    time.sleep(1.1)
    assert requests.get(f"{server.url}/api/models?limit=1", timeout=10).status_code == 200


def test_faults_with_probability_are_seeded(replica_factory):
    runs = []
    for _ in range(2):
        server = replica_factory("synthetic:100", seed=5, faults="503:on=list,p=0.3")
        runs.append([requests.get(f"{server.url}/api/models?limit=1", timeout=10).status_code for _ in range(30)])
    assert runs[0] == runs[1] and 503 in runs[0] and 200 in runs[0]
