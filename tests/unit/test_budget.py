"""The rate-limit budget shared by the runs of one database (hub/budget.py), offline: a window one
run spent is waited for by the next run instead of being rediscovered through 429s."""

from __future__ import annotations

import json

from hubdex.hub import budget as budget_mod
from hubdex.hub.budget import SharedBudget
from hubdex.hub.client import HubClient

from .test_client_policy import ENDPOINT, FakeSession, FakeTime, ok


def limits(remaining: int, reset: int) -> dict:
    return {"RateLimit": f'"api";r={remaining};t={reset}', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}


def client(path, t: FakeTime, script, wall):
    c = HubClient(ENDPOINT, None, sleep=t.sleep, clock=t.clock, budget=SharedBudget(str(path), ENDPOINT, wall=wall))
    c.session = FakeSession(script)
    return c


def test_a_spent_window_is_waited_for_by_the_next_run(tmp_path):
    path = tmp_path / "hub.db.ratelimit"
    t = FakeTime()
    wall = lambda: 1_700_000_000.0 + t.now  # noqa: E731 - wall time moves with the fake clock
    first = client(path, t, [ok(headers=limits(0, 120))], wall)
    first.get("/api/models")
    saved = json.loads(path.read_text())[ENDPOINT]["api"]
    assert saved["remaining"] == 0 and saved["reset_at"] == wall() + 120
    t.now += 20  # the first run ends; the next starts 20 s later, in a new process (a new client)
    second = client(path, t, [ok(headers=limits(499, 300))], wall)
    second.get("/api/models")
    assert t.sleeps == [100.5]  # the rest of the window (and half a second), before its first request
    assert second.stats.throttled == 0
    left = budget_mod.left(str(path), now=wall())
    assert left[ENDPOINT]["api"]["remaining"] == 499


def test_a_window_that_reset_is_not_waited_for_and_a_broken_file_is_ignored(tmp_path):
    path = tmp_path / "hub.db.ratelimit"
    t = FakeTime()
    wall = lambda: 1_700_000_000.0 + t.now  # noqa: E731
    client(path, t, [ok(headers=limits(0, 60))], wall).get("/api/models")
    t.now += 61
    client(path, t, [ok(headers=limits(499, 300))], wall).get("/api/models")
    assert t.sleeps == []
    assert budget_mod.left(str(path), now=wall() + 1000)[ENDPOINT]["api"]["remaining"] is None  # reset: full
    path.write_text("{not json")
    client(path, t, [ok(headers=limits(10, 300))], wall).get("/api/models")  # no crash: advice only
    assert json.loads(path.read_text())[ENDPOINT]["api"]["remaining"] == 10
