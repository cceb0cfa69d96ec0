"""Fault injection: which requests fail, and how, from a one-line spec.

Spec: rules separated by `;`, each `KIND[:OPT,OPT...]` with `OPT` = `key=value`.

Request faults (the first rule that fires answers the request):
  500 | 502 | 503 | 504   that status, JSON error body, RateLimit headers kept
  429                     `headers=yes` (default: RateLimit r=0, t=`retry` s) or `headers=no` (a bare 429,
                          as CloudFront's edge sends)
  slow                    wait `delay` seconds (default 30) before answering: slower than a client timeout
  reset                   send the headers and half the body, then reset the connection (RST)
  drop                    send the headers and half the body, then close the connection (FIN): a download
                          cut short, which clients resume with Range
  truncate                a complete response whose JSON body is cut short (Content-Length agrees)
Item faults (every matching rule applies to the items of a listing or model_info body):
  missing-id              drop `id` from a `rate` of the items (default 0.01; at least one per response)
  new-field               add an unknown field `name` (default `newField`) with `value` to every item
  huge-number             set `field` (default `downloads`) to 2**63, one past SQLite's integers, in a `rate`
                          of the items (default 0.01; at least one per response)
  vanish                  remove `field` from every item

Selectors, for any rule: `on=list|info|card|cdn|any` (default any; `card` is /resolve/ and
/api/resolve-cache/, `cdn` the LFS file host), `nth=1|3` (1-based ordinals among matching requests),
`every=N` (N >= 1), `after=N` (skip the first N), `p=0.2` (seeded probability, 0 to 1), `count=N`
(stop after N firings). Example: `503:on=list,nth=1;429:count=20;missing-id:rate=0.05`.

Options per kind, besides the selectors: 429 `headers=yes|no`, `retry=N` (seconds); slow `delay=S`
(seconds, >= 0); missing-id `rate=R` (0 to 1); new-field `name=`, `value=`; huge-number `field=`, `rate=`; vanish `field=`. Any
other option, or a value out of its range, is refused when the spec is read: `replica serve --faults`
exits 2 with one line, and POST /_replica/faults answers 400.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

REQUEST_KINDS = {"500", "502", "503", "504", "429", "slow", "reset", "drop", "truncate"}
ITEM_KINDS = {"missing-id", "new-field", "vanish", "huge-number"}
ROUTES = ("list", "info", "card", "file", "cdn", "any")
SELECTORS = {"on", "nth", "every", "after", "p", "count"}
KIND_OPTIONS = {"429": {"headers", "retry"}, "slow": {"delay"}, "missing-id": {"rate"},
                "new-field": {"name", "value"}, "vanish": {"field"}, "huge-number": {"field", "rate"}}


class FaultSpecError(ValueError):
    pass


@dataclass
class Rule:
    kind: str
    opts: dict
    seen: int = 0     # matching requests so far
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def fires(self, route: str) -> bool:
        on = self.opts.get("on", "any")
        if on != "any" and on != route:
            return False
        self.seen += 1
        n = self.seen
        if "count" in self.opts and self.fired >= int(self.opts["count"]):
            return False
        if n <= int(self.opts.get("after", 0)):
            return False
        if "nth" in self.opts and n not in {int(x) for x in self.opts["nth"].split("|")}:
            return False
        if "every" in self.opts and n % int(self.opts["every"]):
            return False
        if "p" in self.opts and self.rng.random() >= float(self.opts["p"]):
            return False
        self.fired += 1
        return True

    def describe(self) -> dict:
        return {"kind": self.kind, "opts": self.opts, "seen": self.seen, "fired": self.fired}


def parse_spec(spec: str, seed: int = 0) -> list[Rule]:
    rules = []
    for i, part in enumerate(p.strip() for p in (spec or "").split(";")):
        if not part:
            continue
        kind, _, rest = part.partition(":")
        kind = kind.strip()
        if kind not in REQUEST_KINDS | ITEM_KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r} (known: {', '.join(sorted(REQUEST_KINDS | ITEM_KINDS))})")
        opts = {}
        for opt in filter(None, (o.strip() for o in rest.split(","))):
            key, eq, value = opt.partition("=")
            if not eq:
                raise FaultSpecError(f"fault option {opt!r} in {part!r} is not key=value")
            opts[key.strip()] = value.strip()
        _check_options(kind, opts, part)
        rules.append(Rule(kind, opts, rng=random.Random(seed * 1000 + i)))
    return rules


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _check_options(kind: str, opts: dict, part: str):
    """Refuse, naming the option, anything the rule could not use: a fault spec is read once, at start."""
    allowed = SELECTORS | KIND_OPTIONS.get(kind, set())
    for key in opts:
        if key not in allowed:
            extra = sorted(KIND_OPTIONS.get(kind, ()))
            raise FaultSpecError(f"fault option {key!r} in {part!r} is unknown (options: "
                                 f"{', '.join(sorted(SELECTORS) + extra)})")
    for key in ("count", "after", "every", "retry"):
        if key in opts and not opts[key].isdigit():
            raise FaultSpecError(f"fault option {key}={opts[key]!r} in {part!r} must be a whole number")
    if "every" in opts and int(opts["every"]) < 1:
        raise FaultSpecError(f"fault option every={opts['every']!r} in {part!r} must be at least 1")
    if "nth" in opts and not all(x.isdigit() and int(x) >= 1 for x in opts["nth"].split("|")):
        raise FaultSpecError(f"fault option nth={opts['nth']!r} in {part!r} must be ordinals from 1, as nth=1|3")
    for key, low, high in (("p", 0, 1), ("rate", 0, 1), ("delay", 0, None)):
        if key in opts:
            value = _number(opts[key])
            if value is None or value < low or (high is not None and value > high):
                span = f"from {low} to {high}" if high is not None else f"at least {low}"
                raise FaultSpecError(f"fault option {key}={opts[key]!r} in {part!r} must be a number {span}")
    if opts.get("on", "any") not in ROUTES:
        raise FaultSpecError(f"fault option on={opts['on']!r} in {part!r}: use {', '.join(ROUTES[:-1])} or any")
    if "headers" in opts and opts["headers"] not in ("yes", "no"):
        raise FaultSpecError(f"fault option headers={opts['headers']!r} in {part!r}: use yes or no")


class FaultPlan:
    """The faults in force; thread-safe, replaceable at run time through the control endpoint."""

    def __init__(self, spec: str = "", seed: int = 0):
        self.lock = threading.Lock()
        self.seed = seed
        self.spec = spec
        self.rules = parse_spec(spec, seed)

    def replace(self, spec: str):
        rules = parse_spec(spec, self.seed)
        with self.lock:
            self.spec, self.rules = spec, rules

    def request_fault(self, route: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.kind in REQUEST_KINDS and rule.fires(route):
                    return rule
        return None

    def item_faults(self, route: str) -> list[Rule]:
        with self.lock:
            return [r for r in self.rules if r.kind in ITEM_KINDS and r.fires(route)]

    def describe(self) -> dict:
        with self.lock:
            return {"spec": self.spec, "rules": [r.describe() for r in self.rules]}


def apply_item_faults(items: list[dict], rules: list[Rule]) -> list[dict]:
    """Damage items as the rules say (copies: the store's cached structures stay intact)."""
    out = [dict(item) for item in items]
    for rule in rules:
        if rule.kind in ("missing-id", "huge-number"):
            rate = float(rule.opts.get("rate", 0.01))
            step = max(1, round(1 / rate)) if rate > 0 else len(out) + 1
            for i in range(len(out) - 1, -1, -step):  # the last item always: at least one per response
                if rule.kind == "missing-id":
                    out[i].pop("id", None)
                else:  # JSON allows any integer; SQLite holds 64 bits
                    out[i][rule.opts.get("field", "downloads")] = 1 << 63
        elif rule.kind == "new-field":
            name = rule.opts.get("name", "newField")
            value = rule.opts.get("value", "surprise")
            for item in out:
                item[name] = value
        elif rule.kind == "vanish":
            name = rule.opts.get("field", "likes")
            for item in out:
                item.pop(name, None)
    return out
