"""The time a job runs at, injected: its UTC day and its timestamps.

Every job takes its day once, when it starts (a crawl that runs past midnight files its history
under the day it began), and asks the clock for timestamps. `HUBDEX_DAY=YYYY-MM-DD` replays a run
as of another day (benchmarks and tests of history); it is read here and nowhere else.
"""

from __future__ import annotations

import calendar
import os
import time
from dataclasses import dataclass, field
from typing import Callable

DAY_ENV = "HUBDEX_DAY"


class BadDay(ValueError):
    pass


def parse_day(text: str) -> int:
    """YYYY-MM-DD as days since 1970-01-01 UTC."""
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%d")) // 86400
    except ValueError:
        raise BadDay(f"{DAY_ENV}={text!r} is not a date like 2026-12-01") from None


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def epoch_of(iso_text: str) -> int:
    """Seconds since 1970 of the Hub's ISO timestamps (fractions and zone suffix ignored: UTC)."""
    return calendar.timegm(time.strptime(iso_text[:19], "%Y-%m-%dT%H:%M:%S"))


@dataclass(frozen=True)
class Clock:
    """`fixed_day` pins the day (HUBDEX_DAY); `seconds` is the wall clock (a test can pass its own)."""

    fixed_day: int | None = None
    seconds: Callable[[], float] = field(default=time.time, compare=False)

    @classmethod
    def from_environment(cls, env=os.environ) -> "Clock":
        text = env.get(DAY_ENV)
        return cls(parse_day(text) if text else None)

    @property
    def day(self) -> int:
        return self.fixed_day if self.fixed_day is not None else int(self.seconds() // 86400)

    def now(self) -> str:
        return iso(self.seconds())

    @staticmethod
    def date_of(day: int) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
