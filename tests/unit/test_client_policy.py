"""HubClient's politeness, offline: backoff and jitter, 429 waits, RateLimit budgets, the token's
origin, and `get()` end to end against a fake session (no server, no network)."""

from __future__ import annotations

import httpx2
import pytest

from hubdex.hub import client as client_mod
from hubdex.hub.client import GaveUp, HubClient, NotFound, bucket_of, origin_of

ENDPOINT = "https://hub.test"
TOKEN = "hf_secret_token_123"


class FakeTime:
    """A clock and a sleep that advance it: a sleep of 8 s moves the clock 8 s."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeSession:
    """Answers from a script: each entry is an httpx2.Response built for the URL, or an exception."""

    def __init__(self, script):
        self.script = list(script)
        self.calls: list[dict] = []

    def get(self, url, params=None, headers=None, timeout=None, follow_redirects=None):
        self.calls.append({"url": url, "params": params, "headers": dict(headers), "timeout": timeout,
                           "follow_redirects": follow_redirects})
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        status, content, hdrs = step
        return httpx2.Response(status, content=content, headers=hdrs or {}, request=httpx2.Request("GET", url))


def ok(content=b"[]", headers=None):
    return (200, content, headers)


def status(code, headers=None, content=b"{}"):
    return (code, content, headers)


def make(script=(ok(),), **kwargs):
    t = FakeTime()
    c = HubClient(ENDPOINT, TOKEN, sleep=t.sleep, clock=t.clock, **kwargs)
    c.session = FakeSession(script)
    return c, t


def response(code, headers=None, url=ENDPOINT + "/api/models"):
    return httpx2.Response(code, content=b"{}", headers=headers or {}, request=httpx2.Request("GET", url))


# -- backoff ----------------------------------------------------------------------------------------

def test_backoff_doubles_from_base_wait_and_is_capped(monkeypatch):
    c, _ = make(base_wait=1.5, max_wait=10.0)
    monkeypatch.setattr(client_mod.random, "random", lambda: 0.5)  # jitter factor exactly 1.0
    assert [c._backoff(a) for a in range(5)] == [1.5, 3.0, 6.0, 10.0, 10.0]
    assert c._backoff(30) == 10.0


def test_backoff_jitter_is_plus_or_minus_25_percent():
    c, _ = make(base_wait=1.0, max_wait=60.0)
    draws = [c._backoff(2) for _ in range(2000)]  # nominal 4 s
    assert all(3.0 <= d <= 5.0 for d in draws)
    # The whole ±25% band is used, not a narrow part of it.
    assert min(draws) < 3.4 and max(draws) > 4.6
    assert len(set(draws)) > 1900
    capped = [c._backoff(20) for _ in range(500)]  # the cap is jittered too, within ±25%
    assert all(45.0 <= d <= 75.0 for d in capped)


def test_two_backoff_draws_differ():
    c, _ = make()
    assert c._backoff(3) != c._backoff(3)


def test_429_with_ratelimit_spent_waits_t_plus_one():
    c, t = make()
    r = response(429, {"RateLimit": '"api";r=0;t=7', "Retry-After": "30"})
    assert c._backoff(0, r) == 8
    assert c.windows["api"] == (0, t.now + 7)


def test_429_with_retry_after_and_no_ratelimit_waits_retry_after():
    c, _ = make(base_wait=1.0)
    assert c._backoff(5, response(429, {"Retry-After": "13"})) == 13


def test_429_with_budget_left_falls_back_to_retry_after():
    c, _ = make()
    assert c._backoff(0, response(429, {"RateLimit": '"api";r=3;t=7', "Retry-After": "4"})) == 4


def test_503_ignores_retry_after_and_backs_off(monkeypatch):
    c, _ = make(base_wait=1.0)
    monkeypatch.setattr(client_mod.random, "random", lambda: 0.5)
    assert c._backoff(2, response(503, {"Retry-After": "99"})) == 4.0


# -- RateLimit header and budgets -------------------------------------------------------------------

def test_ratelimit_header_parsed_into_windows_per_bucket():
    c, t = make()
    t.now = 500.0
    c._note_limits(response(200, {"RateLimit": '"api";r=41;t=120'}))
    c._note_limits(response(200, {"RateLimit": '"resolvers" ; r = 3 ; t = 9'}))
    assert c.windows == {"api": (41, 620.0), "resolvers": (3, 509.0)}
    t.now = 600.0
    c._note_limits(response(200, {"RateLimit": '"api";r=40;t=20'}))
    assert c.windows["api"] == (40, 620.0)


def test_ratelimit_of_another_origin_is_kept_under_its_origin():
    c, t = make()
    other = "http://Other-Host:9/v1/models"
    c._note_limits(response(200, {"RateLimit": '"api";r=0;t=5'}, url=other), own=False)
    assert c.windows == {"http://other-host:9": (0, t.now + 5)}


def test_no_or_garbled_ratelimit_header_changes_nothing():
    c, _ = make()
    assert c._note_limits(response(200)) is None
    assert c._note_limits(response(200, {"RateLimit": "api r=0 t=5"})) is None
    assert c.windows == {}


def test_wait_for_budget_sleeps_until_reset_when_spent():
    c, t = make()
    t.now = 90.0
    c.windows["api"] = (0, 100.0)
    c._wait_for_budget("api")
    assert t.sleeps == [10.5]
    assert c.stats.waited == 10.5
    assert "api" not in c.windows  # the window is forgotten: the next response says the new one


def test_wait_for_budget_does_not_sleep_with_budget_left_or_after_reset():
    c, t = make()
    t.now = 90.0
    c.windows["api"] = (5, 100.0)
    c._wait_for_budget("api")
    c._wait_for_budget("resolvers")  # never seen
    c.windows["resolvers"] = (0, 80.0)  # spent, but the window already reset
    c._wait_for_budget("resolvers")
    assert t.sleeps == []
    assert "resolvers" not in c.windows
    assert c.windows["api"] == (5, 100.0)


def test_spent_bucket_does_not_hold_back_another():
    c, t = make()
    c.windows["resolvers"] = (0, t.now + 50)
    c._wait_for_budget("api")
    assert t.sleeps == []


# -- buckets, origins, headers ----------------------------------------------------------------------

@pytest.mark.parametrize("url, bucket", [
    ("https://hub.test/org/m/resolve/main/README.md", "resolvers"),
    ("https://hub.test/api/resolve-cache/models/org/m/abc/README.md", "resolvers"),
    ("https://hub.test/api/models", "api"),
    ("https://hub.test/api/models/org/m", "api"),
    ("https://hub.test/api/models/org/resolver-model", "api"),
])
def test_bucket_of(url, bucket):
    assert bucket_of(url) == bucket


def test_origin_of():
    assert origin_of("https://Hub.Test/api/models?limit=5") == "https://hub.test"
    assert origin_of("http://other-host:9/v1/models") == "http://other-host:9"
    assert origin_of("https://hub.test:443/x") != origin_of("http://hub.test/x")


def test_token_in_headers_not_in_anonymous_headers():
    c, _ = make()
    assert c.headers["authorization"] == f"Bearer {TOKEN}"
    assert not any(k.lower() == "authorization" for k in c.anonymous_headers)
    assert TOKEN not in repr(c.anonymous_headers)
    assert "hubdex" in c.anonymous_headers["user-agent"]


def test_no_token_means_no_authorization():
    c = HubClient(ENDPOINT, None)
    assert not any(k.lower() == "authorization" for k in c.headers)


# -- get() against a fake session -------------------------------------------------------------------

def test_get_to_endpoint_sends_the_token():
    c, _ = make([ok(b'[{"id": "a"}]')])
    body, resp = c.get("/api/models", {"limit": 1})
    assert body == [{"id": "a"}] and resp.status_code == 200
    call = c.session.calls[0]
    assert call["url"] == ENDPOINT + "/api/models"
    assert call["params"] == {"limit": 1}
    assert call["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert call["timeout"] == c.timeout and call["follow_redirects"] is True
    assert c.stats.by_bucket == {"api": 1}


def test_get_to_full_url_on_endpoint_origin_sends_the_token():
    c, _ = make()
    c.get("https://HUB.test/org/m/resolve/main/README.md", parse_json=False)  # host compared case-blind
    assert c.session.calls[0]["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert c.stats.by_bucket == {"resolvers": 1}


def test_get_to_another_origin_goes_without_the_token():
    c, _ = make([ok(b'{"data": []}', {"RateLimit": '"api";r=0;t=30'})])
    body, _ = c.get("http://other-host:9/v1/models")
    assert body == {"data": []}
    headers = c.session.calls[0]["headers"]
    assert not any(k.lower() == "authorization" for k in headers)
    assert TOKEN not in repr(headers)
    # Its budget is its own: the Hub's "api" bucket is untouched by the other host's header.
    assert c.stats.by_bucket == {"http://other-host:9": 1}
    assert "api" not in c.windows and c.windows["http://other-host:9"][0] == 0


def test_get_same_host_other_port_is_another_origin():
    c, _ = make()
    c.get("https://hub.test:8443/api/models")
    assert "authorization" not in c.session.calls[0]["headers"]


def test_get_retries_503_once_then_succeeds():
    c, t = make([status(503), ok(b"[1]")])
    body, _ = c.get("/api/models")
    assert body == [1]
    assert len(c.session.calls) == 2
    assert len(t.sleeps) == 1 and 0.75 <= t.sleeps[0] <= 1.25  # attempt 0: base_wait 1 s, jittered
    assert c.stats.retries == 1 and c.stats.errors == 1 and c.stats.requests == 2


def test_get_429_waits_t_plus_one_and_not_again_for_the_budget():
    c, t = make([status(429, {"RateLimit": '"api";r=0;t=7'}), ok()])
    c.get("/api/models")
    assert t.sleeps == [8]  # the backoff covers the window; the budget check then finds it reset
    assert c.stats.throttled == 1 and c.stats.waited == 8


def test_get_waits_for_a_spent_budget_before_the_next_request():
    c, t = make([ok(headers={"RateLimit": '"api";r=0;t=20'}), ok()])
    c.get("/api/models")
    assert t.sleeps == []
    c.get("/api/models")
    assert t.sleeps == [20.5]
    assert len(c.session.calls) == 2


def test_get_honours_max_retries_per_call_and_gives_up_without_the_token():
    c, t = make([status(503)], max_retries=8)
    with pytest.raises(GaveUp) as e:
        c.get(f"/api/models?cursor=abc&token={TOKEN}", max_retries=2)
    assert len(c.session.calls) == 3
    assert len(t.sleeps) == 2
    message = str(e.value)
    assert TOKEN not in message and "cursor" not in message
    assert "after 3 attempts" in message and "HTTP 503" in message
    assert c.max_retries == 8  # the per-call limit does not stick


def test_get_uses_the_client_max_retries_by_default():
    c, t = make([status(500)], max_retries=3)
    with pytest.raises(GaveUp):
        c.get("/api/models")
    assert len(c.session.calls) == 4 and len(t.sleeps) == 3


def test_get_retries_timeouts_and_broken_json():
    c, _ = make([httpx2.ReadTimeout("slow"), ok(b'[{"trunc'), ok(b"[2]")])
    body, _ = c.get("/api/models")
    assert body == [2]
    assert len(c.session.calls) == 3


def test_get_gives_up_naming_the_last_failure():
    c, _ = make([httpx2.ConnectTimeout("down")])
    with pytest.raises(GaveUp, match="ConnectTimeout"):
        c.get("/api/models", max_retries=1)


def test_get_404_is_not_found_and_not_retried():
    c, t = make([status(404, {"X-Error-Code": "RepoNotFound"})])
    with pytest.raises(NotFound) as e:
        c.get("/api/models/org/missing")
    assert e.value.status == 404 and e.value.code == "RepoNotFound"
    assert len(c.session.calls) == 1 and t.sleeps == []
    assert TOKEN not in str(e.value)


# -- whole files ------------------------------------------------------------------------------------

def test_git_blob_id_is_gits():
    import subprocess

    body = "---\nlicense: mit\n---\n# A card\n\nwith ünïcode\n".encode()
    git = subprocess.run(["git", "hash-object", "--stdin"], input=body, capture_output=True, check=True).stdout
    assert client_mod.git_blob_id(body) == git.decode().strip()


def test_a_body_shorter_than_its_etag_says_is_retried_then_incomplete():
    whole = b"# card\n" * 100
    etag = {"ETag": f'"{client_mod.git_blob_id(whole)}"'}
    c, t = make([ok(whole[:300], etag), ok(whole, etag)])
    body, _ = c.get("/org/m/resolve/abc/README.md", parse_json=False, check=client_mod.whole_file)
    assert body == whole and len(c.session.calls) == 2 and c.stats.retries == 1
    c, t = make([ok(whole[:300], etag)])
    with pytest.raises(client_mod.Incomplete) as e:
        c.get("/org/m/resolve/abc/README.md", parse_json=False, check=client_mod.whole_file, max_retries=2)
    assert e.value.body == whole[:300] and "after 3 attempts" in str(e.value) and "is not the ETag" in str(e.value)


def test_whole_file_checks_content_length_and_the_digest_the_etag_is():
    import hashlib

    body = b"0123456789"
    r = lambda headers: httpx2.Response(200, content=b"", headers=headers)  # noqa: E731
    assert client_mod.whole_file(body, r({"Content-Length": "20"})) == \
        "a body of 10 bytes where Content-Length says 20"
    assert client_mod.whole_file(body, r({"Content-Length": "20", "Content-Encoding": "gzip"})) is None
    assert client_mod.whole_file(body, r({"ETag": f'W/"{client_mod.git_blob_id(body)}"'})) is None
    assert "is not the ETag" in client_mod.whole_file(body[:5], r({"ETag": f'"{client_mod.git_blob_id(body)}"'}))
    lfs = hashlib.sha256(body).hexdigest()
    assert client_mod.whole_file(body, r({"X-Linked-Etag": f'"{lfs}"'})) is None
    assert "sha256" in client_mod.whole_file(body[:5], r({"X-Linked-Etag": f'"{lfs}"'}))
    assert client_mod.whole_file(body, r({"ETag": '"d41d8cd98f00b204e9800998ecf8427e"'})) is None  # an MD5: unknown


def test_long_waits_are_told_short_ones_are_not(monkeypatch):
    monkeypatch.setattr(client_mod.random, "random", lambda: 0.5)  # jitter factor exactly 1.0
    told = []
    c, t = make([httpx2.ConnectError("[Errno 111] Connection refused"), status(503), ok()], base_wait=4.0,
                on_wait=told.append)
    c.get("/api/models")
    assert told == ["retry 1 of 8 in 4 s: connection refused (ConnectError) at https://hub.test/api/models",
                    "retry 2 of 8 in 8 s: HTTP 503 at https://hub.test/api/models"]
    told.clear()
    c, t = make([ok(headers={"RateLimit": '"api";r=0;t=194'}), ok()], on_wait=told.append)
    c.get("/api/models")
    c.get("/api/models")
    assert told == ["waiting 194 s for the api rate-limit window"]  # 194.5 s, said in whole seconds
    told.clear()
    c, t = make([status(503), ok()], base_wait=0.1, on_wait=told.append)
    c.get("/api/models")
    assert told == [] and len(t.sleeps) == 1  # a tenth of a second is not worth a line
