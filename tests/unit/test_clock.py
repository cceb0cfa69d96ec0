"""clock: the job's day and timestamps, injected (HUBDEX_DAY read only by from_environment)."""

from __future__ import annotations

import datetime

import pytest

from hubdex.clock import DAY_ENV, BadDay, Clock, epoch_of, iso, parse_day


def days_since_epoch(y, m, d):
    return (datetime.date(y, m, d) - datetime.date(1970, 1, 1)).days


def test_parse_day():
    assert parse_day("1970-01-01") == 0
    assert parse_day("1970-01-02") == 1
    assert parse_day("2026-12-01") == days_since_epoch(2026, 12, 1)
    assert parse_day("2024-03-01") - parse_day("2024-02-28") == 2  # a leap year


@pytest.mark.parametrize("text", ["garbage", "", "2026-13-01", "2026-02-30", "01/02/2026", "2026-01-01T00:00"])
def test_parse_day_rejects_garbage(text):
    with pytest.raises(BadDay) as e:
        parse_day(text)
    assert DAY_ENV in str(e.value) and repr(text) in str(e.value)
    assert isinstance(e.value, ValueError)


def test_fixed_day_wins_over_the_wall_clock():
    c = Clock(fixed_day=5, seconds=lambda: 86400 * 1000)
    assert c.day == 5
    assert Clock(fixed_day=0, seconds=lambda: 86400 * 9).day == 0  # day 0 is a day, not "unset"


def test_day_and_now_follow_the_seconds_callable():
    t = [86400 * 3 + 5.9]
    c = Clock(seconds=lambda: t[0])
    assert c.day == 3
    assert c.now() == "1970-01-04T00:00:05Z"
    t[0] = 86400 * 4 - 1
    assert c.day == 3 and c.now() == "1970-01-04T23:59:59Z"
    t[0] = 86400 * 4
    assert c.day == 4


def test_now_with_a_fixed_day_is_still_the_wall_clock():
    c = Clock(fixed_day=2, seconds=lambda: 60.0)
    assert c.day == 2 and c.now() == "1970-01-01T00:01:00Z"


def test_from_environment():
    c = Clock.from_environment({DAY_ENV: "1970-01-11", "OTHER": "x"})
    assert c.fixed_day == 10 and c.day == 10
    assert Clock.from_environment({}).fixed_day is None
    assert Clock.from_environment({DAY_ENV: ""}).fixed_day is None
    with pytest.raises(BadDay):
        Clock.from_environment({DAY_ENV: "yesterday"})


def test_clocks_compare_by_day_only():
    assert Clock(fixed_day=3, seconds=lambda: 1.0) == Clock(fixed_day=3, seconds=lambda: 2.0)
    assert Clock(fixed_day=3) != Clock(fixed_day=4)


def test_date_of_iso_and_epoch_of():
    assert Clock.date_of(0) == "1970-01-01"
    assert Clock.date_of(parse_day("2026-12-01")) == "2026-12-01"
    assert iso(86401) == "1970-01-02T00:00:01Z"
    assert epoch_of("1970-01-02T00:00:01.000Z") == 86401
    assert epoch_of("2026-05-06T07:08:09+02:00") == epoch_of("2026-05-06T07:08:09Z")
    assert epoch_of(iso(1_700_000_000)) == 1_700_000_000
